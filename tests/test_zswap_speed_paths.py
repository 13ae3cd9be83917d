"""The zswap walk and the refault latency quantile, computed for speed, give exactly what their plain
definitions give.

* ``zswap_writeback_walk`` (one sort of the walked memcgs' entries, running counts over the compacted
  list) rotates and writes back the same entries, in the same order, as walking each memcg's LRU
  one entry at a time (``list_lru_walk_one()`` with ``shrink_memcg_cb()``).
* ``refault_latency_quantile`` (tiers nobody refaulted from skipped, the per-host CDF in place)
  returns the same grid points as mixing every tier's CDF on the whole grid.
"""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
from helpers_sim import MiB, scenario, tenant, workload  # tests/ is on sys.path under pytest

from zswap_gym.sim import Loc, SimState, Simulator
from zswap_gym.sim.metrics import (
    _LOG_GRID,
    LATENCY_SIGMA,
    _normal_cdf,
    _normal_cdf_in_place,
    refault_latency_quantile,
)
from zswap_gym.sim.reference import reference_quantile, reference_walk
from zswap_gym.sim.zswap import zswap_writeback_walk


def shuffled_zswap(seed: int) -> Simulator:
    """Three hosts, four memcgs (one empty), every chunk somewhere at random: a quarter to half in
    zswap, random referenced bits, list positions, store times, and writeback disabled for some."""
    rng = np.random.default_rng(seed)
    tenants = [tenant(f"t{i}", workload(size * MiB)) for i, size in enumerate((96, 64, 32))]
    sim = Simulator(scenario(*tenants, chunk_pages=64), num_hosts=3, seed=seed)
    st = sim.state
    h, c = st.loc.shape
    alive = st.loc != Loc.ABSENT
    kinds = np.array([Loc.RESIDENT, Loc.ZSWAP, Loc.SWAP, Loc.WRITEBACK])
    in_zswap = rng.uniform(0.25, 0.5)
    st.loc[alive] = rng.choice(kinds, size=np.count_nonzero(alive), p=[0.8 - in_zswap, in_zswap, 0.1, 0.1])
    st.referenced[:] = rng.random((h, c)) < rng.uniform(0.1, 0.9)
    st.lru_seq[:] = np.stack([rng.permutation(c) for _ in range(h)]) - c // 2
    st.lru_tail[:] = c
    st.now_s[:] = 1000.0
    st.zswap_store_s[:] = rng.uniform(0.0, 1000.0, size=(h, c)).astype(np.float32)
    st.zswap_writeback[:] = rng.random(st.zswap_writeback.shape) < 0.8
    sim.invalidate_gauges()
    return sim


def assert_same_simulation(a: Simulator, b: Simulator) -> None:
    for f in dataclasses.fields(SimState):
        x, y = getattr(a.state, f.name), getattr(b.state, f.name)
        if isinstance(x, dict):
            for k in x:
                np.testing.assert_array_equal(x[k], y[k], err_msg=f"{f.name}[{k}]")
        elif isinstance(x, np.ndarray):
            np.testing.assert_array_equal(x, y, err_msg=f.name)
    for k, v in a.state.tallies.as_dict().items():
        np.testing.assert_array_equal(v, b.state.tallies.as_dict()[k], err_msg=k)
    ga, gb = a.gauges(), b.gauges()
    for name in ga.FIELDS:
        np.testing.assert_array_equal(getattr(ga, name), getattr(gb, name), err_msg=name)


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("path", ["write_target", "visit_budget", "min_age"])
def test_writeback_walk_matches_the_definition(seed: int, path: str) -> None:
    sim = shuffled_zswap(seed)
    rng = np.random.default_rng(100 + seed)
    shape = (sim.num_hosts, sim.num_memcgs)
    # Whole amounts, zeros, and fractions (carried by the rounding remainders), over a few calls.
    for call in range(3):
        amount = rng.integers(0, 60, size=shape) * (rng.random(shape) < 0.7)
        amount = amount + (rng.random(shape) if call == 2 else 0.0)
        kw: dict = {"source": "proactive"}
        if path == "visit_budget":
            kw = {"visit_budget": amount, "source": "shrinker"}
        else:
            kw["write_target"] = amount
            if path == "min_age":
                kw["min_age_s"] = rng.uniform(0.0, 900.0, size=shape).astype(np.float32)
        fast, slow = copy.deepcopy(sim), copy.deepcopy(sim)
        got = zswap_writeback_walk(fast.store, **copy.deepcopy(kw))
        want = reference_walk(slow.store, **copy.deepcopy(kw))
        np.testing.assert_array_equal(got, want)
        assert got.dtype == np.float64 and got.shape == shape
        assert_same_simulation(fast, slow)
        sim = fast


def test_writeback_walk_with_nothing_asked_changes_nothing_but_the_rounding() -> None:
    sim = shuffled_zswap(0)
    before = copy.deepcopy(sim)
    shape = (sim.num_hosts, sim.num_memcgs)
    got = zswap_writeback_walk(sim.store, write_target=np.full(shape, 0.25), source="pool_limit")
    np.testing.assert_array_equal(got, np.zeros(shape))
    reference_walk(before.store, write_target=np.full(shape, 0.25), source="pool_limit")
    assert_same_simulation(sim, before)


def test_normal_cdf_in_place_is_bit_for_bit_the_plain_one() -> None:
    rng = np.random.default_rng(0)
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-300, -1e-300, 8.3, -8.3, 40.0, -40.0])
    for n in (1, 7, 160, 1280, 4099):
        x = np.concatenate([rng.normal(0.0, rng.uniform(0.5, 12.0), n), special])
        want = _normal_cdf(x)
        got = _normal_cdf_in_place(x.copy())
        np.testing.assert_array_equal(got.view(np.int64), want.view(np.int64))
        grid = (_LOG_GRID[None, :] - rng.uniform(-3.0, 16.0, size=(n % 9 + 1, 1))) / LATENCY_SIGMA
        np.testing.assert_array_equal(
            _normal_cdf_in_place(grid.copy()).view(np.int64), _normal_cdf(grid).view(np.int64)
        )


@pytest.mark.parametrize("seed", range(40))
def test_refault_latency_quantile_matches_the_plain_mixture(seed: int) -> None:
    rng = np.random.default_rng(seed)
    h, m = int(rng.integers(1, 9)), int(rng.integers(1, 9))
    weights = rng.poisson(rng.uniform(0.0, 50.0, size=3), size=(h, m, 3)).astype(np.float64)
    weights *= rng.random((h, m, 1)) < 0.85  # rows without refaults
    weights[..., rng.integers(0, 3)] *= rng.random() < 0.5  # a tier nobody refaulted from
    means = np.exp(rng.uniform(np.log(0.2), np.log(5e5), size=(h, 3)))
    for t in range(3):
        if rng.random() < 0.4:
            means[:, t] = means[0, t]  # one mean for every host (the cached CDF)
    for q in (0.5, 0.9, 0.99, 0.999):
        got = refault_latency_quantile(weights, means, q)
        np.testing.assert_array_equal(got, reference_quantile(weights, means, q))


def test_refault_latency_quantile_without_refaults_is_zero() -> None:
    got = refault_latency_quantile(np.zeros((2, 3, 3)), np.full((2, 3), 50.0), 0.99)
    np.testing.assert_array_equal(got, np.zeros((2, 3)))
    assert got.dtype == np.float64
