"""QR images, print-ready A4 posters and zip exports of 技能码 (skill codes).

* QR codes are made with segno, error correction level Q (25 % of the symbol can be lost — posters get
  dirty, torn and taped over), encoding ``{settings.base_url}/s/{code}``.
* The poster is an A4 page drawn once with cairo: the title, what the code points to, the QR code, a
  short Chinese instruction, the code in print (for typing) and the URL. As PDF (for print shops) the
  text is vector text with the CJK font embedded and the QR code vector squares; as PNG (for screens)
  the same drawing is rasterised at 300 dpi. Chinese text needs a CJK font on the machine (Debian's
  ``fonts-noto-cjk``); without one :func:`find_cjk_font` fails with a clear error instead of printing
  empty boxes. Characters no font should draw print as one fallback glyph (:func:`printable`).
* :func:`export_zip` bundles every code of a district: SVG + PNG + PDF poster per code and a CSV index.
"""

from __future__ import annotations

import csv
import functools
import io
import ipaddress
import logging
import shutil
import subprocess
import unicodedata
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

import cairocffi
import numpy as np
import segno
from PIL import Image, ImageFont
from sqlalchemy import select
from sqlalchemy.orm import Session

from geo.cities import load_city
from geo.clock import city_today
from geo.config import get_settings
from geo.errors import SkillCircleError
from geo.models import Resource, SkillCode
from geo.safe_cells import safe_row
from geo.skillcodes import TARGET_LABELS_ZH, code_health, format_code

log = logging.getLogger(__name__)

ERROR_LEVEL = "q"
DPI = 300
A4_PX = (2480, 3508)  # 210 × 297 mm at 300 dpi
A4_PT = (595.2756, 841.8898)  # 210 × 297 mm in PostScript points
INSTRUCTION_ZH = "微信/手机扫码，查看附近的培训和评价"
FEATURES_ZH = "开班时间 · 剩余名额 · 补贴政策 · 报名方式 · 一键导航"
SAMPLE_POSTER_ZH = "示例数据：本码指向的机构为样例，不是真实机构"
CJK_FONT_CANDIDATES: tuple[str, ...] = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
)
_GREEN = (31, 111, 84)
_INK = (25, 25, 25)
_GREY = (90, 90, 90)
_RED = (180, 30, 30)


def is_loopback_url(url: str) -> bool:
    """True when ``url``'s host is a loopback address (127.0.0.0/8, ::1, localhost): a poster printed
    with it sends every phone that scans it to the phone itself."""
    host = (urlsplit(url).hostname or "").strip("[]").lower()
    if host in ("localhost", "localhost.localdomain") or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def loopback_warning(base_url: str, *, listen_host: str) -> str | None:
    """The warning to log when codes would print a loopback ``base_url`` while the service listens on
    another interface (phones on the network reach the service, but not through the printed URL)."""
    if not is_loopback_url(base_url) or is_loopback_url(f"http://{_bracket(listen_host)}/"):
        return None
    return (
        f"SKILLCIRCLE_BASE_URL is {base_url}, a loopback address, while the service listens on {listen_host}: "
        "QR codes and posters would send phones to themselves. Set SKILLCIRCLE_BASE_URL to the public URL. / "
        f"SKILLCIRCLE_BASE_URL 为本机回环地址 {base_url}，而服务监听 {listen_host}：二维码和海报将无法访问，"
        "请设置为对外地址。"
    )


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def code_url(code: str, *, base_url: str | None = None) -> str:
    """The URL a code's QR image encodes: ``{base_url}/s/{code}``."""
    return f"{(base_url or get_settings().base_url).rstrip('/')}/s/{code}"


def make_qr(code: str, *, base_url: str | None = None) -> segno.QRCode:
    """The QR symbol (error correction Q, never a Micro QR) for ``code``."""
    return segno.make(code_url(code, base_url=base_url), error=ERROR_LEVEL, micro=False, boost_error=False)


def qr_svg(code: str, *, base_url: str | None = None, scale: int = 10, border: int = 4) -> bytes:
    """The QR code as a standalone SVG document (black modules, white quiet zone of ``border`` modules)."""
    buf = io.BytesIO()
    make_qr(code, base_url=base_url).save(
        buf, kind="svg", scale=scale, border=border, dark="#000", light="#fff", title=f"技能码 {code}"
    )
    return buf.getvalue()


def qr_png(code: str, *, base_url: str | None = None, scale: int = 10, border: int = 4) -> bytes:
    """The QR code as a PNG (``scale`` pixels per module, ``border`` modules of quiet zone)."""
    buf = io.BytesIO()
    make_qr(code, base_url=base_url).save(buf, kind="png", scale=scale, border=border)
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------- fonts
@dataclass(frozen=True)
class CjkFont:
    """A font file with Chinese glyphs and the face index of its Simplified Chinese face."""

    path: Path
    index: int = 0

    def at(self, size: int) -> ImageFont.FreeTypeFont:
        """The face at ``size`` pixels."""
        return ImageFont.truetype(str(self.path), size, index=self.index)


