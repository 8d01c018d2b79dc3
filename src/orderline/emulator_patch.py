"""Make moto's TransactWriteItems cheap: undo the touched items instead of copying tables.

moto snapshots every table a transaction touches with `copy.deepcopy` before applying it
(≈ 80 µs per stored item, so 200 ms per transaction once a table holds a few thousand items)
and puts the copies back when the transaction is cancelled. Here the snapshot is of the touched
items only: during the call a table "copies" to itself, and on cancellation the touched items
are restored one by one. The emulator serves one request at a time, so nothing else can observe
the intermediate state. Used only by the embedded emulator (`embedded.py`).

moto also remembers every model object it ever made (`BaseModel.instances_tracked`, for its
`/moto-api/data.json`): every item ever written or replaced, every stream record and iterator,
and through them the parsed request bodies: about 1.4 KB per request that `make run` never got
back. DynamoDB's models here track nothing (`_untrack`).

Two fixes for DynamoDB Streams, where moto departs from AWS in ways our stream reader notices:
- a cancelled transaction leaves no stream records (moto kept those of the items it had applied
  before the failing one, and the restore added MODIFY/REMOVE records of its own);
- shard iterators expire 15 minutes after they were handed out, an unknown or expired one is an
  `ExpiredIteratorException` (moto answered HTTP 500), and moto forgets the oldest iterators
  beyond `MAX_ITERATORS` (it kept every iterator of every GetRecords call forever);
- a shard drops old and consumed records, as AWS does after 24 hours (`emulator_trim.py`);
- GetRecords returns at most `RECORDS_PER_CALL` records (AWS may return fewer than asked):
  moto's response serializer takes milliseconds per record, so a page of 1,000 held the
  one-at-a-time emulator for seconds, past the clients' 2 s timeout on a busy machine, and the
  retried page never got through (the counters stalled, and everything behind them waited).
"""

from __future__ import annotations

import contextlib
import time
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

from . import emulator_trim

ITERATOR_SECONDS = 15 * 60  # AWS: a shard iterator expires 15 minutes after it is returned
MAX_ITERATORS = 10_000
RECORDS_PER_CALL = 100
_installed = False


def install() -> None:
    global _installed
    if _installed:
        return
    _untrack()
    _install_transactions()
    _install_iterators()
    emulator_trim.install()
    _installed = True


class _Untracked(list[Any]):
    """An instance list that keeps nothing."""

    def append(self, _: Any) -> None:
        return None


def _untrack() -> None:
    import moto.dynamodb.models
    import moto.dynamodbstreams.models  # noqa: F401  (its models register on import)
    from moto.core.base_backend import model_data

    for service in ("dynamodb", "dynamodbstreams"):
        for model in model_data[service].values():
            model.instances_tracked = _Untracked()


def _install_transactions() -> None:
    from moto.dynamodb.models import DynamoDBBackend

    original = DynamoDBBackend.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        before = _touched_items(self, transact_items)
        records = _stream_lengths(self, transact_items)
        tables = dict(self.tables)
        with _tables_copy_to_themselves():
            try:
                original(self, transact_items)
            except Exception:
                self.tables.update(tables)
                for table_name, key, attributes in reversed(before):
                    if attributes is None:
                        if self.get_item(table_name, key) is not None:
                            self.delete_item(table_name, key)
                    else:
                        self.put_item(table_name, attributes)
                for shard, position in records:  # a cancelled transaction writes no record
                    emulator_trim.truncate(shard, position)
                raise

    DynamoDBBackend.transact_write_items = transact_write_items


def _stream_lengths(backend: Any, transact_items: list[dict[str, Any]]) -> list[tuple[Any, int]]:
    """(stream shard, records it ever held) of every table the transaction names with one."""
    shards = {}
    for action in transact_items:
        for body in action.values():
            table = backend.tables.get(body.get("TableName"))
            if table is not None and table.stream_shard is not None:
                shards[id(table.stream_shard)] = table.stream_shard
    return [(shard, emulator_trim.end(shard)) for shard in shards.values()]


def _install_iterators() -> None:
    from moto.core.exceptions import JsonRESTError
    from moto.dynamodbstreams import models

    class ExpiredIterator(JsonRESTError):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__("ExpiredIteratorException", "Iterator expired or unknown")

    original_init = models.ShardIterator.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self.created = time.monotonic()

    def remembered(backend: Any) -> OrderedDict[str, Any]:
        if not isinstance(backend.shard_iterators, OrderedDict):
            backend.shard_iterators = OrderedDict(backend.shard_iterators)
        iterators: OrderedDict[str, Any] = backend.shard_iterators
        while len(iterators) > MAX_ITERATORS:
            iterators.popitem(last=False)
        return iterators

    def get_records(self: Any, iterator_arn: str, limit: int) -> dict[str, Any]:
        iterator = remembered(self).get(iterator_arn)
        if iterator is None or time.monotonic() - iterator.created > ITERATOR_SECONDS:
            raise ExpiredIterator()
        result: dict[str, Any] = iterator.get(min(limit, RECORDS_PER_CALL))
        remembered(self)
        return result

    original_get_shard_iterator = models.DynamoDBStreamsBackend.get_shard_iterator

    def get_shard_iterator(self: Any, *args: Any, **kwargs: Any) -> Any:
        iterator = original_get_shard_iterator(self, *args, **kwargs)
        remembered(self)
        return iterator

    models.ShardIterator.__init__ = init
    models.DynamoDBStreamsBackend.get_records = get_records
    models.DynamoDBStreamsBackend.get_shard_iterator = get_shard_iterator


def _touched_items(
    backend: Any, transact_items: list[dict[str, Any]]
) -> list[tuple[str, Any, Any]]:
    """(table, key, attributes before or None) of every item the transaction names."""
    touched = []
    for action in transact_items:
        for body in action.values():
            table = backend.tables.get(body.get("TableName"))
            if table is None:
                continue
            key = body.get("Key")
            if key is None and "Item" in body:
                names = [table.hash_key_attr] + (
                    [table.range_key_attr] if table.range_key_attr else []
                )
                if not all(name in body["Item"] for name in names):
                    continue  # moto reports the malformed item itself
                key = {name: body["Item"][name] for name in names}
            if key is None:
                continue
            try:
                current = backend.get_item(table.name, key)
            except Exception:
                continue
            touched.append((table.name, key, current.to_json()["Attributes"] if current else None))
    return touched


@contextlib.contextmanager
def _tables_copy_to_themselves() -> Iterator[None]:
    from moto.dynamodb.models.table import Table

    Table.__deepcopy__ = lambda self, memo: self
    try:
        yield
    finally:
        del Table.__deepcopy__
