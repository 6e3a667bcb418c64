"""Core commands: database, import, sample data, prepare, serve, API tokens."""

from __future__ import annotations

import getpass
import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from geo.cities import available_cities, load_city
from geo.clock import city_today
from geo.config import get_settings
from geo.errors import SkillCircleError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

app = typer.Typer(
    help="SkillCircle 技能圈: the 30-minute vocational skills training circle — registry, routing, API, maps.",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(help="Database schema (Alembic migrations; never loses data).", no_args_is_help=True)
token_app = typer.Typer(help="API tokens for the admin (write) API: create, list, revoke.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(token_app, name="token")

HEALTHCHECK_TIMEOUT_S = 60
CityArg = Annotated[str, typer.Argument(help="city pack key: " + ", ".join(available_cities()))]


def _fail(exc: SkillCircleError) -> None:
    typer.secho(f"错误 / error [{exc.code}]: {exc.message_zh}\n  {exc.message_en}", fg="red", err=True)
    shown = exc.details.get("errors", [])[:50]
    for err in shown:
        typer.secho(f"  row {err['row']}, column {err['column']}: {err['message_zh']} / {err['message_en']}", err=True)
    total = exc.details.get("error_count", len(shown))
    if total > len(shown):
        counts = ", ".join(f"{k} {v}" for k, v in exc.details.get("counts", {}).items())
        typer.secho(f"  … 共 {total} 处错误 / {total} errors in all ({counts})", err=True)
    raise typer.Exit(2)


def cli_actor() -> str:
    """Who the audit log names for a write from the command line: ``cli:<user>``."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


@contextmanager
def failing_cleanly() -> Iterator[None]:
    """End the command with the error's code and zh/en message (exit status 2) on a SkillCircleError."""
    try:
        yield
    except SkillCircleError as exc:
        _fail(exc)


@contextmanager
def command_session() -> Iterator[Session]:
    """A session on the (migrated) database for one command, committed when the block ends.

    A SkillCircleError in the block rolls everything back and ends the command as
    :func:`failing_cleanly` does, so a command that writes is all or nothing.
    """
    from geo.db import session_scope, upgrade

    with failing_cleanly():
        upgrade()
        with session_scope() as session:
            yield session


@app.callback()
def _configure(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="log at DEBUG level")] = False) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s")


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Option(help="target revision")] = "head") -> None:
    """Create or upgrade the schema of DATABASE_URL (default: var/skillcircle.db); on PostgreSQL this
    enables PostGIS, and a server without it stops with ``postgis_unavailable`` (nothing written)."""
    from geo.db import current_revision, upgrade

    try:
        upgrade(revision=revision)
    except SkillCircleError as exc:
        _fail(exc)
    typer.echo(f"database at revision {current_revision()}")


@app.command("import")
def import_command(
    city: CityArg,
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV, XLSX or GeoJSON sheet")],
    kind: Annotated[str, typer.Option(help="resources, classes or evaluations")] = "resources",
    crs: Annotated[str, typer.Option(help="coordinates of the sheet: wgs84, gcj02 (Amap/Tencent), bd09 (Baidu)")] = (
        "wgs84"
    ),
    sheet: Annotated[
        str | None, typer.Option(help="XLSX: worksheet to import (default: the first visible one)")
    ] = None,
) -> None:
    """Import a sheet: every row or none; bad rows are listed by row and column. A progress bar (on
    stderr) follows the phases: reading, checking and writing rows, saving.

    The file may be at most SKILLCIRCLE_MAX_UPLOAD_MB (as an upload); see the README's limits.
    """
    from geo.db import session_scope, upgrade
    from geo.importer import import_sheet

    bar = _ImportBar()
    try:
        upgrade()
        with session_scope() as session:
            report = import_sheet(session, load_city(city), file, kind=kind, crs=crs, sheet=sheet, progress=bar)
    except SkillCircleError as exc:
        bar.close()
        _fail(exc)
    bar.close()
    typer.echo(json.dumps(report.to_dict(), ensure_ascii=False))


class _ImportBar:
    """A tqdm bar over an import's rows, one pass per phase (checking, writing)."""

    def __init__(self) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=0, desc="reading", unit="row", dynamic_ncols=True, mininterval=0.2)
        self.phase = "reading"

    def __call__(self, phase: str, done: int, total: int) -> None:
        if phase != self.phase:
            self.phase = phase
            self.bar.reset(total=total or None)
            self.bar.set_description(phase)
        self.bar.n = done
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()
        sys.stderr.flush()  # the bar's last newline before the report on stdout


@app.command("sample")
def sample_command(
    city: CityArg,
    out: Annotated[Path | None, typer.Option(help="folder for the sheets (default var/cities/CITY/sample)")] = None,
    start_date: Annotated[
        str | None, typer.Option(help="first day of classes, YYYY-MM-DD (default: the city's today)")
    ] = None,
    seed: Annotated[int, typer.Option(help="random seed")] = 20260101,
    load: Annotated[bool, typer.Option(help="also import the sheets into the database")] = True,
) -> None:
    """Generate the city's labelled sample sheets (deterministic for a seed and start date) and import them."""
    from geo.sample import generate_sample

    pack = load_city(city)
    folder = out or pack.var_dir / "sample"
    folder.mkdir(parents=True, exist_ok=True)
    start = date.fromisoformat(start_date) if start_date else city_today(pack)
    counts = generate_sample(pack, seed=seed, start_date=start, out_dir=folder)
    typer.echo(f"wrote sample sheets to {folder}: {counts}")
    if load:
        _load_folder(city, folder)


