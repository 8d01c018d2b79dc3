"""`RegionalClient`: a DynamoDBClient whose reads fail over from the home region to replicas.

Reads (GetItem, BatchGetItem, Query, Scan) go to the first region, in order of preference
(home first), whose circuit (`circuit.py`) lets them; an outage-like failure or a read slower
than `read_timeout` counts against that region and the same read is asked of the next one, so
a region going down costs latency, not failed reads. Replica reads are eventually consistent
(even with ConsistentRead): callers that need a version check it (`minVersion` falls through to
PostgreSQL). Every write and table call goes to the home region only: global tables replicate
it; nothing here writes a replica.

The region that answered a read is recorded for the request (`track_reads`), which the API turns
into `X-Read-Region`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from orderline import metrics

from .circuit import STATE_VALUE, Circuit, CircuitPolicy, State
from .errors import is_transient
from .protocol import DynamoDBClient, Response

log = logging.getLogger(__name__)
_ANSWERED: ContextVar[list[str] | None] = ContextVar("orderline_read_regions", default=None)


def track_reads() -> list[str]:
    """Start recording, for this request, the regions that answer its reads (in order)."""
    answered: list[str] = []
    _ANSWERED.set(answered)
    return answered


@dataclass
class RegionLink:
    name: str
    client: DynamoDBClient
    circuit: Circuit

    def __post_init__(self) -> None:  # the metric children, looked up once (reads are hot)
        self.ok = metrics.REGION_READS.labels(self.name, "ok")
        self.failed = metrics.REGION_READS.labels(self.name, "failed")
        self.skipped = metrics.REGION_READS.labels(self.name, "skipped")
        self.failovers = metrics.REGION_FAILOVERS.labels(self.name)
        self.gauge = metrics.REGION_CIRCUIT.labels(self.name)
        self.gauge.set(0)


class RegionalClient:
    """Home region first, replicas in order of preference; `links[0]` is the home region."""

    def __init__(
        self,
        links: Sequence[tuple[str, DynamoDBClient]],
        policy: CircuitPolicy | None = None,
        read_timeout: float = 1.0,
    ) -> None:
        if not links:
            raise ValueError("a regional client needs the home region")
        self.links = [
            RegionLink(name, client, Circuit(policy or CircuitPolicy())) for name, client in links
        ]
        self.read_timeout = read_timeout

    @property
    def home(self) -> RegionLink:
        return self.links[0]

    @property
    def meta(self) -> Any:
        return self.home.client.meta

    def link(self, region: str) -> RegionLink:
        for link in self.links:
            if link.name == region:
                return link
        raise KeyError(region)

    def states(self) -> dict[str, State]:
        """Each region's circuit state, home first (for readiness)."""
        return {link.name: link.circuit.state for link in self.links}

    # -- reads: failover ----------------------------------------------------------------------

    async def get_item(self, **request: Any) -> Response:
        return await self._read("get_item", request)

    async def batch_get_item(self, **request: Any) -> Response:
        return await self._read("batch_get_item", request)

    async def query(self, **request: Any) -> Response:
        return await self._read("query", request)

    async def scan(self, **request: Any) -> Response:
        return await self._read("scan", request)

    async def _read(self, operation: str, request: dict[str, Any]) -> Response:
        """The first allowed region's answer; every region tried (in order) before failing."""
        if len(self.links) == 1:  # one region: nothing to fail over to
            response: Response = await getattr(self.home.client, operation)(**request)
            self._answered(self.home)
            return response
        chosen = [link for link in self.links if link.circuit.allow()]
        for link in self.links:
            if link not in chosen:
                link.skipped.inc()
        candidates = chosen or self.links  # every circuit open: try them all the same
        failure: BaseException | None = None
        for position, link in enumerate(candidates):
            last = position == len(candidates) - 1
            try:
                response = await self._ask(link, operation, request, bounded=not last)
            except Exception as exc:
                if not (is_transient(exc) or isinstance(exc, TimeoutError)):
                    raise
                failure = exc
                continue
            self._answered(link)
            return response
        assert failure is not None
        raise failure

    async def _ask(
        self, link: RegionLink, operation: str, request: dict[str, Any], *, bounded: bool
    ) -> Response:
        call = getattr(link.client, operation)(**request)
        try:
            if bounded:
                response: Response = await asyncio.wait_for(call, self.read_timeout)
            else:
                response = await call
        except asyncio.CancelledError:
            link.circuit.abandoned()
            raise
        except Exception as exc:
            if is_transient(exc) or isinstance(exc, TimeoutError):
                self._failed(link, exc)
            else:
                link.circuit.abandoned()
            raise
        link.circuit.succeeded()
        self._publish(link)
        return response

    def _failed(self, link: RegionLink, exc: BaseException) -> None:
        before = link.circuit.state
        link.circuit.failed()
        link.failed.inc()
        self._publish(link)
        if before != "open" and link.circuit.state == "open":
            log.warning(
                "DynamoDB region %s: circuit open after %s; reads go to the next region",
                link.name,
                str(exc) or type(exc).__name__,
            )

    def _answered(self, link: RegionLink) -> None:
        link.ok.inc()
        if link is not self.home:
            link.failovers.inc()
        answered = _ANSWERED.get()
        if answered is not None:
            answered.append(link.name)

    def _publish(self, link: RegionLink) -> None:
        link.gauge.set(STATE_VALUE[link.circuit.state])

    # -- writes and tables: the home region only ------------------------------------------------

    async def put_item(self, **request: Any) -> Response:
        return await self.home.client.put_item(**request)

    async def update_item(self, **request: Any) -> Response:
        return await self.home.client.update_item(**request)

    async def delete_item(self, **request: Any) -> Response:
        return await self.home.client.delete_item(**request)

    async def batch_write_item(self, **request: Any) -> Response:
        return await self.home.client.batch_write_item(**request)

    async def transact_write_items(self, **request: Any) -> Response:
        return await self.home.client.transact_write_items(**request)

    async def create_table(self, **request: Any) -> Response:
        return await self.home.client.create_table(**request)

    async def delete_table(self, **request: Any) -> Response:
        return await self.home.client.delete_table(**request)

    async def describe_table(self, **request: Any) -> Response:
        return await self.home.client.describe_table(**request)

    async def list_tables(self, **request: Any) -> Response:
        return await self.home.client.list_tables(**request)

    async def update_time_to_live(self, **request: Any) -> Response:
        return await self.home.client.update_time_to_live(**request)

    async def describe_time_to_live(self, **request: Any) -> Response:
        return await self.home.client.describe_time_to_live(**request)

    async def tag_resource(self, **request: Any) -> Response:
        return await self.home.client.tag_resource(**request)

    async def list_tags_of_resource(self, **request: Any) -> Response:
        return await self.home.client.list_tags_of_resource(**request)

    async def describe_continuous_backups(self, **request: Any) -> Response:
        return await self.home.client.describe_continuous_backups(**request)

    async def update_continuous_backups(self, **request: Any) -> Response:
        return await self.home.client.update_continuous_backups(**request)

    async def create_backup(self, **request: Any) -> Response:
        return await self.home.client.create_backup(**request)

    async def delete_backup(self, **request: Any) -> Response:
        return await self.home.client.delete_backup(**request)

    async def list_backups(self, **request: Any) -> Response:
        return await self.home.client.list_backups(**request)

    async def restore_table_from_backup(self, **request: Any) -> Response:
        return await self.home.client.restore_table_from_backup(**request)

    async def restore_table_to_point_in_time(self, **request: Any) -> Response:
        return await self.home.client.restore_table_to_point_in_time(**request)
