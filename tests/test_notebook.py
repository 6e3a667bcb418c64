"""``notebooks/coverage_gaps.ipynb`` runs top to bottom (nbclient, offline) so the planner's walk-through cannot rot."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "coverage_gaps.ipynb"


@pytest.mark.slow
def test_coverage_gaps_notebook_executes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import nbformat
    from nbclient import NotebookClient

    # the kernel inherits this environment: its own empty database, loaded by the notebook itself
    monkeypatch.setenv("SKILLCIRCLE_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'notebook.db'}")
    monkeypatch.setenv("SKILLCIRCLE_OFFLINE", "true")
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel draws inline
    # the kernel runs in tmp_path: put this checkout first so it imports the code under test (not an install)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    # a generous per-cell limit against a hung kernel: a slow cell on a loaded machine is no failure
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "\n".join(
        o.get("text", "") if o.output_type == "stream" else o.get("data", {}).get("text/plain", "") for o in outputs
    )
    # the walk-through shows its caveats, the tables, greedy vs exact and the what-if check
    assert "示例数据" in text and "估算" in text and "第七次全国人口普查" in text
    assert "H3 cells at resolution 8; 5,400,868 residents" in text
    # it names its population surface and shows that the model's densest cells are Jiaxing's urban area
    assert "Population surface: model" in text and "GeoNames" in text
    import re

    near = re.search(r"(\d+) of the 10 densest cells lie within 8 km of South Lake", text)
    assert near and int(near.group(1)) >= 8
    assert "exact :" in text and "(Optimal)" in text and "building the 3 sites: +" in text
    # the province section: every city listed or said missing, the sums, and the province map
    assert "浙江省: 10 of 11 prefectures have a city pack" in text and "wenzhou: no_census_data" in text
    assert "54994685" in text  # the ten packed cities' 2020 census populations, summed
    assert sum(1 for o in outputs if "image/png" in o.get("data", {})) == 3  # gap map before and after, province
    # the province's next sites: the cities' own greedy sites merged by what each adds
    assert re.search(r"the province's next 5 evaluation sites newly cover [\d,]+ residents", text)
