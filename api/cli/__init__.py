"""The ``skillcircle`` command line (typer).

The root app and its ``db``/``token`` groups live in :mod:`api.cli.core`; every other sub-command
group lives in a sibling module and is mounted here by name, explicitly, so a reader finds each one
with grep. Commands call :mod:`api.services` for the queries and audited writes the API shares.
"""

from __future__ import annotations

from api.cli import account, codes, network, plan, population, signup, towns
from api.cli.core import app

app.add_typer(account.app, name="account")
app.add_typer(codes.app, name="codes")
app.add_typer(network.app, name="network")
app.add_typer(plan.app, name="plan")
app.add_typer(population.app, name="population")
app.add_typer(signup.app, name="signup")
app.add_typer(towns.app, name="towns")


def main() -> None:
    """Entry point of the ``skillcircle`` console script."""
    app()
