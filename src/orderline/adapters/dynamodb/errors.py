"""Which DynamoDB failures are worth retrying later (outage, throttling) and which are final."""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

TRANSIENT_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "TransactionConflictException",
        "TransactionInProgressException",
        "InternalServerError",
        "ServiceUnavailable",
        "ResourceNotFoundException",  # tables not (yet) created: an outage, not a bad event
        "ResourceInUseException",
    }
)

UNAVAILABLE = (BotoCoreError, OSError, TimeoutError)


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return error.get("Code") in TRANSIENT_CODES or status >= 500
    return isinstance(exc, UNAVAILABLE)


def is_condition_failed(exc: BaseException) -> bool:
    """A conditional write DynamoDB refused because its condition did not hold."""
    return (
        isinstance(exc, ClientError)
        and exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"
    )
