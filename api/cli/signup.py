"""``skillcircle signup …``: retention of online sign-ups and rotation of the number-encryption key.

skillcircle signup purge                 # delete sign-ups of classes ended (sessions held) > signup_retention_days ago
skillcircle signup purge --days 0        # ... of every class that has ended and every session held
skillcircle signup rotate-keys           # re-encrypt every stored number with the first data key
"""

from __future__ import annotations

from typing import Annotated

import typer

from api.cli.core import command_session

app = typer.Typer(help="Sign-ups: retention purge, data-key rotation.", no_args_is_help=True)


@app.command("purge")
def purge(
    days: Annotated[
        int | None, typer.Option(min=0, help="keep sign-ups this many days after class end or session")
    ] = None,
) -> None:
    """Delete the sign-ups (with their personal data) of classes that ended, or evaluation sessions held,
    more than N days ago."""
    from geo.signups import purge_expired

    with command_session() as session:
        n = purge_expired(session, days=days)
    typer.echo(f"deleted {n} sign-up(s)")


@app.command("rotate-keys")
def rotate_keys() -> None:
    """Re-encrypt every stored mobile number with the newest key of SKILLCIRCLE_DATA_KEYS."""
    from geo.signups import rotate_keys as rotate

    with command_session() as session:
        n = rotate(session)
    typer.echo(f"re-encrypted {n} number(s) with the newest data key; older keys may now be removed")
