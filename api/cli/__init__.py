"""The ``skillcircle`` command line (typer). Sub-command groups live in sibling modules: every module
of this package that defines a typer ``app`` is mounted under its module name (``network``,
``codes``, ``plan``, …), so a group is added by adding a module.
"""

from __future__ import annotations

import importlib
import pkgutil

import typer

from api.cli.core import app


def _mount_groups() -> None:
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_") or info.name == "core":
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        sub = getattr(module, "app", None)
        if isinstance(sub, typer.Typer):
            app.add_typer(sub, name=info.name.replace("_", "-"))


_mount_groups()


def main() -> None:
    """Entry point of the ``skillcircle`` console script."""
    app()