def _load_folder(city: str, folder: Path) -> None:
    from geo.db import session_scope, upgrade
    from geo.importer import import_folder

    try:
        upgrade()
        with session_scope() as session:
            reports = import_folder(session, load_city(city), folder)
    except SkillCircleError as exc:
        _fail(exc)
    for rep in reports:
        typer.echo(json.dumps({"city": city, **rep.to_dict()}, ensure_ascii=False))


@app.command("prepare")
def prepare_command(
    cities: Annotated[
        list[str] | None, typer.Option("--city", help="cities to prepare (default: all configured)")
    ] = None,
) -> None:
    """Everything `make serve` needs: schema, sample data (once per day), road networks where obtainable."""
    from geo.db import upgrade

    try:
        upgrade()
    except SkillCircleError as exc:
        _fail(exc)
    for key in cities or get_settings().cities:
        pack = load_city(key)
        folder = pack.var_dir / "sample"
        stamp = folder / ".generated"
        today = city_today(pack).isoformat()
        if not stamp.is_file() or stamp.read_text().strip() != today:
            sample_command(key, out=folder, start_date=today, seed=20260101, load=True)
            stamp.write_text(today)
        _prepare_network(key)


def _prepare_network(key: str) -> None:
    try:
        from isochrones.build import ensure_built
    except ImportError:  # the engine is optional for the registry alone
        typer.echo(f"{key}: routing engine not installed; travel times are straight-line estimates")
        return
    try:
        summary = ensure_built(load_city(key))
        typer.echo(f"{key}: road network ready {summary}")
    except SkillCircleError as exc:
        typer.secho(
            f"{key}: {exc.message_zh} / {exc.message_en} — using straight-line estimates (flagged)", fg="yellow"
        )


@app.command("serve")
def serve_command(
    host: Annotated[str, typer.Option(help="address to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port")] = 8000,
    workers: Annotated[int, typer.Option(help="worker processes")] = 1,
) -> None:
    """Start the web service (pages and API) with uvicorn.

    uvicorn's own X-Forwarded-For handling is off: the app reads it only from the proxies listed in
    SKILLCIRCLE_TRUSTED_PROXIES (the rate limit counts per real client).
    """
    import uvicorn

    from api.qrcodes import loopback_warning

    warning = loopback_warning(get_settings().base_url, listen_host=host)
    if warning:
        logging.getLogger("skillcircle").warning(warning)
        typer.secho(warning, fg="yellow", err=True)
    uvicorn.run(
        "api.main:app",
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        proxy_headers=False,
        # a worker loading a city's engine under load can miss uvicorn's default 5 s health ping
        timeout_worker_healthcheck=HEALTHCHECK_TIMEOUT_S,
    )


@token_app.command("create")
def token_create(
    name: Annotated[str, typer.Argument(help="who or what uses the token, e.g. jx-hrss-clerk")],
    scope: Annotated[list[str], typer.Option(help="resources:write, codes:write or admin (repeatable)")] = (
        ["resources:write"]  # noqa: B006
    ),
) -> None:
    """Create a token; its secret is printed once and only its hash is stored."""
    from geo.db import session_scope, upgrade
    from geo.tokens import create_token

    upgrade()
    try:
        with session_scope() as session:
            secret = create_token(session, name=name, scopes=list(scope))
    except SkillCircleError as exc:
        _fail(exc)
    typer.echo(secret)


@token_app.command("list")
def token_list() -> None:
    """List tokens (names, scopes, state; never secrets)."""
    from geo.db import session_scope
    from geo.tokens import list_tokens

    with session_scope() as session:
        for tok in list_tokens(session):
            state = f"revoked {tok.revoked_at:%Y-%m-%d}" if tok.revoked_at else "active"
            typer.echo(f"{tok.name}\t{','.join(tok.scopes)}\t{state}")


@token_app.command("revoke")
def token_revoke(name: Annotated[str, typer.Argument(help="token name")]) -> None:
    """Revoke a token at once."""
    from geo.db import session_scope
    from geo.tokens import revoke_token

    try:
        with session_scope() as session:
            revoke_token(session, name=name)
    except SkillCircleError as exc:
        _fail(exc)
    typer.echo(f"revoked {name}")


@app.command("build")
def build_command(
    city: CityArg,
    download: Annotated[bool, typer.Option(help="allow an Overpass download when no network is cached")] = True,
) -> None:
    """Compile every mode's graph, snap every resource of the database, precompute nearby tables and the
    nearest-resource times per category × mode, with progress bars and per-step timings."""
    from sqlalchemy import select

    from geo.db import session_scope, upgrade
    from geo.models import Resource
    from isochrones.build import ResourcePoints, build_city

    upgrade()
    with session_scope() as session:
        rows = session.execute(
            select(Resource.id, Resource.lon, Resource.lat, Resource.category).where(Resource.city == city)
        ).all()
    points = ResourcePoints(
        ids=[r[0] for r in rows], lons=[r[1] for r in rows], lats=[r[2] for r in rows], categories=[r[3] for r in rows]
    )
    try:
        timings = build_city(load_city(city), resources=points if rows else None, download=download)
    except SkillCircleError as exc:
        _fail(exc)
    typer.echo(f"{city}: built with {len(rows)} resources")
    for step, seconds in timings.items():
        typer.echo(f"  {step:<24} {seconds:8.2f} s")
