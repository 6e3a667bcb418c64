"""Serving memory of the engine, measured in a fresh process (used by ``benchmarks.bench_engine``).

Run as ``python -m benchmarks._engine_memory NETWORK N_RESOURCES {read,mapped}``; prints one JSON
line. The process loads the cached graphs of ``NETWORK`` (4 modes) and its nearby() tables, answers
a warm-up workload (200 nearby per mode, 50 reachable walks, 20 four-band e-bike isochrones), then
reads ``/proc/self/smaps_rollup`` and ``/proc/self/smaps``:

* ``rss_mb`` — resident set; ``private_mb`` — of it, pages no other process shares (USS);
  ``pss_mb`` — proportional set size; ``anon_mb`` — anonymous (heap) memory;
* ``graph_pages_mb`` / ``table_pages_mb`` — resident pages of the mapped graph / table files;
* ``tables_mb`` — the nearby() tables' size on disk: what the page cache holds at most for them,
  shared by every worker and reclaimable.

``read`` serves the tables as the engine does (rows read with ``preadv``:
:class:`isochrones.storage.StoredArray`); ``mapped`` memory-maps the same table files instead (how
the engine served them before), the baseline measured in the same run.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

MODES = ("walk", "bicycle", "ebike", "car")


def measure(name: str, n_res: int, *, tables: str) -> dict:
    """Run the measurement in a fresh interpreter (nothing of this process's memory counted)."""
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks._engine_memory", name, str(n_res), tables],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _rollup() -> dict[str, float]:
    out: dict[str, float] = {}
    with open("/proc/self/smaps_rollup", encoding="ascii") as handle:
        for line in handle:
            parts = line.split()
            if len(parts) >= 3 and parts[-1] == "kB":
                out[parts[0].rstrip(":")] = int(parts[1]) / 1024
    with open("/proc/self/status", encoding="ascii") as handle:
        out["hwm"] = next(int(line.split()[1]) / 1024 for line in handle if line.startswith("VmHWM"))
    return out


def _mapped_rss(folder: Path) -> tuple[float, float]:
    """Resident MiB of mappings of graph files and of table files under ``folder``."""
    graphs = tables = 0.0
    current = ""
    with open("/proc/self/smaps", encoding="utf-8", errors="replace") as handle:
        for line in handle:
            head = line.split()
            if head and "-" in head[0] and len(head) >= 5 and ":" not in head[0]:
                current = head[5] if len(head) > 5 else ""
            elif head and head[0] == "Rss:" and current.startswith(str(folder)):
                kib = int(head[1]) / 1024
                if "/tables/" in current:
                    tables += kib
                else:
                    graphs += kib
    return graphs, tables


def mapped_tables(eng, folder: Path) -> dict:  # noqa: ANN001 - CityEngine
    """The engine's nearby() tables as memory-mapped views of their cache files (the baseline)."""
    from isochrones.densetable import DenseTable
    from isochrones.storage import load_npz
    from isochrones.travel import ResourceTable

    out: dict[str, DenseTable | ResourceTable] = {}
    for mode, table in eng._res.tables.items():
        (path,) = sorted((folder / "tables").glob(f"{mode}-*.npz"))
        data = load_npz(path, mmap=True)
        if isinstance(table, DenseTable):
            out[mode] = DenseTable(deci=data["deci"], dist10=data.get("dist10"))
        else:
            out[mode] = ResourceTable(
                limit_s=float(data["limit_s"]),
                indptr=data["indptr"],
                cols=data["cols"],
                deci=data["deci"],
                dist10=data.get("dist10"),
            )
    return out


def main(argv: list[str]) -> None:
    """Measure one configuration and print it as JSON (module docstring)."""
    name, n_res, tables = argv[0], int(argv[1]), argv[2]
    import benchmarks.bench_engine as b
    from isochrones.engine import CityEngine
    from isochrones.graph import load_graph

    folder = b.CACHE / name
    before = _rollup()["Rss"]
    t0 = time.perf_counter()
    graphs = {m: load_graph(folder / f"{m}.npz") for m in MODES}
    eng = CityEngine(graphs, speeds_mps=b.SPEEDS_MPS, max_snap_m=500.0, cache_dir=folder / "tables")
    t_load = time.perf_counter() - t0
    ids, lons, lats = b._resources(graphs["walk"], n_res, seed=42)
    eng.set_resources(ids, lons, lats)
    if tables == "mapped":
        eng._res.tables.update(mapped_tables(eng, folder))
    loaded = _rollup()["Rss"]
    central = 0.5 if graphs["walk"].n_nodes > 100_000 else 1.0
    origins = b._origins(graphs["walk"], 200, seed=7, central=central)
    for mode in MODES:
        for lo, la in origins:
            eng.nearby(lo, la, mode=mode, minutes=30)
    for lo, la in origins[:50]:
        eng.reachable(lo, la, mode="walk", minutes=30)
    for lo, la in origins[:20]:
        eng.isochrone(lo, la, mode="ebike", minutes=b.BANDS)
    after = _rollup()
    graph_pages, table_pages = _mapped_rss(folder.resolve())
    result = dict(
        tables=tables,
        before_mb=before,
        loaded_mb=loaded,
        rss_mb=after["Rss"],
        private_mb=after.get("Private_Clean", 0) + after.get("Private_Dirty", 0),
        pss_mb=after.get("Pss", 0),
        anon_mb=after.get("Anonymous", 0),
        hwm_mb=after["hwm"],
        graph_pages_mb=graph_pages,
        table_pages_mb=table_pages,
        load_s=t_load,
        tables_mb=sum(t.nbytes for t in eng._res.tables.values()) / 2**20,
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
