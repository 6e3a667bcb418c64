"""``skillcircle population import|status|clear CITY``: the population surface planners' figures use."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from geo.cities import load_city
from geo.errors import SkillCircleError

app = typer.Typer(
    help="Population surface: import a WorldPop/GHS-POP GeoTIFF or a 乡镇街道 census CSV, show or clear it.",
    no_args_is_help=True,
)


def _fail(exc: SkillCircleError) -> None:
    typer.secho(f"错误 / error [{exc.code}]: {exc.message_zh}\n  {exc.message_en}", fg="red", err=True)
    for err in exc.details.get("errors", [])[:20]:
        typer.secho(f"  row {err['row']}, column {err['column']}: {err['message_zh']} / {err['message_en']}", err=True)
    if exc.details.get("missing_towns"):
        typer.secho(f"  missing towns / 缺少: {'、'.join(exc.details['missing_towns'][:20])}", err=True)
    raise typer.Exit(2)


@app.command("import")
def import_command(
    city: Annotated[str, typer.Argument(help="city key, e.g. jiaxing")],
    file: Annotated[Path, typer.Argument(help="a GeoTIFF of people per pixel, or a CSV with columns town,population")],
) -> None:
    """Import a population surface; it is rescaled to the 2020 census district totals. Nothing is written on error."""
    from geo.population_import import import_population

    try:
        meta = import_population(load_city(city), file)
    except SkillCircleError as exc:
        _fail(exc)
    typer.echo(json.dumps({"city": city, **meta}, ensure_ascii=False))


@app.command("status")
def status_command(city: Annotated[str, typer.Argument(help="city key")]) -> None:
    """Say which surface the city's figures use: the model, or an imported file (with its record)."""
    from geo.population_import import load_imported
    from geo.settlement_model import describe

    pack = load_city(city)
    stored = load_imported(pack)
    out = {"surface": "imported", **stored.meta} if stored else {"surface": "model", "source": describe(pack)}
    typer.echo(json.dumps({"city": city, **out}, ensure_ascii=False))


@app.command("clear")
def clear_command(city: Annotated[str, typer.Argument(help="city key")]) -> None:
    """Forget the imported surface: figures go back to the model."""
    from geo.population_import import remove_imported

    removed = remove_imported(load_city(city))
    typer.echo(f"{city}: {'imported surface removed' if removed else 'no imported surface'}; using the model")
