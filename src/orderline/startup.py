"""Failures of a dependency told in one line: what failed, and which setting to look at.

Used where a process starts (`serve`, `relay`, `project`) and around operations commands.
"""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, InterfaceError

from .adapters.errors import StartupError
from .config import Settings


def explain(exc: BaseException, settings: Settings) -> str | None:
    """One line for a dependency that failed at start-up, or None for a bug (keep the trace)."""
    if isinstance(exc, StartupError):
        return str(exc)
    for cause in _chain(exc):
        if isinstance(cause, BotoCoreError | ClientError):
            return (
                f"DynamoDB at {settings.dynamodb_endpoint or 'AWS'} failed ({_reason(cause)}); "
                "check ORDERLINE_DYNAMODB_ENDPOINT, ORDERLINE_AWS_REGION and the AWS credentials"
            )
        if type(cause).__module__.startswith("aiokafka"):
            return (
                f"Kafka at {settings.kafka_bootstrap_servers} failed at start-up "
                f"({_reason(cause)}); check ORDERLINE_KAFKA_BOOTSTRAP_SERVERS"
            )
        if isinstance(cause, DBAPIError | InterfaceError) or type(cause).__module__.startswith(
            "asyncpg"
        ):
            return _postgres(cause, settings)
    if isinstance(exc, OSError):  # a refused or unresolvable connection: PostgreSQL comes first
        return _postgres(exc, settings)
    return None


def _postgres(cause: BaseException, settings: Settings) -> str:
    where = "the embedded PostgreSQL"
    if settings.database_url is not None:
        url = make_url(settings.database_url.get_secret_value())
        where = f"PostgreSQL at {url.render_as_string(hide_password=True)}"
    return f"{where} is unreachable ({_reason(cause)}); check ORDERLINE_DATABASE_URL"


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
