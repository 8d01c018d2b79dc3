"""AWS's own DynamoDB Local: fetched once from the npm registry, verified, started on a port.

DynamoDB Local 1.25.1 ships inside the npm package `amplify-dynamodb-simulator@2.9.30`
(`emulator/DynamoDBLocal.jar` and `emulator/DynamoDBLocal_lib/`). `npm pack` downloads the
package without installing anything; its sha256 is checked before it is unpacked into
`<tools>/dynamodb-local/<version>/`. It needs Java 11 or newer.

`python -m orderline.dynamodb_local --port 8001 --data-dir .dynamodb-local` runs it in the
foreground (that is `make dynamodb-local`); the test suite and `make bench` use `running()`.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

PACKAGE = "amplify-dynamodb-simulator"
PACKAGE_VERSION = "2.9.30"
PACKAGE_SHA256 = "3503ffac19f183407909fecdacf4db51ab1fdad1da7b2f177016670b2d80e4b9"
DYNAMODB_LOCAL_VERSION = "1.25.1"
MIN_JAVA = 11
START_SECONDS = 60.0


class DynamoDBLocalUnavailable(Exception):
    """DynamoDB Local cannot run here; the message says why in one line."""


def java_major(java: str = "java") -> int | None:
    """The major version of `java` on the PATH, or None when there is none."""
    path = shutil.which(java)
    if path is None:
        return None
    try:
        done = subprocess.run([path, "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = re.search(r'version "(\d+)(?:\.(\d+))?', done.stderr + done.stdout)
    if found is None:
        return None
    major = int(found.group(1))
    return int(found.group(2) or 0) if major == 1 else major  # "1.8.0" is Java 8


def unavailable_reason(tools: Path) -> str | None:
    """Why DynamoDB Local cannot run on this machine, or None when it can."""
    major = java_major()
    if major is None:
        return "no `java` on the PATH (DynamoDB Local needs Java 11 or newer)"
    if major < MIN_JAVA:
        return f"`java` is version {major}; DynamoDB Local needs {MIN_JAVA} or newer"
    if not _jar(install_dir(tools)).exists() and shutil.which("npm") is None:
        return f"no `npm` on the PATH to fetch {PACKAGE}@{PACKAGE_VERSION}"
    return None


def install_dir(tools: Path) -> Path:
    return tools.resolve() / "dynamodb-local" / PACKAGE_VERSION


def ensure_installed(tools: Path) -> Path:
    """The unpacked emulator folder, fetched and verified on first use."""
    target = install_dir(tools)
    if _jar(target).exists():
        return target
    if shutil.which("npm") is None:
        raise DynamoDBLocalUnavailable(f"no `npm` to fetch {PACKAGE}@{PACKAGE_VERSION}")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        tarball = _npm_pack(Path(scratch))
        digest = hashlib.sha256(tarball.read_bytes()).hexdigest()
        if digest != PACKAGE_SHA256:
            raise DynamoDBLocalUnavailable(
                f"{tarball.name} has sha256 {digest}, expected {PACKAGE_SHA256}"
            )
        unpacked = Path(scratch) / "unpacked"
        with tarfile.open(tarball) as archive:
            members = [m for m in archive.getmembers() if m.name.startswith("package/emulator/")]
            archive.extractall(unpacked, members=members, filter="data")
        try:
            (unpacked / "package" / "emulator").rename(target)
        except OSError:
            if not _jar(target).exists():  # not a concurrent install that won the race
                raise
    return target


def _npm_pack(into: Path) -> Path:
    spec = f"{PACKAGE}@{PACKAGE_VERSION}"
    done = subprocess.run(
        ["npm", "pack", spec, "--pack-destination", str(into), "--silent"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    tarballs = list(into.glob("*.tgz"))
    if done.returncode != 0 or not tarballs:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise DynamoDBLocalUnavailable(f"`npm pack {spec}` failed: {last}")
    return tarballs[0]


def _jar(folder: Path) -> Path:
    return folder / "DynamoDBLocal.jar"


def command(folder: Path, port: int, data_dir: Path | None = None) -> list[str]:
    """The java command line; in memory unless `data_dir` is given (then one shared database)."""
    storage = ["-inMemory"] if data_dir is None else ["-dbPath", str(data_dir), "-sharedDb"]
    return [
        "java",
        f"-Djava.library.path={folder / 'DynamoDBLocal_lib'}",
        "-jar",
        str(_jar(folder)),
        *storage,
        "-port",
        str(port),
    ]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class DynamoDBLocalServer:
    """DynamoDB Local as a child process; `stop` then `start` restarts it on the same port
    (with `data_dir` its tables survive the restart, in memory they do not)."""

    def __init__(self, tools: Path, port: int = 0, data_dir: Path | None = None) -> None:
        self._tools = tools
        self._port = port
        self._data_dir = data_dir
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> str:
        reason = unavailable_reason(self._tools)
        if reason is not None:
            raise DynamoDBLocalUnavailable(reason)
        folder = ensure_installed(self._tools)
        self._port = self._port or free_port()
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - closed by stop()
        self._process = subprocess.Popen(
            command(folder, self._port, self._data_dir),
            cwd=folder,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_listening(self._process, self._port, self._log)
        except DynamoDBLocalUnavailable:
            self.stop()
            raise
        return f"http://127.0.0.1:{self._port}"

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None
        if self._log is not None:
            self._log.close()
            self._log = None


@contextmanager
def running(tools: Path, port: int = 0, data_dir: Path | None = None) -> Iterator[str]:
    """DynamoDB Local on a loopback port for the duration of the block; yields its endpoint."""
    server = DynamoDBLocalServer(tools, port, data_dir)
    endpoint = server.start()
    try:
        yield endpoint
    finally:
        server.stop()


def _wait_listening(process: subprocess.Popen[bytes], port: int, log: IO[bytes]) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            tail = log.read()[-2000:].decode(errors="replace")
            raise DynamoDBLocalUnavailable(f"DynamoDB Local exited at start: {tail}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise DynamoDBLocalUnavailable(f"DynamoDB Local did not listen on {port} in time")


def main(argv: list[str] | None = None) -> int:
    """Run DynamoDB Local in the foreground until Ctrl-C (`make dynamodb-local`)."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--data-dir", type=Path, default=Path(".dynamodb-local"))
    parser.add_argument("--tools", type=Path, default=Path(".tools"))
    args = parser.parse_args(argv)
    reason = unavailable_reason(args.tools)
    if reason is not None:
        print(f"error: DynamoDB Local cannot run: {reason}", file=sys.stderr)
        return 2
    try:
        folder = ensure_installed(args.tools)
    except DynamoDBLocalUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    args.data_dir.mkdir(parents=True, exist_ok=True)
    endpoint = f"http://127.0.0.1:{args.port}"
    print(
        f"DynamoDB Local {DYNAMODB_LOCAL_VERSION} on {endpoint}, data in {args.data_dir}/ "
        f"(Ctrl-C stops it). Point Orderline at it: ORDERLINE_DYNAMODB_ENDPOINT={endpoint}",
        flush=True,
    )
    java = command(folder, args.port, args.data_dir.resolve())
    try:
        return subprocess.run(java, cwd=folder, check=False).returncode
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
