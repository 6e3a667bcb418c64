"""What a province's first planner answer costs: hexagons per cell or in one call, cold or warmed up.

Run::

    python -m benchmarks.bench_warmup [--rounds 2]

1. **Hexagons.** The cell polygons of every packed Zhejiang city's default grid, built one shapely
   ``Polygon`` per cell (the baseline: the code before) and in one shapely call
   (``geo.population._cell_polygons``). The two must be the same polygons; the ratio is printed.
2. **First province answer.** In a fresh process per round, the first province table
   (``/api/v1/plan/table?city=zhejiang&level=district``: 6 categories × 4 modes × 10/15/20/30 min)
   cold (the baseline: it builds every city's grid and coverage model), and after the start-up
   warm-up (``SKILLCIRCLE_WARM_UP='["zhejiang"]'``, :mod:`api.warmup`). Medians and the ratio.

An empty temporary database (migrated) and offline estimate mode: the times are the grids' and the
models', not the registry's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROVINCE = "zhejiang"
THRESHOLDS = [10, 15, 20, 30]


def _hexagons() -> None:
    import h3
    from shapely.geometry import Polygon

    from geo.population import _cell_polygons
    from geo.provinces import load_province, province_cities
    from planning.grid import city_grid

    cells: list[str] = []
    for city in province_cities(load_province(PROVINCE)).loaded:
        cells.extend(city_grid(city)["h3"].tolist())
    t0 = time.perf_counter()
    reference = [Polygon([(lng, lat) for lat, lng in h3.cell_to_boundary(c)]) for c in cells]
    t1 = time.perf_counter()
    built = _cell_polygons(cells)
    t2 = time.perf_counter()
    assert [b.wkb for b in built] == [r.wkb for r in reference]
    base, new = t1 - t0, t2 - t1
    print(f"hexagons: {len(cells):,} cells; per cell (baseline) {base:.2f} s, one call {new:.2f} s", end="")
    print(f"; ratio {new / base:.2f}")


def _child(kind: str) -> None:
    """One fresh process: (warm-up seconds, first province table seconds) as JSON."""
    from api.services.province import province_table_answer
    from api.warmup import WarmUp
    from geo.db import session_scope
    from geo.moderules import MODE_KEYS
    from geo.provinces import load_province

    warm_s = 0.0
    if kind == "warm":
        t0 = time.perf_counter()
        warm = WarmUp([PROVINCE])
        warm.start()
        warm.join()
        assert warm.status["status"] == "done", warm.status
        warm_s = time.perf_counter() - t0
    with session_scope() as db:
        t0 = time.perf_counter()
        answer = province_table_answer(
            db, load_province(PROVINCE), categories=None, modes=list(MODE_KEYS), thresholds=THRESHOLDS, level="district"
        )
        first_s = time.perf_counter() - t0
    print(json.dumps({"warm_s": warm_s, "first_s": first_s, "rows": len(answer["rows"])}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=2, help="fresh processes per case")
    parser.add_argument("--child", choices=["cold", "warm"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child)
        return
    var = Path(tempfile.mkdtemp(prefix="skillcircle-bench-warmup-"))
    env = os.environ | {
        "SKILLCIRCLE_VAR_DIR": str(var),
        "DATABASE_URL": f"sqlite:///{var / 'bench.db'}",
        "SKILLCIRCLE_OFFLINE": "true",
    }
    os.environ.update(env)
    from geo.db import upgrade

    upgrade()
    _hexagons()
    runs: dict[str, list[dict]] = {"cold": [], "warm": []}
    for _ in range(args.rounds):
        for kind in runs:
            out = subprocess.run(
                [sys.executable, "-m", "benchmarks.bench_warmup", "--child", kind],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            runs[kind].append(json.loads(out.stdout.strip().splitlines()[-1]))
    cold = statistics.median(r["first_s"] for r in runs["cold"])
    warm = statistics.median(r["first_s"] for r in runs["warm"])
    warm_up = statistics.median(r["warm_s"] for r in runs["warm"])
    rows = {r["rows"] for rs in runs.values() for r in rs}
    print(
        f"first province table ({rows.pop()} rows), median of {args.rounds} fresh processes: cold (baseline) "
        f"{cold:.1f} s; after the warm-up ({warm_up:.1f} s at start-up) {warm:.1f} s; ratio {warm / cold:.2f}"
    )


if __name__ == "__main__":
    main()