def _sc_index(path: Path) -> int:
    """Index of the Simplified Chinese face ("… SC", not Mono) in a collection, else 0."""
    for i in range(12):
        try:
            family = ImageFont.truetype(str(path), 12, index=i).getname()[0] or ""
        except OSError:
            break
        if family.endswith(" SC") and "Mono" not in family:
            return i
    return 0


def _fontconfig_candidates() -> list[str]:
    if shutil.which("fc-list") is None:
        return []
    try:
        out = subprocess.run(
            ["fc-list", ":lang=zh", "file"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return sorted({line.split(":")[0].strip() for line in out.splitlines() if line.strip()})


def find_cjk_font(
    candidates: Sequence[str] | None = None, *, use_fontconfig: bool = True, bold: bool = False
) -> CjkFont:
    """Find a font that can draw Chinese text (Noto Sans CJK preferred, then WenQuanYi, then fontconfig).

    Parameters
    ----------
    candidates
        Font paths to try first (default :data:`CJK_FONT_CANDIDATES`).
    use_fontconfig
        Also ask ``fc-list :lang=zh`` for any installed Chinese font.
    bold
        Prefer the bold weight where one is installed.

    Raises
    ------
    SkillCircleError
        ``cjk_font_missing`` (503) when the machine has no CJK font: install Debian's ``fonts-noto-cjk``.
    """
    paths = list(candidates if candidates is not None else CJK_FONT_CANDIDATES)
    if bold:
        paths = [p.replace("-Regular", "-Bold") for p in paths if "-Regular" in p] + paths
    if use_fontconfig:
        paths += _fontconfig_candidates()
    for p in paths:
        path = Path(p)
        if path.is_file():
            return CjkFont(path, _sc_index(path))
    msg = "no CJK font found for Chinese text on posters; install Debian's fonts-noto-cjk (scripts/system-deps.sh)"
    raise SkillCircleError(
        msg,
        message_zh="服务器上没有中文字体，无法生成海报；请安装 fonts-noto-cjk（scripts/system-deps.sh）",
        code="cjk_font_missing",
        status=503,
        details={"tried": paths},
    )


@functools.cache
def _fonts() -> tuple[CjkFont, CjkFont]:
    return find_cjk_font(), find_cjk_font(bold=True)


# ---------------------------------------------------------------------------------------------- posters
@dataclass(frozen=True)
class PosterText:
    """What a poster says besides the QR code."""

    code: str
    title: str
    subtitle: str
    city_name: str
    sample: bool = False
    broken: bool = False
    printed: date | None = None  # the city's today (default: the default city's)


def poster_text(session: Session, row: SkillCode) -> PosterText:
    """The poster text of a code: its title, what it points to, the city, and the sample flag."""
    city = load_city(row.city)
    what = TARGET_LABELS_ZH.get(row.target_type, row.target_type)
    if row.target_type == "skill":
        subtitle = f"{what}：{row.skill}"
    elif row.target_type == "city":
        subtitle = f"{what}：{city.name_zh}"
    else:
        name = row.place_name or ""
        where = " ".join(x for x in (row.district, row.town) if x and x not in name)
        subtitle = f"{what}：{name}" + (f"（{where}）" if where else "")
    if row.target_type == "resource" and row.resource is not None:
        sample = bool(row.resource.is_sample)
    else:
        sample = bool(
            session.scalar(select(Resource.id).where(Resource.city == row.city, Resource.is_sample.is_(True)).limit(1))
        )
    return PosterText(
        code=row.code,
        title=row.title,
        subtitle=subtitle,
        city_name=city.name_zh,
        sample=sample,
        broken=code_health(session, row).broken,
        printed=city_today(city),
    )


_FALLBACK_GLYPH = "\ufffd"  # "�": what a poster prints for a character no font can draw


def printable(text: str) -> str:
    """``text`` with characters a poster must not draw replaced by U+FFFD.

    Control, format (bidi overrides, zero-width), surrogate, private-use and unassigned code points draw
    as nothing, as boxes or reorder the line; the service refuses them on input (:mod:`geo.text_input`)
    and the renderer degrades to one visible fallback glyph for anything that got in some other way.
    """
    out = []
    for ch in text:
        cat = unicodedata.category(ch)
        if ch in "\t\n\r" or cat in ("Zl", "Zp"):
            out.append(" ")
        elif cat in ("Cc", "Cf", "Cs", "Co", "Cn"):
            out.append(_FALLBACK_GLYPH)
        else:
            out.append(ch)
    return "".join(out)


def _family(font: CjkFont) -> str:
    """The font family fontconfig knows the file by (cairo's font selection goes through fontconfig)."""
    return font.at(12).getname()[0] or ""  # Pillow gives None for a face without a family name


class _Poster:
    """Draws the A4 poster with cairo in points (1/72 in): vector text (the CJK font embedded as a subset
    in PDFs) and the QR code as one filled path of its dark modules."""

    def __init__(self, ctx: cairocffi.Context, *, regular: str, bold: str) -> None:
        self.ctx = ctx
        self.faces = {
            False: (regular, cairocffi.FONT_WEIGHT_NORMAL),
            True: (bold, cairocffi.FONT_WEIGHT_BOLD),
        }

    def font(self, size: float, *, bold: bool = False) -> None:
        family, weight = self.faces[bold]
        self.ctx.select_font_face(family, cairocffi.FONT_SLANT_NORMAL, weight)
        self.ctx.set_font_size(size)

    def line(self, size: float, *, bold: bool = False) -> float:
        """The height of one line of text at ``size`` (ascent + descent)."""
        self.font(size, bold=bold)
        ascent, descent = self.ctx.font_extents()[:2]
        return ascent + descent

    def width(self, text: str) -> float:
        return self.ctx.text_extents(text)[4]  # x_advance

    def centred(self, y: float, text: str, size: float, rgb: tuple, *, bold: bool = False) -> float:
        """Draw ``text`` centred with its top at ``y``; return the y below it."""
        self.font(size, bold=bold)
        ascent, descent = self.ctx.font_extents()[:2]
        self.ctx.set_source_rgb(*(c / 255 for c in rgb))
        self.ctx.move_to((A4_PT[0] - self.width(text)) / 2, y + ascent)
        self.ctx.show_text(text)
        return y + ascent + descent

    def wrap(self, text: str, size: float, width: float, max_lines: int, *, bold: bool = False) -> list[str]:
        """Greedy character wrap (Chinese has no spaces); the last line is ellipsised if text remains."""
        self.font(size, bold=bold)
        lines: list[str] = []
        line = ""
        for ch in text:
            if self.width(line + ch) > width and line:
                lines.append(line)
                line = ch.lstrip()
            else:
                line += ch
        if line:
            lines.append(line)
        if len(lines) > max_lines:
            lines = lines[:max_lines]
            last = lines[-1]
            while last and self.width(last + "…") > width:
                last = last[:-1]
            lines[-1] = last + "…"
        return lines

    def qr(self, matrix: np.ndarray, left: float, top: float, module: float) -> None:
        """Dark modules as horizontal runs in one path, filled once (no seams between modules)."""
        ctx = self.ctx
        for r, row in enumerate(matrix):
            c = 0
            n = len(row)
            while c < n:
                if row[c]:
                    start = c
                    while c < n and row[c]:
                        c += 1
                    ctx.rectangle(left + start * module, top + r * module, (c - start) * module, module)
                else:
                    c += 1
        ctx.set_source_rgb(0, 0, 0)
        ctx.fill()


def _draw_poster(ctx: cairocffi.Context, text: PosterText, *, base_url: str | None) -> None:
    regular, bold = _fonts()
    p = _Poster(ctx, regular=_family(regular), bold=_family(bold))
    width, margin = A4_PT[0], 41.0
    ctx.set_source_rgb(1, 1, 1)
    ctx.paint()
    ctx.set_source_rgb(*(c / 255 for c in _GREEN))
    ctx.rectangle(0, 0, width, 112)
    ctx.fill()
    y = p.centred(20, "技能码", 36, (255, 255, 255), bold=True)
    p.centred(y + 6, printable(f"{text.city_name} · 30分钟职业技能培训圈"), 16.3, (255, 255, 255))
    y = 132.0
    for line in p.wrap(printable(text.title), 29.8, width - 2 * margin, 2, bold=True):
        y = p.centred(y, line, 29.8, _INK, bold=True) + 6
    for line in p.wrap(printable(text.subtitle), 15.8, width - 2 * margin, 2):
        y = p.centred(y + 2, line, 15.8, _GREY) + 4
    matrix = np.pad(np.asarray(make_qr(text.code, base_url=base_url).matrix, dtype=bool), 4)
    below = p.line(25, bold=True) + 10 + p.line(14.9) + 14 + p.line(26.9, bold=True) + 6 + p.line(12.5) + 6
    below += (p.line(14.9, bold=True) + 10) * (int(text.sample) + int(text.broken))
    qr_top = max(y + 12, 216.0)
    # 11.3 cm (scannable from a few metres), smaller when long titles leave less room above the footer
    side = max(200.0, min(320.0, A4_PT[1] - 36 - 12 - below - qr_top))
    module = side / matrix.shape[0]
    p.qr(matrix, (width - side) / 2, qr_top, module)
    y = qr_top + side + 12
    y = p.centred(y, INSTRUCTION_ZH, 25, _INK, bold=True) + 10
    y = p.centred(y, FEATURES_ZH, 14.9, _GREY) + 14
    y = p.centred(y, f"技能码  {format_code(text.code)}", 26.9, _GREEN, bold=True) + 6
    y = p.centred(y, printable(code_url(text.code, base_url=base_url)), 12.5, _GREY) + 6
    if text.sample:
        y = p.centred(y + 5, SAMPLE_POSTER_ZH, 14.9, _RED, bold=True) + 5
    if text.broken:
        p.centred(y + 5, "注意：本码的目标已失效，请联系管理员重新绑定", 14.9, _RED, bold=True) + 5
    ctx.set_source_rgb(200 / 255, 200 / 255, 200 / 255)
    ctx.set_line_width(1)
    ctx.move_to(margin, A4_PT[1] - 30)
    ctx.line_to(width - margin, A4_PT[1] - 30)
    ctx.stroke()
    printed = (text.printed or city_today(get_settings().default_city)).isoformat()
    p.centred(A4_PT[1] - 25, f"SkillCircle 技能圈 · 打印日期 {printed}", 11.5, _GREY)


def poster_png(text: PosterText, *, base_url: str | None = None, dpi: int = DPI) -> bytes:
    """The poster as a PNG (A4 at ``dpi``, 300 by default: 2480 × 3508 px), drawn like the PDF."""
    scale = dpi / 72.0
    size = (round(A4_PT[0] * scale), round(A4_PT[1] * scale))
    surface = cairocffi.ImageSurface(cairocffi.FORMAT_RGB24, *size)
    ctx = cairocffi.Context(surface)
    ctx.scale(scale, scale)
    _draw_poster(ctx, text, base_url=base_url)
    surface.flush()
    raw = io.BytesIO()
    surface.write_to_png(raw)
    buf = io.BytesIO()
    Image.open(io.BytesIO(raw.getvalue())).convert("RGB").save(buf, format="PNG", dpi=(dpi, dpi))
    return buf.getvalue()


def poster_pdf(text: PosterText, *, base_url: str | None = None) -> bytes:
    """The poster as a one-page A4 PDF for print shops: vector text with the CJK font embedded (subset)
    and the QR code as vector squares, so it prints sharp at any size."""
    buf = io.BytesIO()
    surface = cairocffi.PDFSurface(buf, *A4_PT)
    try:
        surface.set_metadata(cairocffi.PDF_METADATA_TITLE, printable(text.title))
        surface.set_metadata(cairocffi.PDF_METADATA_CREATOR, "SkillCircle 技能圈")
    except (AttributeError, cairocffi.CairoError):  # cairo < 1.16: no metadata, same page
        log.debug("cairo cannot set PDF metadata")
    _draw_poster(cairocffi.Context(surface), text, base_url=base_url)
    surface.finish()
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------- export
def export_zip(
    session: Session, rows: Iterable[SkillCode], *, base_url: str | None = None, posters: bool = True
) -> bytes:
    """A zip of codes: ``<code>/qr.svg``, ``<code>/qr.png``, ``<code>/poster.pdf`` and ``codes.csv``.

    ``codes.csv`` (UTF-8 with BOM, for Excel) lists code, printed code, title, target, district, town,
    URL, enabled and broken, one row per code; text that would start a formula is neutralised
    (:mod:`geo.safe_cells`).
    """
    buf = io.BytesIO()
    index = io.StringIO()
    writer = csv.writer(index)
    writer.writerow(
        ["code", "printed", "title", "target_type", "target", "district", "town", "url", "enabled", "broken"]
    )
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for row in rows:
            text = poster_text(session, row)
            zf.writestr(f"{row.code}/qr.svg", qr_svg(row.code, base_url=base_url))
            zf.writestr(f"{row.code}/qr.png", qr_png(row.code, base_url=base_url))
            if posters:
                zf.writestr(f"{row.code}/poster.pdf", poster_pdf(text, base_url=base_url))
            cells = [
                row.code,
                format_code(row.code),
                row.title,
                row.target_type,
                text.subtitle,
                row.district or "",
                row.town or "",
                code_url(row.code, base_url=base_url),
                "yes" if row.enabled else "no",
                "yes" if text.broken else "no",
            ]
            writer.writerow(safe_row(cells))  # names and titles are user text: no live formulas
        zf.writestr("codes.csv", "\ufeff" + index.getvalue())
    return buf.getvalue()
