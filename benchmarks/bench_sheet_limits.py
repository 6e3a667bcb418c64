"""How fast, and in how little memory, a zip-bomb XLSX is refused, against reading an honest sheet.

Writes the issue's bomb (a ~0.1 MB XLSX whose one sheet is 76 MB of identical cells) and an honest
1,000-row resources XLSX, then reads each with :func:`geo.sheets.read_sheet` in a fresh Python process
(so its peak resident memory, VmHWM, is its own), ``--repeat`` times. It prints the median time and
peak memory of each, and the bomb's time as a ratio of the honest sheet's (the baseline measured in
the same run). The limits are the default settings.

Run: ``python -m benchmarks.bench_sheet_limits [--repeat 5]``
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEADER = ["external_id", "name", "category", "lon", "lat", "is_sample"]

_READ = """
import json, sys, time
from pathlib import Path
t0 = time.perf_counter()
from geo.errors import SkillCircleError
from geo.sheets import read_sheet
t1 = time.perf_counter()
try:
    rows = read_sheet(Path(sys.argv[1]), kind="resources")
    out = {"status": 200, "rows": len(rows)}
except SkillCircleError as exc:
    out = {"status": exc.status, "code": exc.code}
out["seconds"] = time.perf_counter() - t1
hwm = [ln for ln in open("/proc/self/status") if ln.startswith("VmHWM")][0]
out["peak_mb"] = int(hwm.split()[1]) / 1024
print(json.dumps(out))
"""


def honest_xlsx(path: Path, *, rows: int = 1000) -> Path:
    """A resources sheet of ``rows`` labelled sample rows (openpyxl, as a clerk's Excel would save)."""
    from openpyxl import Workbook

    book = Workbook()
    ws = book.active
    ws.title = "资源"
    ws.append(HEADER)
    for i in range(rows):
        ws.append([f"B-{i}", f"【示例】培训点 {i}", "职业培训机构", 120.75 + i * 1e-5, 30.75, "是"])
    book.save(path)
    return path


def write_bomb(path: Path, *, unzipped_mb: int = 76) -> Path:
    """A valid XLSX whose only sheet is ``unzipped_mb`` MB of identical cells (about 0.1 MB zipped)."""
    from openpyxl import Workbook

    buf = io.BytesIO()
    book = Workbook()
    book.active.title = "资源"
    book.active.append(HEADER)
    book.save(buf)
    base = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    row = ("<row>" + '<c t="n"><v>0</v></c>' * 40 + "</row>").encode()
    chunk = row * (1024 * 1024 // len(row))
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as out:
        for info in base.infolist():
            if info.filename != "xl/worksheets/sheet1.xml":
                out.writestr(info, base.read(info.filename))
                continue
            with out.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as fh:
                fh.write(b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>')
                for _ in range(unzipped_mb):
                    fh.write(chunk)
                fh.write(b"</sheetData></worksheet>")
    return path


def read_in_fresh_process(path: Path, *, timeout: float = 120) -> dict:
    """``read_sheet(path)`` in a new interpreter: its outcome, seconds and peak resident memory."""
    done = subprocess.run(
        [sys.executable, "-c", _READ, str(path)], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        honest = honest_xlsx(Path(tmp) / "honest.xlsx")
        bomb = write_bomb(Path(tmp) / "bomb.xlsx")
        print(f"honest sheet {honest.stat().st_size / 1024:.0f} KB; bomb {bomb.stat().st_size / 1024:.0f} KB → 76 MB")
        runs = {"honest": [], "bomb": []}
        for _ in range(args.repeat):
            runs["honest"].append(read_in_fresh_process(honest))
            runs["bomb"].append(read_in_fresh_process(bomb))
    for name, results in runs.items():
        outcome = {k: v for k, v in results[0].items() if k not in ("seconds", "peak_mb")}
        secs = statistics.median(r["seconds"] for r in results)
        peak = max(r["peak_mb"] for r in results)
        print(f"{name:7s} {outcome}  median {secs * 1000:.1f} ms  peak RSS {peak:.0f} MB")
    ratio = statistics.median(r["seconds"] for r in runs["bomb"]) / statistics.median(
        r["seconds"] for r in runs["honest"]
    )
    print(f"bomb refused in {ratio:.3f}× the time of reading the honest 1,000-row sheet")


if __name__ == "__main__":
    main()
