"""``skillcircle codes …``: create, list, disable and re-target 技能码, and print their QR codes and posters.

Every write is recorded in the audit log as ``cli:<user>``. Examples::

    skillcircle codes create jiaxing --type place --district 南湖区 --town 建设街道
    skillcircle codes create demo --type resource --resource-id 12
    skillcircle codes list --city jiaxing --broken
    skillcircle codes poster K7M2Q9XA --out poster.pdf
    skillcircle codes export jiaxing --district 南湖区 --out nanhu.zip
"""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from api.cli.core import cli_actor, command_session, failing_cleanly
from geo.cities import available_cities, load_city
from geo.skillcodes import Target

if TYPE_CHECKING:
    from geo.models import SkillCode

app = typer.Typer(
    help="技能码 skill codes: create, list, disable, re-target; QR images, A4 posters, zip export.",
    no_args_is_help=True,
)

CityArg = Annotated[str, typer.Argument(help="city pack key: " + ", ".join(available_cities()))]
CodeArg = Annotated[str, typer.Argument(help="the code, e.g. K7M2Q9XA (case-insensitive, hyphens ignored)")]
TypeOpt = Annotated[str, typer.Option("--type", help="target: city, place, resource or skill")]
TitleOpt = Annotated[str | None, typer.Option(help="printed title (default: derived from the target)")]
ResourceOpt = Annotated[int | None, typer.Option(help="resource id (target type resource)")]
SkillOpt = Annotated[str | None, typer.Option(help="skill / 工种 name (target type skill)")]
PlaceOpt = Annotated[str | None, typer.Option(help="where the poster hangs, e.g. a community or factory gate")]
DistrictOpt = Annotated[str | None, typer.Option(help="district name or adcode")]
TownOpt = Annotated[str | None, typer.Option(help="town / sub-district (乡镇/街道) name or code")]
LonOpt = Annotated[float | None, typer.Option(help="longitude of the posting point")]
LatOpt = Annotated[float | None, typer.Option(help="latitude of the posting point")]
CrsOpt = Annotated[str, typer.Option(help="crs of --lon/--lat: wgs84, gcj02 (Amap/Tencent) or bd09 (Baidu)")]
#: The target's options (``--type``, ``--resource-id``, …), declared once: typer cannot take a dataclass,
#: so :func:`_target_options` adds these to a command and hands them over as one ``Target``.
TARGET_OPTIONS: dict[str, tuple[Any, Any]] = {
    "target_type": (TypeOpt, "place"),
    "resource_id": (ResourceOpt, None),
    "skill": (SkillOpt, None),
    "place_name": (PlaceOpt, None),
    "district": (DistrictOpt, None),
    "town": (TownOpt, None),
    "lon": (LonOpt, None),
    "lat": (LatOpt, None),
    "crs": (CrsOpt, "wgs84"),
}
AllowLocalOpt = Annotated[
    bool,
    typer.Option("--allow-local", help="print a loopback SKILLCIRCLE_BASE_URL anyway (local tests only)"),
]


def _target_options(command: Callable[..., None]) -> Callable[..., None]:
    """Give ``command`` the target options of :data:`TARGET_OPTIONS` in place of its ``target`` parameter,
    and call it with them gathered into one :class:`geo.skillcodes.Target`."""
    signature = inspect.signature(command, eval_str=True)
    own = [p for p in signature.parameters.values() if p.name != "target"]
    added = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default)
        for name, (annotation, default) in TARGET_OPTIONS.items()
    ]

    @functools.wraps(command)
    def with_target(**kwargs: Any) -> None:
        target = Target(**{name: kwargs.pop(name) for name in TARGET_OPTIONS})
        command(**kwargs, target=target)

    # typer reads __signature__; typeshed's function type does not declare it
    with_target.__signature__ = signature.replace(parameters=[*own, *added])  # type: ignore[attr-defined]
    return with_target


def _refuse_loopback(allow_local: bool) -> None:
    """Printed codes must not point at 127.0.0.1/localhost: phones that scan them reach nothing."""
    from api.qrcodes import is_loopback_url
    from geo.config import get_settings

    base = get_settings().base_url
    if is_loopback_url(base) and not allow_local:
        typer.secho(
            f"错误 / error [loopback_base_url]: SKILLCIRCLE_BASE_URL 是本机地址（{base}），扫码的手机无法访问；"
            "请设置对外地址，或仅在本机测试时加 --allow-local\n"
            f"  SKILLCIRCLE_BASE_URL is a loopback address ({base}); phones that scan the code cannot reach it. "
            "Set the public URL, or pass --allow-local for a local test.",
            fg="red",
            err=True,
        )
        raise typer.Exit(code=2)


def _describe(row: SkillCode) -> dict[str, Any]:
    from api.qrcodes import code_url
    from geo.skillcodes import format_code

    return {
        "code": row.code,
        "printed": format_code(row.code),
        "url": code_url(row.code),
        "city": row.city,
        "title": row.title,
        "target_type": row.target_type,
        "resource_id": row.resource_id,
        "skill": row.skill,
        "place_name": row.place_name,
        "district": row.district,
        "town": row.town,
        "lon": row.lon,
        "lat": row.lat,
        "enabled": row.enabled,
    }


def _echo(data: object) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, default=str))


