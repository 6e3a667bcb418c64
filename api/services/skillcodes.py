"""技能码 for the admin API and the CLI: the listing with each code's health and scans, the zip export,
and the scan report.

The registry itself (create, re-target, enable, disable, scans) is :mod:`geo.skillcodes`; its writes
are audited there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy.orm import Session

from geo.cities import CityPack
from geo.errors import InvalidParameterError, NotFoundError
from geo.locations import resolve_district
from geo.models import ScanCount, SkillCode
from geo.skillcodes import CodeHealth, code_health, list_codes, offered_skills, scan_counts, scan_totals


@dataclass(frozen=True)
class ListedCode:
    """A code with whether its target still exists and how often it was scanned."""

    row: SkillCode
    health: CodeHealth
    scans: int


def codes_with_health(
    session: Session,
    *,
    city: str | None = None,
    district: str | None = None,
    target_type: str | None = None,
    enabled: bool | None = None,
    broken: bool | None = None,
) -> list[ListedCode]:
    """Codes filtered as :func:`geo.skillcodes.list_codes` does, oldest first, each with its health and
    total scans; ``broken`` keeps only broken (True) or only working (False) codes.

    Each city's offered skills and scan totals are read once, however many codes it has.
    """
    skills: dict[str, set[str]] = {}
    totals: dict[str, dict[str, int]] = {}
    out = []
    for row in list_codes(session, city=city, district=district, target_type=target_type, enabled=enabled):
        if row.city not in skills:
            skills[row.city] = offered_skills(session, row.city)
            totals[row.city] = scan_totals(session, city=row.city)
        health = code_health(session, row, offered_skills=skills[row.city])
        if broken is None or health.broken == broken:
            out.append(ListedCode(row=row, health=health, scans=totals[row.city].get(row.code, 0)))
    return out


@dataclass(frozen=True)
class CodesZip:
    """A zip of QR images and posters: its bytes, how many codes it holds, the district it covers."""

    data: bytes
    count: int
    district: str | None


def export_codes(
    session: Session, city: CityPack, *, district: str | None = None, include_disabled: bool = False, posters: bool
) -> CodesZip:
    """Every code of ``district`` (name or adcode; None: the whole city) as a zip of QR SVG + PNG (and the
    A4 PDF poster with ``posters``) per code and a ``codes.csv`` index; 404 ``not_found`` when there is none.
    """
    from api.qrcodes import export_zip

    name = resolve_district(city, district)[0] if district else None
    rows = list_codes(session, city=city.key, district=name, enabled=None if include_disabled else True)
    if not rows:
        msg = f"no skill codes in {name or city.key}"
        raise NotFoundError(msg, message_zh=f"{name or city.name_zh}没有技能码", details={"district": name})
    return CodesZip(data=export_zip(session, rows, posters=posters), count=len(rows), district=name)


@dataclass(frozen=True)
class CellScans:
    """Scans in one H3 cell (resolution 7) over the period, with the cell's centre for maps."""

    cell: str
    lat: float
    lon: float
    count: int


@dataclass(frozen=True)
class ScanSummary:
    """Scan counters (per code, day and coarse cell), their totals per cell (most scanned first) and sums."""

    rows: list[ScanCount]
    cells: list[CellScans]
    total: int
    located: int


def scan_summary(
    session: Session,
    *,
    city: str | None = None,
    code: str | None = None,
    since: date | None = None,
    until: date | None = None,
) -> ScanSummary:
    """The scan counters filtered as :func:`geo.skillcodes.scan_counts` does, with the totals per cell for
    demand maps (``located``: the scans that shared a location); 422 ``bad_date_range`` when ``until`` is
    before ``since``.
    """
    import h3

    if since and until and until < since:
        msg = f"until {until} is before since {since}"
        raise InvalidParameterError(msg, message_zh=f"结束日期 {until} 早于开始日期 {since}", code="bad_date_range")
    rows = scan_counts(session, city=city, code=code, since=since, until=until)
    per_cell: dict[str, int] = {}
    for r in rows:
        if r.cell:
            per_cell[r.cell] = per_cell.get(r.cell, 0) + r.count
    cells = []
    for cell, n in sorted(per_cell.items(), key=lambda kv: (-kv[1], kv[0])):
        clat, clon = h3.cell_to_latlng(cell)
        cells.append(CellScans(cell=cell, lat=round(clat, 5), lon=round(clon, 5), count=n))
    return ScanSummary(rows=rows, cells=cells, total=sum(r.count for r in rows), located=sum(per_cell.values()))
