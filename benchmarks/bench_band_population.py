"""What ``total_pop`` per isochrone band costs, next to the isochrone itself.

Run::

    python -m benchmarks.bench_band_population

For 20 request points spread over Jiaxing's urban and rural land, the 10/20/30-minute e-bike isochrone
of the city's engine (estimate mode offline: the baseline) and then the population inside each band
(:func:`geo.population_inside.population_inside`, area-weighted over the H3 resolution-8 model
surface, 7,058 land cells) are timed in the same run; the ratio says what the population adds to
an ``/isochrones`` answer. A brute-force reference (exact shapely intersection with every cell) is
checked to agree within one person per band.
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import shapely
from shapely.geometry import shape


def main() -> None:
    from geo.cities import load_city
    from geo.land import on_land
    from geo.population_inside import population_inside
    from isochrones.engine import CityEngine
    from planning.grid import city_grid

    city = load_city("jiaxing")
    grid = city_grid(city)
    engine = CityEngine.load(city)
    rng = np.random.default_rng(7)
    pts = []
    while len(pts) < 20:
        x, y = rng.uniform(120.4, 121.2), rng.uniform(30.4, 30.95)
        if on_land([x], [y], city)[0]:
            pts.append((x, y))
    t0 = time.perf_counter()
    population_inside(grid, [shapely.Point(120.759, 30.754).buffer(0.01)])  # builds the per-grid index once
    print(f"per-grid index (once per process): {(time.perf_counter() - t0) * 1e3:.0f} ms")
    iso_ms, pop_ms = [], []
    cells, pops = grid.geometry.to_numpy(), grid["population"].to_numpy(float)
    for x, y in pts:
        t0 = time.perf_counter()
        fc = engine.isochrone(x, y, mode="ebike", minutes=(10, 20, 30), direction="from")
        t1 = time.perf_counter()
        bands = [shape(f["geometry"]) for f in fc["features"]]
        got = population_inside(grid, bands)
        t2 = time.perf_counter()
        iso_ms.append((t1 - t0) * 1e3)
        pop_ms.append((t2 - t1) * 1e3)
        for band, value in zip(bands, got, strict=True):
            ref = float(np.sum(pops * shapely.area(shapely.intersection(cells, band)) / shapely.area(cells)))
            assert abs(ref - value) <= 1.0, (ref, value)
    iso, pop = statistics.median(iso_ms), statistics.median(pop_ms)
    print(f"isochrone (baseline) median {iso:.1f} ms; total_pop for 3 bands median {pop:.1f} ms; ratio {pop / iso:.2f}")


if __name__ == "__main__":
    main()
