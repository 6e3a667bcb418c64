"""Opening import files with a bounded cost: CSV (encoding detected), XLSX (zip bombs refused) and GeoJSON.

Every reader stops early and answers with a clear error instead of spending minutes and gigabytes:

* the file itself is at most ``max_upload_mb`` (413 ``payload_too_large``), from the CLI as from an upload;
* an XLSX is a zip: before openpyxl sees it, the declared unzipped size of all its parts (at most
  ``max_xlsx_unzipped_mb``) and each part's compression ratio (at most ``max_xlsx_ratio`` : 1 beyond
  1 MB, the rule Apache POI uses against zip bombs) are checked; Python's zip reader never inflates a part
  beyond its declared size, so the check holds. Then the number of sheets and, while streaming, the
  sheet's rows and columns are bounded (413 ``sheet_too_large``);
* CSV and GeoJSON are bounded by the same row and column limits.

The sheet read from a workbook is the first *visible* one, or the one named (``--sheet NAME`` in the
CLI, the ``sheet`` form field of an upload); a hidden sheet is read only when named. The CSV encoding is
UTF-8 (with or without byte-order mark), UTF-16 with a byte-order mark, or GB18030 (which includes GBK
and GB2312, what Excel and WPS save in China); anything else, or a file the detector is unsure about, is a
422 ``unknown_encoding`` asking for "CSV UTF-8".
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from dataclasses import dataclass, field
from typing import Any

from geo.config import get_settings
from geo.errors import ImportValidationError, PayloadTooLargeError

MB = 1024 * 1024
_GRACE_BYTES = 1 * MB  # parts smaller than this may compress better than max_ratio (tiny XML)
_GB_FAMILY = {"gb18030", "gbk", "gb2312", "hz"}


@dataclass(frozen=True)
class SheetLimits:
    """What one import file may cost (see the README's "Limits" table)."""

    max_bytes: int
    max_rows: int
    max_columns: int
    max_sheets: int
    max_unzipped_bytes: int
    max_ratio: float

    @classmethod
    def from_settings(cls) -> SheetLimits:
        """The limits configured in :class:`geo.config.Settings`."""
        s = get_settings()
        return cls(
            max_bytes=int(s.max_upload_mb * MB),
            max_rows=s.max_sheet_rows,
            max_columns=s.max_sheet_columns,
            max_sheets=s.max_xlsx_sheets,
            max_unzipped_bytes=int(s.max_xlsx_unzipped_mb * MB),
            max_ratio=s.max_xlsx_ratio,
        )


@dataclass
class Table:
    """A file's records before column mapping: the raw header and ``(row number, {header: value})``.

    ``problems`` are row errors found while reading (a GeoJSON feature that is not a Point), as
    ``(row, column, message_en, message_zh, kind)``.
    """

    header: list[Any]
    records: list[tuple[int, dict[Any, Any]]]
    sheet: str | None = None
    encoding: str | None = None
    problems: list[tuple[int, str | None, str, str, str]] = field(default_factory=list)


def too_large(what_en: str, what_zh: str, *, limit: float, value: float, unit: str = "") -> PayloadTooLargeError:
    """413 ``sheet_too_large``: one of the file's sizes is past its limit."""
    msg = f"the file is too large to import: {what_en} {value:g}{unit} exceeds the limit of {limit:g}{unit}"
    return PayloadTooLargeError(
        msg,
        message_zh=f"文件过大，无法导入：{what_zh} {value:g}{unit} 超过上限 {limit:g}{unit}",
        code="sheet_too_large",
        details={"limit": limit, "value": value, "what": what_en},
    )


def check_file_size(size: int, limits: SheetLimits) -> None:
    """413 ``payload_too_large`` when a file is larger than ``max_upload_mb`` (CLI and API alike)."""
    if size > limits.max_bytes:
        mb = round(limits.max_bytes / MB, 3)
        msg = f"file larger than {mb:g} MB ({size / MB:.1f} MB); split it or raise SKILLCIRCLE_MAX_UPLOAD_MB"
        raise PayloadTooLargeError(
            msg,
            message_zh=f"文件超过 {mb:g} MB（{size / MB:.1f} MB），请拆分后再导入",
            details={"limit_mb": mb, "size_mb": round(size / MB, 2)},
        )


def _row_limit(count: int, limits: SheetLimits) -> None:
    if count > limits.max_rows:
        raise too_large("data rows", "数据行数", limit=limits.max_rows, value=count)


def _column_limit(count: int, limits: SheetLimits) -> None:
    if count > limits.max_columns:
        raise too_large("columns", "列数", limit=limits.max_columns, value=count)


# ---------------------------------------------------------------------------------------------- CSV
def decode_csv(data: bytes) -> tuple[str, str]:
    """The text of a CSV file and the encoding it was read with.

    Raises
    ------
    ImportValidationError
        ``unknown_encoding`` when the bytes are neither UTF-8/UTF-16 nor clearly GB18030/GBK.
    """
    if data.startswith(b"\xef\xbb\xbf"):
        return _strict(data, "utf-8-sig"), "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return _strict(data, "utf-16"), "utf-16"
    if data.startswith(b"\x84\x31\x95\x33"):  # GB18030's own byte-order mark
        return _strict(data[4:], "gb18030"), "gb18030"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    guess = _detected(data)
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError:
        text = None
    if text is not None and (guess in _GB_FAMILY or _mostly_common_hanzi(text)):
        return text, "gb18030"
    raise _unknown_encoding(guess)


def _strict(data: bytes, encoding: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        raise _unknown_encoding(None) from None


def _detected(data: bytes) -> str | None:
    from charset_normalizer import from_bytes

    best = from_bytes(data[: 256 * 1024]).best()
    return best.encoding if best is not None else None


def _mostly_common_hanzi(text: str) -> bool:
    """True when nearly every non-ASCII character is in GB2312 (the 6,763 common hanzi and punctuation).

    Short Chinese sheets are ambiguous to statistical detectors (GBK bytes also decode as Big5 or CP949);
    text that decodes as GB18030 into common simplified characters is GBK in practice, while Big5 or
    Shift-JIS bytes decoded as GB18030 give rare characters.
    """
    wide = [ch for ch in text if ord(ch) > 127]
    if not wide:
        return True
    common = sum(1 for ch in wide if _in_gb2312(ch))
    return common >= 0.97 * len(wide)


def _in_gb2312(ch: str) -> bool:
    try:
        ch.encode("gb2312")
    except UnicodeEncodeError:
        return False
    return True


def _unknown_encoding(guess: str | None) -> ImportValidationError:
    msg = (
        "cannot tell the CSV file's text encoding"
        + (f" (it looks like {guess}, which is not supported)" if guess else "")
        + "; save it as 'CSV UTF-8' (Excel: Save As → CSV UTF-8; WPS: 另存为 → CSV，编码 UTF-8)"
    )
    return ImportValidationError(
        msg,
        message_zh="无法识别 CSV 文件的编码（支持 UTF-8 与 GBK/GB18030），请另存为“CSV UTF-8（逗号分隔）”后重新导入",
        code="unknown_encoding",
        details={"detected": guess, "supported": ["utf-8", "utf-8-sig", "utf-16", "gb18030", "gbk"]},
    )


def read_csv(data: bytes, limits: SheetLimits) -> Table:
    """Records of a CSV file (comma- or, for Excel's "Unicode text", tab-separated)."""
    text, encoding = decode_csv(data)
    first_line = text.split("\n", 1)[0]
    delimiter = "\t" if "\t" in first_line and "," not in first_line else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    header = next(reader, None)
    if header is None:
        return Table([], [], encoding=encoding)
    _column_limit(len(header), limits)
    records: list[tuple[int, dict[Any, Any]]] = []
    for i, values in enumerate(reader, start=2):
        if not any(v.strip() for v in values):
            continue
        _row_limit(len(records) + 1, limits)
        records.append((i, dict(zip(header, values, strict=False))))
    return Table(header, records, encoding=encoding)


# ---------------------------------------------------------------------------------------------- XLSX
def check_zip(data: bytes, limits: SheetLimits) -> None:
    """Refuse a zip whose parts would unzip past the limits, before anything is inflated."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        infos = zf.infolist()
        total = sum(i.file_size for i in infos)
        if total > limits.max_unzipped_bytes:
            raise too_large(
                "unzipped size",
                "解压后大小",
                limit=limits.max_unzipped_bytes / MB,
                value=round(total / MB, 1),
                unit=" MB",
            )
        for info in infos:
            ratio = info.file_size / max(info.compress_size, 1)
            if info.file_size > _GRACE_BYTES and ratio > limits.max_ratio:
                raise too_large(
                    f"compression ratio of {info.filename}",
                    f"压缩比（{info.filename}）",
                    limit=limits.max_ratio,
                    value=round(ratio),
                    unit=":1",
                )


def read_xlsx(data: bytes, limits: SheetLimits, *, sheet: str | None = None) -> Table:
    """Records of the first visible worksheet, or of the one named ``sheet``."""
    check_zip(data, limits)  # before anything is inflated (or openpyxl even imported)
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        if len(book.worksheets) > limits.max_sheets:
            raise too_large("worksheets", "工作表数", limit=limits.max_sheets, value=len(book.worksheets))
        ws = _pick_sheet(book, sheet)
        ws.reset_dimensions()  # a wrong <dimension> must neither cut rows off nor pad them to 16,384 columns
        rows = ws.iter_rows(values_only=True)  # each row as long as its last cell: a stray far cell shows
        first = next(rows, None)
        if first is None:
            return Table([], [], sheet=ws.title)
        header = list(_trim(first))
        _column_limit(len(header), limits)
        records: list[tuple[int, dict[Any, Any]]] = []
        for i, values in enumerate(rows, start=2):
            if i > 2 * limits.max_rows + 1:  # blank rows count too: a sparse sheet cannot make us loop forever
                _row_limit(i - 1, limits)
            used = _trim(values)
            if not used:
                continue
            _column_limit(len(used), limits)
            _row_limit(len(records) + 1, limits)
            records.append((i, dict(zip(header, values, strict=False))))
        return Table(header, records, sheet=ws.title)
    finally:
        book.close()


def _trim(values: tuple) -> tuple:
    end = len(values)
    while end and values[end - 1] in (None, ""):
        end -= 1
    return values[:end]


def _pick_sheet(book: Any, name: str | None) -> Any:
    states = {ws.title: getattr(ws, "sheet_state", "visible") for ws in book.worksheets}
    if name is not None:
        if name not in states:
            msg = f"the workbook has no sheet named {name!r}; its sheets: {', '.join(states)}"
            raise ImportValidationError(
                msg,
                message_zh=f"工作簿中没有名为“{name}”的工作表；现有：{'、'.join(states)}",
                code="unknown_sheet",
                details={"sheet": name, "sheets": states},
            )
        return book[name]
    visible = [ws for ws in book.worksheets if states[ws.title] == "visible"]
    if not visible:
        msg = "every sheet of the workbook is hidden; name the one to import (--sheet NAME / the sheet field)"
        raise ImportValidationError(
            msg,
            message_zh="工作簿的所有工作表都已隐藏；请指定要导入的工作表名称",
            code="no_visible_sheet",
            details={"sheets": states},
        )
    return visible[0]


# ---------------------------------------------------------------------------------------------- GeoJSON
def read_geojson(data: bytes, limits: SheetLimits) -> Table:
    """Records of a GeoJSON FeatureCollection: properties plus lon/lat of a Point geometry.

    Any other geometry (or none) is a row error: a polygon's properties may carry a lon/lat that is not
    where the feature is.
    """
    doc = json.loads(_strict(data, "utf-8-sig"))
    features = doc.get("features", []) if isinstance(doc, dict) else []
    if not isinstance(features, list):
        features = []
    _row_limit(len(features), limits)
    header: dict[Any, None] = {}
    records: list[tuple[int, dict[Any, Any]]] = []
    problems: list[tuple[int, str | None, str, str, str]] = []
    for i, feat in enumerate(features, start=2):  # feature 1 = "row 2", as in a sheet
        feat = feat if isinstance(feat, dict) else {}
        props = feat.get("properties") or {}
        props = dict(props) if isinstance(props, dict) else {}
        _column_limit(len(props), limits)
        geom = feat.get("geometry")
        point = _point(geom)
        if point is None:
            gtype = geom.get("type") if isinstance(geom, dict) else None
            problems.append(
                (
                    i,
                    "geometry",
                    f"feature geometry must be a Point with [lon, lat], got {gtype or 'none'}",
                    f"要素的几何类型须为点（Point，[经度, 纬度]），实际为 {gtype or '空'}",
                    "not_a_point",
                )
            )
        else:
            props["lon"], props["lat"] = point
        header.update(dict.fromkeys(props))
        records.append((i, props))
    return Table(list(header), records, problems=problems)


def _point(geom: Any) -> tuple[float, float] | None:
    if not isinstance(geom, dict) or geom.get("type") != "Point":
        return None
    coords = geom.get("coordinates")
    if not isinstance(coords, list | tuple) or len(coords) not in (2, 3):
        return None
    if not all(isinstance(c, int | float) and not isinstance(c, bool) for c in coords):
        return None
    return coords[0], coords[1]
