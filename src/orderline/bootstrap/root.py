"""`bootstrap`: open a process's connections and build the parts its profile needs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from ..adapters.dynamodb.protocol import DynamoDBClient
from ..adapters.dynamodb.regions import RegionalClient
from ..adapters.postgres.migrate import upgrade
from ..adapters.postgres.unit_of_work import DEFAULT_CHANNEL
from ..config import Settings
from ..service_layer.handlers import Clock
from .container import Container
from .contexts import build_forum, build_live, open_forum
from .openers import create_missing_tables, open_dynamodb, open_engine, open_regions
from .profile import Profile
from .read_side import ReadSide, open_read_side
from .settings_map import build_auth
from .workers import open_workers
from .write_side import WRITE_THROUGH_HOLD, build_write_side, utc_now


@dataclass(frozen=True)
class _Wiring:
    """What the caller chose beyond settings and profile (tests choose; processes default)."""

    clock: Clock
    notify_channel: str
    write_through_hold: timedelta


@asynccontextmanager
async def bootstrap(
    settings: Settings,
    *,
    profile: Profile = Profile.API,
    engine: AsyncEngine | None = None,
    schema: str | None = None,
    clock: Clock = utc_now,
    notify_channel: str = DEFAULT_CHANNEL,
    write_through_hold: timedelta = WRITE_THROUGH_HOLD,
) -> AsyncIterator[Container]:
    """Build the container for `profile`; close what it opened on exit. Pass `engine` to share
    one you own.

    `write_through_hold` is how long the relay leaves a new outbox row to write-through.
    """
    async with AsyncExitStack() as stack:
        if engine is None:
            engine = await stack.enter_async_context(open_engine(settings, schema=schema))
        if profile.changes_schema:
            await upgrade(engine)
        dynamodb = await _open_dynamodb(stack, settings, profile)
        regions = None
        if dynamodb is not None:
            regions = await stack.enter_async_context(open_regions(settings, dynamodb))
        wiring = _Wiring(clock, notify_channel, write_through_hold)
        yield await _compose(stack, settings, profile, engine, regions, wiring)


async def _open_dynamodb(
    stack: AsyncExitStack, settings: Settings, profile: Profile
) -> DynamoDBClient | None:
    """The DynamoDB client when the profile needs one; missing tables created when it changes
    the schema (DynamoDB may be down: the process starts anyway)."""
    if not profile.needs_dynamodb(settings):
        return None
    dynamodb = await stack.enter_async_context(open_dynamodb(settings))
    if profile.changes_schema:
        await create_missing_tables(dynamodb, settings.table_prefix)
    return dynamodb


async def _compose(
    stack: AsyncExitStack,
    settings: Settings,
    profile: Profile,
    engine: AsyncEngine,
    regions: RegionalClient | None,
    wiring: _Wiring,
) -> Container:
    """The parts of `profile` on an open engine and clients: the home region's client writes,
    the regional one reads (failing over to replicas)."""
    dynamodb = regions.home.client if regions is not None else None
    read = await open_read_side(stack, settings, profile, engine, dynamodb, regions)
    container = Container(
        settings=settings,
        profile=profile,
        engine=engine,
        dynamodb=dynamodb,
        auth=build_auth(settings),
        read=read,
        regions=regions,
    )
    if profile.relays or profile.projects:
        container.workers = await open_workers(
            stack, settings, profile, engine, read, wiring.notify_channel
        )
    if profile.serves:
        await _serve(stack, container, read, wiring)
    return container


async def _serve(
    stack: AsyncExitStack, container: Container, read: ReadSide, wiring: _Wiring
) -> None:
    """The parts the API serves: the write side, the forum, live tracking."""
    settings, engine, dynamodb = container.settings, container.engine, container.regions
    container.write = build_write_side(
        engine,
        clock=wiring.clock,
        notify_channel=wiring.notify_channel,
        write_through=read.write_through,
        hold=wiring.write_through_hold,
    )
    if dynamodb is not None and container.profile.starts_background:
        container.forum = await open_forum(stack, settings, dynamodb)  # snapshots, if on
    elif dynamodb is not None:
        container.forum = build_forum(dynamodb, settings)
    container.live = build_live(settings, engine, wiring.notify_channel)
