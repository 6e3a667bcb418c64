"""API tokens for the write side: created with the CLI, stored as SHA-256 hashes, scoped, revocable."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from geo.errors import AuthError, ConflictError, ForbiddenError, InvalidParameterError, NotFoundError
from geo.models import ApiToken

SCOPES: dict[str, str] = {
    "resources:write": "create, update and delete resources, classes and evaluations; upload sheets",
    "codes:write": "create, disable and re-target skill codes",
    "plan:heavy": "costly planner work: exact site solves and grids finer than the city's default",
    "admin": "everything, including reading the audit log",
}
TOKEN_PREFIX = "sc_"

LAST_USED_EVERY = timedelta(minutes=1)


def hash_token(token: str) -> str:
    """The stored form of a token (its SHA-256 hex digest)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(session: Session, *, name: str, scopes: list[str]) -> str:
    """Create a token named ``name`` with ``scopes`` and return its secret (shown once, never stored)."""
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown or not scopes:
        msg = f"unknown or empty scopes {unknown or scopes}; allowed: {', '.join(SCOPES)}"
        raise InvalidParameterError(msg, message_zh=f"未知或为空的权限范围：{unknown}", code="unknown_scope")
    if session.scalar(select(ApiToken).where(ApiToken.name == name)) is not None:
        msg = f"a token named {name!r} already exists"
        raise ConflictError(msg, message_zh=f"名为“{name}”的令牌已存在")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(name=name, token_hash=hash_token(secret), scopes=sorted(set(scopes))))
    session.flush()
    return secret


def revoke_token(session: Session, *, name: str) -> None:
    """Revoke the token ``name``; it stops working at once."""
    tok = session.scalar(select(ApiToken).where(ApiToken.name == name))
    if tok is None:
        msg = f"no token named {name!r}"
        raise NotFoundError(msg, message_zh=f"没有名为“{name}”的令牌")
    tok.revoked_at = datetime.now(UTC)


def list_tokens(session: Session) -> list[ApiToken]:
    """Every token (hashes only), newest first."""
    return list(session.scalars(select(ApiToken).order_by(ApiToken.created_at.desc())))


def check_token(session: Session, secret: str | None, *, scope: str) -> ApiToken:
    """Return the live token matching ``secret`` if it has ``scope`` (or ``admin``); else raise 401/403."""
    if not secret:
        msg = "missing API token: send 'Authorization: Bearer <token>'"
        raise AuthError(msg, message_zh="缺少 API 令牌：请在请求头中发送 Authorization: Bearer <令牌>")
    tok = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(secret)))
    if tok is None or tok.revoked_at is not None:
        msg = "unknown or revoked API token"
        raise AuthError(msg, message_zh="API 令牌无效或已被吊销")
    if scope not in tok.scopes and "admin" not in tok.scopes:
        msg = f"token {tok.name!r} lacks the scope {scope!r}"
        raise ForbiddenError(msg, message_zh=f"令牌“{tok.name}”没有“{scope}”权限", details={"scope": scope})
    now = datetime.now(UTC)
    last = tok.last_used_at
    if last is None or now - (last if last.tzinfo else last.replace(tzinfo=UTC)) > LAST_USED_EVERY:
        tok.last_used_at = now  # at most once a minute: a read-only request should rarely write
    return tok
