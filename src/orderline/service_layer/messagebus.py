"""Dispatches a command to its handler with the dependencies bootstrap injected."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from orderline.domain.events import Event

from .commands import Command
from .unit_of_work import UnitOfWork

UowFactory = Callable[[], UnitOfWork]
Handler = Callable[..., Awaitable[Any]]
AfterCommit = Callable[[list[Event]], Awaitable[None]]


class MessageBus:
    def __init__(
        self,
        handlers: dict[type[Command], Handler],
        uow_factory: UowFactory,
        dependencies: dict[str, Any],
        after_commit: AfterCommit | None = None,
    ) -> None:
        self._handlers = handlers
        self._uow_factory = uow_factory
        self._dependencies = dependencies
        self._after_commit = after_commit

    async def handle(self, command: Command) -> Any:
        """Run the command's handler in a fresh unit of work; return what the handler returns.

        `after_commit` sees the events that were committed (e.g. write-through to the read model);
        it must not fail, because the write has already succeeded.
        """
        handler = self._handlers[type(command)]
        uow = self._uow_factory()
        result = await handler(command, uow, **self._dependencies)
        if self._after_commit is not None and uow.committed_events:
            await self._after_commit(list(uow.committed_events))
        return result
