"""Valhalla for the side-by-side benchmark: its Python 3.12 venv, a network as ``.osm.pbf``, its tiles.

pyvalhalla 3.9 ships wheels for Python 3.12 only (cp312-abi3) while SkillCircle runs on 3.11, so the
benchmark makes its own virtualenv with a Python 3.12 interpreter (``$VALHALLA_PYTHON``, pyenv's
3.12.x, or ``python3.12`` on PATH) and installs ``pyvalhalla`` from PyPI into it. Every step that
cannot be done here returns ``None`` after logging why, so the benchmark skips instead of failing.

The synthetic city (:func:`benchmarks._synthetic.synthetic_network`) is written as a ``.osm.pbf``
(OPL text → Debian's ``osmium cat``) so that Valhalla builds its tiles from it and SkillCircle reads
the very same file through its own ``.pbf`` reader (:func:`geo.network.read_pbf`).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from geo.network import RoadNetwork

log = logging.getLogger(__name__)

PYVALHALLA = "pyvalhalla==3.9.1"

#: ``valhalla_build_tiles`` stages, in order (``valhalla_build_tiles --help``); run one by one for progress.
TILE_STAGES = (
    "initialize",
    "parseways",
    "parserelations",
    "parseareaways",
    "parsenodes",
    "buildareas",
    "constructedges",
    "build",
    "enhance",
    "filter",
    "transit",
    "bss",
    "hierarchy",
    "shortcuts",
    "restrictions",
    "elevation",
    "validate",
    "cleanup",
)


def _python312() -> str | None:
    """A working Python 3.12: ``$VALHALLA_PYTHON``, pyenv's installed 3.12.x, or ``python3.12`` on PATH.

    pyenv's ``python3.12`` shim fails unless a 3.12 version is selected, so every candidate is tried.
    """
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    pyenv = sorted(root.glob("versions/3.12*/bin/python3.12"))
    for cand in (os.environ.get("VALHALLA_PYTHON"), *map(str, pyenv), shutil.which("python3.12")):
        if cand and subprocess.run([cand, "--version"], capture_output=True).returncode == 0:
            return cand
    return None


def valhalla_venv(folder: Path) -> Path | None:
    """The Python 3.12 venv at ``folder`` with pyvalhalla, made on first use; ``None`` (logged) if impossible.

    Parameters
    ----------
    folder
        Where the venv lives (created if missing).
    """
    py = folder / "bin" / "python"
    if py.is_file() and subprocess.run([str(py), "-c", "import valhalla"], capture_output=True).returncode == 0:
        return folder
    base = _python312()
    if base is None:
        log.warning("no Python 3.12 (pyvalhalla 3.9 has cp312 wheels only); set VALHALLA_PYTHON")
        return None
    for cmd in ([base, "-m", "venv", str(folder)], [str(py), "-m", "pip", "install", "-q", PYVALHALLA]):
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            log.warning("%s failed: %s", " ".join(cmd), done.stderr.strip()[-500:])
            return None
    return folder


def _valhalla_bin(venv: Path, name: str) -> Path:
    """A Valhalla executable inside the wheel (the venv's ``bin/`` wrappers need the venv on PATH)."""
    found = sorted(venv.glob(f"lib/python3.12/site-packages/valhalla/bin/{name}"))
    return found[0] if found else venv / "bin" / name


def write_pbf(net: RoadNetwork, path: Path) -> Path:
    """Write ``net`` as an ``.osm.pbf``: one node per network node, one way per segment with its tags.

    Node ids are the network's ids + 1 (OSM ids start at 1). Ways carry ``highway``, and ``maxspeed``
    and ``oneway`` where the segment has them. Trunk roads also get ``foot=no`` and ``bicycle=no``:
    SkillCircle's mode rules keep walkers and riders off trunks by default (:mod:`geo.moderules`),
    Valhalla's defaults do not, and the explicit tags make both engines route on the same network.
    Written as OPL text and converted by ``osmium cat`` (streaming).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    seg = net.segments
    osm_id = net.node_id.astype(np.int64) + 1
    opl = path.with_name(path.name + ".opl")
    with open(opl, "w", encoding="ascii") as out:
        out.writelines(
            f"n{i} v1 x{x:.7f} y{y:.7f}\n" for i, x, y in zip(osm_id.tolist(), net.lon, net.lat, strict=True)
        )
        rows = zip(seg["u"], seg["v"], seg["highway"], seg["maxspeed"], seg["oneway"], strict=True)
        for k, (u, v, hw, ms, ow) in enumerate(rows, start=1):
            tags = [f"highway={hw}"]
            if ms:
                tags.append(f"maxspeed={ms}")
            if ow:
                tags.append(f"oneway={ow}")
            if hw == "trunk":
                tags += ["foot=no", "bicycle=no"]
            out.write(f"w{k} v1 T{','.join(tags)} Nn{osm_id[u]},n{osm_id[v]}\n")
    subprocess.run(["osmium", "cat", str(opl), "-o", str(path), "--overwrite"], check=True, capture_output=True)
    opl.unlink()
    return path


def _one_to_many(cfg: Path) -> None:
    """Make Valhalla answer every matrix with its one-to-many ``TimeDistanceMatrix`` (one expansion).

    Its default (``select_optimal``) uses it for pedestrian and bicycle one-to-many requests but runs
    ``CostMatrix`` (one bidirectional search per location) for ``auto``: a 1 × 450 car matrix on the
    synthetic city took 74 s in a trial run, against well under a second this way.
    """
    conf = json.loads(cfg.read_text(encoding="utf-8"))
    if conf["thor"].get("source_to_target_algorithm") != "timedistancematrix":
        conf["thor"]["source_to_target_algorithm"] = "timedistancematrix"
        cfg.write_text(json.dumps(conf, indent=2), encoding="utf-8")


def build_tiles(venv: Path, pbf: Path, folder: Path, *, threads: int = 2) -> tuple[Path, float]:
    """Build Valhalla's routing tiles for ``pbf`` in ``folder`` (reused when present); returns (config, seconds).

    Runs ``valhalla_build_tiles`` stage by stage under a tqdm bar, without admin or time-zone databases
    (so country-specific access defaults do not apply: Valhalla's generic defaults are used).

    Parameters
    ----------
    threads
        Valhalla's build concurrency (the machine is shared).
    """
    cfg = folder / "valhalla.json"
    done_mark = folder / "tiles.done"
    if cfg.is_file() and done_mark.is_file() and done_mark.read_text() == str(pbf.stat().st_mtime_ns):
        _one_to_many(cfg)
        return cfg, 0.0
    shutil.rmtree(folder / "tiles", ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    conf = subprocess.run(
        [
            str(venv / "bin" / "valhalla_build_config"),
            "--mjolnir-tile-dir",
            str(folder / "tiles"),
            "--mjolnir-timezone",
            "",
            "--mjolnir-admin",
            "",
            "--mjolnir-concurrency",
            str(threads),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    cfg.write_text(conf.stdout, encoding="utf-8")
    _one_to_many(cfg)
    exe = _valhalla_bin(venv, "valhalla_build_tiles")
    t0 = time.perf_counter()
    with open(folder / "build.log", "w", encoding="utf-8") as logf:
        for stage in tqdm(TILE_STAGES, desc="Valhalla tiles", unit="stage"):
            subprocess.run(
                [str(exe), "-c", str(cfg), "-s", stage, "-e", stage, "-j", str(threads), str(pbf)],
                stdout=logf,
                stderr=subprocess.STDOUT,
                check=True,
            )
    seconds = time.perf_counter() - t0
    done_mark.write_text(str(pbf.stat().st_mtime_ns))
    return cfg, seconds
