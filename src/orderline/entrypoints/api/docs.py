"""The API documentation page (Swagger UI) served with its own assets, under a strict
Content-Security-Policy: no CDN, the one inline start-up script allowed by its hash.

The assets come from the `fastapi-offline` package (swagger-ui's bundle and stylesheet, shipped
in its `static/` folder); nothing is vendored into this repository.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = Path(fastapi_offline.__file__).parent / "static"
ASSETS_URL = "/docs/static"
_OPTIONS = {
    "url": "/openapi.json",
    "dom_id": "#swagger-ui",
    "layout": "BaseLayout",
    "deepLinking": True,
    "showExtensions": True,
    "showCommonExtensions": True,
    "persistAuthorization": True,
    "validatorUrl": None,  # no badge fetched from swagger.io
}
START = (
    f"const options = {json.dumps(_OPTIONS)};\n"
    "options.presets = [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset];\n"
    "window.ui = SwaggerUIBundle(options);\n"
)
PAGE = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Orderline - API documentation</title>
<link rel="stylesheet" href="{ASSETS_URL}/swagger-ui.css">
<link rel="icon" href="{ASSETS_URL}/favicon.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{ASSETS_URL}/swagger-ui-bundle.js"></script>
<script>{START}</script>
</body>
</html>
"""


def _script_hash(script: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"


# swagger-ui sets inline styles on its elements; scripts are only this server's and START
DOCS_POLICY = (
    f"default-src 'none'; script-src 'self' {_script_hash(START)}; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def install(app: FastAPI) -> None:
    """GET /docs and its assets under /docs/static (ORDERLINE_DOCS_ACCESS decides who)."""

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(PAGE, headers={"Content-Security-Policy": DOCS_POLICY})

    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS), name="docs-static")
