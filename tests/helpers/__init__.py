"""What tests share, one module per kind of thing (test modules never import each other):

- `actors`: principals for commands run directly (`admin`, `customer`, `restaurant`).
- `factories`: domain objects and commands (`placed_order`, `place_command`, `T0`,
  `TickingClock`) and a scripted event `history` for projector tests.
- `lifecycle`: the order lifecycle written out independently of the code (`ALLOWED`).
- `fakes`: in-memory twins of ports (unit of work, `OrderQueries`, `EventLog`, `ChangeFeed`),
  each held to its PostgreSQL adapter by a contract test in tests/integration/.
- `orders`: `place` and `confirm` through a bootstrapped container's command handler.
- `settings`: `settings_for`, the Settings of a test container.
- `dynamodb`: the backends a run covers, `new_prefix` (tables deleted after the test), `scan`.
- `counting`: wait for the counters counted from the history stream (`counted` runs a
  container's aggregator, `settled` waits for a server's).
- `cli`: `invoke` an `orderline` command in-process, `process_env` for one started as a
  process, `CliEnv` (the `cli_env` fixture of tests/conftest.py builds one).
- `http`: request bodies (`ORDER`, `order`, `SMOKE_ORDER`), `create` and `assert_problem`.
- `server`: `RunningServer` (a uvicorn serving the app, with tokens it accepts) and
  `serve_in_thread`; the `server` and `client` fixtures live in tests/e2e/conftest.py.
- `authorization`: the authorization matrices' rows (`ORDER_ROWS`, `FORUM_ROWS`) and the
  tokens every matrix is asked with (`BAD`, `tokens`).
- `sse`: a small Server-Sent-Events client. `processes`: `wait_ready`.
- `replicator`: global tables' replication as a test double between two emulators (the home
  stream followed by `StreamReader`, applied to the replica after a lag, last writer wins).
- `regions`: two regions of emulators (the `regions` fixture a test module imports),
  `region_settings`, `replicated_tables` and `serving_regions` (the API on both).
- `broker`: a tansu Kafka broker. `tools`: `require` a Debian program or skip.
- `pipeline_checks`: what the Kafka pipeline tests check (`converge`, `check_read_model`,
  `Sampler` of reads while the load runs).
- `backups`: the backup and restore tests' tables, items, canonical dumps and CLI processes.
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).parents[2]
