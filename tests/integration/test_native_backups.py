"""`orderline tables backups …` and `tables pitr …` on both DynamoDB implementations.

moto implements on-demand backups and PITR (its RestoreTableToPointInTime ignores the time and
copies the table as it is now, so the test asserts that deviation). DynamoDB Local implements
neither (UnknownOperationException): every command must say so in one line and exit 2.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from orderline.ops.bulk.schema import wait_active

from ..helpers.cli import CliEnv, invoke


async def make_table(client: Any, name: str, items: int) -> None:
    await client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    await wait_active(client, name)
    for n in range(items):
        await client.put_item(TableName=name, Item={"id": {"S": f"i{n}"}})


async def count(client: Any, name: str) -> int:
    return int((await client.scan(TableName=name, Select="COUNT"))["Count"])


async def test_native_backups_and_pitr(dynamodb: Any, cli_env: CliEnv, request: Any) -> None:
    env, prefix = cli_env, cli_env.prefix
    await make_table(dynamodb, f"{prefix}things", 3)
    if "dynamodb-local" in request.node.name:
        await _all_say_not_supported(env)
        return
    created = await invoke(env, "tables", "backups", "create", "--name", "b1")
    assert created.exit_code == 0, created.output
    assert "created 1 backups" in created.output
    listed = await invoke(env, "tables", "backups", "list")
    arn = next(line.split()[-1] for line in listed.output.splitlines() if " b1 " in line)
    await dynamodb.put_item(TableName=f"{prefix}things", Item={"id": {"S": "after"}})
    restored = await invoke(
        env, "tables", "backups", "restore", arn, "--to", f"{prefix}from-backup"
    )
    assert restored.exit_code == 0, restored.output
    assert await count(dynamodb, f"{prefix}from-backup") == 3  # the backup, not the table now
    assert (await invoke(env, "tables", "backups", "delete", arn)).exit_code == 0
    assert " b1 " not in (await invoke(env, "tables", "backups", "list")).output

    enabled = await invoke(env, "tables", "pitr", "enable")
    assert f"{prefix}things: PITR ENABLED" in enabled.output
    assert "PITR ENABLED, restorable" in (await invoke(env, "tables", "pitr", "status")).output
    before_last_write = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    await dynamodb.put_item(TableName=f"{prefix}things", Item={"id": {"S": "later"}})
    pitr = await invoke(
        env,
        "tables",
        "pitr",
        "restore",
        "things",
        "--to",
        before_last_write,
        "--target",
        f"{prefix}pitr",
    )
    assert pitr.exit_code == 0, pitr.output
    # moto ignores the restore time: the copy includes the write made after it (AWS would not)
    assert await count(dynamodb, f"{prefix}pitr") == 5


async def _all_say_not_supported(env: CliEnv) -> None:
    """DynamoDB Local: UnknownOperationException for all of these, told in one line, exit 2."""
    for args in (
        ("tables", "backups", "create"),
        ("tables", "backups", "list"),
        ("tables", "pitr", "enable"),
        ("tables", "pitr", "status"),
        ("tables", "pitr", "restore", "things", "--to", "2026-01-01T00:00:00"),
    ):
        result = await invoke(env, *args)
        assert result.exit_code == 2, (args, result.output)
        errors = [line for line in result.output.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "is not supported by this endpoint" in errors[0], result.output
