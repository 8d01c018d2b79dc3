"""What every command shares: settings, logging, the event loop, and the services it talks to."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import AsyncExitStack, ExitStack, contextmanager
from typing import Any, NoReturn, TypeVar

import typer
from pydantic import SecretStr
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy.ext.asyncio import AsyncEngine

from orderline.bootstrap import TOOL_POOL_SIZE, Container, Profile, bootstrap, open_engine
from orderline.config import Settings
from orderline.embedded import embedded_postgres
from orderline.service_registry import RunningServices, find
from orderline.startup import explain

T = TypeVar("T")


def fail(message: str, code: int = 2) -> NoReturn:
    """One line on stderr, then exit (2: usage or environment, 1: the check failed)."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def load_settings() -> Settings:
    try:
        return Settings()
    except Exception as exc:
        fail(f"invalid configuration: {exc}")


def configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for noisy in ("werkzeug", "pgserver"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def run_service(main: Coroutine[Any, Any, T]) -> T:
    """Run a long-lived process on uvloop where it is installed: cheaper sockets and timers."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop has no Windows build
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


@contextmanager
def progress_bar(label: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """A Rich progress bar on stderr; yields `advance(n)`."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, TimeElapsedColumn(), console=Console(stderr=True)) as progress:
        task = progress.add_task(label, total=total)
        yield lambda done: progress.advance(task, done)


async def start_container(
    stack: AsyncExitStack, settings: Settings, profile: Profile = Profile.API
) -> Container:
    """`bootstrap(settings, profile=...)` entered on `stack`; a dependency that fails is one
    line, exit 2."""
    try:
        return await stack.enter_async_context(bootstrap(settings, profile=profile))
    except Exception as exc:
        message = explain(exc, settings)
        if message is None:
            raise
        fail(message)


async def with_engine(settings: Settings, action: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    """`action` on an engine on the resolved PostgreSQL (see `services`)."""
    async with open_engine(settings, pool_size=TOOL_POOL_SIZE) as engine:
        return await action(engine)


@contextmanager
def services(settings: Settings, *, postgres: bool, dynamodb: bool) -> Iterator[Settings]:
    """Settings pointing at what an operations command needs, said in one line on stderr.

    Configured services come first; then those of an `orderline serve` running on the same data
    dir (`make run` beside this command); PostgreSQL is started embedded when neither exists.
    DynamoDB cannot be: the embedded emulator lives inside `serve`, so without it this exits 2.
    """
    running = find(settings.data_dir)
    with ExitStack() as stack:
        changes: dict[str, Any] = {}
        said: list[str] = []
        if postgres:
            url, where = _postgres(settings, running, stack)
            changes["database_url"] = SecretStr(url)
            said.append(f"PostgreSQL {where}")
        if dynamodb:
            endpoint, where = _dynamodb(settings, running)
            changes["dynamodb_endpoint"] = endpoint
            said.append(f"DynamoDB {where}")
        typer.echo(f"using {'; '.join(said)}", err=True)
        resolved = settings.with_overrides(**changes)
        try:
            yield resolved
        except Exception as exc:
            message = explain(exc, resolved)
            if message is None:
                raise
            fail(message)


def _postgres(
    settings: Settings, running: RunningServices | None, stack: ExitStack
) -> tuple[str, str]:
    if settings.database_url is not None:
        return settings.database_url.get_secret_value(), "(ORDERLINE_DATABASE_URL)"
    if running is not None and running.database_url is not None:
        return running.database_url, f"of the running `orderline serve` (pid {running.pid})"
    url = stack.enter_context(embedded_postgres(settings.data_dir / "postgres"))
    return url, f"embedded, data in {settings.data_dir / 'postgres'}"


def _dynamodb(settings: Settings, running: RunningServices | None) -> tuple[str, str]:
    if settings.dynamodb_endpoint is not None:
        return settings.dynamodb_endpoint, f"at {settings.dynamodb_endpoint}"
    if running is not None and running.dynamodb_endpoint is not None:
        where = f"at {running.dynamodb_endpoint} (emulator of `orderline serve`, pid {running.pid})"
        return running.dynamodb_endpoint, where
    fail(
        f"no DynamoDB to talk to: ORDERLINE_DYNAMODB_ENDPOINT is unset and no `orderline serve` "
        f"is running on {settings.data_dir}/ (start `make run`, or set "
        "ORDERLINE_DYNAMODB_ENDPOINT)"
    )
