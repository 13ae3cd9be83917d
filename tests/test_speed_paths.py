"""The shortcuts taken for speed give exactly what the plain computation gives.

* ``select_oldest`` (one histogram over every chunk, ineligible ones in a spill slot) picks the same
  chunks as the reference definition: whole age bins from the oldest down, slot order in the last bin.
* The access model's touch probabilities are remembered while the rates stay the same, and
  recomputed when they change (allocation, working-set shift, a direct edit of ``state.rate_hz``).
* The vector env's info arrays are rows of per-group blocks; the SB3 adapter's per-host dicts come
  straight from the block of per-host scalars and equal splitting the info key by key; a ``step``
  patched onto the vector env is still what the adapter calls.
* ``set_loc`` with a known source moves the counts per memcg and gives the general path's gauges;
  ``select_oldest_flat`` lists the reference definition's chunks in ascending order; the per-step
  p99 refault latency, computed on first read, is the mixture quantile.
"""

from __future__ import annotations

import numpy as np
import pytest

from zswap_gym.env.sb3 import HostOffloadSB3VecEnv, _split_info
from zswap_gym.env.vector_env import HostOffloadVectorEnv
from zswap_gym.sim import Simulator, load_scenario
from zswap_gym.sim.accesses import TouchProbabilityCache
from zswap_gym.sim.lru import AGE_BINS, ChunkLayout, select_oldest
from zswap_gym.sim.reference import reference_select_oldest


