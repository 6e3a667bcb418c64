"""Maximal covering location problem (MCLP, Church & ReVelle 1974) solvers on a demand × candidate matrix.

Given a 0/1 cover matrix (demand rows × candidate columns) and a weight per row, choose ``k`` columns so
that the total weight of the rows they cover is largest.

* :func:`mclp_greedy` adds, k times, the candidate with the largest marginal gain. Coverage is a
  monotone submodular function, so greedy is guaranteed to reach at least ``(1 − 1/e) ≈ 63.2 %`` of the
  optimum (Nemhauser, Wolsey & Fisher 1978). On top of that prior guarantee each run reports a
  data-dependent certificate: after any step ``i`` with value ``f(S_i)``, ``OPT ≤ f(S_i) + (sum of the k
  largest marginal gains)`` (the "online bound" of Minoux 1978 / Leskovec et al. 2007), so
  ``greedy / upper_bound`` is a proven lower bound of greedy's quality on *this* instance.
* :func:`mclp_exact` solves the same problem to optimality as an integer programme with PuLP's bundled
  CBC (``max Σ w_i y_i`` s.t. ``y_i ≤ Σ_{j covers i} x_j``, ``Σ x_j ≤ k``, ``x`` binary,
  ``0 ≤ y ≤ 1``) for small instances (demand rows with identical candidate sets are merged first).
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
from scipy import sparse

from geo.errors import InvalidParameterError

#: Greedy's worst-case guarantee for maximum coverage (Nemhauser, Wolsey & Fisher 1978).
GREEDY_GUARANTEE = 1.0 - 1.0 / math.e
#: Most sites one greedy run may choose.
MAX_K = 50
#: Most sites, candidates and coverage pairs the exact solver accepts (beyond them: greedy and its bound).
MAX_EXACT_K = 10
MAX_EXACT_CANDIDATES = 2000
MAX_EXACT_NONZEROS = 400_000

#: A demand × candidate cover matrix: nonzero where the candidate covers the row.
CoverMatrix: TypeAlias = sparse.csr_matrix | sparse.csc_matrix | sparse.coo_matrix


@dataclass(frozen=True)
class GreedyResult:
    """Greedy MCLP: chosen candidate indices in pick order, each one's marginal gain, total, bound."""

    chosen: list[int]
    gains: list[float]
    value: float
    upper_bound: float
    seconds: float

    @property
    def ratio_bound(self) -> float:
        """Proven lower bound of ``value / OPT`` on this instance (1.0 when the bound is tight)."""
        return 1.0 if self.upper_bound <= 0 else min(1.0, self.value / self.upper_bound)


@dataclass(frozen=True)
class ExactResult:
    """Exact MCLP by integer programming (PuLP + CBC): chosen indices (ascending), value, solver status."""

    chosen: list[int]
    value: float
    status: str
    optimal: bool
    seconds: float


def check_k(k: int, *, limit: int = MAX_K) -> int:
    """Return ``k`` if it is a whole number from 1 to ``limit``, else raise (code ``invalid_k``)."""
    if not isinstance(k, int | np.integer) or not 1 <= int(k) <= limit:
        msg = f"k (number of new sites) must be a whole number from 1 to {limit}, got {k!r}"
        raise InvalidParameterError(msg, message_zh=f"新增站点数 k 须为 1–{limit} 的整数，收到“{k}”", code="invalid_k")
    return int(k)


def _cover_matrices(
    cover: CoverMatrix, weights: Sequence[float] | np.ndarray
) -> tuple[sparse.csr_matrix, sparse.csc_matrix]:
    a = sparse.csr_matrix(cover, dtype=np.float64)
    a.data[:] = 1.0
    a.sum_duplicates()
    a.data[:] = 1.0
    if a.shape[0] != np.asarray(weights).size:
        msg = f"cover matrix has {a.shape[0]} rows but {np.asarray(weights).size} weights were given"
        raise InvalidParameterError(msg, message_zh="覆盖矩阵行数与权重数量不一致")
    return a, a.tocsc()


def mclp_greedy(cover: CoverMatrix, weights: Sequence[float] | np.ndarray, k: int) -> GreedyResult:
    """Greedy maximal covering: pick ``k`` columns of ``cover`` maximising the covered row weight.

    Parameters
    ----------
    cover
        Demand rows × candidate columns, nonzero where the candidate covers the row.
    weights
        Weight (uncovered population) of each demand row.
    k
        Number of sites to choose. Stops early when no candidate adds anything.

    Returns
    -------
    GreedyResult
        Ties are broken by the lowest column index, so results are deterministic. ``upper_bound`` is
        the online bound ``min_i f(S_i) + Σ top-k marginal gains`` (see the module docstring).
    """
    t0 = time.perf_counter()
    k = check_k(k)
    csr, csc = _cover_matrices(cover, weights)
    w = np.asarray(weights, dtype=np.float64).copy()
    gains = csc.T @ w
    chosen: list[int] = []
    picked: list[float] = []
    value = 0.0
    bound = math.inf
    for _ in range(k):
        top = np.sort(np.maximum(gains, 0.0))[-k:] if gains.size else np.zeros(0)
        bound = min(bound, value + float(top.sum()))
        if gains.size == 0:
            break
        j = int(np.argmax(gains))
        if gains[j] <= 0:
            break
        rows = csc.indices[csc.indptr[j] : csc.indptr[j + 1]]
        new = rows[w[rows] > 0]
        gain = float(w[new].sum())
        chosen.append(j)
        picked.append(gain)
        value += gain
        if new.size:
            gains -= csr[new].T @ w[new]
            w[new] = 0.0
        gains[j] = -1.0  # never pick twice
    top = np.sort(np.maximum(gains, 0.0))[-k:] if gains.size else np.zeros(0)
    bound = min(bound, value + float(top.sum()))
    return GreedyResult(chosen, picked, value, max(bound, value), time.perf_counter() - t0)


