"""``skillcircle network ...``: fetch, import and compile a city's road network.

The main CLI mounts :data:`app` as ``skillcircle network`` and aliases ``skillcircle build CITY`` to
:func:`build_command`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from geo.cities import load_city
from geo.errors import SkillCircleError

app = typer.Typer(
    help="Road networks: fetch from OpenStreetMap, import a local file, compile the per-mode graphs.",
    no_args_is_help=True,
)


def _fail(exc: SkillCircleError) -> None:
    typer.secho(f"{exc.message_zh}\n{exc.message_en}", fg="red", err=True)
    raise typer.Exit(code=1)


@app.command("fetch")
def fetch_command(
    city: Annotated[str, typer.Argument(help="city key, e.g. jiaxing")],
    force: Annotated[bool, typer.Option("--force", help="download again even if cached")] = False,
) -> None:
    """Download the city's road network from Overpass (osmnx) into its cache; fails fast offline."""
    from geo.network_sources import fetch_overpass

    try:
        path = fetch_overpass(load_city(city), force=force)
    except SkillCircleError as exc:
        _fail(exc)
    typer.echo(f"{city}: road network cached at {path}")


@app.command("import")
def import_command(
    city: Annotated[str, typer.Argument(help="city key, e.g. jiaxing")],
    file: Annotated[
        Path,
        typer.Argument(help="a .osm.pbf of any size (e.g. a Geofabrik province or country extract), .osm or .graphml"),
    ],
) -> None:
    """Import a network file: OSM files are clipped to the city's districts (+1 km) and its highways, streaming.

    A bad file (truncated or corrupt, of another region, a graphml without node x/y or edge highway)
    is refused with a clear error and the network in service stays as it was.
    """
    from geo.network_sources import import_network_file

    try:
        path = import_network_file(load_city(city), file, progress=True)
    except SkillCircleError as exc:
        _fail(exc)
    typer.echo(f"{city}: imported {file} as {path}; run `skillcircle build {city}` to compile it")


def build_command(city: str) -> None:
    """Compile every travel mode's graph of CITY (fetching the network first when online)."""
    from isochrones.build import build_city

    try:
        timings = build_city(load_city(city), progress=True)
    except SkillCircleError as exc:
        _fail(exc)
    for step, seconds in timings.items():
        typer.echo(f"  {step:<22} {seconds:8.2f} s")
    typer.echo(f"{city}: graphs built")


@app.command("build")
def _build(city: Annotated[str, typer.Argument(help="city key, e.g. demo or jiaxing")]) -> None:
    """Compile every travel mode's graph of CITY (fetching the network first when online)."""
    build_command(city)


@app.command("status")
def status_command(city: Annotated[str, typer.Argument(help="city key")]) -> None:
    """Show which network file and compiled graphs the city has."""
    from geo.network_sources import network_file
    from isochrones.build import built_modes
    from isochrones.engine import graphs_dir

    pack = load_city(city)
    typer.echo(f"network file: {network_file(pack) or '(none: straight-line estimates)'}")
    typer.echo(f"graphs in {graphs_dir(pack)}: {', '.join(built_modes(pack)) or '(none)'}")
