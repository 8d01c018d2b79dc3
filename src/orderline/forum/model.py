"""Forum users, threads and posts: the rules every write obeys (API and import alike), the
errors they raise (the shared kinds of `domain.errors` where one fits) and the pages listings
return. Plain values; no I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from orderline.domain.errors import DomainError, NotFound, VersionConflict

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]*$"
ID_RE = re.compile(ID_PATTERN)
# `\s` differs between engines (Rust's regex, which pydantic uses, counts U+0085; JavaScript's,
# which the OpenAPI document's patterns follow, counts U+FEFF): both are named, so all agree.
_NOT_AT_OR_SPACE = r"[^@\s\x85\ufeff]"
EMAIL_PATTERN = rf"^{_NOT_AT_OR_SPACE}{{1,64}}@{_NOT_AT_OR_SPACE}+\.{_NOT_AT_OR_SPACE}+$"
EMAIL_RE = re.compile(EMAIL_PATTERN)
MAX_ID = 64
MAX_NAME = 100
MAX_EMAIL = 254
MAX_TITLE = 200
MAX_DESCRIPTION = 10_000
MAX_CONTENT = 1_000_000  # characters; the real bound is the item size below
# DynamoDB refuses items over 400 KB (409,600 bytes, attribute names included). Leave room for
# the attributes the server adds (ids, timestamps, version, region).
MAX_ITEM_BYTES = 400 * 1024
METADATA_BYTES = 256  # version, createdAt, updatedAt, updatedRegion, postCount, lastPostAt, bucket
EMAIL_GUARD = "email#"  # userId of the guard item that claims a normalized address
IMPORTED = "import:"  # the id space of imported users: no token subject owns one (docs/forum.md)
# The attributes of each listing's position: the key after which its next page starts.
THREAD_PAGE_KEY = ("bucket", "createdAt", "threadId")
THREAD_POSTS_KEY = ("threadId", "createdAt", "postId")
USER_POSTS_KEY = ("userId", "createdAt", "postId", "threadId")

Key = dict[str, str]

# Text with at least one visible character (so never empty once stripped) and no NUL: the
# pattern of the order API's text (entrypoints/api/contract.py explains the character class).
TEXT_PATTERN = r"^[^\x00]*[^\s\x00-\x1f\x7f-\x9f\ufeff][^\x00]*$"
ForumId = Annotated[str, Field(min_length=1, max_length=MAX_ID, pattern=ID_PATTERN)]
Title = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=MAX_TITLE, pattern=TEXT_PATTERN
    ),
]
Name = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=MAX_NAME, pattern=TEXT_PATTERN
    ),
]
Email = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=3, max_length=MAX_EMAIL, pattern=EMAIL_PATTERN
    ),
]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=MAX_DESCRIPTION)]
# A post's text is kept as written (leading spaces may be indentation): any non-empty string.
Content = Annotated[str, StringConstraints(min_length=1, max_length=MAX_CONTENT)]


@dataclass
class Page:
    """Items of one listing and the key after the last one (None: this is the last page)."""

    items: list[dict[str, Any]]
    next_key: Key | None


class Strict(BaseModel):
    """Unknown fields are an error; strings are never coerced from other types."""

    model_config = ConfigDict(extra="forbid", strict=True)


class UserIn(Strict):
    """`email` may be left out: the address is the token's (given, it must be that one)."""

    name: Name
    email: Email | None = None


class ImportedUserIn(Strict):
    """A json-server user: the export's address, which a token with it claims (docs/forum.md)."""

    name: Name
    email: Email


class UserPatch(Strict):
    """`email`: only the token's current address (the provider's change, followed)."""

    name: Name | None = None
    email: Email | None = None


class ThreadIn(Strict):
    title: Title
    description: Description = ""


class ThreadPatch(Strict):
    title: Title | None = None
    description: Description | None = None


class PostIn(Strict):
    title: Title
    content: Content


class PostPatch(Strict):
    title: Title | None = None
    content: Content | None = None


# -- errors -------------------------------------------------------------------------------------


class ForumError(DomainError):
    """A forum rule of its own refused the request (409, 413); `errors.py` maps each kind."""


class ForumNotFound(NotFound):
    """No forum user, thread or post with that key (404 "Forum {kind} not found")."""

    def __init__(self, kind: str, key: str) -> None:
        super().__init__(f"no forum {kind} {key}", title=f"Forum {kind} not found")
        self.kind = kind


class ForumVersionConflict(VersionConflict):
    def __init__(self, kind: str, expected: int, actual: int) -> None:
        super().__init__(
            f"the {kind} is at version {actual}, not {expected}; read it again",
            expected=expected,
            actual=actual,
        )


class Conflict(ForumError):
    """Already registered, or the email belongs to someone else (409)."""


class NotYourAddress(ForumError):
    """A body address other than the token's (422). The same words whoever holds it, or
    nobody: the answer says nothing about other users' addresses."""

    def __init__(self) -> None:
        super().__init__(
            "email must be the address your token carries (its email claim); leave it out "
            "to use that one"
        )


class TooLarge(ForumError):
    def __init__(self, kind: str, size: int) -> None:
        super().__init__(
            f"the {kind} would be a {size}-byte DynamoDB item; the limit is {MAX_ITEM_BYTES} "
            "bytes (400 KB): shorten its text"
        )
        self.size = size


# -- helpers ------------------------------------------------------------------------------------


def normalize_email(email: str) -> str:
    """The form uniqueness is decided on (and the EmailIndex key): trimmed, case-folded."""
    return email.strip().casefold()


def now() -> str:
    """UTC, microseconds, `Z`: sorts as text (GSI sort keys, cursors)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def attribute_size(value: Any) -> int:
    """An upper bound of a value's size as DynamoDB counts it."""
    if value is None or isinstance(value, bool):
        return 1
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, int | float | Decimal):
        return 21
    if isinstance(value, dict):
        return 3 + sum(len(k.encode()) + attribute_size(v) + 1 for k, v in value.items())
    if isinstance(value, list | tuple):
        return 3 + sum(attribute_size(v) + 1 for v in value)
    raise TypeError(f"cannot size {type(value).__name__}")


def item_size(item: dict[str, Any]) -> int:
    return sum(len(name.encode()) + attribute_size(value) for name, value in item.items())


def check_size(kind: str, item: dict[str, Any]) -> None:
    """Refuse an item DynamoDB would refuse, counting the metadata the store adds."""
    size = item_size(item) + METADATA_BYTES
    if size > MAX_ITEM_BYTES:
        raise TooLarge(kind, size)


def is_imported(user_id: str) -> bool:
    return user_id.startswith(IMPORTED)


def imported_id(source_id: str) -> str:
    """The forum id of an exported user: in the import id space (ValueError when too long)."""
    user_id = IMPORTED + source_id
    if not valid_id(user_id):
        raise ValueError(f"id {source_id} is too long (at most {MAX_ID - len(IMPORTED)})")
    return user_id


def source_id(user_id: str) -> str:
    """An id as the export spelt it (reports speak the export's language)."""
    return user_id.removeprefix(IMPORTED)


def valid_email(value: str) -> bool:
    return len(value) <= MAX_EMAIL and EMAIL_RE.match(value) is not None


def valid_id(value: str) -> bool:
    return 0 < len(value) <= MAX_ID and ID_RE.match(value) is not None
