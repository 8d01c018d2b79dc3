"""The access rules: who sees which orders and who may make which change."""

from __future__ import annotations

import pytest

from orderline.domain.access import EVERYTHING, Actor, Forbidden, Ownership, Role, Scope
from orderline.domain.status import OrderStatus as S

from ..helpers.actors import admin, customer, restaurant

ORDER = {"customerId": "c1", "restaurantId": "r1"}


def test_each_principal_sees_its_own_orders() -> None:
    assert customer("c1").ownership().admits(ORDER)
    assert not customer("c2").ownership().admits(ORDER)
    assert restaurant("r1").ownership().admits(ORDER)
    assert not restaurant("r2").ownership().admits(ORDER)
    assert admin().ownership() is EVERYTHING and EVERYTHING.admits(ORDER)


def test_staff_without_orders_admin_sees_no_orders() -> None:
    analyst = Actor("a", Role.STAFF, scopes=frozenset({Scope.ANALYTICS_READ}))
    with pytest.raises(Forbidden) as refused:
        analyst.ownership()
    assert refused.value.scope == "orders:admin"


@pytest.mark.parametrize(
    ("actor", "status", "allowed"),
    [
        (customer("c1"), S.CANCELLED, True),
        (customer("c1"), S.CONFIRMED, False),
        (restaurant("r1"), S.CONFIRMED, True),
        (restaurant("r1"), S.SHIPPED, True),
        (restaurant("r1"), S.DELIVERED, False),
        (admin(), S.DELIVERED, True),
    ],
)
def test_status_changes_by_role(actor: Actor, status: S, allowed: bool) -> None:
    if allowed:
        actor.check_status_change(status)
    else:
        with pytest.raises(Forbidden):
            actor.check_status_change(status)


def test_customers_place_orders_only_for_themselves() -> None:
    customer("c1").check_places_for("c1")
    with pytest.raises(Forbidden):
        customer("c1").check_places_for("c2")
    with pytest.raises(Forbidden):
        restaurant("r1").check_places_for("c1")
    admin().check_places_for("anyone")


def test_edits_by_role() -> None:
    customer("c1").check_edits({"items", "deliveryAddress"})
    restaurant("r1").check_edits({"estimatedDeliveryTime"})
    with pytest.raises(Forbidden):
        customer("c1").check_edits({"estimatedDeliveryTime"})
    with pytest.raises(Forbidden):
        restaurant("r1").check_edits({"items"})


def test_an_empty_ownership_is_everything() -> None:
    assert Ownership().everything and not Ownership(customer_id="c").everything
