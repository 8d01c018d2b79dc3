"""Backup files: segment files written durably with their checksum, read back and verified.

A segment file holds one item per line in DynamoDB JSON (the wire format: numbers as strings,
binaries base64). It is written to `<name>.part`, fsynced, renamed, and its directory fsynced;
only then is its `.done.json` marker (items, bytes, sha256) written the same way. A segment
without its marker is scanned again from the start.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

import orjson

READ_CHUNK = 1 << 20


class CorruptBackup(Exception):
    """A backup file that is not what its manifest says: one line naming file and line."""


@dataclass(frozen=True)
class FileEntry:
    path: str  # relative to the backup folder
    items: int
    bytes: int
    sha256: str

    def as_json(self) -> dict[str, Any]:
        return {"path": self.path, "items": self.items, "bytes": self.bytes, "sha256": self.sha256}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FileEntry:
        return cls(str(data["path"]), int(data["items"]), int(data["bytes"]), str(data["sha256"]))


class SegmentWriter:
    """Append lines to `<path>.part`; `finish()` makes it durable and returns its entry."""

    def __init__(self, root: Path, relative: str) -> None:
        self._root = root
        self._relative = relative
        self._final = root / relative
        self._final.parent.mkdir(parents=True, exist_ok=True)
        self._part = self._final.with_name(self._final.name + ".part")
        self._file: BinaryIO = self._part.open("wb")
        self._hash = hashlib.sha256()
        self.items = 0
        self.bytes = 0

    def write_items(self, items: list[dict[str, Any]]) -> None:
        if not items:
            return
        chunk = b"".join(orjson.dumps(item) + b"\n" for item in items)
        self._file.write(chunk)
        self._hash.update(chunk)
        self.items += len(items)
        self.bytes += len(chunk)

    def finish(self) -> FileEntry:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        os.replace(self._part, self._final)
        fsync_dir(self._final.parent)
        entry = FileEntry(self._relative, self.items, self.bytes, self._hash.hexdigest())
        write_json_durably(done_marker(self._final), entry.as_json())
        return entry

    def abandon(self) -> None:
        self._file.close()
        self._part.unlink(missing_ok=True)


def done_marker(path: Path) -> Path:
    return path.with_name(path.name + ".done.json")


def read_done(root: Path, relative: str) -> FileEntry | None:
    """The entry of a completed segment whose file is still there, else None."""
    marker = done_marker(root / relative)
    if not marker.exists() or not (root / relative).exists():
        return None
    try:
        return FileEntry.from_json(orjson.loads(marker.read_bytes()))
    except (orjson.JSONDecodeError, KeyError, ValueError):
        return None


def write_json_durably(path: Path, data: Any) -> None:
    """Write, fsync, rename over `path`, fsync the folder: the old or the new file, never half."""
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("wb") as file:
        file.write(orjson.dumps(data, option=orjson.OPT_INDENT_2))
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)
    fsync_dir(path.parent)


def fsync_dir(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def open_inside(root: Path, relative: str) -> BinaryIO:
    """A backup file for reading: a relative path inside `root` whose every part is a real
    folder or, last, a regular file. Each part is opened below the one before it with
    O_NOFOLLOW, so no symbolic link (nor a link swapped in meanwhile) leads outside."""
    parts = PurePosixPath(relative).parts
    if not parts or PurePosixPath(relative).is_absolute() or ".." in parts or "\\" in relative:
        raise CorruptBackup(f"{relative!r}: not a relative path inside the backup folder")
    folder = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for part in parts[:-1]:
            inner = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=folder)
            os.close(folder)
            folder = inner
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK  # a FIFO must not block the open
        descriptor = os.open(parts[-1], flags, dir_fd=folder)
    except FileNotFoundError:
        raise CorruptBackup(f"{relative}: missing") from None
    except OSError as exc:  # ELOOP / ENOTDIR: a symbolic link where a folder or file should be
        raise CorruptBackup(f"{relative}: not a regular file ({exc.strerror})") from None
    finally:
        os.close(folder)
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        raise CorruptBackup(f"{relative}: not a regular file")
    return os.fdopen(descriptor, "rb")


def verify(
    root: Path, entry: FileEntry, key_names: tuple[str, ...], copy_to: Path | None = None
) -> None:
    """Checksum, size and line count as the manifest says, every line an item with its key.

    The file is read once; with `copy_to` the bytes read are also written there (a private
    copy to restore from, so what is written is what was checked). Raises CorruptBackup naming
    the file, and the first bad line when there is one.
    """
    with open_inside(root, entry.path) as file:
        digest, size = file_digest(file, copy_to)
    if digest == entry.sha256 and size == entry.bytes:
        return
    line, problem = first_bad_line(copy_to or root / entry.path, key_names, entry.items)
    where = f" (line {line}: {problem})" if line else f" ({problem})" if problem else ""
    raise CorruptBackup(
        f"{entry.path}: checksum mismatch, {size} bytes where the manifest says "
        f"{entry.bytes}{where}"
    )


def file_digest(file: BinaryIO, copy_to: Path | None = None) -> tuple[str, int]:
    """sha256 and size of what `file` holds, copied on the way to `copy_to` (created 0600)."""
    digest = hashlib.sha256()
    size = 0
    copy = None
    if copy_to is not None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
        copy = os.fdopen(os.open(copy_to, flags, 0o600), "wb")
    try:
        while chunk := file.read(READ_CHUNK):
            digest.update(chunk)
            size += len(chunk)
            if copy is not None:
                copy.write(chunk)
    finally:
        if copy is not None:
            copy.close()
    return digest.hexdigest(), size


def first_bad_line(path: Path, key_names: tuple[str, ...], expected: int) -> tuple[int, str]:
    """(line number, what is wrong) of the first line that is not an item; (0, why) if none."""
    count = 0
    for count, raw in enumerate(lines(path), start=1):
        if not raw.endswith(b"\n"):
            return count, "truncated (no end of line)"
        try:
            item = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            return count, f"not valid JSON ({exc})"
        if not isinstance(item, dict) or any(name not in item for name in key_names):
            return count, "not an item with the table's key"
    if count != expected:
        return (
            count + 1 if count < expected else expected + 1,
            f"{count} items, expected {expected}",
        )
    return 0, "content differs from the checksum"


def lines(path: Path) -> Iterator[bytes]:
    with path.open("rb") as file:
        yield from file
