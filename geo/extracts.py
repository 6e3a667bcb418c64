"""Large OpenStreetMap extracts: clip to a city and keep its highways, streaming, with Debian's osmium-tool.

A province or country extract (a Geofabrik ``china-latest.osm.pbf`` is over 1 GB) is never loaded into
Python. :func:`clip_to_city` runs two streaming passes of ``osmium`` (C++, installed by
``scripts/system-deps.sh``):

1. ``osmium extract --polygon <city.geojson> --strategy complete_ways`` keeps the nodes inside the city's
   districts plus a margin (:func:`geo.network_sources.city_polygon`) and every way touching them, complete;
2. ``osmium tags-filter w/highway`` keeps the highways and the nodes they reference.

Both read the input sequentially; ``osmium extract``'s memory is bounded by the ids it keeps (the
city's part), not by the input's size (measured by ``benchmarks/bench_extract.py``). Both passes
validate the file as they read it: a truncated or corrupt ``.pbf`` (or ``.osm`` XML, which osmium reads
too) fails with a clear :class:`~geo.errors.InvalidNetworkFileError`. The result is a small
``.osm.pbf`` that :func:`geo.network.read_pbf` loads (pyrosm).

``osmium`` shows its progress bar on the terminal (``progress=True``).
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from geo.errors import InvalidNetworkFileError, NetworkUnavailableError

if TYPE_CHECKING:
    from shapely.geometry.base import BaseGeometry

log = logging.getLogger(__name__)

#: Smallest share of the city's area the data's bounding box must cover (:func:`check_coverage`).
MIN_COVERAGE = 0.5


def osmium_bin() -> str:
    """Path of the ``osmium`` command (Debian ``osmium-tool``), or a clear error when it is missing."""
    found = shutil.which("osmium")
    if found is None:
        msg = "osmium-tool is not installed (Debian: apt-get install osmium-tool; see scripts/system-deps.sh)"
        raise NetworkUnavailableError(msg, message_zh="未安装 osmium-tool（Debian：apt-get install osmium-tool）")
    return found


def _run(args: list[str], *, src: Path, progress: bool) -> None:
    """Run one osmium command; a failure (corrupt input, …) becomes :class:`InvalidNetworkFileError`."""
    cmd = [osmium_bin(), *args, "--progress" if progress else "--no-progress"]
    log.info("running %s", " ".join(cmd))
    done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=None if progress else subprocess.PIPE, check=False)
    if done.returncode != 0:
        detail = (done.stderr or b"").decode("utf-8", "replace").strip().splitlines()
        reason = detail[-1] if detail else f"osmium exited with code {done.returncode}"
        msg = f"cannot read the OSM file {src}: {reason} (truncated or corrupt?)"
        raise InvalidNetworkFileError(
            msg,
            message_zh=f"无法读取 OSM 文件 {src}：{reason}（文件可能不完整或已损坏）",
            details={"file": str(src), "reason": reason},
        )


def check_coverage(
    bbox: tuple[float, float, float, float] | None, city_area: BaseGeometry, *, source: str, city_name: str
) -> float:
    """Share of ``city_area`` (WGS84 polygon) inside ``bbox``; raises when below :data:`MIN_COVERAGE`.

    An extract of another region (or one that stops at the city's edge) would leave most workers
    without roads: it is refused instead of replacing a working network.
    """
    from shapely.geometry import box

    share = 0.0 if bbox is None else float(city_area.intersection(box(*bbox)).area / city_area.area)
    if share < MIN_COVERAGE:
        msg = (
            f"{source} does not cover {city_name}: its roads span {share:.0%} of the city's area "
            f"(at least {MIN_COVERAGE:.0%} needed); is it an extract of the right region?"
        )
        raise InvalidNetworkFileError(
            msg,
            message_zh=f"{source} 未覆盖{city_name}：其道路只覆盖城市面积的 {share:.0%}（至少需要 {MIN_COVERAGE:.0%}）",
            details={"coverage": round(share, 3), "minimum": MIN_COVERAGE, "file": source},
        )
    return share


def clip_to_city(src: Path, polygon: BaseGeometry, dest: Path, *, progress: bool = True) -> dict[str, float]:
    """Clip an OSM file (``.osm.pbf`` or ``.osm``) to ``polygon`` and keep its highways, into ``dest``.

    Parameters
    ----------
    src
        The extract (any size).
    polygon
        WGS84 shapely (multi)polygon: the city's districts plus a margin.
    dest
        The ``.osm.pbf`` to write (replaced only when both passes succeed).
    progress
        Show osmium's progress bars.

    Returns
    -------
    dict
        Wall seconds of each pass (``extract``, ``filter``).

    Raises
    ------
    InvalidNetworkFileError
        The input is truncated, corrupt or not an OSM file.
    """
    from shapely.geometry import mapping

    timings: dict[str, float] = {}
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".clip-", dir=dest.parent) as tmp:
        poly_file = Path(tmp) / "city.geojson"
        poly_file.write_text(
            json.dumps({"type": "Feature", "properties": {}, "geometry": mapping(polygon)}), encoding="utf-8"
        )
        clipped = Path(tmp) / "clipped.osm.pbf"
        t0 = time.perf_counter()
        _run(
            ["extract", "-p", str(poly_file), "-s", "complete_ways", "-o", str(clipped), "--overwrite", str(src)],
            src=src,
            progress=progress,
        )
        timings["extract"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        out = Path(tmp) / "highways.osm.pbf"
        _run(["tags-filter", str(clipped), "w/highway", "-o", str(out), "--overwrite"], src=src, progress=progress)
        timings["filter"] = time.perf_counter() - t0
        out.replace(dest)
    return timings


def to_pbf(src: Path, dest: Path) -> Path:
    """Convert an OSM XML file to ``.osm.pbf`` (``osmium cat``), streaming; returns ``dest``."""
    _run(["cat", str(src), "-o", str(dest), "--overwrite"], src=src, progress=False)
    return dest
