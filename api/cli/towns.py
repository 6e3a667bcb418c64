"""``skillcircle towns match CITY``: town and sub-district seats (乡镇/街道) from GeoNames, into the city pack."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from geo.cities import load_city
from geo.errors import SkillCircleError

app = typer.Typer(help="Town and sub-district seats: match the pack's towns to GeoNames places.", no_args_is_help=True)


@app.command("match")
def match_command(
    city: Annotated[str, typer.Argument(help="city key, e.g. jiaxing")],
    out: Annotated[Path | None, typer.Option(help="folder to write into (default: the city pack's own folder)")] = None,
) -> None:
    """Match every town of towns.csv to a GeoNames place of its district (pinyin of the name stem) and write
    settlements.csv, towns.csv (points with source and licence) and towns_match.csv (the report)."""
    from geo import boundaries
    from geo.gazetteer import match_towns, settlements, write_match

    try:
        pack = load_city(city)
        places = settlements(pack)
        result = match_towns(pack, places=places)
        paths = write_match(pack, result, places, folder=out)
    except SkillCircleError as exc:
        typer.secho(f"{exc.message_zh}\n{exc.message_en}", fg="red", err=True)
        raise typer.Exit(code=1) from exc
    boundaries.clear_cache()
    counts = result.counts()
    typer.echo(f"{city}: {len(result.report)} towns: {counts}; {len(places)} GeoNames places")
    for row in result.report[result.report["match"] != "matched"].itertuples():
        typer.echo(f"  {row.match}: {row.district} {row.name_zh} ({row.pinyin}) -> {row.lon}, {row.lat}")
    typer.echo("wrote " + ", ".join(str(p) for p in paths))
