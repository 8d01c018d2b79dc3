"""Credentials for a local emulator: the user's own when the standard chain has any."""

from __future__ import annotations

from pathlib import Path

import pytest

from orderline.adapters.dynamodb.client import (
    EMULATOR_CREDENTIALS,
    client_credentials,
    emulator_credentials,
)


@pytest.fixture
def no_aws_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    return monkeypatch


def test_without_any_credentials_the_fixed_pair_is_used(no_aws_config: pytest.MonkeyPatch) -> None:
    assert emulator_credentials() == EMULATOR_CREDENTIALS


def test_the_users_credentials_win(no_aws_config: pytest.MonkeyPatch) -> None:
    no_aws_config.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    no_aws_config.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    assert emulator_credentials() == {
        "aws_access_key_id": "AKIDEXAMPLE",
        "aws_secret_access_key": "secret",
    }


def test_a_profile_in_the_shared_file_is_used(
    no_aws_config: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "credentials").write_text(
        "[default]\naws_access_key_id = fromfile\naws_secret_access_key = s\n"
    )
    assert emulator_credentials()["aws_access_key_id"] == "fromfile"


def test_aws_endpoints_use_the_standard_chain_untouched() -> None:
    assert client_credentials("https://dynamodb.eu-west-1.amazonaws.com") == {}
    assert client_credentials(None) == {}
