"""The forum's benchmark: `.venv/bin/python -m bench.forum` (not part of `make bench`).

1. Thread pages at 200 requests/s open-loop against `orderline serve`: each page view is two
   requests, the thread (`GET /api/forum/threads/{id}`) and its first 20 posts
   (`GET …/posts?limit=20`), so 100 page views/s; p50/p95/p99 over both. Twice: with the
   thread page cache (`ORDERLINE_FORUM_CACHE_SECONDS`, default 1 s) and without it (0: every
   request reads DynamoDB).
2. `forum import` of BENCH_FORUM_POSTS (default 100,000) posts, in items/s, beside the rate of
   plain BatchWriteItem calls of the same items from the same client (the emulator's ceiling).

DynamoDB Local when this machine can run it, else moto's emulator (in a process of its own).
Results: a table on stdout, bench/results/forum.json and forum.md.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
import uuid
from contextlib import ExitStack
from typing import Any

from orderline.adapters.dynamodb.admin import ensure_tables
from orderline.adapters.dynamodb.client import dynamodb_client
from orderline.adapters.dynamodb.codec import to_item
from orderline.adapters.dynamodb.tables import FORUM_TABLES
from orderline.config import Settings
from orderline.forum import dynamo
from orderline.forum.importer import Importer
from orderline.forum.store import ForumStore

from . import loadgen
from .cli import help_only
from .services import HOST, RESULTS, Server, database, dynamodb_local_emulator, emulator, log

RATE = 200
SECONDS = float(os.environ.get("BENCH_RUN_SECONDS", "10"))
POSTS = int(os.environ.get("BENCH_FORUM_POSTS", "100000"))


def dataset(posts: int, threads: int = 100, users: int = 50) -> dict[str, list[Any]]:
    return {
        "users": [
            {"id": n, "name": f"user {n}", "email": f"u{n}@example.com"} for n in range(users)
        ],
        "threads": [{"id": n, "title": f"thread {n}", "userId": n % users} for n in range(threads)],
        "posts": [
            {
                "id": n,
                "threadId": n % threads,
                "userId": n % users,
                "title": f"post {n}",
                "content": "lorem ipsum " * 20,
                "createdAt": f"2024-03-01T00:{n // 6000 % 60:02d}:"
                f"{n // 100 % 60:02d}.{n % 100:06d}Z",
            }
            for n in range(posts)
        ],
    }


def raw_puts(client: Any, prefix: str, posts: int) -> list[dict[str, Any]]:
    """The peer's requests: posts like the dataset's, encoded before the clock starts."""
    store = ForumStore(client, prefix, "x")
    return [
        {
            "PutRequest": {
                "Item": to_item(
                    store.stamp(
                        {
                            "postId": str(n),
                            "threadId": str(n % 100),
                            "userId": "1",
                            "title": "t",
                            "content": "lorem ipsum " * 20,
                        }
                    )
                )
            }
        }
        for n in range(posts)
    ]


async def import_rates(endpoint: str) -> dict[str, Any]:
    """The import, then the peer; both after a warm-up write (the emulator's JIT would
    otherwise bill its warm-up to whichever runs first)."""
    settings = Settings(dynamodb_endpoint=endpoint, dynamodb_max_attempts=10)
    data = dataset(POSTS)
    async with dynamodb_client(settings) as client:
        prefix, raw, warm = (f"bench-{uuid.uuid4().hex[:6]}-" for _ in range(3))
        for p in (prefix, raw, warm):
            await ensure_tables(client, p, FORUM_TABLES)
        warm_up = raw_puts(client, warm, min(POSTS, 10_000))
        await dynamo.write_all(client, f"{warm}forum-posts", warm_up, parallel=8)
        store = ForumStore(client, prefix, "us-east-1")
        started = time.perf_counter()
        result = await Importer(store).run(data)
        imported = time.perf_counter() - started
        items = sum(result.written.values())
        puts = raw_puts(client, raw, POSTS)
        started = time.perf_counter()
        await dynamo.write_all(client, f"{raw}forum-posts", puts, parallel=8)
        raw_seconds = time.perf_counter() - started
        again = time.perf_counter()
        second = await Importer(store).run(data)
        rerun = time.perf_counter() - again
    return {
        "posts": POSTS,
        "itemsWritten": items,
        "importSeconds": round(imported, 2),
        "importItemsPerSecond": round(items / imported, 1),
        "batchWriteItemsPerSecond": round(POSTS / raw_seconds, 1),
        "importShareOfBatchWrite": round(items / imported / (POSTS / raw_seconds), 3),
        "secondRunWrote": sum(second.written.values()),
        "secondRunSeconds": round(rerun, 2),
    }


def thread_pages(endpoint: str, url: str, cache_seconds: float) -> dict[str, Any]:
    prefix = f"benchweb-{uuid.uuid4().hex[:6]}-"
    env = dict(os.environ) | {
        "ORDERLINE_FORUM_CACHE_SECONDS": str(cache_seconds),
        "ORDERLINE_DATABASE_URL": url,
        "ORDERLINE_DYNAMODB_ENDPOINT": endpoint,
        "ORDERLINE_TABLE_PREFIX": prefix,
        "ORDERLINE_DATA_DIR": tempfile.mkdtemp(),
        "ORDERLINE_AUTH": "false",
        "ORDERLINE_LOG_LEVEL": "warning",
    }

    async def fill() -> None:
        async with dynamodb_client(Settings(dynamodb_endpoint=endpoint)) as client:
            await ensure_tables(client, prefix, FORUM_TABLES)
            await Importer(ForumStore(client, prefix, "us-east-1")).run(dataset(2000, 10, 10))

    asyncio.run(fill())
    with Server(env) as server:
        paths = ["/api/forum/threads/3", "/api/forum/threads/3/posts?limit=20"]
        requests = [loadgen.get(path, HOST) for path in paths]
        loadgen.run(loadgen.closed_loop(HOST, server.port, lambda n: requests[n % 2], seconds=1))
        result = loadgen.run(
            loadgen.open_loop(
                HOST, server.port, lambda n: requests[n % 2], rate=RATE, seconds=SECONDS
            )
        )
    return {"rate": RATE, "seconds": SECONDS, "cacheSeconds": cache_seconds, **result.summary()}


def main() -> None:
    help_only(__doc__, ".venv/bin/python -m bench.forum")
    with ExitStack() as stack:
        endpoint = stack.enter_context(dynamodb_local_emulator())
        implementation = "DynamoDB Local 1.25.1"
        if endpoint is None:
            endpoint, implementation = stack.enter_context(emulator()), "moto (embedded emulator)"
        url = stack.enter_context(database())
        log(f"forum bench on {implementation}")
        pages = thread_pages(endpoint, url, 1.0)
        log(f"thread pages: {pages}")
        uncached = thread_pages(endpoint, url, 0.0)
        log(f"thread pages without the cache: {uncached}")
        rates = asyncio.run(import_rates(endpoint))
        log(f"import: {rates}")
    write(
        {
            "dynamodb": implementation,
            "threadPage": pages,
            "threadPageUncached": uncached,
            "import": rates,
        }
    )


def page_row(pages: dict[str, Any], label: str) -> str:
    return (
        f"| thread page, {label}, {pages['rate']} req/s open loop (thread + first 20 posts, "
        f"alternating) | p50 {pages['p50_ms']} ms, p95 {pages['p95_ms']} ms, "
        f"p99 {pages['p99_ms']} ms, {pages['errors']} errors |"
    )


def write(results: dict[str, Any]) -> None:
    pages, imported = results["threadPage"], results["import"]
    lines = [
        f"# Forum benchmark ({results['dynamodb']})",
        "",
        "| measure | value |",
        "|---|---|",
        page_row(pages, f"cache {pages['cacheSeconds']} s"),
        page_row(results["threadPageUncached"], "no cache (every request reads DynamoDB)"),
        f"| `forum import` of {imported['posts']} posts (+ users, threads) "
        f"| {imported['importItemsPerSecond']} items/s ({imported['importSeconds']} s), "
        f"{imported['importShareOfBatchWrite']:.0%} of plain BatchWriteItem |",
        f"| plain BatchWriteItem, same client, 8 in flight | "
        f"{imported['batchWriteItemsPerSecond']} items/s |",
        f"| second import run | wrote {imported['secondRunWrote']} items in "
        f"{imported['secondRunSeconds']} s |",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "forum.md").write_text(text)
    (RESULTS / "forum.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
