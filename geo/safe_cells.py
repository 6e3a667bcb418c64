"""Spreadsheet formula injection: text cells made inert in every CSV and XLSX the service writes.

A resource name such as ``=HYPERLINK("http://evil.example","报名")`` written unchanged into a CSV or an
XLSX becomes a live formula when a clerk opens the file in Excel, WPS or LibreOffice. The OWASP rule
(https://owasp.org/www-community/attacks/CSV_Injection) is applied to every text cell: one that starts
with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading apostrophe, which spreadsheet
programs read as "this is text". Numbers stay numbers (a negative number is not text).

Every writer goes through this module: :func:`safe_cell` for one value, :func:`safe_row` for a
``csv.writer`` row, :func:`safe_frame` for a pandas table before ``to_csv`` / ``to_excel``.
:func:`unescape_cell` undoes the prefix when the importer reads a sheet the service wrote.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

FORMULA_PREFIXES: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")
ESCAPE = "'"


def safe_cell(value: Any) -> Any:
    """``value`` with a leading apostrophe when it is text a spreadsheet would run as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return ESCAPE + value
    return value


def safe_row(values: Iterable[Any]) -> list[Any]:
    """Every cell of a row through :func:`safe_cell` (for ``csv.writer.writerow``)."""
    return [safe_cell(v) for v in values]


def safe_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """Every value of a record through :func:`safe_cell` (for ``csv.DictWriter.writerow``)."""
    return {k: safe_cell(v) for k, v in record.items()}


def safe_frame(frame: Any) -> Any:
    """A copy of a pandas DataFrame whose text cells and column names are neutralised.

    Only object and string columns are touched, so numeric columns keep their dtype.
    """
    from pandas.api.types import is_object_dtype, is_string_dtype

    out = frame.copy()
    for col in out.columns:
        if is_object_dtype(out[col].dtype) or is_string_dtype(out[col].dtype):
            out[col] = out[col].map(safe_cell)
    out.columns = [safe_cell(c) for c in out.columns]
    return out


def unescape_cell(value: Any) -> Any:
    """Undo :func:`safe_cell`: ``'=x`` → ``=x`` (only for the prefixes it adds, so ``'abc`` stays)."""
    if isinstance(value, str) and value.startswith(ESCAPE) and value[1:].startswith(FORMULA_PREFIXES):
        return value[1:]
    return value
