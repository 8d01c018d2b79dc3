"""Orders placed and changed as the API would, so that their events reach the outbox:
`place` and `confirm` through a bootstrapped container's command bus; `place_in`, `move_in`
and `delete_in` through the command handlers on a unit of work (a FakeUnitOfWork in unit
tests)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from uuid import UUID

from orderline.bootstrap import Container
from orderline.domain.status import OrderStatus
from orderline.service_layer import commands, handlers
from orderline.service_layer.unit_of_work import UnitOfWork

from .actors import admin
from .factories import TickingClock, place_command

Clock = Callable[[], datetime]


async def place(container: Container, **overrides: object) -> UUID:
    placed = await container.commands.handle(place_command(**overrides))
    return UUID(placed.document["id"])


async def confirm(container: Container, order_id: UUID) -> None:
    await container.commands.handle(
        commands.ChangeStatus(
            order_id=order_id,
            status=OrderStatus.CONFIRMED,
            actor=admin("staff"),
            reason=None,
            metadata=None,
            expected_version=None,
        )
    )


async def place_in(uow: UnitOfWork, clock: Clock | None = None, **overrides: object) -> UUID:
    placed = await handlers.place_order(place_command(**overrides), uow, clock or TickingClock())
    return UUID(placed.document["id"])


async def move_in(
    uow: UnitOfWork, order_id: UUID, status: OrderStatus, clock: Clock | None = None
) -> None:
    change = commands.ChangeStatus(order_id, status, actor=admin("staff"))
    await handlers.change_status(change, uow, clock or TickingClock())


async def delete_in(uow: UnitOfWork, order_id: UUID, clock: Clock | None = None) -> None:
    deletion = commands.DeleteOrder(order_id, actor=admin("staff"))
    await handlers.delete_order(deletion, uow, clock or TickingClock())
