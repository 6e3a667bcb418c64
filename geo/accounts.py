"""Console accounts: roles, argon2 passwords, lockout, server-side sessions and who may edit what.

Roles (one per account, each bound to one city):

``bureau_admin``
    everything within its city: every institution, the review queue, accounts, demand figures;
``institution_editor``
    only the resources linked to the account, and their classes, evaluations and sign-ups;
``reviewer``
    reads every institution of its city and decides the review queue; edits nothing directly.

Passwords are hashed with argon2id (``argon2-cffi``'s defaults, re-hashed when those change). After
``login_max_failures`` wrong passwords in a row an account is locked for ``login_lockout_minutes``.
Only a bureau admin (console) or the CLI resets a password; a reset ends the account's sessions.
Sessions live in the database (a random cookie token, stored as its SHA-256), so disabling an account
or resetting its password logs it out everywhere at once. API tokens (:mod:`geo.tokens`) stay for
machines.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from geo.audit import record
from geo.clock import aware
from geo.config import get_settings
from geo.errors import AuthError, ConflictError, ForbiddenError, InvalidParameterError, NotFoundError
from geo.models import Account, ConsoleSession, Resource

ROLES: dict[str, tuple[str, str]] = {
    "bureau_admin": ("人社局管理员", "bureau admin"),
    "institution_editor": ("机构编辑", "institution editor"),
    "reviewer": ("审核员", "reviewer"),
}
MIN_PASSWORD = 10
_USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{3,60}$")
_hasher = PasswordHasher()


@dataclass(frozen=True)
class LoginResult:
    """A successful login: the account, the cookie token (secret) and the session's CSRF token."""

    account: Account
    token: str
    csrf_token: str


def _now() -> datetime:
    return datetime.now(UTC)


def role_label(role: str, lang: str = "zh") -> str:
    """The role's name in ``lang``."""
    zh, en = ROLES.get(role, (role, role))
    return en if lang == "en" else zh


def check_password_strength(password: str) -> None:
    """Refuse passwords shorter than ``MIN_PASSWORD`` characters or made of one repeated character."""
    if len(password) < MIN_PASSWORD or len(set(password)) < 4:
        msg = f"the password needs at least {MIN_PASSWORD} characters, not all the same"
        raise InvalidParameterError(msg, message_zh=f"密码至少 {MIN_PASSWORD} 位，且不能过于简单", code="weak_password")
    if len(password) > 200:
        msg = "the password is longer than 200 characters"
        raise InvalidParameterError(msg, message_zh="密码不能超过 200 位", code="weak_password")


def generate_password() -> str:
    """A random temporary password (for resets): 16 URL-safe characters."""
    return secrets.token_urlsafe(12)


def create_account(
    session: Session,
    *,
    username: str,
    password: str,
    role: str,
    city: str,
    display_name: str = "",
    resource_ids: list[int] | None = None,
    actor: str = "cli",
) -> Account:
    """Create an account; an institution editor must be linked to at least one resource of ``city``."""
    if not _USERNAME.match(username or ""):
        msg = "a username has 3–60 letters, digits or . _ @ -"
        raise InvalidParameterError(msg, message_zh="用户名须为 3–60 位字母、数字或 . _ @ -", code="invalid_username")
    if role not in ROLES:
        msg = f"unknown role {role!r}; one of {', '.join(ROLES)}"
        raise InvalidParameterError(msg, message_zh=f"未知角色“{role}”", code="unknown_role")
    check_password_strength(password)
    if session.scalar(select(Account.id).where(Account.username == username)) is not None:
        msg = f"an account named {username!r} already exists"
        raise ConflictError(msg, message_zh=f"用户名“{username}”已存在")
    resources = _resources(session, city, resource_ids or [])
    if role == "institution_editor" and not resources:
        msg = "an institution editor needs at least one resource (institution) to edit"
        raise InvalidParameterError(msg, message_zh="机构编辑须关联至少一个机构", code="no_resource")
    account = Account(
        username=username,
        display_name=(display_name or "")[:100],
        role=role,
        city=city,
        password_hash=_hasher.hash(password),
        resources=resources,
    )
    session.add(account)
    session.flush()
    record(
        session,
        actor=actor,
        action="create",
        entity="account",
        entity_id=account.id,
        changes={"username": username, "role": role, "city": city, "resources": [r.id for r in resources]},
    )
    return account


def _resources(session: Session, city: str, ids: list[int]) -> list[Resource]:
    found = list(session.scalars(select(Resource).where(Resource.city == city, Resource.id.in_(ids))))
    missing = sorted(set(ids) - {r.id for r in found})
    if missing:
        msg = f"no resource with id {missing} in {city}"
        raise NotFoundError(msg, message_zh=f"{city} 中没有编号为 {missing} 的机构", details={"ids": missing})
    return found


def get_account(session: Session, username: str) -> Account:
    """The account named ``username`` (404 if none)."""
    account = session.scalar(select(Account).where(Account.username == username))
    if account is None:
        msg = f"no account named {username!r}"
        raise NotFoundError(msg, message_zh=f"没有用户名为“{username}”的账号")
    return account


def list_accounts(session: Session, *, city: str | None = None) -> list[Account]:
    """Accounts, by username (only ``city``'s when given)."""
    stmt = select(Account).order_by(Account.username)
    if city:
        stmt = stmt.where(Account.city == city)
    return list(session.scalars(stmt))


