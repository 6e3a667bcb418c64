"""The one rule for text people give the service: it must render.

A place name such as ``"¢Q\\x1e\\x11M\\ue000"`` is stored happily by a database but breaks every renderer
downstream (Pillow's text layout raised on it and a poster answered 500). Every text field, in the API
schemas, the sheet importer, the skill-code service and the CLI, is checked by this module, so one text is
accepted or refused the same way everywhere. Refused:

* control characters (Unicode category ``Cc``: U+0000–U+001F, U+007F–U+009F), except a newline (``\\n``)
  in a multi-line field (a Windows ``\\r\\n`` there becomes ``\\n``);
* surrogates (``Cs``), private-use characters (``Co``) and code points unassigned in the Unicode
  database Python ships (``Cn``, noncharacters included);
* bidirectional embedding/override/isolate controls (U+202A–U+202E, U+2066–U+2069), which make a poster
  or an audit log show text in another order than it was stored;
* the line and paragraph separators U+2028/U+2029 (a newline, where allowed, is ``\\n``).

Everything else (Chinese, full-width punctuation, the ideographic space U+3000, emoji with their joiners)
passes. Use :func:`check_text` in services, :data:`Line` / :data:`MultiLine` in pydantic schemas and
:func:`text_problem` where problems are collected rather than raised (the importer).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

from geo.errors import InvalidTextError

_BIDI_CONTROLS = frozenset(chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A)))
_REASONS: dict[str, tuple[str, str]] = {
    "Cc": ("a control character", "控制字符"),
    "Cs": ("a surrogate code point", "代理码位"),
    "Co": ("a private-use character", "私用区字符"),
    "Cn": ("an unassigned code point", "未分配的码位"),
    "bidi": ("a bidirectional override", "文字方向控制符"),
    "Zl": ("a line separator", "行分隔符"),
    "Zp": ("a paragraph separator", "段分隔符"),
}


@dataclass(frozen=True)
class TextProblem:
    """Why a text is refused: the first bad character, its position (0-based) and kind."""

    position: int
    char: str
    kind: str

    @property
    def code_point(self) -> str:
        """``U+001E`` style name of the character."""
        return f"U+{ord(self.char):04X}"

    def messages(self, field: str) -> tuple[str, str]:
        """(English, Chinese) message naming the field, the character and where it is."""
        en, zh = _REASONS[self.kind]
        return (
            f"'{field}' contains {en} ({self.code_point}) at character {self.position + 1}; remove it",
            f"“{field}”第 {self.position + 1} 个字符是{zh}（{self.code_point}），无法显示，请删除",
        )


def _kind(ch: str, *, multiline: bool) -> str | None:
    if ch == "\n" and multiline:
        return None
    if ch in _BIDI_CONTROLS:
        return "bidi"
    cat = unicodedata.category(ch)
    return cat if cat in _REASONS else None


def text_problem(value: str, *, multiline: bool = False) -> TextProblem | None:
    """The first character of ``value`` that would not render, or ``None`` when all of it renders.

    Parameters
    ----------
    value
        The text (already normalised with :func:`normalise_newlines` for multi-line fields).
    multiline
        Whether ``\\n`` is allowed (addresses and notes that span lines).
    """
    if value.isascii() and value.isprintable():  # fast path: plain ASCII text
        return None
    for i, ch in enumerate(value):
        if ch.isprintable() and ch not in _BIDI_CONTROLS:  # printable excludes Cc, Cs, Co, Cn, Zl, Zp
            continue
        kind = _kind(ch, multiline=multiline)
        if kind is not None:
            return TextProblem(i, ch, kind)
    return None


def normalise_newlines(value: str) -> str:
    """``\\r\\n`` → ``\\n`` (a multi-line cell typed on Windows)."""
    return value.replace("\r\n", "\n")


def check_text(value: Any, *, field: str, multiline: bool = False) -> Any:
    """``value`` itself when it is ``None`` or renders (multi-line: newlines normalised), else a 422.

    Raises
    ------
    InvalidTextError
        ``invalid_text`` naming the field, the code point and its position.
    """
    if not isinstance(value, str):
        return value
    if multiline:
        value = normalise_newlines(value)
    problem = text_problem(value, multiline=multiline)
    if problem is not None:
        en, zh = problem.messages(field)
        raise InvalidTextError(
            en,
            message_zh=zh,
            details={"field": field, "position": problem.position, "code_point": problem.code_point},
        )
    return value


def _pydantic_check(multiline: bool) -> Callable[[str], str]:  # a pydantic AfterValidator
    def check(value: str) -> str:
        if multiline:
            value = normalise_newlines(value)
        problem = text_problem(value, multiline=multiline)
        if problem is None:
            return value
        en, _ = problem.messages("text")
        ctx = {"position": problem.position, "char": problem.char, "kind": problem.kind}
        raise PydanticCustomError("invalid_text", en, ctx)

    return check


Line = Annotated[str, AfterValidator(_pydantic_check(False))]
"""A one-line text field of an API schema (names, titles, phone numbers)."""
MultiLine = Annotated[str, AfterValidator(_pydantic_check(True))]
"""A text field that may span lines (addresses, opening hours, notes)."""
