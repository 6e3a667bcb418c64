"""The one-page summary figure of a category for planners' reports (PNG or PDF).

:func:`summary_figure` puts the gap map (minutes to the nearest resource by one mode), the share
covered per district and mode, the city-wide totals table and the notices on one A4 landscape page.
Chinese text needs a CJK font (Debian ``fonts-noto-cjk``, installed by ``scripts/system-deps.sh``);
:func:`cjk_font` finds it. The figure says when its resources are sample data or its times
straight-line estimates.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import shapely

from geo.categories import CATEGORY_BY_KEY
from geo.clock import city_today
from geo.config import get_settings
from geo.moderules import MODE_KEYS, check_mode
from planning.notices import coverage_notice
from planning.params import ALL_CATEGORIES, THRESHOLDS, check_minutes, parse_category_or_all, plain_number

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from planning.coverage import CoverageModel

log = logging.getLogger(__name__)

#: Chinese and English name of each travel mode, for the figure's labels.
MODE_LABELS: dict[str, tuple[str, str]] = {
    "walk": ("步行", "walk"),
    "bicycle": ("自行车", "bicycle"),
    "ebike": ("电动自行车", "e-bike"),
    "car": ("汽车", "car"),
}
_CJK_FILES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJKsc-Regular.otf",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
)


def category_label(category: str) -> tuple[str, str]:
    """Chinese and English label of a category key (or ``"all"``)."""
    if category == ALL_CATEGORIES:
        return "全部培训与评价资源", "all resources"
    cat = CATEGORY_BY_KEY[category]
    return cat.label_zh, cat.label_en


# ---------------------------------------------------------------------------------------------- figure
def cjk_font() -> str | None:
    """Path of a CJK font matplotlib can use (registered on first call), or ``None`` if none is installed."""
    from matplotlib import font_manager

    for path in _CJK_FILES:
        if Path(path).is_file():
            try:
                font_manager.fontManager.addfont(path)
            except (OSError, RuntimeError):
                continue
            return path
    for f in font_manager.fontManager.ttflist:
        if "CJK" in f.name or "WenQuanYi" in f.name:
            return f.fname
    return None


def _font_family() -> list[str]:
    from matplotlib import font_manager

    path = cjk_font()
    if path is None:
        log.warning("no CJK font found (install fonts-noto-cjk): Chinese text will render as boxes")
        return ["DejaVu Sans"]
    return [font_manager.FontProperties(fname=path).get_name(), "DejaVu Sans"]


_BINS = (10, 15, 20, 30)
_COLORS = ("#1a9850", "#91cf60", "#fee08b", "#fc8d59", "#d73027")


def summary_figure(model: CoverageModel, category: str, *, mode: str = "ebike", minutes: float = 30) -> Figure:
    """One A4-landscape page for ``category``: gap map (``mode``), district shares, totals, notices.

    Returns a :class:`matplotlib.figure.Figure` (no pyplot state; safe in a server thread); save it
    with ``fig.savefig(path)`` as PNG or PDF.
    """
    import matplotlib as mpl
    from matplotlib.collections import PolyCollection
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    cat = parse_category_or_all(category)
    check_mode(mode)
    limit = check_minutes(minutes)
    label_zh, label_en = category_label(cat)
    city = model.city
    with mpl.rc_context({"font.family": _font_family(), "axes.unicode_minus": False, "pdf.fonttype": 42}):
        fig = Figure(figsize=(11.69, 8.27), layout="constrained")
        grid = fig.add_gridspec(3, 2, width_ratios=[1.15, 1], height_ratios=[1.2, 1, 0.32])
        ax_map = fig.add_subplot(grid[0:2, 0])
        ax_bar = fig.add_subplot(grid[0, 1])
        ax_tab = fig.add_subplot(grid[1, 1])
        ax_note = fig.add_subplot(grid[2, :])
        title_city = f"{city.name_zh} " if city is not None else ""
        fig.suptitle(
            f"{title_city}{label_zh}：职业技能培训圈人口覆盖摘要\n"
            f"{city.name_en + ' — ' if city is not None else ''}{label_en}: population coverage summary",
            fontsize=14,
        )
        # gap map -------------------------------------------------------------------------------
        seconds = model.cell_seconds(cat, mode=mode)
        mins = seconds / 60.0
        klass = np.digitize(mins, _BINS, right=True)  # 0: ≤10 … 4: >30 or unreachable
        polys = [shapely.get_coordinates(shapely.get_exterior_ring(g)) for g in model.grid.geometry]
        coll = PolyCollection(
            polys, facecolors=[_COLORS[k] for k in klass], edgecolors="none", linewidths=0, antialiased=False
        )
        ax_map.add_collection(coll)
        if city is not None:
            from geo.boundaries import districts

            for geom in districts(city).geometry:
                for part in getattr(geom, "geoms", [geom]):
                    x, y = part.exterior.xy
                    ax_map.plot(x, y, color="#333333", linewidth=0.6)
        mask = model.resources.mask(cat)
        ax_map.scatter(model.resources.lons[mask], model.resources.lats[mask], s=6, c="black", marker="o", zorder=3)
        ax_map.autoscale_view()
        lat0 = float(np.mean(model.cell_lonlat[1])) if model.n_cells else 30.0
        ax_map.set_aspect(1.0 / math.cos(math.radians(lat0)))
        ax_map.set_xticks([])
        ax_map.set_yticks([])
        mode_zh, mode_en = MODE_LABELS[mode]
        est_zh, est_en = ("（直线估算）", " (straight-line estimate)") if model.estimate(mode) else ("", "")
        ax_map.set_title(
            f"{mode_zh}到最近{label_zh}的时间{est_zh}\nminutes by {mode_en} to the nearest{est_en}", fontsize=10
        )
        legend = [
            Patch(color=_COLORS[0], label="≤ 10 分钟 min"),
            Patch(color=_COLORS[1], label="10–15"),
            Patch(color=_COLORS[2], label="15–20"),
            Patch(color=_COLORS[3], label="20–30"),
            Patch(color=_COLORS[4], label="> 30 / 不可达 unreachable（缺口 gap）"),
        ]
        ax_map.legend(handles=legend, loc="lower left", fontsize=7, framealpha=0.85)
        # shares per district and mode ----------------------------------------------------------------
        tab = model.table(categories=[cat], modes=MODE_KEYS, thresholds=sorted({*THRESHOLDS, limit}))
        d = tab.districts[tab.districts["minutes"] == plain_number(limit)]
        names = list(dict.fromkeys(d["name"]))
        width = 0.8 / len(MODE_KEYS)
        xs = np.arange(len(names))
        for k, m in enumerate(MODE_KEYS):
            sub = d[d["mode"] == m].set_index("name").reindex(names)
            ax_bar.bar(xs + (k - 1.5) * width, 100 * sub["share"].to_numpy(float), width, label=MODE_LABELS[m][0])
        ax_bar.set_xticks(xs, names, rotation=30, ha="right", fontsize=8)
        ax_bar.set_ylim(0, 122)
        ax_bar.set_yticks([0, 20, 40, 60, 80, 100])
        ax_bar.set_ylabel("覆盖人口占比 % covered")
        ax_bar.set_title(
            f"{plain_number(limit)} 分钟内覆盖率（按区县、出行方式）/ share within {plain_number(limit)} min",
            fontsize=10,
        )
        ax_bar.legend(fontsize=7, ncols=4, loc="upper center")
        # totals table ------------------------------------------------------------------------------
        t = tab.totals
        rows = []
        for m in MODE_KEYS:
            sub = t[t["mode"] == m].set_index("minutes")
            rows.append([f"{100 * sub['share'].loc[plain_number(x)]:.1f}%" for x in THRESHOLDS])
        ax_tab.axis("off")
        table = ax_tab.table(
            cellText=rows,
            rowLabels=[f"{MODE_LABELS[m][0]} {'（估算）' if model.estimate(m) else ''}" for m in MODE_KEYS],
            colLabels=[f"{x} 分钟" for x in THRESHOLDS],
            loc="center",
            cellLoc="center",
        )
        table.scale(1, 1.6)
        total_pop = int(t["population"].iloc[0]) if len(t) else 0
        ax_tab.set_title(f"全市覆盖率 / city-wide share covered（常住人口 {total_pop:,}）", fontsize=10)
        # notices ----------------------------------------------------------------------------------
        ax_note.axis("off")
        notes = coverage_notice(model, mode=None)
        est = [MODE_LABELS[m][0] for m in MODE_KEYS if model.estimate(m)]
        lines = [f"• {n['zh']}" for n in notes.values()]
        if est:
            lines.append(f"• 估算：{'、'.join(est)}为直线距离×绕行系数估算（尚无路网），数字偏粗。")
        day = city_today(model.city if model.city is not None else get_settings().default_city)
        lines.append(f"• 生成日期 {day.isoformat()}；SkillCircle 技能圈 planning.coverage")
        ax_note.text(0, 1, "\n".join(lines), va="top", ha="left", fontsize=8, wrap=True)
    return fig


__all__ = ["MODE_LABELS", "category_label", "cjk_font", "summary_figure"]
