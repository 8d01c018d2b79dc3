"""The write path's statements sent straight to asyncpg, in the unit of work's transaction.

SQLAlchemy compiles each prebuilt statement once (`Prepared`); a status change then hands
asyncpg the SQL text and positional values itself. Through SQLAlchemy each execution also builds
an execution context, processes parameters and results and hops into a greenlet: about a fifth
of the server's CPU per status change (bench/profile_status.py). The connection, its pool and
its transaction stay SQLAlchemy's: `Driver.of` starts the transaction as SQLAlchemy's asyncpg
adapter would have on the first statement, so statements sent through SQLAlchemy on the same
connection join it, and SQLAlchemy commits or rolls it back. A lost connection is reported as
SQLAlchemy reports it (`InterfaceError`, the connection invalidated), so the API still answers
503 and the pool drops the connection.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import asyncpg
from sqlalchemy import exc
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.ext.asyncio import AsyncConnection

_DIALECT = asyncpg_dialect()  # type: ignore[no-untyped-call]
_GONE = (asyncpg.InterfaceError, asyncpg.PostgresConnectionError, ConnectionError, OSError)


def as_json(value: Any) -> str:
    """A JSON/JSONB parameter as SQLAlchemy's default serializer writes it."""
    return json.dumps(value)


class Prepared:
    """A statement as asyncpg runs it: SQL text, and its parameters' positional order."""

    def __init__(self, statement: Any) -> None:
        compiled = statement.compile(dialect=_DIALECT)
        self.sql = str(compiled)
        self._names = tuple(compiled.positiontup or ())
        self._constants = dict(compiled.params)

    def args(self, values: Mapping[str, Any]) -> list[Any]:
        return [values[n] if n in values else self._constants.get(n) for n in self._names]


class Driver:
    """The asyncpg connection under `conn`, inside the transaction `conn` began."""

    def __init__(self, conn: AsyncConnection, driver: Any) -> None:
        self._conn = conn
        self._driver = driver
        self.pending_update: dict[str, Any] | None = None  # repository.py: sent with the outbox

    @classmethod
    async def of(cls, conn: AsyncConnection) -> Driver:
        """`conn`'s asyncpg connection, its transaction begun (BEGIN is sent now)."""
        try:
            fairy = await conn.get_raw_connection()
            adapted = fairy.dbapi_connection
            if adapted is not None and adapted._transaction is None:
                await adapted._start_transaction()
        except Exception as error:  # no transaction on this connection: treat it as gone
            raise await _gone(conn, "BEGIN", error) from error
        return cls(conn, fairy.driver_connection)

    async def fetchrow(self, statement: Prepared, values: Mapping[str, Any]) -> Any:
        return await self._call(self._driver.fetchrow, statement, values)

    async def fetchval(self, statement: Prepared, values: Mapping[str, Any]) -> Any:
        return await self._call(self._driver.fetchval, statement, values)

    async def execute(self, statement: Prepared, values: Mapping[str, Any]) -> int:
        """Run a statement; the rows it affected (from the command tag, as `UPDATE 1`)."""
        tag = await self._call(self._driver.execute, statement, values)
        return int(str(tag).rpartition(" ")[2] or 0)

    async def _call(
        self, method: Callable[..., Awaitable[Any]], statement: Prepared, values: Mapping[str, Any]
    ) -> Any:
        args = statement.args(values)
        try:
            return await method(statement.sql, *args)
        except _GONE as error:
            raise await _gone(self._conn, statement.sql, error) from error
        except asyncpg.PostgresError as error:  # refused by the server: as SQLAlchemy wraps it
            raise exc.DBAPIError(statement.sql, None, error) from error


async def _gone(conn: AsyncConnection, sql: str, error: Exception) -> exc.InterfaceError:
    """SQLAlchemy's error for a lost connection, the connection invalidated (the pool opens a
    new one), so the API answers 503 as for a statement sent through SQLAlchemy."""
    with contextlib.suppress(Exception):  # already unusable: the pool discards it either way
        await conn.invalidate()
    return exc.InterfaceError(sql, None, error, connection_invalidated=True)
