"""The HTTP/1.1 protocol uvicorn serves the app with: its own refusals as problem+json too.

uvicorn's parser answers a request it cannot read (a malformed request line or header, a URL
httptools cannot split: 64 KiB and over) with a `text/plain` 400 before the app runs. This
protocol answers the same refusals as `application/problem+json`, and refuses a URL longer
than `MAX_URL_BYTES` (well under the parser's own limit) with 414 while it is still arriving.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from http import HTTPStatus

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .errors import PROBLEM, problem_body

# Longer than any request the OpenAPI document allows (its longest query parameter is a few KiB).
MAX_URL_BYTES = 32 * 1024


class UrlTooLong(Exception):
    """Raised from the parser's URL callback; the parser then reports a callback error."""


class ProblemHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol whose parser-level refusals are problem documents."""

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > MAX_URL_BYTES:
            raise UrlTooLong

    def send_400_response(self, msg: str) -> None:
        if len(getattr(self, "url", b"")) > MAX_URL_BYTES:
            status, detail = 414, f"the URL exceeds {MAX_URL_BYTES} bytes"
        else:
            status, detail = 400, "the HTTP request could not be parsed"
        defaults = self.server_state.default_headers  # date and server, as uvicorn sends them
        self.transport.write(refusal(status, detail, defaults))
        self.transport.close()


def refusal(status: int, detail: str, headers: Sequence[tuple[bytes, bytes]] = ()) -> bytes:
    """A complete HTTP/1.1 response carrying one problem, closing the connection."""
    title = HTTPStatus(status).phrase
    body = json.dumps(problem_body(status, title, detail)).encode()
    lines = [f"HTTP/1.1 {status} {title}".encode("ascii")]
    lines += [name + b": " + value for name, value in headers]
    lines += [
        b"content-type: " + PROBLEM.encode(),
        b"content-length: %d" % len(body),
        b"connection: close",
    ]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body
