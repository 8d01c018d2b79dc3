"""json-server rows -> forum items, checked with the API's own rules; each refusal has a reason."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from orderline.adapters.dynamodb.codec import Item

from .model import (
    MAX_ITEM_BYTES,
    ImportedUserIn,
    PostIn,
    ThreadIn,
    TooLarge,
    check_size,
    imported_id,
    normalize_email,
    source_id,
    valid_id,
)

KINDS = ("users", "threads", "posts")
ID_FIELDS = {"users": "userId", "threads": "threadId", "posts": "postId"}
MODELS: dict[str, type[BaseModel]] = {
    "users": ImportedUserIn,
    "threads": ThreadIn,
    "posts": PostIn,
}


class SourceInvalid(Exception):
    """A source file that cannot be read at all (not JSON, wrong shape)."""


@dataclass
class Rejected:
    file: str
    index: int
    id: str | None
    reason: str


@dataclass
class Parsed:
    """The valid items of each kind, in file order, and every rejected row."""

    items: dict[str, list[Item]] = field(default_factory=lambda: {k: [] for k in KINDS})
    rows: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    rejected: list[Rejected] = field(default_factory=list)
    where: dict[tuple[str, str], int] = field(default_factory=dict)  # (kind, id) -> row index

    def reject(self, kind: str, index: int, row_id: str | None, reason: str) -> None:
        shown = None if row_id is None else source_id(row_id)
        self.rejected.append(Rejected(kind, index, shown, reason))

    def reject_item(self, kind: str, row_id: str, reason: str) -> None:
        """A row that was valid on its own but failed later (a reference, the table)."""
        self.reject(kind, self.where.get((kind, row_id), -1), row_id, reason)


def read_source(directory: Path) -> dict[str, list[Any]]:
    """`DIR/users/db.json` etc.: `{"users": [...]}`; a missing file is no rows."""
    found: dict[str, list[Any]] = {}
    for kind in KINDS:
        path = directory / kind / "db.json"
        if not path.exists():
            found[kind] = []
            continue
        try:
            content = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise SourceInvalid(f"{path}: {exc}") from exc
        rows = content.get(kind) if isinstance(content, dict) else None
        if not isinstance(rows, list):
            raise SourceInvalid(f'{path}: expected {{"{kind}": [...]}}')
        found[kind] = rows
    return found


def as_id(value: Any) -> str | None:
    """json-server ids are integers or strings; both become DynamoDB strings."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and valid_id(value.strip()):
        return value.strip()
    return None


def as_time(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("createdAt: not a string")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"createdAt: not an ISO-8601 time: {value!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def validate(kind: str, row: Any, fallback_time: str) -> Item:
    """One row as an item (without references checked); ValueError names what is wrong."""
    if not isinstance(row, dict):
        raise ValueError("not a JSON object")
    row_id = as_id(row.get(ID_FIELDS[kind], row.get("id")))
    if row_id is None:
        raise ValueError(f"invalid field {ID_FIELDS[kind]}: missing or not an id")
    model = MODELS[kind]
    fields = {name: row[name] for name in model.model_fields if name in row}
    try:
        checked = model.model_validate(fields).model_dump()
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        raise ValueError(f"invalid field {where}: {error['msg']}") from None
    if kind == "users":  # imported users live in their own id space (forum.md)
        row_id = _imported(row_id, "userId")
    item = {ID_FIELDS[kind]: row_id, **checked}
    item["createdAt"] = as_time(row.get("createdAt")) or fallback_time
    for reference in ("threadId", "userId"):
        if reference in row and reference != ID_FIELDS[kind]:
            ref = as_id(row[reference])
            if ref is None:
                raise ValueError(f"invalid field {reference}: not an id")
            item[reference] = _imported(ref, reference) if reference == "userId" else ref
    if kind == "users":
        item["email"] = normalize_email(item["email"])
    if kind == "posts" and not {"threadId", "userId"} <= set(item):
        raise ValueError("invalid field threadId/userId: a post needs both")
    try:
        check_size(kind[:-1], item)
    except TooLarge as exc:
        raise ValueError(f"item too large: {exc.size} bytes (limit {MAX_ITEM_BYTES})") from None
    return item


def _imported(row_id: str, name: str) -> str:
    try:
        return imported_id(row_id)
    except ValueError as exc:
        raise ValueError(f"invalid field {name}: {exc}") from None


def parse(source: dict[str, list[Any]], fallback_time: str) -> Parsed:
    """Every row validated; duplicates (id, or email case-insensitively) after the first refused."""
    parsed = Parsed()
    for kind in KINDS:
        seen: set[str] = set()
        emails: set[str] = set()
        parsed.rows[kind] = len(source[kind])
        for index, row in enumerate(source[kind]):
            raw_id = row.get(ID_FIELDS[kind], row.get("id")) if isinstance(row, dict) else None
            try:
                item = validate(kind, row, fallback_time)
            except ValueError as exc:
                parsed.reject(kind, index, None if raw_id is None else str(raw_id), str(exc))
                continue
            key = item[ID_FIELDS[kind]]
            if key in seen:
                parsed.reject(kind, index, key, f"duplicate id {source_id(key)}")
            elif kind == "users" and item["email"] in emails:
                parsed.reject(kind, index, key, f"duplicate email {item['email']}")
            else:
                seen.add(key)
                parsed.where[(kind, key)] = index
                emails.add(item.get("email", ""))
                parsed.items[kind].append(item)
    return parsed
