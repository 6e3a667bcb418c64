"""The page language: ``?lang=`` when given, else the browser's ``Accept-Language``, else Chinese.

Every HTML page (the 技能码 pages and the map pages) picks its language here, so a phone set to
English gets English pages without a parameter, and a link with ``?lang=zh`` always wins.
"""

from __future__ import annotations

from geo.errors import InvalidParameterError

LANGS: tuple[str, ...] = ("zh", "en")
DEFAULT_LANG = "zh"
_MAX_HEADER = 400


def html_lang(lang: str) -> str:
    """The ``<html lang>`` value of a page language (``zh-CN`` or ``en``)."""
    return "en" if lang == "en" else "zh-CN"


def accept_language(header: str | None) -> str | None:
    """``zh`` or ``en``: whichever of the two the ``Accept-Language`` header ranks higher, else None.

    Quality values are honoured (``en;q=0.9, zh-CN`` prefers Chinese); other languages are ignored;
    a malformed entry is skipped. Only the first 400 characters of the header are read.
    """
    best: tuple[float, int, str] | None = None
    for i, part in enumerate((header or "")[:_MAX_HEADER].split(",")):
        bits = [b.strip() for b in part.split(";")]
        tag = bits[0].lower()
        primary = tag.split("-", 1)[0]
        if primary not in LANGS:
            continue
        q = 1.0
        for b in bits[1:]:
            if b.startswith("q="):
                try:
                    q = float(b[2:])
                except ValueError:
                    q = -1.0
        if not 0 < q <= 1:
            continue
        if best is None or (q, -i) > (best[0], best[1]):
            best = (q, -i, primary)
    return best[2] if best else None


def parse_lang(value: str | None) -> str | None:
    """``zh`` or ``en`` from a ``?lang=`` value (None when absent); anything else → 422 ``invalid_lang``."""
    if value is None or value.strip() == "":
        return None
    key = value.strip().lower()
    if key not in LANGS:
        msg = f"unknown language {value[:20]!r}; expected zh or en"
        raise InvalidParameterError(
            msg,
            message_zh=f"不支持的语言“{value[:20]}”，应为 zh 或 en",
            code="invalid_lang",
            details={"lang": value[:20]},
        )
    return key


def negotiate(query_value: str | None, header: str | None) -> str:
    """The page language: the ``?lang=`` value, else ``Accept-Language``, else Chinese.

    Raises
    ------
    InvalidParameterError
        ``invalid_lang`` when ``?lang=`` is neither zh nor en.
    """
    return parse_lang(query_value) or accept_language(header) or DEFAULT_LANG


def safe_negotiate(query_value: str | None, header: str | None) -> str:
    """Like :func:`negotiate`, but a bad ``?lang=`` falls back to the header (for error pages)."""
    try:
        return negotiate(query_value, header)
    except InvalidParameterError:
        return accept_language(header) or DEFAULT_LANG
