"""FastAPI dependencies: the database session, the city, the API-token check, the console login."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Header, Query, Request
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from api.state import CityRuntime, get_runtime
from geo.cities import CityPack
from geo.config import get_settings
from geo.db import session_scope
from geo.errors import SkillCircleError, TokenRequiredError
from geo.models import ApiToken, ConsoleSession
from geo.text_input import check_text
from geo.tokens import check_token

log = logging.getLogger(__name__)
CONSOLE_COOKIE = "sc_console"


async def query_text_guard(request: Request) -> None:
    """Every query parameter, name and value, is text that renders (:mod:`geo.text_input`), else 422.

    Registered on the whole app: ``q=%00`` or ``skill=%1E`` never reaches a database (PostgreSQL refuses
    NUL in text) or a page. ``async`` because the check is CPU-trivial: FastAPI runs a plain ``def``
    dependency in a worker thread, a hop that costs more than the check.
    """
    for name, value in request.query_params.multi_items():
        check_text(name, field="query parameter name")
        check_text(value, field=name)


def get_db() -> Iterator[Session]:
    """One session per request: committed if the handler succeeds, rolled back otherwise."""
    with session_scope() as session:
        yield session


async def get_city_runtime(
    city: Annotated[str | None, Query(description="city pack key, e.g. jiaxing or demo", max_length=40)] = None,
) -> CityRuntime:
    """The runtime of the requested city (default: the configured default city).

    ``async`` (no worker-thread hop): it only looks the runtime up; the engine loads on first use, later.
    """
    return get_runtime(city or get_settings().default_city)


async def get_city(runtime: Annotated[CityRuntime, Depends(get_city_runtime)]) -> CityPack:
    """The requested city's pack."""
    return runtime.city


def bearer_secret(authorization: Annotated[str | None, Header()] = None) -> str | None:
    """The token of an ``Authorization: Bearer …`` header, if any (public routes that cost more with one)."""
    if authorization and authorization.lower().startswith("bearer "):
        return authorization[7:].strip() or None
    return None


def require_heavy(db: Session, secret: str | None, *, what_en: str, what_zh: str) -> ApiToken:
    """Admit costly planner work only with a live token of scope ``plan:heavy`` (or ``admin``).

    Raises 401 ``token_required`` naming the work when no token was sent, else what :func:`check_token`
    raises (401 unknown/revoked, 403 without the scope).
    """
    if secret is None:
        msg = f"{what_en} needs an API token with scope plan:heavy (Authorization: Bearer …)"
        raise TokenRequiredError(
            msg,
            message_zh=f"{what_zh}需要具有 plan:heavy 权限的 API 令牌（请求头 Authorization: Bearer …）",
            details={"scope": "plan:heavy"},
        )
    tok = check_token(db, secret, scope="plan:heavy")
    db.commit()
    return tok


def require_scope(scope: str) -> Callable[..., ApiToken]:
    """A dependency that admits only a live API token with ``scope`` (``Authorization: Bearer …``)."""

    def _check(
        db: Annotated[Session, Depends(get_db)],
        authorization: Annotated[str | None, Header()] = None,
    ) -> ApiToken:
        secret = None
        if authorization and authorization.lower().startswith("bearer "):
            secret = authorization[7:].strip()
        tok = check_token(db, secret, scope=scope)
        try:
            db.commit()
        except OperationalError as exc:
            # SQLite during a big import's save: the last-used time is informative, the check is done
            if "locked" not in str(exc.orig):
                raise
            db.rollback()
            log.info("token %s: last-used time not recorded (database busy)", tok.id)
        return tok

    return _check


def console_session(request: Request, db: Annotated[Session, Depends(get_db)]) -> ConsoleSession:
    """The logged-in console session of the request's cookie; otherwise a redirect to the login page."""
    from api.web import PageError
    from geo.accounts import session_for

    try:
        live = session_for(db, request.cookies.get(CONSOLE_COOKIE))
    except SkillCircleError as exc:
        raise PageError(exc) from None
    db.commit()  # keeps the extended expiry
    return live


DbSession = Annotated[Session, Depends(get_db)]
Console = Annotated[ConsoleSession, Depends(console_session)]
City = Annotated[CityPack, Depends(get_city)]
Runtime = Annotated[CityRuntime, Depends(get_city_runtime)]
Bearer = Annotated[str | None, Depends(bearer_secret)]
