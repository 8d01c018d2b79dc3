"""Dispatches a command to its handler with the dependencies bootstrap injected."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from .commands import Command
from .unit_of_work import UnitOfWork

UowFactory = Callable[[], UnitOfWork]
Handler = Callable[..., Awaitable[Any]]


class MessageBus:
    def __init__(
        self,
        handlers: dict[type[Command], Handler],
        uow_factory: UowFactory,
        dependencies: dict[str, Any],
    ) -> None:
        self._handlers = handlers
        self._uow_factory = uow_factory
        self._dependencies = dependencies

    async def handle(self, command: Command) -> Any:
        """Run the command's handler in a fresh unit of work; return what the handler returns."""
        handler = self._handlers[type(command)]
        return await handler(command, self._uow_factory(), **self._dependencies)
