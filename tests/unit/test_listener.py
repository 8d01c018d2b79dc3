"""The API's listening socket: accepted connections must not wait on Nagle's algorithm."""

from __future__ import annotations

import socket

from orderline.entrypoints.cli.server import listen as _listen


def test_accepted_connections_send_without_delay() -> None:
    listener = _listen("127.0.0.1", 0)
    try:
        client = socket.create_connection(listener.getsockname())
        accepted, _ = listener.accept()
        with client, accepted:
            # asyncio sets TCP_NODELAY only on sockets whose proto says TCP; Linux also copies
            # the listener's own TCP_NODELAY to what it accepts. Either way it must be on.
            assert accepted.proto == socket.IPPROTO_TCP
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        listener.close()