def reset_password(session: Session, *, username: str, password: str | None = None, actor: str = "cli") -> str:
    """Set a new password (random when not given), unlock the account and end its sessions; return it."""
    account = get_account(session, username)
    new = password or generate_password()
    check_password_strength(new)
    account.password_hash = _hasher.hash(new)
    account.password_changed_at = _now()
    account.failed_logins = 0
    account.locked_until = None
    session.execute(delete(ConsoleSession).where(ConsoleSession.account_id == account.id))
    record(session, actor=actor, action="reset_password", entity="account", entity_id=account.id, changes={})
    return new


def set_disabled(session: Session, *, username: str, disabled: bool = True, actor: str = "cli") -> Account:
    """Disable (and log out everywhere) or re-enable an account."""
    account = get_account(session, username)
    account.disabled = disabled
    if disabled:
        session.execute(delete(ConsoleSession).where(ConsoleSession.account_id == account.id))
    record(
        session,
        actor=actor,
        action="disable" if disabled else "enable",
        entity="account",
        entity_id=account.id,
        changes={"disabled": disabled},
    )
    return account


def authenticate(session: Session, *, username: str, password: str) -> LoginResult:
    """Check a password and open a session, counting failures and locking the account after too many.

    A failure commits ``session`` before raising, so the failure counter and the lockout are kept
    even though the request fails.
    """
    settings = get_settings()
    wrong = AuthError("wrong username or password", message_zh="用户名或密码错误", code="login_failed", details={})
    account = session.scalar(select(Account).where(Account.username == (username or "")[:60]))
    if account is None:
        _hasher.hash(password or "-")  # same work as for a real account: no timing hint that it exists
        raise wrong
    now = _now()
    locked_until = aware(account.locked_until)
    if locked_until and locked_until > now:
        minutes = max(1, int((locked_until - now).total_seconds() // 60) + 1)
        msg = f"too many failed logins: the account is locked for {minutes} more minute(s)"
        raise AuthError(
            msg,
            message_zh=f"登录失败次数过多，账号已锁定，请 {minutes} 分钟后再试或联系管理员",
            code="account_locked",
            status=423,
            details={"minutes": minutes},
        )
    try:
        _hasher.verify(account.password_hash, password or "")
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        account.failed_logins += 1
        if account.failed_logins >= settings.login_max_failures:
            account.locked_until = now + timedelta(minutes=settings.login_lockout_minutes)
            account.failed_logins = 0
            record(session, actor=username, action="lockout", entity="account", entity_id=account.id, changes={})
        session.commit()
        raise wrong from None
    if account.disabled:
        msg = "this account is disabled; ask a bureau admin"
        raise AuthError(msg, message_zh="该账号已停用，请联系人社局管理员", code="account_disabled", status=403)
    if _hasher.check_needs_rehash(account.password_hash):
        account.password_hash = _hasher.hash(password)
    account.failed_logins = 0
    account.locked_until = None
    account.last_login_at = now
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    session.execute(delete(ConsoleSession).where(ConsoleSession.expires_at < now))
    session.add(
        ConsoleSession(
            token_hash=_hash(token),
            account_id=account.id,
            csrf_token=csrf,
            expires_at=now + timedelta(hours=settings.session_hours),
        )
    )
    return LoginResult(account=account, token=token, csrf_token=csrf)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def session_for(session: Session, token: str | None) -> ConsoleSession:
    """The live console session of a cookie token, extended on use; 401 ``session_expired`` otherwise."""
    expired = AuthError(
        "your session has expired or you are not logged in; please log in",
        message_zh="登录已过期或尚未登录，请重新登录",
        code="session_expired",
    )
    if not token or len(token) > 100:
        raise expired
    row = session.get(ConsoleSession, _hash(token))
    now = _now()
    if row is None or aware(row.expires_at) <= now or row.account.disabled:
        raise expired
    row.expires_at = now + timedelta(hours=get_settings().session_hours)
    return row


def end_session(session: Session, token: str | None) -> None:
    """Log out: delete the session of ``token`` (if any)."""
    if token:
        session.execute(delete(ConsoleSession).where(ConsoleSession.token_hash == _hash(token)))


def can_edit_resource(account: Account, resource: Resource) -> bool:
    """Whether ``account`` may change ``resource`` and its classes, evaluations and sign-ups."""
    if account.city != resource.city:
        return False
    if account.role == "bureau_admin":
        return True
    if account.role == "institution_editor":
        return any(r.id == resource.id for r in account.resources)
    return False


def can_see_resource(account: Account, resource: Resource) -> bool:
    """Whether ``account`` may read ``resource``'s console pages (reviewers read their whole city)."""
    return can_edit_resource(account, resource) or (account.role == "reviewer" and account.city == resource.city)


def require_edit(session: Session, account: Account, resource: Resource, *, what: str) -> None:
    """Raise 403 ``not_your_institution`` (and audit the attempt) unless ``account`` may edit ``resource``."""
    if can_edit_resource(account, resource):
        return
    record(
        session,
        actor=account.username,
        action="denied",
        entity=what,
        entity_id=resource.id,
        changes={"resource_id": resource.id, "role": account.role},
    )
    session.commit()  # the refusal is audited even though the request fails
    msg = f"{account.username} may not change {what} of resource {resource.id}"
    raise ForbiddenError(msg, message_zh="您无权修改其他机构的信息", code="not_your_institution")


def require_role(account: Account, *roles: str) -> None:
    """Raise 403 unless the account has one of ``roles``."""
    if account.role not in roles:
        msg = f"this page is for {' / '.join(roles)} accounts"
        labels = "、".join(role_label(r) for r in roles)
        raise ForbiddenError(msg, message_zh=f"此页面仅限{labels}使用", code="wrong_role")
