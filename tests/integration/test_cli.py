"""The `orderline` command against a real PostgreSQL."""

from __future__ import annotations

from ..helpers.cli import CliEnv, invoke


async def test_config_masks_secrets() -> None:
    result = await invoke(
        {
            "ORDERLINE_DATABASE_URL": "postgresql://app:hunter2@db.internal:5432/orders",
            "ORDERLINE_CURSOR_SECRET": "very-secret",
            "ORDERLINE_PORT": "9001",
        },
        "config",
    )
    assert result.exit_code == 0, result.output
    assert "hunter2" not in result.output and "very-secret" not in result.output
    assert "postgresql://app:***@db.internal:5432/orders" in result.output
    assert "ORDERLINE_PORT" in result.output and "9001" in result.output
    assert "ORDERLINE_DYNAMODB_ENDPOINT" in result.output and "(embedded)" in result.output


async def test_invalid_configuration_is_one_clear_line() -> None:
    result = await invoke({"ORDERLINE_PORT": "eighty"}, "config")
    assert result.exit_code == 2
    assert "invalid configuration" in result.output and "port" in result.output


async def test_db_upgrade_applies_migrations_once(cli_env: CliEnv, scratch_database: str) -> None:
    first = await invoke(cli_env, "db", "upgrade")
    assert first.exit_code == 0, first.output
    assert "database at revision 0006" in first.output
    again = await invoke(cli_env, "db", "upgrade")
    assert again.exit_code == 0 and "revision 0006" in again.output
