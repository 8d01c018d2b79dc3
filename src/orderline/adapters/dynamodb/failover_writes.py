"""`FailoverWrites`: the forum's client when failover writes are on (`forum_failover_writes`).

Reads are the `RegionalClient`'s (home first, failing over). Writes go to the home region while
its circuit is not open; once it is open, to the first replica whose circuit is not open. One
forum operation (a transaction, a delete and its batch) writes in one region: `pinned()` chooses
it once and every write inside goes there; the forum stamps that region as `updatedRegion`. A
write is never retried in another region (it may have landed): a failed one counts against its
region's circuit and answers 503, the next goes to the replica once the circuit opens.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

from .errors import is_transient
from .protocol import Response
from .regions import RegionalClient, RegionLink

_PINNED: ContextVar[str | None] = ContextVar("orderline_write_region", default=None)


def pinned_region() -> str | None:
    """The region the current forum operation writes in (None: outside `pinned`)."""
    return _PINNED.get()


class FailoverWrites(RegionalClient):
    """A regional client whose writes follow the home region's circuit to a replica."""

    def __init__(self, regional: RegionalClient) -> None:  # shares links, circuits, timeouts
        self.links = regional.links
        self.read_timeout = regional.read_timeout

    def write_link(self) -> RegionLink:
        """Home unless its circuit is open; then the first replica whose circuit is not."""
        for link in self.links:
            if link.circuit.state != "open":
                return link
        return self.home  # every region out: home answers (or fails) as before

    @contextlib.contextmanager
    def pinned(self) -> Iterator[str]:
        """Every write inside goes to one region, chosen now (kept when already pinned)."""
        chosen = _PINNED.get()
        if chosen is not None:
            yield chosen
            return
        token = _PINNED.set(self.write_link().name)
        try:
            yield _PINNED.get() or self.home.name
        finally:
            _PINNED.reset(token)

    async def _write(self, operation: str, request: dict[str, Any]) -> Response:
        name = _PINNED.get()
        link = self.link(name) if name is not None else self.write_link()
        try:
            response: Response = await getattr(link.client, operation)(**request)
        except Exception as exc:
            if is_transient(exc) or isinstance(exc, TimeoutError):
                self._failed(link, exc)
            raise
        return response

    async def put_item(self, **request: Any) -> Response:
        return await self._write("put_item", request)

    async def update_item(self, **request: Any) -> Response:
        return await self._write("update_item", request)

    async def delete_item(self, **request: Any) -> Response:
        return await self._write("delete_item", request)

    async def batch_write_item(self, **request: Any) -> Response:
        return await self._write("batch_write_item", request)

    async def transact_write_items(self, **request: Any) -> Response:
        return await self._write("transact_write_items", request)
