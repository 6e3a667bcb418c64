"""The FastAPI application: routers, error handling, rate limiting, metrics, static files.

Run it with ``skillcircle serve`` (or ``uvicorn api.main:app``). Every error a client can cause is a
4xx JSON answer with a stable ``code`` and a message in Chinese and English (see ``geo/errors.py``).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.deps import query_text_guard
from api.ratelimit import RateLimiter, RateLimitMiddleware
from api.security import SecurityHeadersMiddleware
from api.telemetry import MetricsMiddleware
from api.web import PageError, page_error_response
from geo.config import get_settings
from geo.db import database_unavailable
from geo.errors import DatabaseUnavailableError, RateLimitedError, SkillCircleError
from geo.text_input import TextProblem

log = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).resolve().parent / "static"


def _error(status: int, code: str, en: str, zh: str, details: dict | None = None) -> JSONResponse:
    body = {"error": {"code": code, "message_zh": zh, "message_en": en, "details": details or {}}}
    return JSONResponse(body, status_code=status)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(SkillCircleError)
    async def _skillcircle_error(_request: Request, exc: SkillCircleError) -> JSONResponse:
        headers = {}
        if isinstance(exc, RateLimitedError | DatabaseUnavailableError):
            headers["Retry-After"] = str(exc.details.get("retry_after", 60))
        return JSONResponse(exc.to_dict(), status_code=exc.status, headers=headers)

    @app.exception_handler(DBAPIError)
    async def _database_error(request: Request, exc: DBAPIError) -> JSONResponse:
        # a lost, dropped or unreachable database: 503 with Retry-After, never a 500
        log.warning("database error on %s: %s", request.url.path, str(exc.orig or exc).splitlines()[0])
        return await _skillcircle_error(request, database_unavailable(exc))

    @app.exception_handler(PageError)
    async def _page_error(request: Request, exc: PageError) -> Response:
        return page_error_response(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        where = ", ".join(".".join(p["loc"][1:] or p["loc"]) for p in problems)
        texts = [e for e in exc.errors() if e.get("type") == "invalid_text"]
        if texts and len(texts) == len(problems):  # only unrenderable text: say which character
            field = ".".join(str(p) for p in texts[0].get("loc", ())[1:]) or "text"
            problem = TextProblem(**texts[0]["ctx"])
            en, zh = problem.messages(field)
            details = {"errors": problems, "field": field, "code_point": problem.code_point}
            return _error(422, "invalid_text", en, zh, details)
        return _error(
            422,
            "invalid_parameter",
            f"invalid request parameter(s): {where}",
            f"请求参数无效：{where}",
            {"errors": problems},
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            return _error(404, "not_found", "no such page or endpoint", "找不到该页面或接口")
        if exc.status_code == 405:
            return _error(405, "method_not_allowed", "method not allowed", "不支持该请求方法")
        return _error(exc.status_code, "http_error", str(exc.detail), str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error", exc_info=exc)
        return _error(500, "internal_error", "internal error; it has been logged", "服务器内部错误，已记录")


@asynccontextmanager
async def _lifespan(_app: FastAPI) -> AsyncIterator[None]:
    """Background work of one server process: the sign-up retention sweep."""
    from api.retention import retention_task

    task = retention_task()
    task.start()
    try:
        yield
    finally:
        task.stop()


def create_app() -> FastAPI:
    """Build the application from the current settings."""
    settings = get_settings()
    app = FastAPI(
        lifespan=_lifespan,
        title="SkillCircle 技能圈 API",
        version="1.0.0",
        description=(
            "The 30-minute vocational skills training circle: training and evaluation places, real "
            "travel times (walk, bicycle, e-bike, car), isochrones, coverage, skill codes. Responses "
            "that show sample data or straight-line estimates say so (`sample`, `estimate`)."
        ),
        openapi_url="/api/v1/openapi.json",
        docs_url=None,  # /docs is api/routers/docs.py: Swagger UI served from /static/vendor (offline)
        redoc_url=None,
        dependencies=[Depends(query_text_guard)],  # every query parameter must be renderable text
    )
    _install_error_handlers(app)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET"], allow_headers=["*"]
        )
    # every middleware is pure ASGI (no BaseHTTPMiddleware, which streams each answer through a task and
    # a queue); from the outside in: security headers, gzip, rate limit, metrics (429s are not timed)
    app.add_middleware(MetricsMiddleware)
    limiter = RateLimiter(per_minute=settings.rate_limit_per_minute, trusted_proxies=settings.trusted_proxies)
    app.add_middleware(RateLimitMiddleware, limiter=limiter)

    from api.routers import ROUTERS
    from api.schemas import COMMON_ERROR_RESPONSES

    for router in ROUTERS:
        app.include_router(router, responses=COMMON_ERROR_RESPONSES)
    if STATIC_DIR.is_dir():
        app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    # gzip for clients that accept it: the coverage page's default grid is ~2.7 MB of GeoJSON, ~0.32 MB gzipped
    app.add_middleware(GZipMiddleware, minimum_size=1024, compresslevel=6)
    app.add_middleware(SecurityHeadersMiddleware)  # outermost: every answer, errors included
    return app


app = create_app()
