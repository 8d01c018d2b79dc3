"""The command dispatcher: runs a command's handler with the dependencies bootstrap injected.

Not the event bus (`event_bus.py`): commands come in here, events go out through the outbox.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from orderline import metrics
from orderline.domain.errors import DomainError
from orderline.domain.events import Event

from .commands import Command
from .handlers import CommandResult
from .unit_of_work import UnitOfWork

UowFactory = Callable[[], UnitOfWork]
Handler = Callable[..., Awaitable[CommandResult]]
AfterCommit = Callable[[list[Event]], Awaitable[None]]


class CommandDispatcher:
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

    async def handle(self, command: Command) -> CommandResult:
        """Run the command's handler in a fresh unit of work; return what the handler returns.

        `after_commit` sees the events that were committed (e.g. write-through to the read model);
        it must not fail, because the write has already succeeded. Counted in
        `orderline_commands_total{command,outcome}`.
        """
        name = type(command).__name__
        handler = self._handlers[type(command)]
        uow = self._uow_factory()
        try:
            result = await handler(command, uow, **self._dependencies)
        except DomainError as exc:
            metrics.COMMANDS.labels(name, type(exc).__name__).inc()
            raise
        except Exception:
            metrics.COMMANDS.labels(name, "error").inc()
            raise
        metrics.COMMANDS.labels(name, "ok").inc()
        if self._after_commit is not None and uow.committed_events:
            await self._after_commit(list(uow.committed_events))
        return result
