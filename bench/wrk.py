"""Saturation with `wrk` (C, one thread): the server's ceiling, not the Python generator's.

wrk is closed-loop by design, which is what saturation means: every connection sends its next
request as soon as the last is answered. The requests cycle through a file the Lua script reads,
and the script prints one JSON line with the percentiles the table needs.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

SCRIPT = r"""
local requests, n = {}, 0
function init(args)
  for line in io.lines(args[1]) do
    local method, path, body = line:match("^(%u+)\t([^\t]+)\t?(.*)$")
    local headers = {}
    if args[2] then headers["Authorization"] = args[2] end
    if body ~= "" then headers["Content-Type"] = "application/json" else body = nil end
    requests[#requests + 1] = wrk.format(method, path, headers, body)
  end
end
function request()
  n = n % #requests + 1
  return requests[n]
end
function done(summary, latency, _)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "errors": %d, "status_errors": %d,' ..
    ' "p50_us": %d, "p95_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max))
end
"""

Request = tuple[str, str, bytes]  # method, path, body (b"" for none)


def available() -> bool:
    return shutil.which("wrk") is not None


def saturate(
    base: str,
    requests: list[Request],
    *,
    seconds: float,
    connections: int = 32,
    authorization: str | None = None,
) -> dict[str, float]:
    """Run wrk against `base`, cycling through `requests`; a summary like `Result.summary`."""
    with tempfile.TemporaryDirectory() as scratch:
        script, listing = Path(scratch) / "cycle.lua", Path(scratch) / "requests.tsv"
        script.write_text(SCRIPT)
        listing.write_text(
            "".join(f"{method}\t{path}\t{body.decode()}\n" for method, path, body in requests)
        )
        duration = f"-d{max(1, round(seconds))}s"
        command = ["wrk", "-t1", f"-c{connections}", duration, "-s", str(script)]
        output = subprocess.run(
            [*command, base, "--", str(listing), *([authorization] if authorization else [])],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    found = re.search(r"^\{.*\}$", output, re.MULTILINE)
    if found is None:
        raise RuntimeError(f"wrk printed no summary:\n{output}")
    raw = json.loads(found.group(0))
    answered = raw["requests"] - raw["errors"]
    return {
        "requests": raw["requests"],
        "errors": raw["errors"] + raw["status_errors"],
        "dropped": 0,
        "rate": round(answered / (raw["duration_us"] / 1e6), 1),
        "p50_ms": raw["p50_us"] / 1000,
        "p95_ms": raw["p95_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "max_ms": raw["max_us"] / 1000,
        "tool": "wrk",
    }
