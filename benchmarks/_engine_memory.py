"""Serving memory of the engine, measured in fresh processes (used by ``benchmarks.bench_engine``).

``python -m benchmarks._engine_memory`` prints just this table (the engine benchmark, ``make bench``,
prints the same rows). Each measurement runs in a fresh interpreter that loads the cached graphs of a
network (4 modes) and its nearby() tables, answers a warm-up workload (200 nearby per mode, 50
reachable walks, 20 four-band e-bike isochrones), then reads ``/proc/self/smaps_rollup`` and
``/proc/self/smaps``:

* ``rss_mb`` — resident set; ``private_mb`` — of it, pages no other process shares (USS);
  ``pss_mb`` — proportional set size; ``anon_mb`` — anonymous (heap) memory;
* ``graph_pages_mb`` / ``table_pages_mb`` — resident pages of the mapped graph / table files;
* ``tables_mb`` — the nearby() tables' size on disk: what the page cache holds at most for them,
  shared by every worker and reclaimable.

Tables: ``read`` serves them as the engine does (rows read with ``preadv``:
:class:`isochrones.storage.StoredArray`); ``mapped`` memory-maps the same files instead (how the
engine served them before): the baseline, measured in the same run.

How much a mapped page fault brings into RSS depends on the page cache, so each pair is measured
with the engine's files in two states: ``built`` — every file freshly written, as ``skillcircle
build`` (or a worker rebuilding a table) leaves them: the kernel keeps written files in large folios
and maps a whole folio (up to ~1-2 MiB) on one fault; ``cold`` — every file dropped from the page
cache first (as after a reboot): a fault maps about 64 KiB around the page.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

MODES = ("walk", "bicycle", "ebike", "car")


def measure(name: str, n_res: int, *, tables: str, cache: str = "built") -> dict:
    """One measurement in a fresh interpreter (nothing of this process's memory counted).

    Parameters
    ----------
    name, n_res
        Cached network under ``var/bench`` and its number of resources.
    tables
        ``"read"`` (the engine) or ``"mapped"`` (the baseline).
    cache
        Page-cache state of the network's files: ``"built"`` (rewritten) or ``"cold"`` (dropped).
    """
    import benchmarks.bench_engine as b

    files = sorted((b.CACHE / name).glob("*.npz")) + sorted((b.CACHE / name / "tables").glob("*.npz"))
    for path in files:
        if cache == "built":  # same bytes, freshly written in large writes as np.savez writes them
            tmp = path.with_name(f".{path.name}.rewrite")
            with open(path, "rb") as src, open(tmp, "wb") as dst:
                while chunk := src.read(16 << 20):
                    dst.write(chunk)
            os.replace(tmp, path)
        else:
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks._engine_memory", "--one", name, str(n_res), tables],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    return {**json.loads(out.stdout.strip().splitlines()[-1]), "cache": cache}


def measure_all(networks: dict[str, int]) -> list[dict]:
    """Every network × page-cache state × table access (module docstring)."""
    return [
        measure(name, n, tables=kind, cache=cache)
        for name, n in networks.items()
        for cache in ("built", "cold")
        for kind in ("read", "mapped")
    ]


def memory_lines(results: list[dict]) -> list[str]:
    """Markdown rows of :func:`measure_all`, with each RSS as a ratio of its mapped baseline."""
    lines = [
        "| network | engine files in page cache | nearby tables | RSS serving (after warm-up) | private (USS) "
        "| PSS | anonymous | graph file pages | table file pages | interpreter + imports | RSS vs mapped tables "
        "| tables on disk (page cache, shared) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    base = {(m["net"], m["cache"]): m["rss_mb"] for m in results if m["tables"] == "mapped"}
    for m in results:
        how = "read per row (engine)" if m["tables"] == "read" else "memory-mapped (baseline)"
        state = "just written (after build)" if m["cache"] == "built" else "cold (dropped first)"
        lines.append(
            f"| {m['net']} | {state} | {how} | {m['rss_mb']:.0f} MiB | {m['private_mb']:.0f} MiB "
            f"| {m['pss_mb']:.0f} MiB | {m['anon_mb']:.0f} MiB | {m['graph_pages_mb']:.0f} MiB "
            f"| {m['table_pages_mb']:.0f} MiB | {m['before_mb']:.0f} MiB "
            f"| {m['rss_mb'] / base[m['net'], m['cache']]:.2f}× | {m['tables_mb']:.0f} MiB |"
        )
    return lines


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


def mapped_tables(eng, folder: Path) -> dict:  # CityEngine
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


def _one(argv: list[str]) -> None:
    """Measure one configuration in this (fresh) process and print it as JSON (module docstring)."""
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
        net=name,
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


def main(argv: list[str]) -> None:
    """``--one NETWORK N TABLES``: one measurement (internal); no arguments: the whole table."""
    if argv[:1] == ["--one"]:
        _one(argv[1:])
        return
    print("\n".join(memory_lines(measure_all({"helsinki": 380, "synthetic": 450}))))


if __name__ == "__main__":
    main(sys.argv[1:])
