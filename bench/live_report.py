"""The tables `python -m bench.live` prints and writes to bench/results/live.md."""

from __future__ import annotations

from typing import Any

CHANGE_RATE, READ_RATE = 100, 500
GOALS = {"p99_ms": 50.0, "idle_kb": 20.0, "read_p95_ms": 2.0}


def markdown(found: dict[str, Any]) -> str:
    ours, theirs = found["orderline"], found["sse_starlette"]
    rows = [
        ("subscribers (one process)", f"{ours['subscribers']}", f"{theirs['subscribers']}", ""),
        ("status changes/s (achieved)", _rate(ours), _rate(theirs), f"{CHANGE_RATE}"),
        ("events delivered", f"{ours['delivered']}", f"{theirs['delivered']}", ""),
        ("commit → delivery p50 / p95 / p99", _ms(ours["delivery_ms"]),
         _ms(theirs["delivery_ms"]), f"p99 ≤ {GOALS['p99_ms']:.0f} ms"),
        (f"memory per idle subscriber ({ours['idle']['subscribers']} / "
         f"{theirs['idle']['subscribers']} open)", _kb(ours), _kb(theirs), "≤ 20 KB"),
        ("server CPU per delivered event (API; API + peer)", _cpu(ours), _cpu(theirs), ""),
        ("… of which the peer process", "", f"{theirs['peer_cpu_per_event_ms']:.3f} ms", ""),
        ("server CPU (one core) during the load (API; API + peer)",
         f"{ours['server_cpu_share']:.0%}", f"{theirs['server_cpu_share']:.0%}", ""),
        (f"cached status reads at {READ_RATE}/s, no subscribers", _ms(found["reads_without"]),
         "", ""),
        (f"… with the subscribers + {CHANGE_RATE} changes/s", _ms(ours["reads_with"]),
         _ms(theirs["reads_with"]), f"p95 ≤ {GOALS['read_p95_ms']:.0f} ms"),
        ("full GC collections in the API during the load", f"{ours['full_collections']:.0f}",
         f"{theirs['full_collections']:.0f}", ""),
        ("load generator + subscribers CPU", f"{ours['client_cpu_share']:.0%}",
         f"{theirs['client_cpu_share']:.0%}", ""),
    ]  # fmt: skip
    lines = ["| measure | orderline | sse-starlette peer | goal |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    lines += ["", "Where orderline's delivery time went (server histograms, ms):", ""]
    lines += [stage_table(ours), *apart_lines(found.get("orderline_streams_apart"))]
    return "\n".join(lines) + "\n"


def apart_lines(apart: dict[str, Any] | None) -> list[str]:
    """Ours in the peer's shape (streams on a second API process, same core), if it ran."""
    if apart is None:
        return []
    return [
        "Orderline in the peer's shape: the streams on a second API process (`serve`, no "
        "workers) on the same core, the first taking the writes and the reads:",
        "",
        f"- commit → delivery {_ms(apart['delivery_ms'])} ({apart['delivered']} events, "
        f"{_rate(apart)} changes/s)",
        f"- cached status reads on the first process {_ms(apart['reads_with'])}",
        f"- server CPU per delivered event {_cpu(apart)} (both processes), of which the "
        f"streams process {apart['streams_cpu_per_event_ms']:.3f} ms",
        "",
        stage_table(apart),
    ]


def stage_table(ours: dict[str, Any]) -> str:
    lines = ["| stage | count | p50 / p95 / p99 |", "|---|---|---|"]
    stages = {"commit → hub (lag)": ours["hub_lag_ms"], **ours["stages_ms"]}
    lines += [f"| {k} | {v['count']:.0f} | {_ms(v)} |" for k, v in stages.items()]
    lines.append(f"| commit → delivery (subscribers) | {ours['delivered']} | "
                 f"{_ms(ours['delivery_ms'])} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def _ms(p: dict[str, float]) -> str:
    return f"{p['p50']:.2f} / {p['p95']:.2f} / {p['p99']:.2f} ms"


def _rate(found: dict[str, Any]) -> str:
    return f"{found['changes']['rate']:.0f}"


def _kb(found: dict[str, Any]) -> str:
    return f"{found['idle']['kb_each']:.1f} KB"


def _cpu(found: dict[str, Any]) -> str:
    return f"{found['cpu_per_event_ms']:.3f} ms"
