"""The FastAPI application: routers, error handling, rate limiting, metrics, static files.

Run it with ``skillcircle serve`` (or ``uvicorn api.main:app``). Every error a client can cause is a
4xx JSON answer with a stable ``code`` and a message in Chinese and English (see ``geo/errors.py``).
The exception handlers below are the one place that shapes error answers: a browser opening a page
(not ``/api/…``) gets the same error as a small page instead (:func:`api.web.wants_page`).
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
from api.security import SecurityHeadersMiddleware, add_security_headers
from api.telemetry import MetricsMiddleware
from api.web import PageError, error_page, is_api_path, page_error_response, retry_after, wants_page
from geo.config import get_settings
from geo.db import database_unavailable
from geo.errors import SkillCircleError
from geo.text_input import TextProblem

log = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).resolve().parent / "static"


def _answer(request: Request, err: SkillCircleError) -> Response:
    """Every error answer: the page for a browser opening a page, else the JSON body; ``Retry-After``
    on a 429 or a lost database's 503 either way."""
    seconds = retry_after(err)
    headers = {"Retry-After": str(seconds)} if seconds is not None else {}
    response: Response | None = None
    if wants_page(request):
        try:
            response = error_page(request, err)
            response.headers.update(headers)
        except Exception:  # a page that cannot be drawn must not hide the error itself
            log.exception("the error page for %s could not be rendered; answering JSON", err.code)
    if response is None:
        response = JSONResponse(err.to_dict(), status_code=err.status, headers=headers)
    if not is_api_path(request.url.path):
        response.headers.append("Vary", "Accept")  # a page or JSON, by the request's Accept
    return response


def _error(status: int, code: str, en: str, zh: str, details: dict | None = None) -> SkillCircleError:
    """An app-wide handler's error (``tests/test_error_codes.py`` reads the codes of these calls)."""
    return SkillCircleError(en, message_zh=zh, details=details, code=code, status=status)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(SkillCircleError)
    async def _skillcircle_error(request: Request, exc: SkillCircleError) -> Response:
        return _answer(request, exc)

    @app.exception_handler(DBAPIError)
    async def _database_error(request: Request, exc: DBAPIError) -> Response:
        # a lost, dropped or unreachable database: 503 with Retry-After, never a 500
        log.warning("database error on %s: %s", request.url.path, str(exc.orig or exc).splitlines()[0])
        return await _skillcircle_error(request, database_unavailable(exc))

    @app.exception_handler(PageError)
    async def _page_error(request: Request, exc: PageError) -> Response:
        response = page_error_response(request, exc)
        if (seconds := retry_after(exc.error)) is not None:
            response.headers["Retry-After"] = str(seconds)
        return response

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
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
            return _answer(request, _error(422, "invalid_text", en, zh, details))
        return _answer(
            request,
            _error(
                422,
                "invalid_parameter",
                f"invalid request parameter(s): {where}",
                f"请求参数无效：{where}",
                {"errors": problems},
            ),
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            err = _error(404, "not_found", "no such page or endpoint", "找不到该页面或接口")
        elif exc.status_code == 405:
            err = _error(405, "method_not_allowed", "method not allowed", "不支持该请求方法")
        else:
            err = _error(exc.status_code, "http_error", str(exc.detail), str(exc.detail))
        return _answer(request, err)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error", exc_info=exc)
        err = _error(500, "internal_error", "internal error; it has been logged", "服务器内部错误，已记录")
        return add_security_headers(_answer(request, err))  # Starlette sends this one from outside every middleware


@asynccontextmanager
async def _lifespan(_app: FastAPI) -> AsyncIterator[None]:
    """Background work of one server process: the sign-up retention sweep, the job watch and the
    start-up warm-up (``SKILLCIRCLE_WARM_UP``; ``/healthz`` shows it)."""
    from api.jobs import job_watch
    from api.retention import retention_task
    from api.warmup import WarmUp

    task, watch = retention_task(), job_watch()
    _app.state.warm_up = WarmUp(get_settings().warm_up)
    task.start()
    watch.start()
    _app.state.warm_up.start()
    try:
        yield
    finally:
        watch.stop()
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
