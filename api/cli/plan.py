"""``skillcircle plan …``: planner analytics from the command line.

* ``coverage`` — covered population per category × mode × threshold (total, districts or towns);
* ``suggest`` — k new sites maximising newly covered population (greedy / exact / both);
* ``whatif`` — coverage change from adding sites and/or closing resources;
* ``access`` — two-step floating catchment (seats per 1,000 residents, crowded areas);
* ``export`` — GeoPackage, GeoJSON, CSV, XLSX, PNG and PDF files into a folder;
* ``batch`` — coverage, 2SFCA and gap lists for many cities on Dask, into GeoParquet (and PostGIS).

Every command reads the city's resources from DATABASE_URL and its compiled road graphs (modes
without one are straight-line estimates, and the output says so).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from geo.cities import CityPack, available_cities, load_city
from geo.errors import SkillCircleError
from geo.moderules import MODE_KEYS

if TYPE_CHECKING:
    from planning.coverage import CoverageModel

app = typer.Typer(
    help="Planner analytics: population coverage, site suggestions, what-if, 2SFCA access, exports.",
    no_args_is_help=True,
)
log = logging.getLogger(__name__)

CityArg = Annotated[str, typer.Argument(help="city pack key: " + ", ".join(available_cities()))]
CategoryOpt = Annotated[str, typer.Option("--category", "-c", help="category key or label, or 'all'")]
ModeOpt = Annotated[str, typer.Option("--mode", "-m", help="walk, bicycle, ebike or car")]
MinutesOpt = Annotated[int, typer.Option("--minutes", "-t", min=1, max=120, help="threshold in minutes")]
ResolutionOpt = Annotated[int | None, typer.Option(help="H3 resolution of the population grid (6-10)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON instead of a table")]
# The repeatable selections of the table-building commands (coverage, batch); empty means all.
CategoriesOpt = Annotated[
    list[str] | None, typer.Option("--category", "-c", help="category (repeatable; default all six)")
]
ModesOpt = Annotated[list[str] | None, typer.Option("--mode", "-m", help="mode (repeatable; default all)")]
ThresholdsOpt = Annotated[
    list[int] | None, typer.Option("--minutes", "-t", help="threshold (repeatable; default 10 15 20 30)")
]


def _fail(exc: SkillCircleError) -> None:
    typer.secho(f"错误 / error [{exc.code}]: {exc.message_zh}\n  {exc.message_en}", fg="red", err=True)
    raise typer.Exit(2)


def _model(city: str, resolution: int | None) -> CoverageModel:
    from geo.db import upgrade
    from planning.coverage import CoverageModel

    upgrade()
    return CoverageModel.for_city(load_city(city), resolution=resolution)


def _notices(model: CoverageModel, mode: str | None) -> None:
    from planning.notices import coverage_notice

    for key, text in coverage_notice(model, mode=mode).items():
        typer.secho(f"[{key}] {text['zh']}", fg="yellow", err=True)
    est = [m for m in MODE_KEYS if model.estimate(m)] if mode is None else []
    if est:
        typer.secho(
            f"[estimate] 直线距离估算的出行方式 / straight-line estimates: {', '.join(est)}", fg="yellow", err=True
        )


def _parse_point(text: str) -> tuple[float, float]:
    try:
        lat_s, lon_s = text.replace("，", ",").split(",")
        return float(lon_s), float(lat_s)
    except ValueError as exc:
        msg = f"a point must be LAT,LON (e.g. 30.75,120.76), got {text!r}"
        raise typer.BadParameter(msg) from exc


@app.command("coverage")
def coverage_command(
    city: CityArg,
    category: CategoriesOpt = None,
    mode: ModesOpt = None,
    minutes: ThresholdsOpt = None,
    level: Annotated[str, typer.Option(help="total, district or town")] = "total",
    resolution: ResolutionOpt = None,
    as_json: JsonOpt = False,
    csv: Annotated[Path | None, typer.Option(help="also write the table to this CSV file")] = None,
) -> None:
    """Covered population per category × mode × threshold, from one nearest-resource pass per pair."""
    from geo.categories import CATEGORY_KEYS
    from planning.params import THRESHOLDS

    if level not in ("total", "district", "town"):
        raise typer.BadParameter("level must be total, district or town")
    try:
        model = _model(city, resolution)
        tab = model.table(
            categories=category or CATEGORY_KEYS, modes=mode or MODE_KEYS, thresholds=minutes or THRESHOLDS
        )
    except SkillCircleError as exc:
        _fail(exc)
    frame = {"total": tab.totals, "district": tab.districts, "town": tab.towns}[level]
    _notices(model, None)
    if csv is not None:
        from geo.safe_cells import safe_frame

        safe_frame(frame).to_csv(csv, index=False, encoding="utf-8-sig")
    if as_json:
        typer.echo(frame.to_json(orient="records", force_ascii=False))
    else:
        typer.echo(frame.to_string(index=False))
    typer.echo(f"({len(frame)} rows in {tab.seconds_elapsed:.2f}s)", err=True)


@app.command("suggest")
def suggest_command(
    city: CityArg,
    category: CategoryOpt,
    mode: ModeOpt = "ebike",
    minutes: MinutesOpt = 30,
    k: Annotated[int, typer.Option("--k", "-k", min=1, max=50, help="number of new sites")] = 3,
    method: Annotated[str, typer.Option(help="greedy, exact or both")] = "greedy",
    candidates: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="CSV of candidate points: lon, lat[, label]")
    ] = None,
    resolution: ResolutionOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Choose k new sites that newly cover the most residents (maximal covering location problem)."""
    import pandas as pd

    from planning.mclp import GREEDY_GUARANTEE
    from planning.sites import suggest_sites

    try:
        model = _model(city, resolution)
        cands, labels = None, None
        if candidates is not None:
            table = pd.read_csv(candidates)
            cols = {c.lower(): c for c in table.columns}
            if "lon" not in cols or "lat" not in cols:
                raise typer.BadParameter("the candidates CSV needs lon and lat columns")
            cands = (table[cols["lon"]].to_numpy(float), table[cols["lat"]].to_numpy(float))
            labels = table[cols["label"]].astype(str).tolist() if "label" in cols else None
        s = suggest_sites(
            model, category, mode=mode, minutes=minutes, k=k, method=method, candidates=cands, labels=labels
        )
    except SkillCircleError as exc:
        _fail(exc)
    _notices(model, mode)
    rows = [
        {
            "rank": x.rank,
            "lat": round(x.lat, 6),
            "lon": round(x.lon, 6),
            "label": x.label,
            "district": x.district,
            "town": x.town,
            "newly_covered": x.gain,
            "cumulative": x.cumulative,
        }
        for x in s.sites
    ]
    summary = {
        "category": s.category,
        "mode": s.mode,
        "minutes": minutes,
        "estimate": s.estimate,
        "covered_before": s.before.total["covered"],
        "covered_after": s.after.total["covered"],
        "newly_covered": s.newly_covered,
        "greedy": None
        if s.greedy is None
        else {
            "covered": round(s.greedy.value),
            "upper_bound": round(s.greedy.upper_bound),
            "proven_ratio": round(s.greedy.ratio_bound, 4),
        },
        "exact": None if s.exact is None else {"covered": round(s.exact.value), "status": s.exact.status},
        "notes": s.notes,
    }
    if as_json:
        typer.echo(json.dumps({**summary, "sites": rows}, ensure_ascii=False))
        return
    typer.echo(pd.DataFrame(rows).to_string(index=False) if rows else "no site adds coverage")
    typer.echo(
        f"covered {s.before.total['covered']:,} → {s.after.total['covered']:,} (+{s.newly_covered:,}) "
        f"of {s.before.total['population']:,}"
    )
    if s.greedy is not None:
        typer.echo(
            f"greedy: {s.greedy.value:,.0f}; proven ≥ {100 * s.greedy.ratio_bound:.1f}% of optimal on this instance "
            f"(worst case {100 * GREEDY_GUARANTEE:.1f}%)"
        )
    if s.exact is not None:
        typer.echo(f"exact (PuLP/CBC): {s.exact.value:,.0f}, status {s.exact.status}")
    for note in s.notes:
        typer.echo(f"note: {note}")


