"""The simulator's per-step bookkeeping, done in fewer numpy operations, gives exactly what the plain
computation gives.

* The gauge tally is one (location + 2, H * M) block: the sums over locations (footprint, swap
  slots, DRAM) equal the sums of the location fields; ``set_loc`` with a per-chunk source array and
  completing every write at once move the counts exactly as the general path does.
* The step's tallies are slices of one block (refault tiers and writeback sources as whole blocks),
  kept through pickling, deep copies and snapshots.
* Shortcuts taken when a cheap check says nothing happens (no ``memory.swap.max``, enough free swap
  slots, no chunk rejected, every footprint as scheduled, no swap-ins) give the full computation's
  result; the metrics' mean refault latency and promotion rate equal their ``np.where`` definitions,
  and the figures computed on first read (``events``, mean latency, promotion, p99) are listed as
  every other figure.
"""

from __future__ import annotations

import copy
import pickle
from dataclasses import replace

import numpy as np
import pytest

from zswap_gym.sim import Loc, ScenarioConfig, Simulator, load_scenario
from zswap_gym.sim.allocation import SCHEDULE_BLOCK
from zswap_gym.sim.simulator import _checked_request
from zswap_gym.sim.state import REFAULT_TIERS, WRITEBACK_SOURCES, StepTallies
from zswap_gym.sim.units import PAGE_SIZE
from zswap_gym.sim.workload import build_schedule


def stepped(num_hosts: int = 3, steps: int = 12, seed: int = 4, scenario: ScenarioConfig | None = None) -> Simulator:
    """A simulator (default scenario) after ``steps`` steps of random reclaim and writeback."""
    sim = Simulator(scenario or load_scenario("default"), num_hosts=num_hosts, seed=seed)
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        g = sim.gauges()
        sim.step(
            reclaim_bytes=g.memory_current * rng.uniform(0, 0.03, size=g.memory_current.shape),
            writeback_bytes=g.zswap_pages * PAGE_SIZE * rng.uniform(0, 0.1, size=g.memory_current.shape),
        )
    return sim


def run(sim: Simulator, steps: int, seed: int = 1) -> list[dict[str, np.ndarray]]:
    """Every metric array of ``steps`` more steps of random actions."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(steps):
        g = sim.gauges()
        m = sim.step(
            reclaim_bytes=g.memory_current * rng.uniform(0, 0.03, size=g.memory_current.shape),
            writeback_bytes=g.zswap_pages * PAGE_SIZE * rng.uniform(0, 0.1, size=g.memory_current.shape),
        )
        out.append({k: np.array(v) for k, v in m.all_arrays().items()})
    return out


def assert_same_runs(a: list[dict[str, np.ndarray]], b: list[dict[str, np.ndarray]]) -> None:
    assert len(a) == len(b)
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        assert x.keys() == y.keys()
        for k in x:
            np.testing.assert_array_equal(x[k], y[k], err_msg=f"step {i}: {k}")


def test_gauge_sums_equal_the_sums_of_the_location_fields() -> None:
    g = stepped().gauges()
    r, z, s, zero, wb = g.resident_pages, g.zswap_pages, g.swap_pages, g.zero_pages, g.writeback_pages
    np.testing.assert_array_equal(g.footprint_pages, r + z + s + zero + wb)
    np.testing.assert_array_equal(g.swap_slot_pages, z + s + zero + wb)
    in_dram = (r + wb) * PAGE_SIZE
    np.testing.assert_array_equal(g.memory_current, in_dram + g.zswap_bytes)
    metadata = z * load_scenario("default").host.zswap.entry_metadata_bytes
    np.testing.assert_array_equal(g.dram_bytes, in_dram + g.zpool_bytes + metadata)


def test_set_loc_with_each_chunks_source_matches_reading_it() -> None:
    """``from_loc`` as an array (one source per chunk) moves the counts and zswap sums as reading
    each chunk's location does."""
    read, given = stepped(), stepped()
    read.gauges(), given.gauges()  # the incremental tallies exist from here on
    loc = read.state.loc
    flat = np.flatnonzero((loc != Loc.ABSENT) & (loc != Loc.RESIDENT))[::2]
    assert len(np.unique(loc.reshape(-1)[flat])) >= 3  # several sources at once
    read.store.set_loc(flat, Loc.RESIDENT)
    given.store.set_loc(flat, Loc.RESIDENT, from_loc=given.state.loc.reshape(-1)[flat])
    np.testing.assert_array_equal(read.state.loc, given.state.loc)
    for name, value in read.gauges().as_dict().items():
        np.testing.assert_array_equal(value, getattr(given.gauges(), name), err_msg=name)
    given.invalidate_gauges()  # and a recount from the chunk arrays
    for name, value in read.gauges().as_dict().items():
        np.testing.assert_array_equal(value, getattr(given.gauges(), name), err_msg=name)