@pytest.mark.parametrize("seed", range(6))
def test_select_oldest_matches_the_definition(seed: int) -> None:
    rng = np.random.default_rng(seed)
    layout = ChunkLayout.from_capacities([int(x) for x in rng.integers(1, 60, size=4)] + [0], 6)
    h, c = 3, layout.num_chunks
    eligible = rng.random((h, c)) < rng.uniform(0.2, 1.0)
    bins = rng.integers(0, AGE_BINS, size=(h, c)).astype(np.int8)
    bins[:, : c // 3] = rng.integers(40, AGE_BINS, size=(h, c // 3))  # crowd the oldest bins
    target = rng.integers(-2, 40, size=(h, layout.num_memcgs))
    got = select_oldest(eligible, bins, target, layout)
    np.testing.assert_array_equal(got, reference_select_oldest(eligible, bins, target, layout))
    assert not (got & ~eligible).any()


def test_select_oldest_takes_everything_when_the_target_exceeds_the_eligible_chunks() -> None:
    layout = ChunkLayout.from_capacities([5, 3], 2)
    eligible = np.array([[True, False, True, True, False, True, True, False]])
    bins = np.array([[1, 2, 3, 4, 5, 6, 7, 8]], dtype=np.int8)
    got = select_oldest(eligible, bins, np.array([[10, 1]]), layout)
    np.testing.assert_array_equal(got, [[True, False, True, True, False, False, True, False]])  # memcg 1: its oldest


def test_touch_probabilities_follow_the_rates() -> None:
    sim = Simulator(load_scenario("default"), num_hosts=2, seed=1)
    dt = np.float32(sim.cfg.host.step_s)
    rate = sim.state.rate_hz
    cache = TouchProbabilityCache()
    touch = cache.get(rate, dt)
    np.testing.assert_array_equal(touch.p_none, np.exp(-rate * dt))
    assert cache.get(rate, dt) is touch  # the same rates: remembered
    rate[0, :10] *= np.float32(3.0)  # a direct edit of the state
    touch2 = cache.get(rate, dt)
    np.testing.assert_array_equal(touch2.p_none, np.exp(-rate * dt))
    # The draws are kept as 24-bit whole numbers: p_touch is stored scaled by 2**24 and 2**-24 (exactly).
    p_touch = 1.0 - np.exp(-rate * dt)
    np.testing.assert_array_equal(touch2.p_touch_x2p24, p_touch * np.float32(2.0**24))
    np.testing.assert_array_equal(touch2.p_touch_x2m24, p_touch * np.float32(2.0**-24))
    np.testing.assert_array_equal(touch2.p_touch_x2p24 * np.float32(2.0**-24), p_touch)


def test_a_rate_edit_between_steps_changes_the_trajectory_like_a_fresh_simulator() -> None:
    """Two simulators, one stepped before the edit (its probabilities remembered), one restored from
    a copy of that state (nothing remembered): after the same edit they step identically."""
    scenario = load_scenario("default")
    a = Simulator(scenario, 1, seed=3)
    a.step()
    b = Simulator(scenario, 1, seed=99)
    b.set_state(a.get_state())
    for sim in (a, b):
        sim.state.rate_hz[0, :500] = np.float32(0.5)
    ma, mb = a.step(), b.step()
    for key, value in ma.all_arrays().items():
        np.testing.assert_array_equal(value, mb.all_arrays()[key], err_msg=key)
    np.testing.assert_array_equal(a.state.last_access_s, b.state.last_access_s)


def test_vector_info_rows_are_copies_and_masks_are_separate() -> None:
    env = HostOffloadVectorEnv(num_envs=3, autoreset_mode="Disabled")
    env.reset(seed=0)
    _, _, _, _, info = env.step(np.zeros(env.action_space.shape, np.float32))
    metrics = env.core.last_metrics
    assert not np.shares_memory(info["dram_saved_bytes"], metrics.host_dram_saved_bytes)
    info["_stall_s"][0] = False
    assert info["_cpu_s"].all(), "each key has its own mask array"
    # A partial reset step: the restarted host's entries are zero, its masks False.
    env = HostOffloadVectorEnv(num_envs=3, max_episode_steps=1)
    env.reset(seed=0)
    env.step(np.zeros(env.action_space.shape, np.float32))
    _, _, _, _, info = env.step(np.zeros(env.action_space.shape, np.float32))
    assert not info["_stall_s"].any() and not info["stall_s"].any()


def test_adapter_host_infos_equal_the_key_by_key_split() -> None:
    env = HostOffloadSB3VecEnv(num_envs=3)
    env.seed(0)
    env.reset()
    _, _, _, _, vinfo = env.venv.step(np.full((3, *env.action_space.shape), 0.5, np.float32))
    fast = env.venv.host_scalar_infos(vinfo)
    slow = _split_info(vinfo, 3)
    assert fast == slow and [list(d) for d in fast] == [list(d) for d in slow]
    assert all(type(v) is float for d in fast for v in d.values())
    keys = frozenset({"stall_s", "cpu_s", "not_a_key"})
    assert env.venv.host_scalar_infos(vinfo, keys) == _split_info(vinfo, 3, keys)
    vinfo["stall_s"] = vinfo["stall_s"] * 2  # replaced after the step: the block no longer describes it
    assert env.venv.host_scalar_infos(vinfo) is None
    assert env._host_infos(vinfo) == _split_info(vinfo, 3)
    assert env.venv.host_scalar_infos(dict(vinfo)) is None  # not the env's own info dict


@pytest.mark.parametrize(
    ("start", "end"),
    [(1, 2), (1, 4), (1, 5), (0, 1), (5, 3), (2, 5)],  # the moves made with a known source
)
def test_set_loc_with_a_known_source_keeps_the_same_gauges(start: int, end: int) -> None:
    """``set_loc(..., from_loc=...)`` (counts moved per memcg, no per-chunk read of the old place)
    leaves the counts and zswap byte sums exactly as the general path does."""
    scenario = load_scenario("default")
    general, known = (Simulator(scenario, num_hosts=2, seed=5) for _ in range(2))
    for sim in (general, known):
        sim.step(reclaim_bytes=sim.gauges().memory_current * 0.05)
        for _ in range(2):  # the first walk clears the referenced bits (second chance), the second writes
            sim.zswap_proactive_writeback(sim.gauges().zswap_pages * 4096.0 * 0.2)  # queued: WRITEBACK
        sim.gauges()  # the incremental tallies exist from here on
    loc = general.state.loc
    np.testing.assert_array_equal(loc, known.state.loc)
    flat = np.flatnonzero(loc == start)[::3]
    assert flat.size > 0
    general.store.set_loc(flat, end)
    known.store.set_loc(flat, end, from_loc=start)
    np.testing.assert_array_equal(general.state.loc, known.state.loc)
    for name in ("resident_pages", "zswap_pages", "swap_pages", "writeback_pages", "zswap_bytes", "zpool_bytes"):
        np.testing.assert_array_equal(getattr(general.gauges(), name), getattr(known.gauges(), name), err_msg=name)
    known.invalidate_gauges()  # and both equal a recount from the chunk arrays
    np.testing.assert_array_equal(general.gauges().zswap_bytes, known.gauges().zswap_bytes)
    np.testing.assert_array_equal(general.gauges().resident_pages, known.gauges().resident_pages)


@pytest.mark.parametrize("seed", range(3))
def test_select_oldest_flat_lists_the_definitions_chunks_in_ascending_order(seed: int) -> None:
    """``select_oldest_flat`` (the form the simulator calls, with or without a histogram made
    beforehand) gives the flat indices, ascending, of the chunks the reference definition picks."""
    from zswap_gym.sim.lru import age_histogram, select_oldest_flat

    rng = np.random.default_rng(seed)
    layout = ChunkLayout.from_capacities([40, 0, 25], 4)
    eligible = rng.random((3, layout.num_chunks)) < 0.7
    bins = rng.integers(0, AGE_BINS, size=eligible.shape).astype(np.int8)
    target = rng.integers(0, 12, size=(3, 4))
    expected = np.flatnonzero(reference_select_oldest(eligible, bins, target, layout))
    assert expected.size > 0
    flat = select_oldest_flat(eligible, bins, target, layout)
    np.testing.assert_array_equal(flat, expected)
    histogram = age_histogram(eligible, bins, layout)
    np.testing.assert_array_equal(select_oldest_flat(None, None, target, layout, histogram), expected)


def test_the_step_p99_is_computed_on_first_read_and_listed_with_the_other_arrays() -> None:
    """``StepMetrics.refault_latency_p99_us`` is the mixture quantile of the step's refaults by tier,
    computed when read; zero where nothing refaulted."""
    from zswap_gym.sim.metrics import REFAULT_TIERS, refault_latency_quantile

    sim = Simulator(load_scenario("default"), num_hosts=2, seed=2)
    m = None
    for _ in range(30):
        m = sim.step(reclaim_bytes=sim.gauges().memory_current * 0.03)
    assert m is not None
    weights = np.stack([m.refault_pages[t] for t in REFAULT_TIERS], axis=-1)
    assert weights.sum() > 0
    expected = refault_latency_quantile(weights, m.host_refault_tier_mean_us, 0.99)
    np.testing.assert_array_equal(m.refault_latency_p99_us, expected)
    assert (m.refault_latency_p99_us[weights.sum(-1) == 0] == 0).all()
    np.testing.assert_array_equal(m.all_arrays()["refault_latency_p99_us"], expected)
    assert m.host(1)["refault_latency_p99_us"] == expected[1].tolist()


def test_adapter_steps_through_a_patched_step() -> None:
    """The SB3 adapter's lean path (no vector info) is only taken while the vector env's own
    ``step`` is in place: a ``step`` patched onto the instance is what the adapter then calls."""
    venv = HostOffloadSB3VecEnv(num_envs=2, scenario="default")
    venv.seed(0)
    venv.reset()
    inner = venv.venv.step
    calls = []

    def patched(actions):
        calls.append(1)
        return inner(actions)

    venv.venv.step = patched
    venv.step(np.zeros((2, *venv.action_space.shape), dtype=np.float32))
    assert calls == [1]
