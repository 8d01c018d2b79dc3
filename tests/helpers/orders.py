"""Orders placed and changed through a bootstrapped container's command handler, as the API
would (so their events reach the outbox)."""

from __future__ import annotations

from uuid import UUID

from orderline.bootstrap import Container
from orderline.domain.status import OrderStatus
from orderline.service_layer import commands

from .actors import admin
from .factories import place_command


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