@app.command("create")
@_target_options
def create(city: CityArg, target: Target, title: TitleOpt = None) -> None:
    """Create a code bound to one target and print it (JSON: code, printed form, URL, target)."""
    from geo.skillcodes import create_code

    with command_session() as session:
        row = create_code(session, load_city(city), target, actor=cli_actor(), title=title)
        out = _describe(row)
    _echo(out)


@app.command("list")
def list_command(
    city: Annotated[str | None, typer.Option(help="only this city")] = None,
    district: DistrictOpt = None,
    broken: Annotated[bool, typer.Option("--broken", help="only codes whose target was deleted")] = False,
    include_disabled: Annotated[bool, typer.Option("--all", help="include disabled codes")] = False,
) -> None:
    """List codes, one JSON object per line, with ``broken`` (target deleted) and ``scans``."""
    from api.services.skillcodes import codes_with_health

    with command_session() as session:
        listed = codes_with_health(
            session,
            city=city,
            district=district,
            enabled=None if include_disabled else True,
            broken=True if broken else None,
        )
        lines = [
            _describe(c.row) | {"broken": c.health.broken, "broken_reason": c.health.reason, "scans": c.scans}
            for c in listed
        ]
    for line in lines:
        _echo(line)
    typer.echo(f"{len(lines)} code(s)", err=True)


@app.command("disable")
def disable(code: CodeArg) -> None:
    """Retire a code: its page then answers "no longer in use" (HTTP 410)."""
    from geo.skillcodes import disable_code

    with command_session() as session:
        out = _describe(disable_code(session, code, actor=cli_actor()))
    _echo(out)


@app.command("enable")
def enable(code: CodeArg) -> None:
    """Put a disabled code back into service."""
    from geo.skillcodes import update_code

    with command_session() as session:
        out = _describe(update_code(session, code, actor=cli_actor(), enabled=True))
    _echo(out)


@app.command("retarget")
@_target_options
def retarget(code: CodeArg, target: Target, title: TitleOpt = None) -> None:
    """Bind a printed code to a new target (the code and its posters stay valid); repairs broken codes."""
    from geo.skillcodes import get_code, retarget_code

    with command_session() as session:
        row = get_code(session, code)
        row = retarget_code(session, load_city(row.city), row.code, target, actor=cli_actor(), title=title)
        out = _describe(row)
    _echo(out)


@app.command("qr")
def qr(
    code: CodeArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="output file: .svg or .png")],
    scale: Annotated[int, typer.Option(min=1, max=40, help="pixels per module (PNG)")] = 10,
    allow_local: AllowLocalOpt = False,
) -> None:
    """Write the code's QR image (error correction Q, URL BASE_URL/s/CODE) as SVG or PNG."""
    from api.qrcodes import qr_png, qr_svg
    from geo.skillcodes import resolve_code

    if out.suffix.lower() not in (".svg", ".png"):
        raise typer.BadParameter("--out must end in .svg or .png")
    _refuse_loopback(allow_local)
    with command_session() as session:
        row = resolve_code(session, code)
        data = qr_svg(row.code, scale=scale) if out.suffix.lower() == ".svg" else qr_png(row.code, scale=scale)
    out.write_bytes(data)
    typer.echo(f"wrote {out}")


@app.command("poster")
def poster(
    code: CodeArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="output file: .pdf (vector, for print) or .png")],
    allow_local: AllowLocalOpt = False,
) -> None:
    """Write the code's print-ready A4 poster (title, QR code, Chinese instruction, the code) as PDF or PNG."""
    from api.qrcodes import poster_pdf, poster_png, poster_text
    from geo.skillcodes import resolve_code

    if out.suffix.lower() not in (".pdf", ".png"):
        raise typer.BadParameter("--out must end in .pdf or .png")
    _refuse_loopback(allow_local)
    with command_session() as session:
        text = poster_text(session, resolve_code(session, code))
        data = poster_pdf(text) if out.suffix.lower() == ".pdf" else poster_png(text)
    out.write_bytes(data)
    typer.echo(f"wrote {out}")


@app.command("export")
def export(
    city: CityArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="output .zip")],
    district: DistrictOpt = None,
    include_disabled: Annotated[bool, typer.Option("--all", help="include disabled codes")] = False,
    posters: Annotated[bool, typer.Option(help="include a PDF poster per code")] = True,
    allow_local: AllowLocalOpt = False,
) -> None:
    """Zip every code of a district (or the city): QR SVG + PNG + A4 PDF poster per code, and codes.csv."""
    from api.services.skillcodes import export_codes

    _refuse_loopback(allow_local)
    with failing_cleanly():
        pack = load_city(city)
    with command_session() as session:
        done = export_codes(session, pack, district=district, include_disabled=include_disabled, posters=posters)
    out.write_bytes(done.data)
    typer.echo(f"wrote {done.count} code(s) to {out}")


@app.command("scans")
def scans(
    city: Annotated[str | None, typer.Option(help="only this city")] = None,
    code: Annotated[str | None, typer.Option(help="only this code")] = None,
) -> None:
    """Scan counts per code, day and coarse H3 cell (no personal data is ever stored), as JSON lines."""
    from geo.skillcodes import scan_counts

    with command_session() as session:
        rows = [
            {"code": r.code, "day": r.day.isoformat(), "cell": r.cell, "count": r.count}
            for r in scan_counts(session, city=city, code=code)
        ]
    for r in rows:
        _echo(r)