@pytest.mark.parametrize("tally_built", [True, False])
def test_completing_every_write_matches_moving_the_chunks_one_by_one(tally_built: bool) -> None:
    one_by_one, at_once = stepped(), stepped()
    for sim in (one_by_one, at_once):
        sim.zswap_proactive_writeback(sim.gauges().zswap_pages * PAGE_SIZE * 0.3)  # rotates
        sim.zswap_proactive_writeback(sim.gauges().zswap_pages * PAGE_SIZE * 0.3)  # queues writes
        if tally_built:
            sim.gauges()
        else:
            sim.invalidate_gauges()
    in_flight = one_by_one.state.loc == Loc.WRITEBACK
    assert np.count_nonzero(in_flight)
    one_by_one.store.set_loc(in_flight, Loc.SWAP, from_loc=Loc.WRITEBACK)
    at_once.store.complete_all_writeback()
    np.testing.assert_array_equal(one_by_one.state.loc, at_once.state.loc)
    for name, value in one_by_one.gauges().as_dict().items():
        np.testing.assert_array_equal(value, getattr(at_once.gauges(), name), err_msg=name)


def test_step_tallies_are_one_block_through_pickles_copies_and_snapshots() -> None:
    sim = stepped(num_hosts=2, steps=3)
    sim.memory_reclaim(sim.gauges().memory_current * 0.02)  # tallies between steps count toward the next
    tallies = sim.state.tallies
    names = (
        [f"stall_s.{k}" for k in tallies.stall_s]
        + [f"refault_pages.{k}" for k in REFAULT_TIERS]
        + ["window_stall_s", "window_swapin_pages"]
        + [f"writeback_chunks.{k}" for k in WRITEBACK_SOURCES]
        + ["charged_pages", "spread_stall_s", "oom_kills", "write_pages_submitted"]
    )
    assert list(tallies.as_dict()) == names
    for other in (copy.deepcopy(tallies), pickle.loads(pickle.dumps(tallies)), sim.get_state().tallies):
        for key, value in tallies.as_dict().items():
            np.testing.assert_array_equal(other.as_dict()[key], value, err_msg=key)
        other.refault_pages["swap"] += 3.0
        other.writeback_chunks["shrinker"] += 2.0
        np.testing.assert_array_equal(other.refault_by_tier[REFAULT_TIERS.index("swap")], other.refault_pages["swap"])
        np.testing.assert_array_equal(
            other.writeback_by_source[WRITEBACK_SOURCES.index("shrinker")], other.writeback_chunks["shrinker"]
        )
        assert not np.shares_memory(other.stall_s["zswap_refault"], tallies.stall_s["zswap_refault"])
    fresh = StepTallies(2, sim.num_memcgs, sim.psi_windows)
    for tier, block_row in zip(REFAULT_TIERS, fresh.refault_by_tier, strict=True):
        assert np.shares_memory(block_row, fresh.refault_pages[tier])


def test_snapshots_pickles_and_copies_continue_identically() -> None:
    sim = stepped(num_hosts=2, steps=6)
    sim.memory_reclaim(sim.gauges().memory_current * 0.02)  # pending tallies go with the state
    state = sim.get_state()
    copies = [copy.deepcopy(sim), pickle.loads(pickle.dumps(sim))]
    restored = Simulator(load_scenario("default"), num_hosts=2, seed=99)
    restored.set_state(state)
    expected = run(sim, 8)
    for other in [*copies, restored]:
        assert_same_runs(run(other, 8), expected)


