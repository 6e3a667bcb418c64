"""Snap points to a compiled graph with a KD-tree on projected coordinates.

A point is joined to its nearest *snap target* by a straight walk; that walk (at walking speed) is part
of every travel time the engine reports. Snap targets are the nodes of the graph's largest strongly
connected component (``CompiledGraph.snap_ok``, computed at compile time): a nearer node in a one-way
dead end, from which nothing (or to which nothing) can be reached, is passed over for a farther node
on the main network, and the longer access walk is priced. The same rule serves query points,
resources and coverage cells. A point farther than the city's ``max_snap_m`` is "off the
road network" (:class:`geo.errors.OffNetworkError`) for queries, and "unreachable" for resources.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from geo.errors import OffNetworkError
from isochrones.graph import CompiledGraph, project


@dataclass(frozen=True)
class Snap:
    """Where points meet the network: ``node`` index (-1 if too far), straight distance and walking time."""

    node: np.ndarray
    distance_m: np.ndarray
    walk_s: np.ndarray

    @property
    def ok(self) -> np.ndarray:
        """True where the point is within the maximum snap distance."""
        return self.node >= 0


class Snapper:
    """Nearest-node lookups for one compiled graph.

    Parameters
    ----------
    graph
        The compiled graph (the projected ``x``/``y`` of its snap targets, ``graph.snap_ok``, are indexed).
    max_snap_m
        Maximum straight distance from a point to its node.
    walk_mps
        Walking speed that prices the straight walk to the node.
    share
        Snappers of other graphs: when one of them has the same snap targets at the same coordinates
        (e.g. bicycle and e-bike, which differ only in speeds), its KD-tree is shared instead of built
        again (a city-scale tree holds ~8 MiB).
    """

    def __init__(
        self, graph: CompiledGraph, *, max_snap_m: float, walk_mps: float, share: Iterable[Snapper] = ()
    ) -> None:
        self.graph = graph
        self.max_snap_m = float(max_snap_m)
        self.walk_mps = float(walk_mps)
        targets = graph.snap_nodes
        if targets.size == 0:  # no strongly connected component at all (e.g. an empty graph)
            targets = np.arange(graph.n_nodes)
        self.targets = targets.astype(np.int32 if graph.n_nodes < 2**31 else np.int64)
        self.tree: cKDTree
        for other in share:
            if other._same_targets(graph, self.targets):
                self.targets, self.tree = other.targets, other.tree
                return
        self.tree = cKDTree(
            np.column_stack([graph.x[targets], graph.y[targets]]), balanced_tree=False, compact_nodes=False
        )

    def _same_targets(self, graph: CompiledGraph, targets: np.ndarray) -> bool:
        """True when ``graph``'s snap ``targets`` are this snapper's, at the same projected coordinates."""
        mine = self.graph
        return (
            mine.crs == graph.crs
            and np.array_equal(self.targets, targets)
            and np.array_equal(mine.x[targets], graph.x[targets])
            and np.array_equal(mine.y[targets], graph.y[targets])
        )

    def snap_many(self, lons: np.ndarray, lats: np.ndarray) -> Snap:
        """Snap many WGS84 points at once; points beyond ``max_snap_m`` get node -1 (no error)."""
        x, y = project(np.atleast_1d(lons), np.atleast_1d(lats), self.graph.crs)
        found = self.tree.query(np.column_stack([x, y]), k=1)
        dist, k = np.asarray(found[0], dtype=np.float64), np.asarray(found[1])  # typed scalar-or-array
        ok = dist <= self.max_snap_m  # also False for an empty graph (k = size, dist = inf)
        node = np.full(dist.size, -1, dtype=np.int64)
        node[ok] = self.targets[k[ok]]
        return Snap(node=node, distance_m=dist, walk_s=dist / self.walk_mps)

    def snap(self, lon: float, lat: float) -> tuple[int, float, float]:
        """Snap one point; returns (node index, distance m, walk seconds).

        Raises
        ------
        OffNetworkError
            If the nearest node is farther than ``max_snap_m``.
        """
        x, y = project(np.array([lon]), np.array([lat]), self.graph.crs)
        dist, k = self.tree.query((float(x[0]), float(y[0])), k=1)
        if dist > self.max_snap_m:
            msg = (
                f"point lat={lat}, lon={lon} is {dist:.0f} m from the nearest {self.graph.mode} road "
                f"(maximum {self.max_snap_m:.0f} m): it is off the road network"
            )
            raise OffNetworkError(
                msg,
                message_zh=(
                    f"该位置（纬度 {lat}，经度 {lon}）距最近道路 {dist:.0f} 米，"
                    f"超过 {self.max_snap_m:.0f} 米，不在路网上"
                ),
                details={"lat": lat, "lon": lon, "distance_m": round(float(dist), 1), "max_snap_m": self.max_snap_m},
            )
        return int(self.targets[k]), float(dist), float(dist) / self.walk_mps
