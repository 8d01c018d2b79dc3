"""JSON responses rendered by orjson: the same bytes as Starlette's, in a fraction of the time."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import JSONResponse as StarletteJSONResponse


class JSONResponse(StarletteJSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)
