"""Large-extract import: peak memory and time of ``skillcircle network import jiaxing BIG.osm.pbf``.

Run::

    python -m benchmarks.bench_extract               # 2,300 × 2,300 grid: 5.29 million nodes
    python -m benchmarks.bench_extract --side 3200   # 10.2 million nodes

The benchmark writes its own "province extract": a road grid (80 m blocks, residential streets with
primary arterials every 10th line) of ``side × side`` nodes centred on Jiaxing, covering far more than
the city (184 km a side for 2,300), as OPL text converted to ``.osm.pbf`` by ``osmium cat``. It is
synthetic (roads only, no buildings or land use): a real China extract also carries non-road ways,
which the clip and the highway filter drop in the same streaming passes. Then it runs the real CLI in
a child process and reports its wall time and the peak resident memory of the import and of the
osmium processes it starts (``getrusage(RUSAGE_CHILDREN).ru_maxrss``: the largest of them). The
baseline, in the same run, is what the import did before: reading the whole extract with pyrosm
(run only while the input is small enough not to exhaust memory: ``--baseline-max-nodes``).
Results go to ``benchmarks/RESULTS-extract.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent / "RESULTS-extract.md"
CENTER_X, CENTER_Y = 283_000.0, 3_404_000.0  # Jiaxing's centre in UTM 51N (EPSG:32651)
WAY_NODES = 100  # nodes per way (OSM allows up to 2,000)


def write_extract(path: Path, *, side: int, spacing_m: float = 80.0) -> int:
    """Write a ``side × side`` road grid as ``.osm.pbf`` (via OPL and ``osmium cat``); returns its node count."""
    from isochrones.graph import unproject

    iy, ix = np.divmod(np.arange(side * side, dtype=np.int64), side)
    lon, lat = unproject((ix - side / 2) * spacing_m + CENTER_X, (iy - side / 2) * spacing_m + CENTER_Y, "EPSG:32651")
    opl = path.with_suffix(".opl")
    with open(opl, "w", encoding="ascii") as out:
        for start in range(0, side * side, 500_000):
            ids = np.arange(start, min(start + 500_000, side * side)) + 1
            out.writelines(
                f"n{i} v1 x{x:.7f} y{y:.7f}\n" for i, x, y in zip(ids.tolist(), lon[ids - 1], lat[ids - 1], strict=True)
            )
        way = 1
        grid = np.arange(side * side, dtype=np.int64).reshape(side, side) + 1
        for lines in (grid, grid.T):  # rows, then columns
            for k, line in enumerate(lines):
                tag = "primary" if k % 10 == 0 else "residential"
                for a in range(0, side - 1, WAY_NODES - 1):
                    refs = ",".join(f"n{n}" for n in line[a : a + WAY_NODES].tolist())
                    out.write(f"w{way} v1 Thighway={tag} N{refs}\n")
                    way += 1
    subprocess.run(["osmium", "cat", str(opl), "-o", str(path), "--overwrite"], check=True)
    opl.unlink()
    return side * side


def _measure(code: str, env: dict[str, str]) -> dict:
    """Run ``code`` in a child Python; it prints a JSON line. Adds the tree's peak RSS (MiB) and wall time."""
    wrapper = (
        "import json, resource, subprocess, sys, time\n"
        "t0 = time.perf_counter()\n"
        "done = subprocess.run([sys.executable, '-c', sys.argv[1]], capture_output=True, text=True)\n"
        "wall = time.perf_counter() - t0\n"
        "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024\n"
        "print(json.dumps(dict(rc=done.returncode, wall_s=wall, peak_mib=peak, out=done.stdout[-2000:],"
        " err=done.stderr[-2000:])))\n"
    )
    res = subprocess.run([sys.executable, "-c", wrapper, code], capture_output=True, text=True, env=env, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    """Write the extract, import it through the CLI, measure, and write ``RESULTS-extract.md``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--side", type=int, default=2300, help="grid nodes per side (2300 → 5.29 M nodes)")
    parser.add_argument("--baseline-max-nodes", type=int, default=1_500_000, help="skip the pyrosm baseline above")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-extract-") as tmp:
        folder = Path(tmp)
        big = folder / "province.osm.pbf"
        t0 = time.perf_counter()
        n_nodes = write_extract(big, side=args.side)
        t_write = time.perf_counter() - t0
        size_mb = big.stat().st_size / 2**20
        print(f"wrote {big.name}: {n_nodes:,} nodes, {size_mb:.0f} MiB in {t_write:.0f} s", flush=True)
        env = {**os.environ, "SKILLCIRCLE_VAR_DIR": str(folder / "var"), "SKILLCIRCLE_OFFLINE": "true"}
        code = (
            "import json, time\n"
            "from typer.testing import CliRunner\n"
            "from api.cli.network import app\n"
            "from geo.cities import load_city\n"
            "from geo.network_sources import load_network\n"
            "t0 = time.perf_counter()\n"
            f"res = CliRunner().invoke(app, ['import', 'jiaxing', {str(big)!r}])\n"
            "t_import = time.perf_counter() - t0\n"
            "assert res.exit_code == 0, res.output\n"
            "net = load_network(load_city('jiaxing'))\n"
            "print(json.dumps(dict(import_s=t_import, nodes=net.n_nodes, segments=len(net.segments))))\n"
        )
        ours = _measure(code, env)
        if ours["rc"] != 0:
            print(ours["err"], file=sys.stderr)
            raise SystemExit(1)
        got = json.loads(ours["out"].strip().splitlines()[-1])
        print(f"import: {got['import_s']:.1f} s, peak RSS {ours['peak_mib']:.0f} MiB, kept {got['nodes']:,} nodes")
        base = None
        if n_nodes <= args.baseline_max_nodes:
            base = _measure(
                f"from geo.network import read_pbf\nnet = read_pbf({str(big)!r})\nprint(net.n_nodes)\n", env
            )
    rows = [
        "| step | wall time | peak RSS (process tree) | nodes |",
        "|---|---|---|---|",
        f"| write the synthetic extract (OPL → `osmium cat`) | {t_write:.0f} s | – "
        f"| {n_nodes:,} ({size_mb:.0f} MiB .pbf) |",
        f"| `skillcircle network import jiaxing` (clip + highway filter + read + coverage check) "
        f"| {got['import_s']:.1f} s | {ours['peak_mib']:.0f} MiB "
        f"| {got['nodes']:,} kept, {got['segments']:,} segments |",
    ]
    if base is not None and base["rc"] == 0:
        rows.append(
            f"| baseline: read the whole extract with pyrosm | {base['wall_s']:.1f} s | {base['peak_mib']:.0f} MiB | |"
        )
    else:
        rows.append(
            f"| baseline: read the whole extract with pyrosm | not run above {args.baseline_max_nodes:,} nodes "
            "(it holds every node in memory) | | |"
        )
    load_after = os.getloadavg()
    text = (
        "# Large-extract import benchmark\n\n"
        f"Command: `python -m benchmarks.bench_extract --side {args.side}` — {time.strftime('%Y-%m-%d %H:%M')}, "
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs, load average {load_before[0]:.2f} → "
        f"{load_after[0]:.2f}. Goal: peak RSS ≤ 2 GiB whatever the input size.\n\n" + "\n".join(rows) + "\n"
    )
    OUT.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