def test_a_pickled_simulator_holds_only_its_scenario_and_state() -> None:
    """Everything else (layout, tables, the chunk store's tally and gauges, caches, the random
    streams' positions) is derived from the state again when it is unpickled."""
    sim = stepped(num_hosts=2, steps=2)
    assert set(sim.__getstate__()) == {"cfg", "num_hosts", "first_host", "seed", "state"}


def test_mean_latency_and_promotion_rate_equal_their_definitions() -> None:
    sim = stepped(num_hosts=3, steps=4)
    refaulted = 0
    for m in (sim.step(reclaim_bytes=sim.gauges().memory_current * 0.03) for _ in range(12)):
        weights = np.stack([m.refault_pages[t] for t in REFAULT_TIERS], axis=-1)
        tier_means = m.host_refault_tier_mean_us
        n = np.add.reduce(weights, axis=-1)
        mean = np.where(n > 0, np.add.reduce(weights * tier_means[:, None, :], axis=-1) / np.maximum(n, 1.0), 0.0)
        np.testing.assert_array_equal(m.refault_latency_mean_us, mean)
        assert not np.signbit(m.refault_latency_mean_us).any()
        footprint = m.footprint_bytes / PAGE_SIZE
        promotion = np.where(footprint > 0, n / np.maximum(footprint, 1.0), 0.0) * (60.0 / sim.cfg.host.step_s)
        np.testing.assert_array_equal(m.promotion_rate_per_min, promotion)
        refaulted += np.count_nonzero(n)
    assert refaulted


def test_figures_computed_on_first_read_are_in_every_listing_and_match_the_counters() -> None:
    """``events``, the mean latency, the promotion rate and the p99 are computed when first read
    (nothing in the env's step reads them); every listing still has them, under the same names."""
    sim = stepped(num_hosts=2, steps=3)
    before = {k: v.copy() for k, v in sim.state.counters.items()}
    m = sim.step(reclaim_bytes=sim.gauges().memory_current * 0.02)
    for name, value in sim.state.counters.items():
        np.testing.assert_array_equal(m.events[name], value - before[name], err_msg=name)
        np.testing.assert_array_equal(m.event(name), m.events[name], err_msg=name)
    np.testing.assert_array_equal(m.cpu_s["reclaim"], m.events["cpu_reclaim_s"])
    names = set(m.all_arrays())
    for lazy in ("refault_latency_mean_us", "promotion_rate_per_min", "refault_latency_p99_us"):
        assert lazy in names and lazy in m.host(0)
    assert {f"events.{k}" for k in sim.state.counters} <= names
    assert not any(name.startswith("_") for name in names | set(m.host(1)))
    clone = pickle.loads(pickle.dumps(m))
    np.testing.assert_array_equal(clone.refault_latency_mean_us, m.refault_latency_mean_us)


@pytest.mark.parametrize("scenario_name", ["default", "crowded-small-host", "ml-incompressible", "batch-expand-high"])
def test_no_host_ever_uses_more_dram_than_its_bound(scenario_name: str) -> None:
    """The DRAM bound behind skipping the watermark and host-OOM checks (every chunk slot
    allocated, each page resident or a whole-page zswap entry with its metadata, plus the memory
    outside the tenants) is never exceeded, whatever reclaim and writeback do; the default
    scenario's bound lies below its low watermark, a crowded host's does not."""
    sim = Simulator(load_scenario(scenario_name), num_hosts=2, seed=1)
    rng = np.random.default_rng(2)
    host = sim.cfg.host
    for _ in range(30):
        g = sim.gauges()
        sim.step(
            reclaim_bytes=g.memory_current * rng.uniform(0, 0.2, size=g.memory_current.shape),
            writeback_bytes=g.zswap_pages * PAGE_SIZE * rng.uniform(0, 0.5, size=g.memory_current.shape),
        )
        assert (sim.gauges().dram_used_host <= sim._dram_bound_bytes).all()
    low_free = host.dram_bytes * host.watermark_low_percent / 100.0
    below_watermark_possible = host.dram_bytes - sim._dram_bound_bytes < low_free
    assert below_watermark_possible == (scenario_name == "crowded-small-host")


