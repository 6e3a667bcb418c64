"""No dead weight, and nothing pointing outside the repository.

Every setting, city-pack key and metric must do something: a setting nothing reads, or a counter
nothing increments, tells an operator something false. The checks read the source (a setting or a
key must be read somewhere; a metric must be updated somewhere), the README's configuration table
(every variable it names exists, every setting is named), and the repository's own text (no path
into the machine it was written on).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from pydantic import BaseModel

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("geo", "isochrones", "planning", "api")
TEST_ONLY_VARIABLES = {"SKILLCIRCLE_TEST_DATABASE_URL"}  # read by tests/test_postgres.py, documented as such


def _code_text() -> str:
    parts = [p.read_text(encoding="utf-8") for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))]
    parts += [p.read_text(encoding="utf-8") for p in sorted((ROOT / "data").glob("*.toml"))]
    parts += [p.read_text(encoding="utf-8") for p in sorted((ROOT / "api" / "templates").rglob("*.html"))]
    return "\n".join(parts)


def _is_read(name: str, text: str) -> bool:
    """``name`` is read as an attribute (``x.name``) or by its string name (``getattr(x, "name")``)."""
    return re.search(rf"\.{name}\b|[\"']{name}[\"']", text) is not None


def test_every_setting_is_read() -> None:
    from geo.config import Settings

    text = _code_text()
    unread = [name for name in Settings.model_fields if not _is_read(name, text)]
    assert not unread, f"settings nothing reads (remove them, or wire them): {unread}"


def test_the_readme_configuration_names_exactly_the_settings() -> None:
    from geo.config import Settings

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    envs = {f"SKILLCIRCLE_{name.upper()}" for name in Settings.model_fields}
    named = set(re.findall(r"SKILLCIRCLE_[A-Z0-9_]*[A-Z0-9]", readme)) - TEST_ONLY_VARIABLES
    assert named <= envs, f"the README names variables no setting reads: {sorted(named - envs)}"
    # the table may shorten a row's later names to their tail (`…_LIMIT_PER_IP_HOUR`)
    tails = set(re.findall(r"…(_[A-Z0-9_]*[A-Z0-9])", readme))
    undocumented = [
        env
        for env in sorted(envs)
        if env not in named and not any(env.endswith(t) for t in tails) and env != "SKILLCIRCLE_DATABASE_URL"
    ]
    assert "`DATABASE_URL`" in readme
    assert not undocumented, f"settings the README does not document: {undocumented}"


def _pack_models() -> list[type[BaseModel]]:
    import geo.cities as cities

    return [
        m
        for m in vars(cities).values()
        if isinstance(m, type) and issubclass(m, BaseModel) and m.__module__ == cities.__name__
    ]


def test_every_city_pack_key_is_read() -> None:
    text = _code_text()
    unread = [
        f"{model.__name__}.{name}"
        for model in _pack_models()
        for name in model.model_fields
        if name != "folder" and not _is_read(name, text)
    ]
    assert not unread, f"city.toml keys nothing reads: {unread}"


def test_a_city_pack_refuses_an_unknown_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import geo.cities as cities
    from geo.errors import CityPackError

    folder = tmp_path / "demo"
    folder.mkdir()
    toml = (cities.CITIES_DIR / "demo" / "city.toml").read_text(encoding="utf-8")
    (folder / "city.toml").write_text("sample_resources = true\n" + toml, encoding="utf-8")
    monkeypatch.setattr(cities, "CITIES_DIR", tmp_path)
    with pytest.raises(CityPackError, match="sample_resources"):
        getattr(cities.load_city, "__wrapped__", cities.load_city)("demo")  # past the cache of loaded packs


def test_every_metric_is_updated() -> None:
    from prometheus_client.metrics import MetricWrapperBase

    import api.telemetry as telemetry

    text = "\n".join(p.read_text(encoding="utf-8") for p in sorted((ROOT / "api").rglob("*.py")))
    metrics = [name for name, value in vars(telemetry).items() if isinstance(value, MetricWrapperBase)]
    assert len(metrics) >= 4
    idle = [m for m in metrics if not re.search(rf"\b{m}\s*\.\s*(labels|inc|dec|set|observe)\b", text)]
    assert not idle, f"metrics nothing updates: {idle}"


def _repository_files() -> list[Path]:
    try:
        listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
        files = [ROOT / line for line in listed.splitlines()]
    except (OSError, subprocess.CalledProcessError):  # not a git checkout
        files = [p for p in ROOT.rglob("*") if not {".venv", "var", "node_modules", ".git"} & set(p.parts)]
    suffixes = {".py", ".md", ".toml", ".html", ".js", ".css", ".ipynb", ".sh", ".ini", ".cfg", ".txt", ".mako"}
    return [p for p in files if p.is_file() and (p.suffix in suffixes or p.name == "Makefile")]


def test_nothing_points_outside_the_repository() -> None:
    # the patterns are assembled so that this file does not match itself
    outside = re.compile(
        "|".join(re.escape(s) for s in ("../" + "shared", "/" + "work/", "/" + "root/", "NOTES" + ".md"))
    )
    hits = []
    for path in _repository_files():
        for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if outside.search(line):
                hits.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()[:120]}")
    assert not hits, "paths outside the repository:\n" + "\n".join(hits)
