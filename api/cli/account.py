"""``skillcircle account …``: console accounts (bureau admins, institution editors, reviewers).

Every write is recorded in the audit log as ``cli:<user>``. Passwords are read from a prompt (or
``--password-stdin``), never from the command line, and stored only as argon2 hashes. Examples::

    skillcircle account create jx-admin --role bureau_admin --city jiaxing
    skillcircle account create hn-school --role institution_editor --city jiaxing --resource 12 --resource 13
    skillcircle account list --city jiaxing
    skillcircle account reset-password hn-school        # prints a new temporary password once
    skillcircle account disable hn-school
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from api.cli.core import cli_actor, command_session, failing_cleanly
from geo.cities import load_city

app = typer.Typer(help="Console accounts: create, list, reset-password, disable, enable.", no_args_is_help=True)
UserArg = Annotated[str, typer.Argument(help="username (3–60 letters, digits or . _ @ -)")]


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return typer.prompt("password / 密码", hide_input=True, confirmation_prompt=True)


@app.command("create")
def create(
    username: UserArg,
    role: Annotated[str, typer.Option(help="bureau_admin, institution_editor or reviewer")],
    city: Annotated[str, typer.Option(help="city pack key the account works in")],
    resource: Annotated[list[int] | None, typer.Option(help="resource id an editor may edit (repeatable)")] = None,
    display_name: Annotated[str, typer.Option(help="name shown in the console")] = "",
    password_stdin: Annotated[bool, typer.Option(help="read the password from standard input")] = False,
) -> None:
    """Create an account (the password is prompted for, or read from stdin)."""
    from geo.accounts import create_account

    with failing_cleanly():
        load_city(city)
    password = _read_password(password_stdin)
    with command_session() as session:
        account = create_account(
            session,
            username=username,
            password=password,
            role=role,
            city=city,
            display_name=display_name,
            resource_ids=list(resource or []),
            actor=cli_actor(),
        )
        typer.echo(f"created {account.username} ({account.role}, {account.city})")


@app.command("list")
def list_command(city: Annotated[str | None, typer.Option(help="only this city's accounts")] = None) -> None:
    """List accounts: username, role, city, state, linked resources (never password hashes)."""
    from geo.accounts import list_accounts

    with command_session() as session:
        for a in list_accounts(session, city=city):
            state = "disabled" if a.disabled else ("locked" if a.locked_until else "active")
            ids = ",".join(str(r.id) for r in a.resources) or "-"
            typer.echo(f"{a.username}\t{a.role}\t{a.city}\t{state}\tresources={ids}")


@app.command("reset-password")
def reset(
    username: UserArg,
    password_stdin: Annotated[bool, typer.Option(help="read the new password from stdin (default: random)")] = False,
) -> None:
    """Set a new password (random unless given), unlock the account and end its sessions."""
    from geo.accounts import reset_password

    given = _read_password(True) if password_stdin else None
    with command_session() as session:
        new = reset_password(session, username=username, password=given, actor=cli_actor())
    typer.echo(f"password of {username} reset" + ("" if given else f"; temporary password: {new}"))


def _set_disabled(username: str, *, disabled: bool) -> None:
    from geo.accounts import set_disabled

    with command_session() as session:
        set_disabled(session, username=username, disabled=disabled, actor=cli_actor())
    typer.echo(f"{'disabled' if disabled else 'enabled'} {username}")


@app.command("disable")
def disable(username: UserArg) -> None:
    """Disable an account and end its sessions."""
    _set_disabled(username, disabled=True)


@app.command("enable")
def enable(username: UserArg) -> None:
    """Enable a disabled account again."""
    _set_disabled(username, disabled=False)
