"""The benchmark's outputs: JSON, a Markdown table (stdout and docs/benchmarks.md), a chart."""

from __future__ import annotations

import json
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

DOC = Path(__file__).parents[1] / "docs" / "benchmarks.md"


def write_results(results: dict[str, Any], folder: Path) -> None:
    results["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    (folder / "latest.json").write_text(json.dumps(results, indent=2))
    table = markdown(results)
    (folder / "latest.md").write_text(table)
    print(table)
    chart(results, folder / "latest.png")
    publish(table)


def publish(table: str) -> None:
    """Put the table into docs/benchmarks.md between its result markers."""
    text_ = DOC.read_text()
    start, end = "<!-- results -->", "<!-- /results -->"
    if start in text_ and end in text_:
        head, rest = text_.split(start, 1)
        DOC.write_text(f"{head}{start}\n{table}{end}{rest.split(end, 1)[1]}")


def rows(results: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(emulator, scenario, runs) for every latency scenario, DynamoDB ones per emulator."""
    for emulator, found in results["emulators"].items():
        for name, runs in found["scenarios"].items():
            yield emulator, name, runs
    for name, runs in results["scenarios"].items():
        yield "moto (not on the path)", name, runs


def markdown(results: dict[str, Any]) -> str:
    machine = results["machine"]
    lines = [
        f"Run {results['finished']}; {machine['cpus']} CPUs, server on {machine['server_cpus']}, "
        f"load generator, emulator and PostgreSQL on {machine['client_cpus']}; "
        f"{results['run_seconds']:.0f} s per run.",
        "",
        "| scenario | emulator | load | p50 ms | p95 ms | p99 ms | max ms | req/s | errors | "
        "dropped |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for emulator, name, runs in rows(results):
        for load, run in runs.items():
            if load in ("projection_lag", "counter_lag") or "p50_ms" not in run:
                continue
            label = (
                f"saturation ({run.get('tool', 'python')})" if load == "saturation" else f"{load}/s"
            )
            lines.append(
                f"| {name} | {emulator} | {label} | {run['p50_ms']} | {run['p95_ms']} | "
                f"{run['p99_ms']} | {run['max_ms']} | {run['rate']} | {run['errors']} | "
                f"{run['dropped']} |"
            )
    lines += ["", "| measure | emulator | value |", "|---|---|---|"]
    for emulator, found in results["emulators"].items():
        lines += measures(emulator, found)
    lines += auth_lines(results["scenarios"])
    lines += zipf_lines(results["zipf"])
    return "\n".join(lines) + "\n"


def measures(emulator: str, found: dict[str, Any]) -> list[str]:
    lines = []
    for name, runs in found["scenarios"].items():
        for kind in ("projection_lag", "counter_lag"):
            if kind in runs:
                lines.append(lag_line(kind, name.split(", ")[-1], emulator, runs[kind]))
    s, raw = found["sustained"], found["raw_get_item"]
    return [
        *lines,
        f"| 5 sustained status changes/s (16 connections) | {emulator} | "
        f"{s['orderline']['rate']} |",
        f"| 5 raw asyncpg, same SQL, 16 connections | {emulator} | {s['raw_asyncpg_rate']} |",
        f"| 5 ratio Orderline / raw asyncpg | {emulator} | {s['ratio']} |",
        f"| 5 outbox backlog when the load stopped | {emulator} | {s['backlog_at_end']:.0f}, "
        f"drained {s['drained_after_seconds']} s later |",
        "| 5 end to end: changes committed and projected per second of load + drain | "
        f"{emulator} | {s['end_to_end_rate']} |",
        f"| 5 DynamoDB calls per projected event | {emulator} | {s['dynamodb_calls_per_event']} |",
        "| 5 server CPU per status change (API + relay + projection) | "
        f"{emulator} | {s['server_cpu_ms_per_change']} ms |",
        "| 5 server CPU per event while the outbox drains (relay + DynamoDB client) | "
        f"{emulator} | {s['drain_cpu_ms_per_event']} ms |",
        f"| 6 raw GetItem (aiobotocore, sequential) | {emulator} | p50 {raw['p50_ms']} ms, "
        f"p99 {raw['p99_ms']} ms, client CPU {raw['client_cpu_ms_per_call']} ms per call |",
    ]


def lag_line(kind: str, setting: str, emulator: str, lag: dict[str, Any]) -> str:
    """One histogram's percentiles and its share within the histogram's bound."""
    share, within = lag["share_within"], lag["within_ms"]
    return (
        f"| 4 {kind.replace('_', ' ')}, {setting} | {emulator} | "
        f"p50 ≈ {lag['p50_ms']} ms, p95 ≈ {lag['p95_ms']} ms, p99 ≈ {lag['p99_ms']} ms; "
        f"{share:.2%} within {within:.0f} ms ({lag['count']:.0f} events) |"
    )


def auth_lines(scenarios: dict[str, Any]) -> list[str]:
    """Cached status reads with authentication on, against the same with it off."""
    on = scenarios.get("1e status, cache hit, authentication on", {}).get("saturation")
    off = scenarios.get("1a status, cache hit", {}).get("saturation")
    if not on or not off:
        return []
    ratio = on["rate"] / off["rate"] if off["rate"] else float("nan")
    return [
        f"| 1e/1a cached status saturation, authentication on / off | moto (not on the path) | "
        f"{on['rate']} / {off['rate']} req/s = {ratio:.1%} |"
    ]


def zipf_lines(found: dict[str, Any]) -> list[str]:
    rates, reads = found["hit_rate"], found["reads"]
    return [
        f"| 3 Zipf(1.1) reads at {found['rate']}/s for {found['seconds']:.0f} s, 100,000 orders: "
        f"hit rate | moto | cache {rates['cache']:.2%}, DynamoDB {rates['dynamodb']:.2%}, "
        f"PostgreSQL {rates['postgres']:.2%} |",
        f"| 3 read latency | moto | p50 {reads['p50_ms']} ms, p95 {reads['p95_ms']} ms, "
        f"p99 {reads['p99_ms']} ms |",
    ]


def chart(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names, p50, p95, p99 = [], [], [], []
    for emulator, name, runs in rows(results):
        run = runs.get("1000") or runs.get("100")
        if run and "p50_ms" in run:
            names.append(textwrap.fill(f"{name} ({emulator.split(' (')[0]})", 18))
            p50.append(run["p50_ms"])
            p95.append(run["p95_ms"])
            p99.append(run["p99_ms"])
    figure, axis = plt.subplots(figsize=(14, 6))
    positions = range(len(names))
    for offset, (label, values) in enumerate((("p50", p50), ("p95", p95), ("p99", p99))):
        axis.bar([p + (offset - 1) * 0.27 for p in positions], values, width=0.27, label=label)
    axis.set_xticks(list(positions), names, fontsize=6)
    axis.set_yscale("log")
    axis.set_ylabel("latency, ms (log scale)")
    axis.set_title("Latency per scenario at 1,000 req/s (status changes at 100/s)")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
