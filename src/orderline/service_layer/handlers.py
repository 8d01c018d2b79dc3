"""Command handlers: one function each, named after its effect; each returns a CommandResult."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import uuid4

from orderline.domain.access import Scope
from orderline.domain.errors import IdempotencyKeyReused, OrderNotFound
from orderline.domain.money import Money
from orderline.domain.order import DeliveryLocation, Document, Order, OrderItem

from . import commands
from .unit_of_work import UnitOfWork

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class CommandResult:
    """The order as the command left it, whether it changed, and whether it is a replay."""

    document: Document
    changed: bool = True
    replayed: bool = False  # an Idempotency-Key seen before: the first response again


async def place_order(cmd: commands.PlaceOrder, uow: UnitOfWork, clock: Clock) -> CommandResult:
    cmd.actor.check_places_for(cmd.customer_id)
    async with uow:
        if cmd.idempotency_key is not None:
            replay = await _replay(uow, cmd, cmd.idempotency_key)
            if replay is not None:
                return replay
        order = Order.place(
            order_id=uuid4(),
            customer_id=cmd.customer_id,
            restaurant_id=cmd.restaurant_id,
            channel_id=cmd.channel_id,
            currency=cmd.currency,
            items=_items(cmd.items, cmd.currency),
            delivery=_location(cmd.address),
            estimated_delivery_time=cmd.estimated_delivery_time,
            now=clock(),
        )
        await uow.orders.add(order)
        document = order.snapshot()
        if cmd.idempotency_key is not None:
            await uow.idempotency.record(cmd.actor.subject, cmd.idempotency_key, 201, document)
        await uow.commit()
    return CommandResult(document)


async def change_status(cmd: commands.ChangeStatus, uow: UnitOfWork, clock: Clock) -> CommandResult:
    async with uow:
        order = await _live_order(uow, cmd)
        cmd.actor.check_status_change(cmd.status)
        changed = order.change_status(
            cmd.status,
            user_id=cmd.actor.subject,
            reason=cmd.reason,
            metadata=cmd.metadata,
            now=clock(),
        )
        if changed:
            await uow.orders.save(order)
            await uow.commit()
        return CommandResult(order.snapshot(), changed)


async def update_order(cmd: commands.UpdateOrder, uow: UnitOfWork, clock: Clock) -> CommandResult:
    cmd.actor.check_edits(cmd.fields())
    async with uow:
        order = await _live_order(uow, cmd)
        changed = order.update(
            items=_items(cmd.items, order.currency) if cmd.items is not None else None,
            delivery=_location(cmd.address) if cmd.address is not None else None,
            estimated_delivery_time=cmd.estimated_delivery_time,
            user_id=cmd.actor.subject,
            reason=cmd.reason,
            corrections=cmd.actor.corrections,
            now=clock(),
        )
        if changed:
            await uow.orders.save(order)
            await uow.commit()
        return CommandResult(order.snapshot(), bool(changed))


async def delete_order(cmd: commands.DeleteOrder, uow: UnitOfWork, clock: Clock) -> CommandResult:
    cmd.actor.check_scope(Scope.ORDERS_ADMIN)
    async with uow:
        order = await _live_order(uow, cmd)
        order.delete(user_id=cmd.actor.subject, now=clock())
        await uow.orders.save(order)
        await uow.commit()
    return CommandResult(order.snapshot())


async def _replay(uow: UnitOfWork, cmd: commands.PlaceOrder, key: str) -> CommandResult | None:
    """The first response to this principal's key, if it has one; a key is the principal's own
    (the token's subject), so another principal's same key is a fresh request."""
    request_hash = cmd.request_hash or ""
    stored = await uow.idempotency.claim(cmd.actor.subject, key, request_hash)
    if stored is None:
        return None
    if stored.request_hash != request_hash:
        raise IdempotencyKeyReused(key)
    return CommandResult(stored.body, changed=False, replayed=True)


async def _live_order(
    uow: UnitOfWork, cmd: commands.ChangeStatus | commands.UpdateOrder | commands.DeleteOrder
) -> Order:
    """The order the command is about, if the actor may see it (else not found, like a missing
    one), at the version the command expects."""
    order = await uow.orders.get(cmd.order_id, cmd.actor.ownership())
    if order is None:
        raise OrderNotFound(cmd.order_id)
    order.expect_version(cmd.expected_version)
    return order


def _items(lines: list[commands.ItemLine], currency: str) -> list[OrderItem]:
    return [
        OrderItem(line.item_id, line.name, line.quantity, Money.of(line.unit_price, currency))
        for line in lines
    ]


def _location(address: commands.Address) -> DeliveryLocation:
    return DeliveryLocation(
        address.street, address.city, address.postal_code, address.latitude, address.longitude
    )


HANDLERS: dict[type[commands.Command], Callable[..., Any]] = {
    commands.PlaceOrder: place_order,
    commands.ChangeStatus: change_status,
    commands.UpdateOrder: update_order,
    commands.DeleteOrder: delete_order,
}
