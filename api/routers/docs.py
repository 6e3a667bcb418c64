"""``/docs``: the interactive API documentation (Swagger UI), served entirely by this service.

Swagger UI's files come from the npm package ``swagger-ui-dist`` that ``scripts/vendor.sh`` copies
into ``/static/vendor/swagger-ui`` at set-up, so the page works offline (FastAPI's default loads them
from a foreign CDN). The page starts Swagger UI from a script file, not an inline script, so it runs
under the default Content-Security-Policy of :mod:`api.security`.
"""

from __future__ import annotations

from html import escape

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

router = APIRouter(include_in_schema=False)
ASSETS = "/static/vendor/swagger-ui"


@router.get("/docs", response_class=HTMLResponse)
def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI on ``/api/v1/openapi.json``."""
    title = escape(f"{request.app.title} · docs")
    openapi = escape(request.app.openapi_url or "/api/v1/openapi.json")
    return HTMLResponse(
        f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="stylesheet" href="{ASSETS}/swagger-ui.css">
<link rel="icon" href="{ASSETS}/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{openapi}"></div>
<script src="{ASSETS}/swagger-ui-bundle.js"></script>
<script src="/static/docs.js"></script>
</body>
</html>
"""
    )
