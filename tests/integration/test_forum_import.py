"""`orderline forum import / seed / verify` against both DynamoDB implementations."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from orderline.adapters.dynamodb.client import client_credentials

from ..helpers.cli import CliEnv, invoke

BIG = "x" * 500_000
pytestmark = pytest.mark.usefixtures("dynamodb_endpoint")  # so `cli_env` has DynamoDB


def export() -> dict[str, list[Any]]:
    """A json-server export with every kind of bad row, and mixed id types."""
    users = [
        {"id": 1, "name": "Alice", "email": "alice@example.com"},
        {"id": "2", "name": "Bob", "email": "bob@example.com", "createdAt": "2024-01-02T03:04:05Z"},
        {"id": 3, "name": "Carol", "email": "ALICE@example.com"},  # duplicate email
        {"id": "1", "name": "Alice again", "email": "a2@example.com"},  # duplicate id
        {"id": 4, "name": "   ", "email": "blank@example.com"},  # blank name
        {"id": 5, "name": "Eve", "email": "not-an-email"},  # invalid email
        {"id": True, "name": "Bool", "email": "bool@example.com"},  # not an id
    ]
    threads = [
        {"id": 1, "title": "One", "description": "first", "userId": 1},
        {"id": "2", "title": "Two", "description": "second"},
        {"id": 3, "title": "   ", "description": "blank title"},
        {"id": 4, "title": "Orphan", "userId": 99},  # missing user
        {"id": 1, "title": "Dup", "description": "duplicate id"},
    ]
    posts = [
        {
            "id": n,
            "threadId": 1 if n % 2 else "2",
            "userId": "1" if n % 3 else 2,
            "title": f"post {n}",
            "content": "hi",
            "createdAt": f"2024-02-01T00:00:{n:02d}Z",
        }
        for n in range(1, 11)
    ]
    posts += [
        {"id": 11, "threadId": 77, "userId": 1, "title": "t", "content": "c"},  # missing thread
        {"id": 12, "threadId": 1, "userId": 42, "title": "t", "content": "c"},  # missing user
        {"id": 13, "threadId": 1, "userId": 1, "title": "big", "content": BIG},  # too large
        {"id": 14, "threadId": 1, "userId": 1, "title": " ", "content": "c"},  # blank title
        {"id": "1", "threadId": 1, "userId": 1, "title": "dup", "content": "c"},  # duplicate id
        {"id": 15, "threadId": 3, "userId": 1, "title": "t", "content": "c"},  # rejected thread
        {"id": 16, "threadId": 1, "userId": 1, "title": "t", "content": 7},  # wrong type
    ]
    return {"users": users, "threads": threads, "posts": posts}


def write_export(folder: Path, data: dict[str, list[Any]]) -> Path:
    for kind, rows in data.items():
        (folder / kind).mkdir(parents=True, exist_ok=True)
        (folder / kind / "db.json").write_text(json.dumps({kind: rows}))
    return folder


async def test_import_reports_every_bad_row_and_runs_once(cli_env: CliEnv, tmp_path: Path) -> None:
    source = write_export(tmp_path / "export", export())
    report = tmp_path / "report.json"
    first = await invoke(cli_env, "forum", "import", str(source), "--report", str(report))
    assert first.exit_code == 0, first.output
    body = json.loads(report.read_text())
    assert body["written"] == {"users": 2, "threads": 2, "posts": 10}
    reasons = sorted((r["file"], r["id"], r["reason"].split(":")[0]) for r in body["rejected"])
    assert reasons == sorted(
        [
            ("users", "3", "duplicate email alice@example.com"),
            ("users", "1", "duplicate id 1"),
            ("users", "4", "invalid field name"),
            ("users", "5", "invalid field email"),
            ("users", "True", "invalid field userId"),
            ("threads", "3", "invalid field title"),
            ("threads", "4", "missing user 99"),
            ("threads", "1", "duplicate id 1"),
            ("posts", "11", "missing thread 77"),
            ("posts", "12", "missing user 42"),
            ("posts", "13", "item too large"),
            ("posts", "14", "invalid field title"),
            ("posts", "1", "duplicate id 1"),
            ("posts", "15", "missing thread 3"),
            ("posts", "16", "invalid field content"),
        ]
    ), body["rejected"]
    again = await invoke(cli_env, "forum", "import", str(source))
    assert again.exit_code == 0 and "nothing to write" in again.output
    assert "users: 7 rows, 2 valid, 0 written, 2 already there" in again.output
    verified = await invoke(cli_env, "forum", "verify", str(source))
    assert verified.exit_code == 0, verified.output
    assert "posts: 10 items, source 10 valid rows: ok" in verified.output
    threads = {t["threadId"]["S"]: t for t in scan(cli_env, "forum-threads")}
    assert threads["1"]["postCount"] == {"N": "5"} and threads["2"]["postCount"] == {"N": "5"}
    assert threads["1"]["lastPostAt"]["S"] == "2024-02-01T00:00:09.000000Z"


async def test_dry_run_writes_nothing_and_verify_sees_the_gap(
    cli_env: CliEnv, tmp_path: Path
) -> None:
    source = write_export(tmp_path / "export", export())
    dry = await invoke(cli_env, "forum", "import", str(source), "--dry-run")
    assert dry.exit_code == 0 and "dry run: nothing written" in dry.output
    assert "posts: 17 rows, 10 valid, 0 written" in dry.output
    mismatch = await invoke(cli_env, "forum", "verify", str(source))
    assert mismatch.exit_code == 1 and "MISMATCH" in mismatch.output


async def test_seed_is_idempotent(cli_env: CliEnv) -> None:
    first = await invoke(cli_env, "forum", "seed")
    assert first.exit_code == 0, first.output
    assert "users: 3 rows, 3 valid, 3 written" in first.output
    again = await invoke(cli_env, "forum", "seed")
    assert again.exit_code == 0 and "nothing to write" in again.output
    counted = await invoke(cli_env, "forum", "verify")
    assert "users: 3 items" in counted.output and "posts: 2 items" in counted.output


async def test_import_of_a_missing_folder_is_one_line(cli_env: CliEnv, tmp_path: Path) -> None:
    (tmp_path / "bad" / "users").mkdir(parents=True)
    (tmp_path / "bad" / "users" / "db.json").write_text("{not json")
    result = await invoke(cli_env, "forum", "import", str(tmp_path / "bad"))
    assert result.exit_code == 2 and "error:" in result.output


def scan(cli_env: CliEnv, table: str) -> list[dict[str, Any]]:
    endpoint = cli_env["ORDERLINE_DYNAMODB_ENDPOINT"]
    client = boto3.client(
        "dynamodb", endpoint_url=endpoint, region_name="us-east-1", **client_credentials(endpoint)
    )
    name = cli_env.prefix + table
    return list(client.scan(TableName=name)["Items"])
