"""The notices every coverage answer carries, in Chinese and English: sample resources, straight-line
estimates, and what the population figures are (census totals on a modelled surface, or illustrative)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from geo.population import surface_of

if TYPE_CHECKING:
    from geo.cities import CityPack
    from planning.times import CellTimes


def _census_population(city: CityPack | None) -> bool:
    """True when the city's district populations are census figures (their sources say so)."""
    if city is None:
        return False
    from geo.boundaries import districts

    sources = " ".join(map(str, districts(city)["population_source"]))
    return "人口普查" in sources or "census" in sources.lower().replace("not census", "")


def coverage_notice(model: CellTimes, *, mode: str | None = None) -> dict[str, dict[str, str]]:
    """The notices every coverage answer carries: sample data, straight-line estimate, modelled population."""
    notice: dict[str, dict[str, str]] = {}
    if model.resources.any_sample:
        notice["sample"] = {
            "zh": "示例数据：本页机构为样例，不是真实机构。",
            "en": "Sample data: the resources are a labelled sample, not real institutions.",
        }
    if mode is not None and model.estimate(mode):
        notice["estimate"] = {
            "zh": "估算：该出行方式尚无路网，通行时间按直线距离乘以绕行系数估算。",
            "en": "Estimate: no road network for this mode yet; times are straight-line distance × a detour factor.",
        }
    res = model.resolution
    surface = surface_of(model.grid)
    if _census_population(model.city):
        notice["population"] = {
            "zh": (
                f"人口：各区县第七次全国人口普查（2020）常住人口分配到 H3 网格（分辨率 {res}），水域网格无人口；"
                f"{surface['zh']}；乡镇/街道范围为近似（乡镇驻地点的泰森多边形）。"
            ),
            "en": (
                f"Population: each district's 2020 census total spread over an H3 grid (resolution {res}); cells in "
                f"water hold nobody. {surface['en']}; town areas are approximate (Voronoi cells of town seats)."
            ),
        }
    else:
        notice["population"] = {
            "zh": (
                f"人口为示意数字（非普查），分配到 H3 网格（分辨率 {res}）；{surface['zh']}；"
                "分区为演示用，不是真实行政区。"
            ),
            "en": (
                f"Population figures are illustrative (not a census), spread over an H3 grid (resolution {res}); "
                f"{surface['en']}; zones are for demonstration, not real administrative areas."
            ),
        }
    return notice


__all__ = ["coverage_notice"]
