"""JSON responses rendered by orjson: the same bytes as Starlette's, in a fraction of the time."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import JSONResponse as StarletteJSONResponse


class JSONResponse(StarletteJSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def etag(version: int) -> str:
    """The ETag of a versioned document: its version, quoted; `If-Match` sends it back."""
    return f'"{version}"'


def versioned(document: dict[str, Any], status_code: int = 200) -> JSONResponse:
    """A document that has a `version` (an order, a forum item), with its ETag."""
    return JSONResponse(
        document, status_code=status_code, headers={"ETag": etag(document["version"])}
    )