@app.command("whatif")
def whatif_command(
    city: CityArg,
    category: CategoryOpt,
    mode: ModeOpt = "ebike",
    minutes: MinutesOpt = 30,
    add: Annotated[list[str] | None, typer.Option("--add", help="new site as LAT,LON (repeatable)")] = None,
    close: Annotated[list[int] | None, typer.Option("--close", help="resource id to close (repeatable)")] = None,
    resolution: ResolutionOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Coverage before and after adding sites and/or closing resources, per district."""
    from planning.sites import what_if

    pts = [_parse_point(p) for p in add or []]
    try:
        model = _model(city, resolution)
        w = what_if(
            model,
            category,
            mode=mode,
            minutes=minutes,
            add=([p[0] for p in pts], [p[1] for p in pts]) if pts else None,
            close=close or [],
        )
    except SkillCircleError as exc:
        _fail(exc)
    _notices(model, mode)
    changes = w.district_changes()
    if as_json:
        payload = {
            "before": w.before.total,
            "after": w.after.total,
            "change": w.delta,
            "added": w.added,
            "closed": w.closed,
            "districts": json.loads(changes.to_json(orient="records", force_ascii=False)),
        }
        typer.echo(json.dumps(payload, ensure_ascii=False))
        return
    typer.echo(changes.to_string(index=False))
    typer.echo(f"covered {w.before.total['covered']:,} → {w.after.total['covered']:,} ({w.delta:+,})")


@app.command("access")
def access_command(
    city: CityArg,
    category: CategoryOpt = "all",
    mode: ModeOpt = "ebike",
    minutes: MinutesOpt = 30,
    supply: Annotated[str, typer.Option(help="seats (Resource.seats) or classes (current class seats)")] = "seats",
    level: Annotated[str, typer.Option(help="district or town")] = "district",
    resolution: ResolutionOpt = None,
) -> None:
    """Two-step floating catchment: seats per 1,000 residents, residents without access and in crowded cells."""
    try:
        model = _model(city, resolution)
        acc = model.two_step_fca(category, mode=mode, minutes=minutes, supply=supply)
    except SkillCircleError as exc:
        _fail(exc)
    _notices(model, mode)
    frame = acc.towns if level == "town" else acc.districts
    typer.echo(frame.drop(columns=["district_adcode"], errors="ignore").to_string(index=False))
    typer.echo(
        f"city-wide {1000 * acc.city_ratio:.2f} seats per 1,000 residents; crowded = reached but below "
        f"{500 * acc.city_ratio:.2f}; {acc.missing_supply} resources without a known supply left out"
    )


@app.command("export")
def export_command(
    city: CityArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="folder for the files")],
    category: CategoryOpt = "all",
    mode: ModeOpt = "ebike",
    minutes: MinutesOpt = 30,
    formats: Annotated[
        list[str] | None,
        typer.Option(
            "--format", "-f", help="gpkg, geojson, isochrones.geojson, districts.csv, towns.csv, xlsx, png, pdf"
        ),
    ] = None,
    resolution: ResolutionOpt = None,
) -> None:
    """Write the coverage grid, isochrones, tables and the one-page summary figure of a category."""
    import tempfile

    from geo.moderules import check_mode
    from planning.exports import FORMATS, export_bytes

    out.mkdir(parents=True, exist_ok=True)
    try:
        check_mode(mode)
        model = _model(city, resolution)
        with tempfile.TemporaryDirectory(prefix="skillcircle-export-") as work:
            for fmt in formats or list(FORMATS):
                data = export_bytes(fmt, model, category, mode=mode, minutes=minutes, workdir=work)
                path = out / f"{city}-{category}-{mode}-{minutes}min.{fmt}"
                path.write_bytes(data)
                typer.echo(f"wrote {path} ({len(data):,} bytes)")
    except SkillCircleError as exc:
        _fail(exc)
    _notices(model, mode)


def _batch_city(text: str) -> CityPack:
    """A city pack key, or the folder of a pack not installed under data/cities (``./packs/x``)."""
    from geo.cities import load_pack

    return load_pack(Path(text)) if ("/" in text or text.startswith(".")) else load_city(text)


def _batch_cities(names: list[str]) -> list[CityPack]:
    """The packs a batch runs: each name a city key, a pack folder, or a province key (``zhejiang``:
    every member city with a pack; the members without one are named on stderr with the reason)."""
    from geo.provinces import available_provinces, load_province, province_cities

    packs: dict[str, CityPack] = {}
    for name in names:
        if name in available_provinces():
            members = province_cities(load_province(name))
            for key, reason in members.missing.items():
                typer.echo(f"{name}: {key} has no city pack and is left out ({reason})", err=True)
            packs.update((c.key, c) for c in members.loaded)
        else:
            pack = _batch_city(name)
            packs[pack.key] = pack
    return list(packs.values())


@app.command("batch")
def batch_command(
    cities: Annotated[
        list[str], typer.Argument(help="city pack keys, folders of city packs, or a province key (zhejiang)")
    ],
    category: CategoriesOpt = None,
    mode: ModesOpt = None,
    minutes: ThresholdsOpt = None,
    supply: Annotated[str, typer.Option(help="2SFCA supply: seats or classes")] = "seats",
    sites: Annotated[
        int, typer.Option(min=0, max=50, help="new sites suggested per gap list (greedy MCLP; 0: none)")
    ] = 3,
    resolution: ResolutionOpt = None,
    workers: Annotated[int, typer.Option(min=1, max=64, help="LocalCluster workers (one thread each)")] = 2,
    threads: Annotated[
        bool, typer.Option("--threads", help="LocalCluster workers as threads of this process, not processes")
    ] = False,
    scheduler: Annotated[
        str | None, typer.Option(help="a running Dask scheduler, e.g. tcp://HOST:8786 (default: a LocalCluster)")
    ] = None,
    connect_timeout: Annotated[
        float, typer.Option(min=0.1, max=600, help="seconds to wait for --scheduler before giving up")
    ] = 10.0,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="GeoParquet folder (default var/batch/latest)")
    ] = None,
    postgis: Annotated[
        bool | None,
        typer.Option(
            "--postgis/--no-postgis", help="also write PostGIS tables (default: when DATABASE_URL is PostgreSQL)"
        ),
    ] = None,
    schema: Annotated[str, typer.Option(help="PostgreSQL schema of the batch_* tables")] = "analytics",
) -> None:
    """Coverage tables, 2SFCA and gap lists for cities × categories × modes × thresholds, one Dask task
    per city, written to GeoParquet (one file per table) and PostGIS — each all or nothing."""
    from geo.categories import CATEGORY_KEYS
    from geo.config import get_settings
    from geo.db import upgrade
    from planning.batch import BatchSpec, run_batch
    from planning.batch_store import is_postgresql, write_geoparquet, write_postgis
    from planning.params import THRESHOLDS

    url = get_settings().effective_database_url
    folder = out or get_settings().var_dir / "batch" / "latest"
    try:
        upgrade()
        packs = _batch_cities(cities)
        spec = BatchSpec(
            categories=tuple(category or CATEGORY_KEYS),
            modes=tuple(mode or MODE_KEYS),
            thresholds=tuple(minutes or THRESHOLDS),
            supply=supply,
            sites=sites,
            resolution=resolution,
        )
        result = run_batch(
            packs,
            spec,
            scheduler=scheduler,
            workers=workers,
            processes=not threads,
            connect_timeout=connect_timeout,
        )
        manifest = {
            "cities": [p.key for p in packs],
            "categories": list(result.spec.categories),
            "modes": list(result.spec.modes),
            "thresholds": list(result.spec.thresholds),
            "supply": result.spec.supply,
            "sites": result.spec.sites,
            "scheduler": result.scheduler,
            "workers": result.workers,
            "seconds": round(result.seconds, 3),
            "city_stats": result.stats,
        }
        write_geoparquet(result.tables, folder, manifest=manifest)
        typer.echo(f"wrote {len(result.tables)} GeoParquet tables to {folder}")
        if postgis if postgis is not None else is_postgresql(url):
            names = write_postgis(result.tables, url=url, schema=schema)
            typer.echo(f"wrote PostGIS tables {', '.join(names)}")
    except SkillCircleError as exc:
        _fail(exc)
    for stat in result.stats:
        typer.echo(f"  {stat['city']:<16} {stat['seconds']:8.2f} s  {stat['cells']:>8,} cells  on {stat['worker']}")
    typer.echo(f"{len(packs)} cities on {result.workers} workers in {result.seconds:.2f} s", err=True)