def test_reclaim_under_an_unreachable_swap_max_equals_reclaim_without_one() -> None:
    """The memory.swap.max room is skipped where no memcg sets it; a limit nothing reaches gives the
    same step."""
    unlimited, limited = stepped(seed=2), stepped(seed=2)
    for host in range(limited.num_hosts):
        for memcg in range(limited.num_memcgs):
            limited.set_knob("memory.swap.max", host, memcg, 1 << 60)
    assert_same_runs(run(limited, 6), run(unlimited, 6))


def test_reclaim_shares_the_free_swap_slots_when_they_run_short() -> None:
    """With fewer free slots than the requests need, each host's targets are scaled down (the full
    path), never taking more than the free slots."""
    probe = stepped(num_hosts=2, steps=2)
    used = np.add.reduce(probe.gauges().swap_slot_pages, axis=1)
    host = probe.cfg.host
    capacity = (int(used.max()) + 40 * host.chunk_pages) * PAGE_SIZE  # about 40 chunks free at most
    small_swap = replace(probe.cfg, host=replace(host, swap=replace(host.swap, capacity_bytes=capacity)))
    sim = stepped(num_hosts=2, steps=2, scenario=small_swap)
    g = sim.gauges()
    used = np.add.reduce(g.swap_slot_pages, axis=1)
    free = sim.swap_capacity_pages - used
    sim.memory_reclaim(g.memory_current * 0.2)
    taken = np.add.reduce(sim.gauges().swap_slot_pages, axis=1) - used
    assert (taken <= free).all() and (taken > 0).all()


def test_schedule_targets_are_the_rounded_capped_footprints_of_each_hosts_step() -> None:
    sim = Simulator(load_scenario("default"), num_hosts=3, seed=0)
    steps = np.array([5, SCHEDULE_BLOCK + 7, 5])  # hosts reset at different times: two blocks
    target, rate, shift, invert = sim.schedule.rows(steps)
    for host, step in enumerate(steps.tolist()):
        block, i = divmod(step, SCHEDULE_BLOCK)
        table = build_schedule(sim.cfg, SCHEDULE_BLOCK, block * SCHEDULE_BLOCK)
        want = np.minimum(np.floor(table.size_chunks[i] + 0.5), sim.layout.block_len) * sim.memcg_active
        np.testing.assert_array_equal(target[host], want)
        np.testing.assert_array_equal(rate[host], table.rate_multiplier[i])
        np.testing.assert_array_equal(shift[host], table.shift_fraction[i])
        np.testing.assert_array_equal(invert[host], table.shift_invert[i])
    table = build_schedule(sim.cfg, SCHEDULE_BLOCK, 0)
    one_table = sim.schedule.rows(np.array([5, 6, 7]))  # every host in one block
    want = np.minimum(np.floor(table.size_chunks[5:8] + 0.5), sim.layout.block_len) * sim.memcg_active
    np.testing.assert_array_equal(one_table[0], want)


@pytest.mark.parametrize("num_hosts", [1, 3])
def test_lru_push_tail_hands_out_the_next_positions_in_the_order_given(num_hosts: int) -> None:
    sim = stepped(num_hosts=num_hosts, steps=2)
    st, c = sim.state, sim.layout.num_chunks
    rng = np.random.default_rng(0)
    idx = np.concatenate([h * c + rng.permutation(c)[: 5 + 3 * h] for h in range(num_hosts)])
    tail = st.lru_tail.copy()
    sim.store.lru_push_tail(idx)
    for h in range(num_hosts):
        mine = idx[idx // c == h]
        np.testing.assert_array_equal(st.lru_seq.reshape(-1)[mine], tail[h] + np.arange(1, mine.size + 1))
        assert st.lru_tail[h] == tail[h] + mine.size


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, -1.0])
def test_requests_must_be_finite_and_non_negative(bad: float) -> None:
    request = np.zeros((2, 3))
    request[1, 2] = bad
    with pytest.raises(ValueError, match="finite and >= 0"):
        _checked_request(request, "memory.reclaim", (2, 3))
    request[1, 2] = -0.0
    assert _checked_request(request, "memory.reclaim", (2, 3)) is not None
