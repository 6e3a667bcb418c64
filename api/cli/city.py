"""``skillcircle city new NAME``: generate a city pack for a Chinese prefecture from maintained sources."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from geo.errors import SkillCircleError

app = typer.Typer(
    help="City packs: generate one for a prefecture (districts, census, towns, model).", no_args_is_help=True
)


@app.command("new")
def new_command(
    name: Annotated[str, typer.Argument(help="the prefecture: 杭州, 杭州市, Hangzhou or 330100")],
    out: Annotated[Path | None, typer.Option(help="folder to create the pack in (default: data/cities)")] = None,
    key: Annotated[str | None, typer.Option(help="the pack's key (default: the pinyin, e.g. hangzhou)")] = None,
    force: Annotated[bool, typer.Option("--force", help="replace an existing pack of that key")] = False,
    sample: Annotated[
        bool, typer.Option("--sample", help="also write a labelled sample example_resources.csv")
    ] = False,
) -> None:
    """Write city.toml, districts.csv (2020 census per district with its source), towns.csv, settlements.csv
    and towns_match.csv for the prefecture, all or nothing."""
    from api.cli.core import _fail
    from geo.citypack import generate_pack

    try:
        folder = generate_pack(name, out_dir=out, key=key, force=force, sample=sample)
    except SkillCircleError as exc:
        _fail(exc)
    typer.echo(f"wrote city pack {folder}")
