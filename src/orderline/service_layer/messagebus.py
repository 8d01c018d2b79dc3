"""Dispatches a command to its handler with the dependencies bootstrap injected."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from .commands import Command
from .unit_of_work import UnitOfWork

R = TypeVar("R")
UowFactory = Callable[[], UnitOfWork]
Handler = Callable[..., Awaitable[Any]]
CommitHook = Callable[[UnitOfWork], Awaitable[None]]


class MessageBus:
    def __init__(
        self,
        handlers: dict[type[Command], Handler],
        uow_factory: UowFactory,
        dependencies: dict[str, Any],
        after_commit: list[CommitHook] | None = None,
    ) -> None:
        self._handlers = handlers
        self._uow_factory = uow_factory
        self._dependencies = dependencies
        self._after_commit = after_commit or []

    async def handle(self, command: Command) -> Any:
        handler = self._handlers[type(command)]
        uow = self._uow_factory()
        result = await handler(command, uow, **self._dependencies)
        if uow.committed_events:
            for hook in self._after_commit:
                await hook(uow)
        return result
