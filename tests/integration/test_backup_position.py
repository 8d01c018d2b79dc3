"""A read-model backup records the outbox position it is consistent with, taken before the
scan, in PostgreSQL after verification: what retention may prune up to."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import text

from orderline.adapters.dynamodb.admin import ensure_tables
from orderline.adapters.postgres.engine import build_engine

from ..helpers.cli import CliEnv, invoke


async def test_backup_of_the_read_model_records_its_outbox_position(
    dynamodb: Any, cli_env: CliEnv, scratch_database: str, tmp_path: Path
) -> None:
    await ensure_tables(dynamodb, cli_env.prefix)
    assert (await invoke(cli_env, "db", "upgrade")).exit_code == 0
    engine = build_engine(scratch_database, pool_size=1)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO outbox (event_id, order_id, order_version, event_type, payload,"
                    " created_at, available_at, published_at, attempts) SELECT gen_random_uuid(),"
                    " gen_random_uuid(), 1, 'OrderPlaced', '{}', now(), now(),"
                    " CASE WHEN n = 4 THEN NULL ELSE now() END, 0 FROM generate_series(1, 5) n"
                )
            )
        out = tmp_path / "b"
        result = await invoke(cli_env, "backup", "--out", str(out))
        assert result.exit_code == 0, result.output
        assert "consistent with outbox position 3" in result.output  # row 4 is unpublished
        manifest = orjson.loads((out / "manifest.json").read_bytes())
        assert {t["base_name"]: t["outbox_position"] for t in manifest["tables"]} == {
            "order-details": 3,
            "order-status": 3,
            "order-status-log": 3,
            "order-status-metrics": 3,
        }
        async with engine.connect() as conn:
            row = (
                await conn.execute(text("SELECT location, outbox_position FROM read_model_backups"))
            ).one()
        assert row.outbox_position == 3 and row.location == str(out.resolve())
    finally:
        await engine.dispose()
