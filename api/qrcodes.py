"""QR images, print-ready A4 posters and zip exports of 技能码 (skill codes).

* QR codes are made with segno, error correction level Q (25 % of the symbol can be lost — posters get
  dirty, torn and taped over), encoding ``{settings.base_url}/s/{code}``.
* The poster is an A4 page at 300 dpi (2480 × 3508 px) drawn with Pillow: the title, what the code
  points to, the QR code, a short Chinese instruction, the code in print (for typing) and the URL. It
  is saved as PNG or as a one-page PDF of the same image. Chinese text needs a CJK font installed on the
  machine (Debian's ``fonts-noto-cjk``); without one :func:`find_cjk_font` fails with a clear error
  instead of printing empty boxes.
* :func:`export_zip` bundles every code of a district: SVG + PNG + PDF poster per code and a CSV index.
"""

from __future__ import annotations

import csv
import functools
import io
import logging
import shutil
import subprocess
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import segno
from PIL import Image, ImageDraw, ImageFont
from sqlalchemy import select
from sqlalchemy.orm import Session

from geo.cities import load_city
from geo.config import get_settings
from geo.errors import SkillCircleError
from geo.models import Resource, SkillCode
from geo.safe_cells import safe_row
from geo.skillcodes import TARGET_LABELS_ZH, code_health, format_code

log = logging.getLogger(__name__)

ERROR_LEVEL = "q"
DPI = 300
A4_PX = (2480, 3508)  # 210 × 297 mm at 300 dpi
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
            family = ImageFont.truetype(str(path), 12, index=i).getname()[0]
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
    )


def _wrap(draw: ImageDraw.ImageDraw, text: str, font: ImageFont.FreeTypeFont, width: int, max_lines: int) -> list[str]:
    """Greedy character wrap (Chinese has no spaces); the last line is ellipsised if text remains."""
    lines: list[str] = []
    line = ""
    for ch in text:
        if draw.textlength(line + ch, font=font) > width and line:
            lines.append(line)
            line = ch.lstrip()
        else:
            line += ch
    if line:
        lines.append(line)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        last = lines[-1]
        while last and draw.textlength(last + "…", font=font) > width:
            last = last[:-1]
        lines[-1] = last + "…"
    return lines


def _centered(draw: ImageDraw.ImageDraw, y: int, text: str, font: ImageFont.FreeTypeFont, fill: tuple) -> int:
    """Draw ``text`` centred at ``y`` (top); return the y below it."""
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    draw.text(((A4_PX[0] - (right - left)) // 2 - left, y - top), text, font=font, fill=fill)
    return y + (bottom - top)


def _qr_image(code: str, size: int, *, base_url: str | None) -> Image.Image:
    """The QR matrix (with a 4-module quiet zone) scaled by whole pixels to at most ``size``."""
    matrix = np.asarray(make_qr(code, base_url=base_url).matrix, dtype=bool)
    matrix = np.pad(matrix, 4, constant_values=False)
    scale = max(1, size // matrix.shape[0])
    pixels = np.where(np.kron(matrix, np.ones((scale, scale), dtype=bool)), 0, 255).astype(np.uint8)
    return Image.fromarray(pixels, mode="L")


def poster_image(text: PosterText, *, base_url: str | None = None) -> Image.Image:
    """Draw the A4 poster (RGB, 2480 × 3508 px = 210 × 297 mm at 300 dpi)."""
    regular, bold = _fonts()
    img = Image.new("RGB", A4_PX, "white")
    draw = ImageDraw.Draw(img)
    width, margin = A4_PX[0], 170
    draw.rectangle([0, 0, width, 400], fill=_GREEN)
    y = _centered(draw, 95, "技能码", bold.at(150), (255, 255, 255))
    _centered(draw, y + 45, f"{text.city_name} · 30分钟职业技能培训圈", regular.at(68), (255, 255, 255))
    y = 520
    title_font = bold.at(124)
    for line in _wrap(draw, text.title, title_font, width - 2 * margin, 2):
        y = _centered(draw, y, line, title_font, _INK) + 40
    sub_font = regular.at(66)
    for line in _wrap(draw, text.subtitle, sub_font, width - 2 * margin, 2):
        y = _centered(draw, y + 10, line, sub_font, _GREY) + 20
    qr = _qr_image(text.code, 1500, base_url=base_url)
    qr_top = max(y + 60, 900)
    img.paste(qr, ((width - qr.width) // 2, qr_top))
    y = qr_top + qr.height + 60
    y = _centered(draw, y, INSTRUCTION_ZH, bold.at(104), _INK) + 50
    y = _centered(draw, y, FEATURES_ZH, regular.at(62), _GREY) + 90
    y = _centered(draw, y, f"技能码  {format_code(text.code)}", bold.at(112), _GREEN) + 40
    y = _centered(draw, y, code_url(text.code, base_url=base_url), regular.at(52), _GREY) + 40
    if text.sample:
        y = _centered(draw, y + 20, SAMPLE_POSTER_ZH, bold.at(62), _RED) + 20
    if text.broken:
        _centered(draw, y + 20, "注意：本码的目标已失效，请联系管理员重新绑定", bold.at(62), _RED)
    draw.line([margin, A4_PX[1] - 190, width - margin, A4_PX[1] - 190], fill=(200, 200, 200), width=4)
    _centered(draw, A4_PX[1] - 150, f"SkillCircle 技能圈 · 打印日期 {date.today().isoformat()}", regular.at(48), _GREY)
    return img


def poster_png(text: PosterText, *, base_url: str | None = None) -> bytes:
    """The poster as a 300-dpi PNG."""
    buf = io.BytesIO()
    poster_image(text, base_url=base_url).save(buf, format="PNG", dpi=(DPI, DPI), optimize=True)
    return buf.getvalue()


def poster_pdf(text: PosterText, *, base_url: str | None = None) -> bytes:
    """The poster as a one-page A4 PDF (the 300-dpi image on a 210 × 297 mm page)."""
    buf = io.BytesIO()
    poster_image(text, base_url=base_url).save(buf, format="PDF", resolution=float(DPI), title=text.title)
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
