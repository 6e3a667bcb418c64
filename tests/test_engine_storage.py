"""Engine files read on demand: StoredArray rows equal the saved arrays and add nothing to RSS.

nearby() tables are read row by row with ``preadv`` instead of being memory-mapped (a mapped row
fault maps the whole large page-cache folio around it); these tests drive that reader the way the
tables use it, and check the graph hash still catches corruption when verified from the file.
"""

from __future__ import annotations

import numpy as np
import pytest

from isochrones.densetable import DenseTable
from isochrones.graph import load_graph, save_graph
from isochrones.storage import StoredArray, open_npz, save_npz
from isochrones.travel import ResourceTable
from tests._engine_fixtures import helsinki_engine, helsinki_graphs


def _rss_mib() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_stored_rows_slices_and_whole_arrays_equal_the_saved_ones(tmp_path) -> None:
    rng = np.random.default_rng(0)
    table = rng.integers(0, 65_535, size=(5_000, 37), dtype=np.uint16)
    vector = rng.normal(size=70_000)
    small = np.arange(10, dtype=np.int32)
    path = save_npz(tmp_path / "t.npz", table=table, vector=vector, small=small, kind=np.array("dense"))
    data = open_npz(path)
    assert isinstance(data["table"], StoredArray) and isinstance(data["vector"], StoredArray)
    assert isinstance(data["small"], np.ndarray) and str(data["kind"]) == "dense"  # small members read
    stored = data["table"]
    assert stored.shape == table.shape and stored.dtype == table.dtype and stored.nbytes == table.nbytes
    for i in (0, 1, 2_500, 4_999, -1):
        assert np.array_equal(stored[i], table[i])
    assert np.array_equal(stored[100:1_234], table[100:1_234])
    assert np.array_equal(stored[4_990:9_000], table[4_990:])  # clipped like a numpy slice
    assert stored[3:3].shape == (0, 37)
    assert np.array_equal(np.asarray(stored), table)
    assert np.array_equal(stored[:, 5], table[:, 5])  # other indexes read the whole array
    assert np.array_equal(np.concatenate([b for _, b in stored.blocks(max_bytes=10_000)]), table)
    assert b"".join(bytes(c) for c in data["vector"].chunks(size=4_096)) == vector.tobytes()
    assert np.array_equal(data["vector"][10:12], vector[10:12])
    with pytest.raises(IndexError):
        stored.row(5_000)


def test_reading_rows_of_a_large_table_adds_nothing_to_rss(tmp_path) -> None:
    rows, cols = 60_000, 450  # a 51 MiB uint16 table
    table = np.zeros((rows, cols), dtype=np.uint16)
    table[:, 0] = np.arange(rows) % 65_535
    path = save_npz(tmp_path / "big.npz", kind=np.array("dense"), deci=table)
    del table
    with open(path, "rb") as handle:  # the file's pages are in the page cache, as after a build
        while handle.read(1 << 24):
            pass
    stored = DenseTable.load(path)
    assert isinstance(stored.deci, StoredArray)
    stored.row(0)
    before = _rss_mib()
    picks = np.random.default_rng(1).choice(rows, 400, replace=False)
    for node in picks.tolist():
        secs, dist = stored.row(node)
        assert secs[0] == (node % 65_535) / 10.0 and dist is None
    assert _rss_mib() - before < 8.0  # mapped, these 400 rows put ~50 MiB in RSS on Linux 6.x


def test_loaded_resource_table_rows_equal_the_built_table(tmp_path) -> None:
    graph = helsinki_graphs()["bicycle"]
    nodes = graph.snap_nodes[:: max(1, graph.snap_nodes.size // 40)][:40]
    built = ResourceTable.build(graph, nodes, np.zeros(nodes.size), limit_s=600.0, with_lengths=True)
    built.save(tmp_path / "r.npz")
    loaded = ResourceTable.load(tmp_path / "r.npz")
    assert isinstance(loaded.cols, StoredArray) or loaded.cols.nbytes < (1 << 16)
    for node in range(0, graph.n_nodes, 97):
        for got, want in zip(loaded.row(node), built.row(node), strict=True):
            assert np.array_equal(got, want)


def test_graph_hash_verified_from_the_file_still_refuses_a_flipped_byte(tmp_path) -> None:
    graph = helsinki_graphs()["walk"]
    path = save_graph(graph, tmp_path / "walk.npz")
    assert load_graph(path).content_hash == graph.content_hash
    raw = bytearray(path.read_bytes())
    data = open_npz(path)["seconds"]
    raw[data.offset + data.nbytes // 2] ^= 0x40  # inside the seconds array
    path.write_bytes(bytes(raw))
    from geo.errors import NetworkNotBuiltError

    with pytest.raises(NetworkNotBuiltError):
        load_graph(path)
    assert load_graph(path, verify=False).n_nodes == graph.n_nodes


def test_speed_bound_read_from_the_file_equals_the_one_from_the_arrays(tmp_path) -> None:
    from isochrones.subgraph import euclid_speed

    graph = helsinki_graphs()["car"]
    want = euclid_speed(graph.x, graph.y, graph.indptr, graph.indices, graph.seconds, block=1 << 30)
    for block in (1, 7, 1_000):  # blocks of edges never change the answer
        assert euclid_speed(graph.x, graph.y, graph.indptr, graph.indices, graph.seconds, block=block) == want
    loaded = load_graph(save_graph(graph, tmp_path / "car.npz"))
    assert "_stored" in loaded.__dict__  # read from the file on first use, then dropped
    assert loaded.euclid_mps == want == loaded.meta["euclid_mps"]
    assert "_stored" not in loaded.__dict__
    assert loaded.disk.v_max == want


def test_engine_keeps_large_temporaries_on_the_heap() -> None:
    import platform

    from isochrones.heap import reuse_heap_for_temporaries

    helsinki_engine()  # an engine sets the thresholds for its process
    if platform.libc_ver()[0] != "glibc":
        pytest.skip("mallopt thresholds are glibc's")
    assert reuse_heap_for_temporaries() is True  # set once, the same answer after

    def on_heap(address: int) -> bool:
        with open("/proc/self/maps", encoding="ascii", errors="replace") as maps:
            for line in maps:
                lo, hi = (int(v, 16) for v in line.split()[0].split("-"))
                if lo <= address < hi:
                    return line.rstrip().endswith("[heap]")
        return False

    blocks = [np.ones(4 << 20, dtype=np.uint8) for _ in range(3)]  # 4 MiB each: below the 32 MiB threshold
    assert all(on_heap(b.ctypes.data) for b in blocks)  # from the heap, not one fresh mmap per block
    assert not on_heap(np.ones(64 << 20, dtype=np.uint8).ctypes.data)  # above it: mapped (and unmapped on free)
