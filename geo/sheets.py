"""Reading import sheets (CSV, XLSX, GeoJSON) into plain rows, and the documented column mapping.

A sheet is a table whose header names are the column keys below (English keys; the Chinese header
aliases in ``HEADER_ALIASES`` are accepted too, so a clerk can export straight from a 中文 sheet).
Rows are numbered as a spreadsheet user sees them: the header is row 1, the first record row 2.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from geo.errors import ImportValidationError, SkillCircleError
from geo.safe_cells import unescape_cell
from geo.sheet_files import SheetLimits, Table, check_file_size, read_csv, read_geojson, read_xlsx

SHEET_KINDS: tuple[str, ...] = ("resources", "classes", "evaluations")

COLUMNS: dict[str, dict[str, bool]] = {
    # column -> required?
    "resources": {
        "external_id": True,
        "name": True,
        "category": True,
        "district": False,
        "town": False,
        "address": False,
        "lon": True,
        "lat": True,
        "crs": False,
        "skills": False,
        "phone": False,
        "opening_hours": False,
        "reg_steps": False,
        "reg_url": False,
        "reg_phone": False,
        "subsidy_eligible": False,
        "subsidy_note": False,
        "seats": False,
        "source": False,
        "updated_at": False,
        "is_sample": False,
    },
    "classes": {
        "external_id": True,
        "resource_external_id": True,
        "skill": True,
        "skill_code": False,
        "level": True,
        "start_date": True,
        "end_date": True,
        "schedule": True,
        "seats_total": True,
        "seats_left": True,
        "fee": False,
        "subsidy": False,
        "signup_deadline": False,
        "is_sample": False,
    },
    "evaluations": {
        "external_id": True,
        "agency_external_id": True,
        "skill": True,
        "skill_code": False,
        "level": True,
        "date": True,
        "seats_left": True,
        "fee": False,
        "is_sample": False,
    },
}

HEADER_ALIASES: dict[str, str] = {
    "编号": "external_id",
    "外部编号": "external_id",
    "名称": "name",
    "类别": "category",
    "区县": "district",
    "县市区": "district",
    "乡镇街道": "town",
    "乡镇": "town",
    "地址": "address",
    "经度": "lon",
    "纬度": "lat",
    "坐标系": "crs",
    "工种": "skills",
    "电话": "phone",
    "开放时间": "opening_hours",
    "报名步骤": "reg_steps",
    "报名网址": "reg_url",
    "报名电话": "reg_phone",
    "可享补贴": "subsidy_eligible",
    "补贴说明": "subsidy_note",
    "学位数": "seats",
    "来源": "source",
    "更新日期": "updated_at",
    "样例": "is_sample",
}


@dataclass(frozen=True)
class SheetRow:
    """One record of a sheet: its spreadsheet row number and its cells by column key."""

    row: int
    cells: dict[str, Any]


MAX_REPORTED_ERRORS = 1000
"""An import's error report lists at most this many problems; every problem is still counted by kind."""


class ErrorLog:
    """The row-numbered problems of one sheet: the first :data:`MAX_REPORTED_ERRORS` kept, all counted.

    An all-bad 50,000-row sheet must not answer with a 40 MB body (nor hold millions of dicts): beyond the
    limit a problem only adds to ``total`` and to ``counts`` (by kind, e.g. ``required``, ``invalid_text``)
    and ``columns`` (by column).
    """

    def __init__(self, *, limit: int = MAX_REPORTED_ERRORS) -> None:
        self.limit = limit
        self.errors: list[dict[str, Any]] = []
        self.total = 0
        self.counts: Counter[str] = Counter()
        self.columns: Counter[str] = Counter()

    def __len__(self) -> int:
        return self.total

    def add(self, row: int, column: str | None, message_en: str, message_zh: str, *, kind: str = "invalid") -> None:
        """Record one problem (kept in the report while under the limit)."""
        self.total += 1
        self.counts[kind] += 1
        self.columns[column or ""] += 1
        if len(self.errors) < self.limit:
            self.errors.append(cell_error(row, column, message_en, message_zh, kind=kind))

    def error(self, *, kind: str) -> ImportValidationError:
        """The all-or-nothing error of the sheet (nothing was written)."""
        return sheet_error(self, kind=kind)


def sheet_error(errors: ErrorLog | list[dict[str, Any]], *, kind: str) -> ImportValidationError:
    """The all-or-nothing error of a sheet with bad rows (nothing was written).

    ``details``: ``errors`` (the first :data:`MAX_REPORTED_ERRORS`), ``error_count`` (all of them),
    ``truncated``, ``counts`` (per kind of problem) and ``columns`` (per column).
    """
    if not isinstance(errors, ErrorLog):
        log = ErrorLog()
        for e in errors:
            log.add(e["row"], e["column"], e["message_en"], e["message_zh"], kind=e.get("kind", "invalid"))
        errors = log
    first = errors.errors[0]
    msg = f"{kind} sheet has {errors.total} error(s); nothing was imported. First: {first['message_en']}"
    return ImportValidationError(
        msg,
        message_zh=f"表格有 {errors.total} 处错误，未导入任何数据。第一处：{first['message_zh']}",
        details={
            "kind": kind,
            "errors": errors.errors,
            "error_count": errors.total,
            "truncated": errors.total > len(errors.errors),
            "counts": dict(errors.counts.most_common()),
            "columns": {k: v for k, v in errors.columns.most_common() if k},
        },
    )


