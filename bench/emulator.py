"""The DynamoDB emulator in a process of its own (so it can be pinned apart from the server)."""

from __future__ import annotations

import logging
import signal
import sys
import threading

from orderline.embedded import EmulatorServer


def main() -> None:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    server = EmulatorServer("127.0.0.1", int(sys.argv[1]))
    server.start()
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    stopped.wait()
    server.stop()


if __name__ == "__main__":
    main()
