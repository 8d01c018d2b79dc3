"""Make moto's TransactWriteItems cheap: undo the touched items instead of copying tables.

moto snapshots every table a transaction touches with `copy.deepcopy` before applying it
(≈ 80 µs per stored item, so 200 ms per transaction once a table holds a few thousand items)
and puts the copies back when the transaction is cancelled. Here the snapshot is of the touched
items only: during the call a table "copies" to itself, and on cancellation the touched items
are restored one by one. The emulator serves one request at a time, so nothing else can observe
the intermediate state. Used only by the embedded emulator (`embedded.py`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

_installed = False


def install() -> None:
    global _installed
    if _installed:
        return
    from moto.dynamodb.models import DynamoDBBackend

    original = DynamoDBBackend.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        before = _touched_items(self, transact_items)
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
                raise

    DynamoDBBackend.transact_write_items = transact_write_items
    _installed = True


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
