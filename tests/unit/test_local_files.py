"""Issue 21, finding 12: files in the data dir that hold secrets or personal data are private
from their creation, and a secret too short to be one is refused."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from orderline.adapters.errors import StartupError
from orderline.secrets_store import MIN_SECRET_BYTES, local_secret, random_secret
from orderline.service_registry import RunningServices, registered, registry_file


@pytest.fixture
def open_umask() -> Iterator[None]:
    """No umask: a file gets exactly the mode it is created with (0666 by default)."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def test_a_partly_written_secret_is_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "cursor-secret"
    path.write_bytes(b"0123456789abcdef")  # 16 bytes: a write cut short
    with pytest.raises(StartupError, match=r"16 bytes.*at least 32") as refused:
        local_secret(path, random_secret())
    assert str(path) in str(refused.value) and "\n" not in str(refused.value)
    assert path.read_bytes() == b"0123456789abcdef"  # left for the operator to look at
    assert MIN_SECRET_BYTES == 32


@pytest.mark.usefixtures("open_umask")
def test_an_empty_secret_file_is_made_again_privately(tmp_path: Path) -> None:
    path = tmp_path / "cursor-secret"
    path.touch()  # created, then the process died before writing
    secret = local_secret(path, random_secret())
    assert len(secret) >= MIN_SECRET_BYTES and path.read_bytes() == secret
    assert path.stat().st_mode & 0o777 == 0o600
    assert local_secret(path, random_secret()) == secret  # and kept from then on


@pytest.mark.usefixtures("open_umask")
def test_a_new_secret_is_whole_and_private_when_it_appears(tmp_path: Path) -> None:
    path = tmp_path / "data" / "cursor-secret"
    secret = local_secret(path, random_secret())
    assert path.read_bytes() == secret and path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["cursor-secret"]  # no scratch left


@pytest.mark.usefixtures("open_umask")
def test_the_services_file_is_private_from_its_creation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its mode must come from the open that creates it, not a chmod afterwards (between the
    two, anyone could read the database URL): with chmod doing nothing it is still 0600."""
    monkeypatch.setattr(Path, "chmod", lambda *_args, **_kwargs: None)
    monkeypatch.setattr(os, "chmod", lambda *_args, **_kwargs: None)
    services = RunningServices(pid=os.getpid(), api="http://127.0.0.1:8000")
    with registered(tmp_path, services):
        assert registry_file(tmp_path).stat().st_mode & 0o777 == 0o600
        assert [p.name for p in tmp_path.iterdir()] == ["services.json"]
