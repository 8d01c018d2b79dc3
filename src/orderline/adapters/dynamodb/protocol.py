"""`DynamoDBClient`: the aiobotocore DynamoDB client as this code base calls it.

aiobotocore ships no types; this protocol names the operations the project issues (keyword
arguments as in boto3's DynamoDB reference, a response dict back), so a function says it takes
a DynamoDB client instead of `Any`. `client.dynamodb_client` yields one.
"""

from __future__ import annotations

from typing import Any, Protocol

Response = dict[str, Any]


class DynamoDBClient(Protocol):
    """The DynamoDB operations the project calls (items, tables, backups)."""

    @property
    def meta(self) -> Any:
        """botocore's client meta: its event hooks carry the metrics (`instrumentation`)."""
        ...

    # items
    async def get_item(self, **request: Any) -> Response: ...

    async def batch_get_item(self, **request: Any) -> Response: ...

    async def query(self, **request: Any) -> Response: ...

    async def scan(self, **request: Any) -> Response: ...

    async def put_item(self, **request: Any) -> Response: ...

    async def update_item(self, **request: Any) -> Response: ...

    async def delete_item(self, **request: Any) -> Response: ...

    async def batch_write_item(self, **request: Any) -> Response: ...

    async def transact_write_items(self, **request: Any) -> Response: ...

    # tables
    async def create_table(self, **request: Any) -> Response: ...

    async def delete_table(self, **request: Any) -> Response: ...

    async def describe_table(self, **request: Any) -> Response: ...

    async def list_tables(self, **request: Any) -> Response: ...

    async def update_time_to_live(self, **request: Any) -> Response: ...

    async def describe_time_to_live(self, **request: Any) -> Response: ...

    async def tag_resource(self, **request: Any) -> Response: ...

    async def list_tags_of_resource(self, **request: Any) -> Response: ...

    # backups (point-in-time recovery and on-demand backups)
    async def describe_continuous_backups(self, **request: Any) -> Response: ...

    async def update_continuous_backups(self, **request: Any) -> Response: ...

    async def create_backup(self, **request: Any) -> Response: ...

    async def delete_backup(self, **request: Any) -> Response: ...

    async def list_backups(self, **request: Any) -> Response: ...

    async def restore_table_from_backup(self, **request: Any) -> Response: ...

    async def restore_table_to_point_in_time(self, **request: Any) -> Response: ...


class DynamoDBStreamsClient(Protocol):
    """The DynamoDB Streams operations the stream reader calls (`streams/`)."""

    @property
    def meta(self) -> Any:
        """botocore's client meta: its event hooks carry the metrics (`instrumentation`)."""
        ...

    async def describe_stream(self, **request: Any) -> Response: ...

    async def get_shard_iterator(self, **request: Any) -> Response: ...

    async def get_records(self, **request: Any) -> Response: ...


class TransactionWriter(Protocol):
    """One TransactWriteItems: a DynamoDBClient is one, and so is a recorder that keeps the
    transactions instead of sending them (`ops/provisioning/cost.py` sizes items so)."""

    async def transact_write_items(self, *, TransactItems: list[dict[str, Any]]) -> Response: ...


class ProjectionWriter(Protocol):
    """What the projector writes with: history entries by BatchWriteItem, current items by
    conditional PutItem. A DynamoDBClient is one; so is `ops/provisioning/cost.py`'s recorder."""

    async def batch_write_item(self, **request: Any) -> Response: ...

    async def put_item(self, **request: Any) -> Response: ...


class ItemUpdater(Protocol):
    """One UpdateItem: how a stream consumer moves a shard's checkpoint (`streams/leases.py`)."""

    async def update_item(self, **request: Any) -> Response: ...


class CountingWriter(TransactionWriter, ItemUpdater, Protocol):
    """What the counter aggregator writes with: the counts-and-checkpoint transaction, or the
    checkpoint alone. A DynamoDBClient is one; so is `ops/provisioning/cost.py`'s recorder."""
