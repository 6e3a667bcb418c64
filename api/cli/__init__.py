"""The ``skillcircle`` command line (typer).

The root app and its ``db``/``token`` groups live in :mod:`api.cli.core`; every other sub-command
group lives in a sibling module and is mounted here by name, explicitly, so a reader finds each one
with grep. Commands call :mod:`api.services` for the queries and audited writes the API shares.
"""

from __future__ import annotations

from api.cli import account, city, codes, network, plan, population, signup, towns
from api.cli.core import app

app.add_typer(account.app, name="account")
app.add_typer(city.app, name="city")
app.add_typer(codes.app, name="codes")
app.add_typer(network.app, name="network")
app.add_typer(plan.app, name="plan")
app.add_typer(population.app, name="population")
app.add_typer(signup.app, name="signup")
app.add_typer(towns.app, name="towns")


def main() -> None:
    """Entry point of the ``skillcircle`` console script.

    A :class:`~geo.errors.SkillCircleError` that a command does not handle itself (for instance
    ``postgis_unavailable`` from the schema upgrade most commands begin with) ends the command with its
    code and zh/en message and exit status 2, never a traceback.
    """
    import typer

    from api.cli.core import _fail
    from geo.errors import SkillCircleError

    try:
        app()
    except SkillCircleError as exc:
        try:
            _fail(exc)
        except typer.Exit as stop:
            raise SystemExit(stop.exit_code) from None