def mclp_exact(
    cover: CoverMatrix, weights: Sequence[float] | np.ndarray, k: int, *, time_limit: float = 30.0
) -> ExactResult:
    """Exact maximal covering by integer programming (PuLP with its bundled CBC solver).

    Parameters
    ----------
    cover
        Demand rows × candidate columns, nonzero where the candidate covers the row.
    weights
        Weight of each demand row.
    k
        Number of sites (at most :data:`MAX_EXACT_K`).
    time_limit
        CBC's wall-clock limit in seconds; ``optimal`` is False if it stopped early.

    Raises
    ------
    InvalidParameterError
        ``too_large_for_exact`` when the instance exceeds :data:`MAX_EXACT_CANDIDATES` candidates or
        :data:`MAX_EXACT_NONZEROS` coverage pairs (use greedy and its bound instead).
    """
    import pulp

    t0 = time.perf_counter()
    k = check_k(k, limit=MAX_EXACT_K)
    csr, _ = _cover_matrices(cover, weights)
    w = np.asarray(weights, dtype=np.float64)
    useful_rows = np.flatnonzero((w > 0) & (np.diff(csr.indptr) > 0))
    sub = csr[useful_rows]
    cols = np.unique(sub.indices)
    if cols.size > MAX_EXACT_CANDIDATES or sub.nnz > MAX_EXACT_NONZEROS:
        msg = (
            f"instance too large for the exact solver ({cols.size} useful candidates, {sub.nnz} pairs; "
            f"limits {MAX_EXACT_CANDIDATES} and {MAX_EXACT_NONZEROS}); use method=greedy, whose bound is reported"
        )
        raise InvalidParameterError(
            msg,
            message_zh=f"候选点过多（{cols.size} 个），无法精确求解；请改用贪心算法（结果附近似保证）",
            code="too_large_for_exact",
            details={"candidates": int(cols.size), "pairs": int(sub.nnz)},
        )
    if cols.size == 0:
        return ExactResult([], 0.0, "Optimal", True, time.perf_counter() - t0)
    # merge demand rows covered by the same candidate set (their weights add up)
    groups: dict[bytes, float] = {}
    members: dict[bytes, np.ndarray] = {}
    for r, row in enumerate(useful_rows):
        idx = sub.indices[sub.indptr[r] : sub.indptr[r + 1]]
        key = np.sort(idx).tobytes()
        groups[key] = groups.get(key, 0.0) + float(w[row])
        members.setdefault(key, np.sort(idx))
    with warnings.catch_warnings():
        # PuLP 3.3 announces API changes for 4.0 (variables via prob.add_variable, CBC via COIN_CMD)
        warnings.simplefilter("ignore", DeprecationWarning)
        prob = pulp.LpProblem("mclp", pulp.LpMaximize)
        x = {int(j): pulp.LpVariable(f"x{int(j)}", cat=pulp.LpBinary) for j in cols}
        objective = []
        for g, (key, weight) in enumerate(groups.items()):
            y = pulp.LpVariable(f"y{g}", lowBound=0, upBound=1)
            objective.append((y, weight))
            prob += pulp.LpAffineExpression([(y, 1.0)] + [(x[int(j)], -1.0) for j in members[key]]) <= 0
        prob += pulp.LpAffineExpression(objective)
        prob += pulp.LpAffineExpression([(v, 1.0) for v in x.values()]) <= k
        prob.solve(_cbc(pulp, time_limit))
    status = pulp.LpStatus[prob.status]
    chosen = sorted(j for j, v in x.items() if (v.value() or 0.0) > 0.5)
    optimal = status == "Optimal" and getattr(prob, "sol_status", 1) == pulp.LpSolutionOptimal
    value = float(w[np.flatnonzero(np.asarray(csr[:, chosen].sum(axis=1)).ravel() > 0)].sum()) if chosen else 0.0
    return ExactResult(chosen, value, status, optimal, time.perf_counter() - t0)


def _cbc(pulp: Any, time_limit: float) -> Any:
    """CBC as bundled in PuLP's wheel (``PULP_CBC_CMD``), else a system CBC (``COIN_CMD``)."""
    for name in ("PULP_CBC_CMD", "COIN_CMD"):
        solver_cls = getattr(pulp, name, None)
        if solver_cls is None:
            continue
        solver = solver_cls(msg=False, timeLimit=float(time_limit))
        if solver.available():
            return solver
    msg = "no CBC solver available to PuLP; reinstall pulp (its wheel bundles CBC)"
    raise InvalidParameterError(
        msg, message_zh="未找到 CBC 求解器，无法精确求解；请改用贪心算法", code="solver_unavailable"
    )


__all__ = [
    "GREEDY_GUARANTEE",
    "MAX_EXACT_CANDIDATES",
    "MAX_EXACT_K",
    "MAX_EXACT_NONZEROS",
    "MAX_K",
    "ExactResult",
    "GreedyResult",
    "check_k",
    "mclp_exact",
    "mclp_greedy",
]
