"""The checks and bookkeeping of one sheet import: what it did, its cell-by-cell row checks and progress.

:class:`RowChecks` collects every problem of a sheet with its row and column (text that renders and
fits its column, required cells, numbers, dates, skills, duplicate external ids), so that
:mod:`geo.importer` writes nothing unless the whole sheet is clean. :class:`ImportReport` is what an
import did; :class:`Ticker` reports its progress.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from geo.errors import SkillCircleError
from geo.models import Base
from geo.sheets import COLUMNS, ErrorLog, SheetRow, parse_date, parse_skills
from geo.text_input import normalise_newlines, text_problem

T = TypeVar("T")


@dataclass
class ImportReport:
    """What an import did."""

    kind: str
    created: int = 0
    updated: int = 0
    rows: int = 0
    external_ids: list[str] = field(default_factory=list)
    sheet: str | None = None
    encoding: str | None = None
    seats_kept_for_signups: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON form for the API and the CLI (``sheet``: the XLSX worksheet read; ``encoding``: a CSV's;
        ``seats_kept_for_signups``: classes whose seats left were lowered to keep online sign-ups' seats)."""
        out: dict[str, Any] = {"kind": self.kind, "rows": self.rows, "created": self.created, "updated": self.updated}
        if self.sheet is not None:
            out["sheet"] = self.sheet
        if self.encoding is not None:
            out["encoding"] = self.encoding
        if self.seats_kept_for_signups:
            out["seats_kept_for_signups"] = self.seats_kept_for_signups
        return out


MULTILINE_COLUMNS = frozenset({"address", "opening_hours", "subsidy_note", "reg_steps"})
"""Sheet columns whose text may hold newlines; every other text cell is one line."""


def _column_lengths(model: type[Base]) -> dict[str, int]:
    """Maximum length of each string column of ``model`` (what the database will store)."""
    return {c.name: n for c in model.__table__.columns if (n := getattr(c.type, "length", None))}


class RowChecks(ErrorLog):
    """Collects row errors while a sheet is checked cell by cell (capped report, see :class:`ErrorLog`)."""

    def texts(self, rows: list[SheetRow], *, kind: str, model: type[Base]) -> None:
        """Every text cell of the sheet's columns renders (:mod:`geo.text_input`) and fits its column."""
        lengths = _column_lengths(model) | {"reg_steps": 2000, "skills": 2000}
        columns = COLUMNS[kind]
        for r in rows:
            for col, value in r.cells.items():
                if col not in columns or not isinstance(value, str):
                    continue
                multiline = col in MULTILINE_COLUMNS
                if multiline:
                    value = r.cells[col] = normalise_newlines(value)
                problem = text_problem(value, multiline=multiline)
                if problem is not None:
                    en, zh = problem.messages(col)
                    self.add(r.row, col, en, zh, kind="invalid_text")
                elif col in lengths and len(value) > lengths[col]:
                    self.add(
                        r.row,
                        col,
                        f"'{col}' is longer than {lengths[col]} characters",
                        f"“{col}”超过 {lengths[col]} 个字符",
                        kind="too_long",
                    )
                elif col == "skills":
                    self._skill_lengths(r, value)

    def _skill_lengths(self, r: SheetRow, value: str) -> None:
        for name, code in parse_skills(value):
            if len(name) > 100 or len(code or "") > 40:
                self.add(
                    r.row,
                    "skills",
                    f"skill '{name[:20]}…' is too long (name ≤ 100, code ≤ 40 characters)",
                    f"工种“{name[:20]}…”过长（名称不超过 100 字，代码不超过 40 字）",
                    kind="too_long",
                )

    def required(self, r: SheetRow, column: str) -> Any:
        return self._cell(r, column, required=True)

    def _cell(self, r: SheetRow, column: str, *, required: bool) -> Any:
        """The cell's value; None when empty, recorded as a problem when the column is ``required``."""
        value = r.cells.get(column)
        if value is None and required:
            self.add(r.row, column, f"'{column}' is empty", f"“{column}”不能为空", kind="required")
        return value

    def number(
        self, r: SheetRow, column: str, *, integer: bool, required: bool, minimum: float = 0, maximum: float = 1e7
    ) -> Any:
        value = self._cell(r, column, required=required)
        if value is None:
            return None
        try:
            num = float(str(value).replace(",", ""))
            if integer:
                if num != int(num):
                    raise ValueError
                num = int(num)
        except ValueError:
            kind_en, kind_zh = ("a whole number", "整数") if integer else ("a number", "数字")
            self.add(r.row, column, f"'{value}' is not {kind_en}", f"“{value}”不是{kind_zh}", kind="not_a_number")
            return None
        if not minimum <= num <= maximum:  # also keeps integers storable (32-bit columns)
            en, zh = f"{num} is outside {minimum}–{maximum:g}", f"{num} 超出范围 {minimum}–{maximum:g}"
            self.add(r.row, column, en, zh, kind="out_of_range")
            return None
        return num

    def date(self, r: SheetRow, column: str, *, required: bool) -> Any:
        value = self._cell(r, column, required=required)
        if value is None:
            return None
        try:
            return parse_date(value)
        except ValueError:
            en, zh = f"'{value}' is not a date (YYYY-MM-DD)", f"“{value}”不是有效日期（YYYY-MM-DD）"
            self.add(r.row, column, en, zh, kind="invalid_date")
            return None

    def parsed(self, r: SheetRow, column: str, parser: Any) -> Any:
        value = r.cells.get(column)
        if value is None:
            return None
        try:
            return parser(value)
        except SkillCircleError as exc:
            self.add(r.row, column, exc.message_en, exc.message_zh, kind=exc.code)
        except ValueError as exc:
            self.add(r.row, column, str(exc), f"“{value}”格式不正确", kind="invalid_value")
        return None

    def unique_ids(self, rows: list[SheetRow]) -> None:
        seen: dict[str, int] = {}
        for r in rows:
            ext = r.cells.get("external_id")
            if ext is None:
                continue
            ext = str(ext)
            if ext in seen:
                self.add(
                    r.row,
                    "external_id",
                    f"duplicate external_id '{ext}' (first on row {seen[ext]})",
                    f"编号“{ext}”重复（首次出现在第 {seen[ext]} 行）",
                    kind="duplicate_id",
                )
            else:
                seen[ext] = r.row


ProgressFn = Callable[[str, int, int], None]
TICK_EVERY = 500
IN_CHUNK = 5000  # ids per IN (...) lookup: SQLite allows at most 32,766 bound values per statement


class Ticker:
    """Reports progress every ``TICK_EVERY`` rows (and at phase changes) to an optional callback."""

    def __init__(self, progress: ProgressFn | None) -> None:
        self.progress = progress

    def __call__(self, phase: str, done: int, total: int, *, force: bool = False) -> None:
        if self.progress is not None and (force or done % TICK_EVERY == 0 or done == total):
            self.progress(phase, done, total)


def chunks(values: list[T]) -> list[list[T]]:
    """``values`` in lists of at most :data:`IN_CHUNK` (one ``IN (...)`` lookup each)."""
    return [values[i : i + IN_CHUNK] for i in range(0, len(values), IN_CHUNK)]
