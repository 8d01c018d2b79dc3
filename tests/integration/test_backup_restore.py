"""`orderline backup` / `restore` on both DynamoDB implementations: exact round trips, corrupt
files refused before anything is written, kill -9 during a backup and during a restore, and
counters recounted from the restored history (not restored)."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from orderline.adapters.dynamodb.admin import ensure_tables
from orderline.adapters.dynamodb.tables import STREAM_TABLES, TABLES
from orderline.config import Settings
from orderline.ops.bulk.dynamodb_http import Wire, open_wire
from orderline.ops.bulk.files import CorruptBackup
from orderline.ops.bulk.restore import RestoreError, RestoreOptions, run_restore
from orderline.ops.bulk.writer import BatchWriter
from orderline.readmodel.projector import Projector
from orderline.streams.counters import CounterAggregator, CounterConsumer
from orderline.streams.recount import stored_counts

from ..helpers.backups import (
    back_up,
    cli,
    edit_manifest,
    event_item,
    events_of,
    everything,
    fill,
    finish,
    kill_when,
    make_tables,
)
from ..helpers.cli import CliEnv, invoke
from ..helpers.counting import settled
from ..helpers.dynamodb import new_prefix
from ..helpers.factories import history


@pytest.fixture
async def wire(dynamodb_endpoint: str) -> AsyncIterator[Wire]:
    async with open_wire(Settings(dynamodb_endpoint=dynamodb_endpoint)) as opened:
        yield opened


async def test_round_trip_is_item_for_item_with_the_table_definitions(
    dynamodb: Any, wire: Wire, tmp_path: Path
) -> None:
    source, target = new_prefix(), new_prefix()
    await make_tables(dynamodb, source)
    await fill(wire, source)
    manifest = await back_up(dynamodb, wire, tmp_path / "b", source)
    assert {t.base_name: t.items for t in manifest.tables} == {
        "empty": 0,
        "events": 301,
        "provisioned": 20,
    }
    result = await run_restore(
        dynamodb, wire, RestoreOptions(tmp_path / "b", prefix=target, configured_prefix=source)
    )
    assert result.tables == {
        f"{target}empty": 0,
        f"{target}events": 301,
        f"{target}provisioned": 20,
    }
    for name in ("events", "provisioned", "empty"):
        assert await everything(wire, target + name) == await everything(wire, source + name)
    events = (await dynamodb.describe_table(TableName=f"{target}events"))["Table"]
    assert events["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert events["GlobalSecondaryIndexes"][0]["Projection"] == {
        "ProjectionType": "INCLUDE",
        "NonKeyAttributes": ["blob"],
    }
    assert events["LocalSecondaryIndexes"][0]["IndexName"] == "ByL"
    assert events["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
    ttl = await dynamodb.describe_time_to_live(TableName=f"{target}events")
    assert ttl["TimeToLiveDescription"]["AttributeName"] == "expires"
    provisioned = (await dynamodb.describe_table(TableName=f"{target}provisioned"))["Table"]
    assert provisioned["ProvisionedThroughput"]["ReadCapacityUnits"] == 7


async def test_a_non_empty_table_is_refused_unless_overwrite(
    dynamodb: Any, wire: Wire, tmp_path: Path
) -> None:
    source = new_prefix()
    await make_tables(dynamodb, source)
    await fill(wire, source, events=30)
    await back_up(dynamodb, wire, tmp_path / "b", source)
    writer = BatchWriter(wire)
    await writer.put_items(f"{source}provisioned", [{"id": {"S": "extra"}, "g": {"S": "g"}}])
    with pytest.raises(RestoreError, match=f"{source}events is not empty"):
        await run_restore(dynamodb, wire, RestoreOptions(tmp_path / "b", configured_prefix=source))
    result = await run_restore(
        dynamodb, wire, RestoreOptions(tmp_path / "b", overwrite=True, configured_prefix=source)
    )
    assert result.tables[f"{source}provisioned"] == 20  # recreated: the extra item is gone


@pytest.mark.parametrize("damage", ["truncated", "wrong checksum"])
async def test_a_damaged_backup_is_refused_before_anything_is_written(
    dynamodb: Any, wire: Wire, tmp_path: Path, damage: str
) -> None:
    source, target = new_prefix(), new_prefix()
    await make_tables(dynamodb, source)
    await fill(wire, source, events=200)
    manifest = await back_up(dynamodb, wire, tmp_path / "b", source)
    entry = next(t for t in manifest.tables if t.base_name == "events").files[1]
    path = tmp_path / "b" / entry.path
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:-40])
        expected = rf"{entry.path}: checksum mismatch.*line {entry.items}: truncated"
    else:
        data = orjson.loads((tmp_path / "b" / "manifest.json").read_bytes())
        files = next(t for t in data["tables"] if t["base_name"] == "events")["files"]
        files[1]["sha256"] = "0" * 64
        (tmp_path / "b" / "manifest.json").write_bytes(orjson.dumps(data))
        expected = rf"{entry.path}: checksum mismatch.*content differs"
    with pytest.raises(CorruptBackup, match=expected):
        await run_restore(
            dynamodb, wire, RestoreOptions(tmp_path / "b", prefix=target, configured_prefix=source)
        )
    tables = (await dynamodb.list_tables())["TableNames"]
    assert not [name for name in tables if name.startswith(target)]


async def test_kill_9_during_backup_and_restore_then_resume_is_complete_and_exact(
    dynamodb: Any, wire: Wire, tmp_path: Path, cli_env: CliEnv, database_url: str
) -> None:
    source, target = cli_env.prefix, new_prefix()
    await make_tables(dynamodb, source)
    await fill(wire, source, events=6000)
    env = cli_env | {"ORDERLINE_DATABASE_URL": database_url}
    out = tmp_path / "b"
    # rate limited so that the kill lands between the first finished segment and the last
    backup = cli(env, "backup", "--out", str(out), "--segments", "8", "--max-rcu", "300")
    await kill_when(backup, lambda: any(out.glob("*/*.done.json")), "a finished segment")
    assert not (out / "manifest.json").exists()
    summary = finish(cli(env, "backup", "--out", str(out), "--segments", "8"))
    assert "backed up 6021 items of 3 tables" in summary
    assert " 0 segments resumed" not in summary, summary

    restore = cli(env, "restore", str(out), "--prefix", target, "--max-wcu", "2000")
    journal = lambda: [  # noqa: E731
        p for p in out.glob("restore-state-*.json") if orjson.loads(p.read_bytes())["files"]
    ]
    await kill_when(restore, lambda: bool(journal()), "restore progress")
    summary = finish(cli(env, "restore", str(out), "--prefix", target))
    assert "restored 6021 items into 3 tables" in summary and "resumed" in summary
    for name in ("events", "provisioned", "empty"):
        assert await everything(wire, target + name) == await everything(wire, source + name)
    assert not list(out.glob("restore-state-*.json"))


async def test_cli_names_the_damaged_file_and_line_and_exits_1(
    dynamodb: Any, wire: Wire, tmp_path: Path, cli_env: CliEnv
) -> None:
    source = new_prefix()
    await make_tables(dynamodb, source)
    await fill(wire, source, events=50)
    manifest = await back_up(dynamodb, wire, tmp_path / "b", source)
    entry = next(t for t in manifest.tables if t.base_name == "events").files[0]
    path = tmp_path / "b" / entry.path
    content = path.read_bytes().split(b"\n")
    content[2] = content[2][:30]
    path.write_bytes(b"\n".join(content))
    process = cli(cli_env, "restore", str(tmp_path / "b"), "--prefix", new_prefix())
    _, err = process.communicate(timeout=120)
    assert process.returncode == 1
    last = err.decode().strip().splitlines()[-1]
    assert (
        last.startswith(f"error: {entry.path}: checksum mismatch")
        and "line 3: not valid JSON" in last
    )


# -- a manifest is not trusted (issue 21, finding 10) --------------------------------------------


@pytest.mark.parametrize("where", ["absolute", "dot-dot", "symlink", "symlinked folder"])
async def test_files_outside_the_backup_folder_are_refused(
    dynamodb: Any, wire: Wire, tmp_path: Path, where: str
) -> None:
    """Every file the manifest names is a regular file inside the folder: not an absolute path,
    not `..`, not a symbolic link (not even a link to a file that matches its checksum)."""
    source, target = new_prefix(), new_prefix()
    await make_tables(dynamodb, source)
    await fill(wire, source, events=30)
    folder = tmp_path / "b"
    manifest = await back_up(dynamodb, wire, folder, source)
    entry = next(t for t in manifest.tables if t.base_name == "events").files[0]
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.jsonl").write_bytes((folder / entry.path).read_bytes())
    named = {
        "absolute": str(outside / "x.jsonl"),
        "dot-dot": "../outside/x.jsonl",
        "symlink": "link.jsonl",
        "symlinked folder": "linked/x.jsonl",
    }[where]
    (folder / "link.jsonl").symlink_to(outside / "x.jsonl")
    (folder / "linked").symlink_to(outside)
    edit_manifest(folder, lambda data: events_of(data)["files"][0].update(path=named))
    with pytest.raises(CorruptBackup, match=r"inside the backup folder|not a regular file"):
        await run_restore(
            dynamodb, wire, RestoreOptions(folder, prefix=target, configured_prefix=source)
        )
    tables = (await dynamodb.list_tables())["TableNames"]
    assert not [name for name in tables if name.startswith(target)]


async def test_what_is_written_is_what_was_checked(
    dynamodb: Any, wire: Wire, tmp_path: Path
) -> None:
    """A file changed after its checksum was verified is not what gets restored: the checksum
    and the writes come from one read of it."""
    source, target = new_prefix(), new_prefix()
    await make_tables(dynamodb, source)
    await fill(wire, source, events=30)
    folder = tmp_path / "b"
    manifest = await back_up(dynamodb, wire, folder, source)
    path = folder / next(t for t in manifest.tables if t.base_name == "events").files[0].path
    forged = {**event_item(0), "forged": {"S": "after the check"}}

    def tamper_before_writing(label: str, total: int) -> Any:
        if label == "restoring items":
            keep = path.read_bytes().split(b"\n", 1)[1]
            path.write_bytes(orjson.dumps(forged) + b"\n" + keep)
        return lambda done: None

    await run_restore(
        dynamodb,
        wire,
        RestoreOptions(folder, prefix=target, configured_prefix=source),
        tamper_before_writing,
    )
    assert await everything(wire, target + "events") == await everything(wire, source + "events")


@pytest.mark.parametrize(
    "extra",
    [
        {"TableClass": "STANDARD_INFREQUENT_ACCESS"},
        {"Tags": [{"Key": "owner", "Value": "someone"}]},
        {"GlobalSecondaryIndexes": [{"IndexName": "x", "Surprise": True}]},
    ],
)
async def test_create_table_parameters_outside_the_allow_list_are_refused(
    dynamodb: Any, wire: Wire, tmp_path: Path, extra: dict[str, Any]
) -> None:
    source, target = new_prefix(), new_prefix()
    await make_tables(dynamodb, source)
    folder = tmp_path / "b"
    await back_up(dynamodb, wire, folder, source)

    def add(data: dict[str, Any]) -> None:
        create = events_of(data)["create_table"]
        for name, value in extra.items():
            if name.endswith("Indexes"):  # an index: its known keys plus the surprise
                value = [{**create[name][0], **value[0]}]
            create[name] = value

    edit_manifest(folder, add)
    with pytest.raises(CorruptBackup, match="CreateTable"):
        await run_restore(
            dynamodb, wire, RestoreOptions(folder, prefix=target, configured_prefix=source)
        )
    tables = (await dynamodb.list_tables())["TableNames"]
    assert not [name for name in tables if name.startswith(target)]


async def test_overwrite_touches_only_tables_under_the_configured_prefix(
    dynamodb: Any, wire: Wire, tmp_path: Path, cli_env: CliEnv
) -> None:
    """A manifest naming another prefix cannot make `restore --overwrite` delete that prefix's
    tables; an explicit `--prefix` on the command line can."""
    source, victim = new_prefix(), new_prefix()
    await make_tables(dynamodb, source)
    await fill(wire, source, events=30)
    await make_tables(dynamodb, victim)
    precious = {"id": {"S": "precious"}, "g": {"S": "g"}}
    await BatchWriter(wire).put_items(f"{victim}provisioned", [precious])
    folder = tmp_path / "b"
    await back_up(dynamodb, wire, folder, source)
    edit_manifest(folder, lambda data: data.update(source_prefix=victim))
    process = cli(cli_env, "restore", str(folder), "--overwrite")
    _, err = process.communicate(timeout=120)
    assert process.returncode == 1, err.decode()
    assert f"outside the configured prefix {cli_env.prefix}" in err.decode()
    assert orjson.dumps(precious, option=orjson.OPT_SORT_KEYS) in b"".join(
        await everything(wire, f"{victim}provisioned")
    )
    done = finish(cli(cli_env, "restore", str(folder), "--overwrite", "--prefix", victim))
    assert f"{victim}provisioned 20" in done


async def test_a_restored_read_model_counts_each_history_entry_once(
    dynamodb: Any, streams: Any, wire: Wire, tmp_path: Path, cli_env: CliEnv
) -> None:
    """Counter items are recounted from the restored history, not restored: the restored
    entries' INSERTs on the new history stream are not counted on top of them afterwards."""
    source, target = new_prefix(), cli_env.prefix
    await ensure_tables(dynamodb, source, (*TABLES, *STREAM_TABLES))
    scripts = [["advance", "advance"], ["cancel"], ["advance", "delete"], []]
    await Projector(dynamodb, source).project(history(scripts, random.Random(20)))
    await counting(dynamodb, streams, source).catch_up()
    await settled(dynamodb, source, seconds=5)
    counters = await stored_counts(dynamodb, source)
    assert counters
    await back_up(dynamodb, wire, tmp_path / "b", source)
    restored = await invoke(cli_env, "restore", str(tmp_path / "b"), "--prefix", target)
    assert restored.exit_code == 0, restored.output
    assert "counters: recounted 9 history entries" in restored.output
    assert await stored_counts(dynamodb, target) == counters
    # an aggregator on the restored tables (a `serve` beside them) finds nothing left to count
    await counting(dynamodb, streams, target).catch_up()
    assert await stored_counts(dynamodb, target) == counters
    await settled(dynamodb, target, seconds=5)


def counting(client: Any, streams: Any, prefix: str) -> CounterConsumer:
    return CounterConsumer(client, streams, CounterAggregator(client, prefix), prefix)