def cell_error(
    row: int, column: str | None, message_en: str, message_zh: str, *, kind: str = "invalid"
) -> dict[str, Any]:
    """One row-numbered problem of a sheet, as reported to the user (``kind``: a stable short code)."""
    return {"row": row, "column": column, "kind": kind, "message_en": message_en, "message_zh": message_zh}


def _normalise_header(name: Any) -> str:
    text = str(name or "").strip().lstrip("\ufeff")
    return HEADER_ALIASES.get(text, text.lower())


def _clean(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, str):
        value = unescape_cell(value.strip())  # a sheet the service wrote: '=x was =x
        return value or None
    if isinstance(value, float) and value != value:  # NaN
        return None
    return value


def read_sheet(
    source: Path | bytes,
    *,
    kind: str,
    filename: str | None = None,
    sheet: str | None = None,
    limits: SheetLimits | None = None,
) -> list[SheetRow]:
    """Read a CSV, XLSX or GeoJSON sheet of ``kind`` into rows keyed by column, at a bounded cost.

    Parameters
    ----------
    source
        A path, or the file's bytes (an upload).
    kind
        ``resources``, ``classes`` or ``evaluations``.
    filename
        Name used to tell the format when ``source`` is bytes (by its extension).
    sheet
        XLSX only: the worksheet to read (default: the first visible one; hidden ones only by name).
    limits
        Size, row, column and zip limits (default: from the settings, see :mod:`geo.sheet_files`).

    Raises
    ------
    ImportValidationError
        When the file cannot be read, its encoding is unclear, a required column is missing (row 1) or a
        GeoJSON feature is not a Point.
    PayloadTooLargeError
        413 when the file, or what it unzips to, is past a limit.
    """
    return read_table(source, kind=kind, filename=filename, sheet=sheet, limits=limits)[1]


def read_table(
    source: Path | bytes,
    *,
    kind: str,
    filename: str | None = None,
    sheet: str | None = None,
    limits: SheetLimits | None = None,
) -> tuple[Table, list[SheetRow]]:
    """:func:`read_sheet`, also returning the file's :class:`~geo.sheet_files.Table` (sheet, encoding)."""
    if kind not in COLUMNS:
        msg = f"unknown sheet kind {kind!r}; expected one of {', '.join(SHEET_KINDS)}"
        raise ImportValidationError(msg, message_zh=f"未知的表格类型“{kind}”", code="unknown_sheet_kind")
    limits = limits or SheetLimits.from_settings()
    name = filename or (source.name if isinstance(source, Path) else "")
    check_file_size(source.stat().st_size if isinstance(source, Path) else len(source), limits)
    data = source.read_bytes() if isinstance(source, Path) else source
    suffix = Path(name).suffix.lower()
    try:
        if suffix in (".xlsx", ".xlsm"):
            table = read_xlsx(data, limits, sheet=sheet)
        elif suffix in (".geojson", ".json"):
            table = read_geojson(data, limits)
        elif suffix in (".csv", ".txt", ""):
            table = read_csv(data, limits)
        else:
            msg = f"unsupported file type {suffix!r}; use .csv, .xlsx or .geojson"
            raise ImportValidationError(
                msg, message_zh=f"不支持的文件类型“{suffix}”，请使用 .csv、.xlsx 或 .geojson", code="unsupported_format"
            )
    except SkillCircleError:
        raise
    except Exception as exc:  # a corrupt upload must be a clear 4xx, whatever the parser raised
        msg = f"cannot read the {suffix or 'csv'} file: {exc}"
        raise ImportValidationError(
            msg, message_zh=f"无法读取文件：{exc}", code="unreadable_file", details={"errors": []}
        ) from exc
    header = {_normalise_header(h) for h in table.header}
    errors = [
        cell_error(1, col, f"missing required column '{col}'", f"缺少必填列“{col}”", kind="missing_column")
        for col, required in COLUMNS[kind].items()
        if required and col not in header
    ]
    if errors:
        raise sheet_error(errors, kind=kind)
    if table.problems:
        raise sheet_error([cell_error(r, c, en, zh, kind=k) for r, c, en, zh, k in table.problems], kind=kind)
    if not table.records:
        errors = [cell_error(2, None, "the sheet has no data rows", "表格没有数据行", kind="no_rows")]
        raise sheet_error(errors, kind=kind)
    rows = []
    for row, cells in table.records:
        out = {}
        for key, value in cells.items():
            norm = _normalise_header(key)
            if norm:
                out[norm] = _clean(value)
        rows.append(SheetRow(row, out))
    return table, rows


def parse_date(value: Any) -> date:
    """A date from an ISO string (2026-12-01, 2026/12/01, 2026年12月1日) or an Excel date cell."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip().replace("/", "-").replace(".", "-")
    text = text.replace("年", "-").replace("月", "-").replace("日", "")
    return date.fromisoformat("-".join(part.zfill(2) for part in text.split("-")))


_TRUE = {"是", "yes", "y", "true", "1", "t", "有"}
_FALSE = {"否", "no", "n", "false", "0", "f", "无"}


def parse_bool(value: Any) -> bool:
    """是/否, yes/no, true/false, 1/0 (empty = no)."""
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    msg = f"expected 是/否 (yes/no), got {value!r}"
    raise ValueError(msg)


def parse_skills(value: Any) -> list[tuple[str, str | None]]:
    """``"电工|6-31-01-03;焊工"`` → ``[("电工", "6-31-01-03"), ("焊工", None)]``; ；、 also separate."""
    if not value:
        return []
    text = str(value).replace("；", ";").replace("、", ";")
    out = []
    for part in text.split(";"):
        name, _, code = part.partition("|")
        if name.strip():
            out.append((name.strip(), code.strip() or None))
    return out
