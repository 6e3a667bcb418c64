"""Console accounts: argon2 hashes, lockout after repeated failures, resets, disabling, the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from geo.accounts import authenticate, create_account, reset_password, session_for, set_disabled
from geo.config import get_settings
from geo.db import session_scope
from geo.errors import AuthError, ConflictError, InvalidParameterError
from geo.models import Account, AuditEntry
from tests._signup_fixtures import make_class

TEST_ROW_PREFIXES = ("SIGNUP-",)  # make_class rows, removed after the module (conftest._remove_test_rows)

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery"


def _login(username: str, password: str = PASSWORD):
    with session_scope() as session:
        return authenticate(session, username=username, password=password)


def test_passwords_are_argon2_and_sessions_work(database: str) -> None:
    rid, _ = make_class(tag="ACC1")
    with session_scope() as session:
        acc = create_account(
            session,
            username="acc-editor",
            password=PASSWORD,
            role="institution_editor",
            city="jiaxing",
            resource_ids=[rid],
        )
        assert acc.password_hash.startswith("$argon2id$") and PASSWORD not in acc.password_hash
    result = _login("acc-editor")
    with session_scope() as session:
        live = session_for(session, result.token)
        assert live.account.username == "acc-editor" and live.csrf_token == result.csrf_token
        assert [r.id for r in live.account.resources] == [rid]
    with pytest.raises(AuthError) as err, session_scope() as session:
        session_for(session, "not-a-token")
    assert err.value.code == "session_expired" and err.value.message_zh


def test_bad_accounts_are_refused(database: str) -> None:
    with session_scope() as session:
        for kw, code in [
            ({"username": "x"}, "invalid_username"),
            ({"role": "root"}, "unknown_role"),
            ({"password": "short"}, "weak_password"),
            ({"password": "aaaaaaaaaaaa"}, "weak_password"),
            ({"role": "institution_editor"}, "no_resource"),
        ]:
            args = {"username": "acc-bad", "password": PASSWORD, "role": "reviewer", "city": "jiaxing"} | kw
            with pytest.raises(InvalidParameterError) as err:
                create_account(session, **args)
            assert err.value.code == code
        create_account(session, username="acc-dup", password=PASSWORD, role="reviewer", city="jiaxing")
        with pytest.raises(ConflictError):
            create_account(session, username="acc-dup", password=PASSWORD, role="reviewer", city="jiaxing")


def test_lockout_after_repeated_failures_and_admin_reset(database: str) -> None:
    with session_scope() as session:
        create_account(session, username="acc-lock", password=PASSWORD, role="reviewer", city="jiaxing")
    for _ in range(get_settings().login_max_failures):
        with pytest.raises(AuthError) as err:
            _login("acc-lock", "wrong password!")
        assert err.value.code == "login_failed"
    with pytest.raises(AuthError) as err:
        _login("acc-lock")  # even the right password is refused while locked
    assert err.value.code == "account_locked" and err.value.status == 423 and "锁定" in err.value.message_zh
    with session_scope() as session:
        assert session.scalar(select(AuditEntry).where(AuditEntry.action == "lockout")) is not None
        temp = reset_password(session, username="acc-lock", actor="admin-x")
    assert _login("acc-lock", temp).account.username == "acc-lock"
    with pytest.raises(AuthError):
        _login("nobody-here")


def test_disable_ends_sessions(database: str) -> None:
    with session_scope() as session:
        create_account(session, username="acc-off", password=PASSWORD, role="reviewer", city="jiaxing")
    token = _login("acc-off").token
    with session_scope() as session:
        set_disabled(session, username="acc-off", actor="admin-x")
    with pytest.raises(AuthError) as err, session_scope() as session:
        session_for(session, token)
    assert err.value.code == "session_expired"
    with pytest.raises(AuthError) as err:
        _login("acc-off")
    assert err.value.code == "account_disabled"


def _cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "api.cli", "account", *args],
        cwd=ROOT,
        env=dict(os.environ),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_account_cli(database: str) -> None:
    rid, _ = make_class(tag="ACCCLI")
    made = _cli(
        "create",
        "cli-editor",
        "--role",
        "institution_editor",
        "--city",
        "jiaxing",
        "--resource",
        str(rid),
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert made.returncode == 0, made.stderr
    listed = _cli("list", "--city", "jiaxing")
    assert f"cli-editor\tinstitution_editor\tjiaxing\tactive\tresources={rid}" in listed.stdout
    assert "argon2" not in listed.stdout
    reset = _cli("reset-password", "cli-editor")
    assert reset.returncode == 0 and "temporary password: " in reset.stdout
    temp = reset.stdout.rsplit("temporary password: ", 1)[1].strip()
    assert _login("cli-editor", temp).account.role == "institution_editor"
    assert _cli("disable", "cli-editor").returncode == 0
    with session_scope() as session:
        assert session.scalar(select(Account).where(Account.username == "cli-editor")).disabled
    bad = _cli("create", "cli-x", "--role", "boss", "--city", "jiaxing", "--password-stdin", stdin=PASSWORD + "\n")
    assert bad.returncode == 2 and "unknown_role" in bad.stderr
