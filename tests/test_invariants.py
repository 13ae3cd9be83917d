"""Property-based invariants of the simulator (docs/model.md §15, issue 2 "Invariants").

Random small scenarios (chunk size, DRAM, 1-3 tenants, rate bands, zero/incompressible shares, every
cgroup limit, zswap writeback on/off, shrinker on/off, pool size, swap capacity, NUMA nodes, every
phase kind) are driven by random action sequences (proactive reclaim and writeback, including zeros
and huge requests, and random cgroup knob writes between steps). After every step we check what is
physically true of a Linux host:

* pages are conserved: every chunk is in exactly one location, the footprint is the number of
  allocated chunks times ``chunk_pages``, and it is what the workload asked for (unless the memcg was
  OOM-killed in that step);
* no count, byte or time is negative, and every metric is finite;
* memory.stat / memory.events counters never decrease;
* swap slots in use never exceed the swap device (and grow only while under ``memory.swap.max``);
* the zswap pool never exceeds ``max_pool_percent`` of DRAM by more than the kernel's optimistic check
  allows (the store that crosses the limit is admitted: at most one chunk of stored data per memcg).

DRAM saved may legitimately be negative by at most the zswap entry metadata: an incompressible page
stored as-is occupies a whole 4 KiB page in the pool plus its ``struct zswap_entry``, so storing it
costs more DRAM than leaving it resident. So we assert ``dram_bytes <= footprint + metadata`` rather
than ``dram_saved >= 0``.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from helpers_sim import COLD, tenant, workload
from helpers_sim import scenario as make_scenario
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zswap_gym.sim import (
    KNOBS,
    HostConfig,
    Loc,
    Phase,
    RateBand,
    ScenarioConfig,
    Simulator,
    SwapDeviceConfig,
    TenantConfig,
    WorkloadConfig,
    ZswapConfig,
)
from zswap_gym.sim.config import CompressorConfig
from zswap_gym.sim.units import PAGE_SIZE
from zswap_gym.sim.workload import build_schedule

MiB = 1 << 20
GiB = 1 << 30
NUM_HOSTS = 2

SETTINGS = settings(
    max_examples=35,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Metrics that are signed by nature (see the module docstring for dram_saved). Free DRAM is not among
# them: after reclaim and the OOM killer have run, a host never uses more DRAM than it has.
SIGNED_METRICS = {"dram_saved_bytes", "host_dram_saved_bytes"}


# --------------------------------------------------------------------------------------------------
# Strategies
# --------------------------------------------------------------------------------------------------


@st.composite
def rate_bands(draw) -> tuple[RateBand, ...]:
    n = draw(st.integers(1, 3))
    weights = [draw(st.integers(1, 10)) for _ in range(n)]
    total = sum(weights)
    bands = []
    for w in weights:
        lo = 10.0 ** draw(st.floats(-6.0, 1.0))
        hi = min(lo * 10.0 ** draw(st.floats(0.0, 4.0)), 1e6)
        bands.append(RateBand(share=w / total, lo_hz=lo, hi_hz=max(hi, lo)))
    return tuple(bands)


@st.composite
def phases(draw, size_bytes: int) -> tuple[Phase, ...]:
    out = []
    for _ in range(draw(st.integers(0, 2))):
        kind = draw(st.sampled_from(["growth", "shrink", "burst", "shift", "diurnal"]))
        start = draw(st.sampled_from([0.0, 10.0, 30.0, 55.0]))
        duration = draw(st.sampled_from([10.0, 40.0, 200.0]))
        delta = int(size_bytes * draw(st.sampled_from([0.0, 0.1, 0.5, 1.0])))
        if kind in ("growth", "shrink"):
            out.append(Phase(kind=kind, start_s=start, duration_s=duration, size_delta_bytes=delta))
        elif kind == "burst":
            mult = draw(st.sampled_from([1.0, 5.0, 50.0]))
            out.append(
                Phase(kind=kind, start_s=start, duration_s=duration, size_delta_bytes=delta, rate_multiplier=mult)
            )
        elif kind == "shift":
            out.append(Phase(kind=kind, start_s=start, fraction=draw(st.sampled_from([0.1, 0.5, 1.0]))))
        else:
            out.append(
                Phase(
                    kind=kind,
                    start_s=start,
                    period_s=draw(st.sampled_from([60.0, 300.0])),
                    size_amplitude=draw(st.sampled_from([0.0, 0.3, 0.9])),
                    rate_amplitude=draw(st.sampled_from([0.0, 0.5, 0.9])),
                )
            )
    return tuple(out)


def optional_limit(fractions: list[float | None]):
    return st.sampled_from(fractions)


@st.composite
def scenarios(draw, *, initial_zswap: bool = False) -> ScenarioConfig:
    dram = draw(st.sampled_from([128 * MiB, 256 * MiB, 512 * MiB, 1 * GiB]))
    chunk_pages = draw(st.sampled_from([1, 4, 16, 64, 256]))
    # Keep a host to at most a few thousand chunks (the test must stay fast).
    while dram // (chunk_pages * PAGE_SIZE) > 4096:
        chunk_pages *= 4
    other = int(dram * draw(st.sampled_from([0.0, 0.05, 0.2])))
    n_tenants = draw(st.integers(1, 3))
    fill = draw(st.sampled_from([0.1, 0.5, 0.8, 0.95]))
    weights = [draw(st.integers(1, 5)) for _ in range(n_tenants)]
    room = (dram - other) * fill
    tenants = []
    for i, w in enumerate(weights):
        size = int(room * w / sum(weights)) // PAGE_SIZE * PAGE_SIZE
        zero = draw(st.sampled_from([0.0, 0.1, 0.4]))
        incompressible = draw(st.sampled_from([0.0, 0.2, 0.6]))
        workload = WorkloadConfig(
            size_bytes=size,
            rate_bands=draw(rate_bands()),
            compress_ratio_median=draw(st.sampled_from([1.0, 2.0, 3.0, 6.0])),
            compress_ratio_sigma=draw(st.sampled_from([0.0, 0.35, 1.0])),
            zero_filled_share=zero,
            incompressible_share=incompressible,
            uptime_s=draw(st.sampled_from([0.0, 600.0, 86400.0])),
            initial_zswap_idle_s=draw(st.sampled_from([None, 30.0, 600.0])) if initial_zswap else None,
            phases=draw(phases(size)),
        )

        def limit(fracs, size=size):
            f = draw(st.sampled_from(fracs))
            return None if f is None else int(size * f)

        tenants.append(
            TenantConfig(
                name=f"t{i}",
                workload=workload,
                memory_high_bytes=limit([None, None, 0.5, 0.9, 1.5]),
                memory_max_bytes=limit([None, None, 0.6, 1.0, 2.0]),
                zswap_max_bytes=limit([None, None, 0.0, 0.01, 0.1, 1.0]),
                zswap_writeback=draw(st.booleans()),
                swap_max_bytes=limit([None, None, 0.0, 0.05, 0.5]),
                nr_tasks=draw(st.sampled_from([1, 4, 16])),
            )
        )
    host = HostConfig(
        dram_bytes=dram,
        nr_nodes=draw(st.integers(1, 4)),
        chunk_pages=chunk_pages,
        step_s=draw(st.sampled_from([2.0, 10.0, 30.0])),
        other_used_bytes=other,
        swap=SwapDeviceConfig(
            capacity_bytes=int(dram * draw(st.sampled_from([0.0, 0.05, 0.3, 2.0]))) // PAGE_SIZE * PAGE_SIZE,
            write_iops=draw(st.sampled_from([2_000.0, 150_000.0])),
        ),
        zswap=ZswapConfig(
            enabled=draw(st.booleans()) or draw(st.booleans()),
            max_pool_percent=draw(st.sampled_from([0.0, 2.0, 20.0, 50.0])),
            accept_threshold_percent=draw(st.sampled_from([50.0, 90.0, 100.0])),
            shrinker_enabled=draw(st.booleans()),
        ),
        compressor=CompressorConfig.preset(draw(st.sampled_from(["lzo", "lz4", "zstd", "lzo-rle"]))),
    )
    max_memcgs = n_tenants + draw(st.integers(0, 1))  # sometimes an unused, masked slot
    return ScenarioConfig(name="prop", host=host, tenants=tuple(tenants), max_memcgs=max_memcgs).validate()


AMOUNTS = [0.0, 0.0, 4096.0, 100e3, 1 * MiB, 16 * MiB, 256 * MiB, 1e12, 1e30]


@st.composite
def action_plans(draw, num_memcgs: int, num_steps: int):
    """Per step: reclaim and writeback (H, M) arrays, an optional age threshold, knob writes."""
    plan = []
    n = NUM_HOSTS * num_memcgs
    for _ in range(num_steps):
        reclaim = np.array(draw(st.lists(st.sampled_from(AMOUNTS), min_size=n, max_size=n))).reshape(NUM_HOSTS, -1)
        writeback = np.array(draw(st.lists(st.sampled_from(AMOUNTS), min_size=n, max_size=n))).reshape(NUM_HOSTS, -1)
        min_age = draw(st.sampled_from([None, None, 0.0, 30.0, 600.0]))
        knobs = []
        for _ in range(draw(st.integers(0, 2))):
            knob = draw(st.sampled_from(KNOBS))
            host = draw(st.integers(0, NUM_HOSTS - 1))
            memcg = draw(st.integers(0, num_memcgs - 1))
            if knob == "memory.zswap.writeback":
                value = draw(st.booleans())
            else:
                value = draw(st.sampled_from([None, 0.0, 4096.0, 1 * MiB, 32 * MiB, 256 * MiB]))
            knobs.append((knob, host, memcg, value))
        # Occasionally a vector env resets one host mid-run (with or without a new seed).
        reset = draw(st.sampled_from([None] * 8 + [(1, None), (1, 1234), (0, 99)]))
        plan.append((reclaim, writeback, min_age, knobs, reset))
    return plan


# --------------------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------------------


def target_chunks(sim: Simulator, step_index: np.ndarray) -> np.ndarray:
    """Chunks each memcg's workload asks for at the end of each host's step ``step_index`` (H, M)."""
    lay = sim.layout
    steps = np.broadcast_to(np.asarray(step_index), (sim.num_hosts,))
    rows = [build_schedule(sim.cfg, 1, int(s)).size_chunks[0] for s in steps]
    return np.minimum(np.floor(np.stack(rows) + 0.5), lay.block_len[None, :]) * sim.memcg_active[None, :]


def check_state(sim: Simulator, label: str) -> None:
    """Invariants of the state alone (conservation, non-negativity, limits)."""
    st_, g = sim.state, sim.gauges()
    pages = sim.cfg.host.chunk_pages
    lay = sim.layout
    assert st_.loc.min() >= 0 and st_.loc.max() < Loc.COUNT, f"{label}: location out of range"
    # Conservation: count chunks per location straight from the chunk array.
    for h in range(sim.num_hosts):
        for m in range(sim.num_memcgs):
            locs = st_.loc[h, lay.owner == m]
            counts = np.bincount(locs, minlength=Loc.COUNT) * pages
            alive = (locs != Loc.ABSENT).sum() * pages
            assert g.footprint_pages[h, m] == alive, f"{label}: footprint {g.footprint_pages[h, m]} != {alive}"
            assert g.resident_pages[h, m] == counts[Loc.RESIDENT], label
            assert g.zswap_pages[h, m] == counts[Loc.ZSWAP], label
            assert g.swap_pages[h, m] == counts[Loc.SWAP], label
            assert g.zero_pages[h, m] == counts[Loc.SWAP_ZERO], label
            assert g.writeback_pages[h, m] == counts[Loc.WRITEBACK], label
            assert counts[1:].sum() == alive, f"{label}: locations do not add up to the footprint"
    parts = g.resident_pages + g.zswap_pages + g.swap_pages + g.zero_pages + g.writeback_pages
    np.testing.assert_array_equal(parts, g.footprint_pages, err_msg=label)
    assert (g.footprint_pages[:, ~sim.memcg_active] == 0).all(), f"{label}: an unused memcg slot holds memory"
    # Compressed size never exceeds the original; every zswap entry holds a swap slot.
    assert (g.zswap_bytes <= g.zswap_pages * PAGE_SIZE + 1e-6).all(), f"{label}: zswap > zswapped"
    assert (g.swap_slot_pages >= g.zswap_pages).all(), label
    # Swap never over the device's capacity.
    capacity_pages = sim.cfg.host.swap.capacity_bytes // PAGE_SIZE
    used = g.swap_slot_pages.sum(axis=1)
    assert (used <= capacity_pages).all(), f"{label}: swap slots {used} > capacity {capacity_pages} pages"
    # The pool: at most one chunk of stored data per memcg beyond the limit (optimistic check).
    slack = sim.memcg_active.sum() * pages * PAGE_SIZE
    assert (g.pool_bytes_host <= sim.max_pool_bytes + slack + 1e-6).all(), (
        f"{label}: pool {g.pool_bytes_host} > limit {sim.max_pool_bytes} + slack {slack}"
    )
    # Nothing negative or non-finite in the state. Limits may be inf ("max"); every other float array
    # must be finite (times, positions, sizes, counters, PSI).
    limits = {"memory_high", "memory_max", "zswap_max", "swap_max"}
    for f in dataclasses.fields(st_):
        value = getattr(st_, f.name)
        arrays = value.items() if isinstance(value, dict) else [(f.name, value)]
        for name, arr in arrays:
            if isinstance(arr, np.ndarray) and arr.dtype.kind == "f" and name not in limits:
                assert np.isfinite(arr).all(), f"{label}: state.{name} not finite"
    for name in limits:
        assert not np.isnan(getattr(st_, name)).any() and (getattr(st_, name) >= 0).all(), f"{label}: {name}"
    for name in ("rate_hz", "compressed_bytes", "zpool_bytes"):
        assert (getattr(st_, name) >= 0).all(), f"{label}: state.{name} negative"
    for name, arr in st_.counters.items():
        assert (arr >= 0).all(), f"{label}: counter {name} = {arr}"
    for name in (
        "psi_some_total_us",
        "psi_full_total_us",
        "shrinker_nr_deferred",
        "nr_disk_swapins",
        "device_backlog_pages",
        "device_bytes_written",
        "device_bytes_read",
    ):
        assert (getattr(st_, name) >= 0).all(), f"{label}: state.{name} = {getattr(st_, name)}"
    for name in ("psi_some_avg", "psi_full_avg"):
        arr = getattr(st_, name)
        assert (arr >= 0).all() and (arr <= 100 + 1e-9).all(), f"{label}: {name} = {arr}"


def check_metrics(sim: Simulator, m, label: str) -> None:
    """Every metric finite; amounts non-negative; DRAM accounting physically possible."""
    for name, arr in m.all_arrays().items():
        arr = np.asarray(arr, dtype=np.float64)
        assert np.isfinite(arr).all(), f"{label}: metric {name} not finite: {arr}"
        if name.split(".")[0] not in SIGNED_METRICS:
            assert (arr >= 0).all(), f"{label}: metric {name} negative: {arr}"
    g = sim.gauges()
    metadata = g.zswap_pages * sim.cfg.host.zswap.entry_metadata_bytes
    # DRAM used by a memcg is at most its footprint plus zswap entry metadata (incompressible pages).
    assert (m.dram_bytes <= m.footprint_bytes + metadata + 1e-6).all(), (
        f"{label}: dram {m.dram_bytes} > footprint {m.footprint_bytes} + metadata {metadata}"
    )
    assert (m.dram_saved_bytes >= -metadata - 1e-6).all(), label
    np.testing.assert_array_equal(m.footprint_bytes, g.footprint_pages * PAGE_SIZE, err_msg=label)
    assert (m.zswap_bytes <= m.zswapped_bytes + 1e-6).all(), f"{label}: compressed bytes exceed original bytes"
    assert (m.swap_bytes >= m.zswapped_bytes).all(), f"{label}: a zswap entry without a swap slot"
    for name in ("psi_some_avg10", "psi_some_avg60", "psi_full_avg10"):
        assert (getattr(m, name) <= 100 + 1e-9).all(), f"{label}: {name} above 100 %"
    assert (m.psi_full_avg10 <= m.psi_some_avg10 + 1e-9).all(), f"{label}: PSI full above some"
    assert (m.host_device_utilisation <= 1.0).all(), label
    assert (m.psi_some_stall_s <= sim.cfg.host.step_s + 1e-9).all(), f"{label}: some-stall longer than the step"
    n_refaults = sum(m.refault_pages.values())
    assert ((n_refaults == 0) | (m.refault_latency_mean_us > 0)).all(), f"{label}: refaults with zero latency"
    assert (m.refault_latency_p99_us >= 0).all(), label


def run_plan(sim: Simulator, plan) -> None:
    check_state(sim, "reset")
    counters = {k: v.copy() for k, v in sim.state.counters.items()}
    pages = sim.cfg.host.chunk_pages
    for i, (reclaim, writeback, min_age, knobs, reset) in enumerate(plan):
        label = f"step {i}"
        if reset is not None:
            host, seed = reset
            mask = np.arange(sim.num_hosts) == host
            sim.reset_hosts(mask, None if seed is None else [seed] * sim.num_hosts)
            check_state(sim, f"{label} after resetting host {host}")
            for name, arr in sim.state.counters.items():
                counters[name][mask] = arr[mask]  # a reset host's counters start again from zero
        for knob, host, memcg, value in knobs:
            sim.set_knob(knob, host, memcg, value)
        swap_before = sim.gauges().swap_slot_pages.copy()
        swap_max = sim.state.swap_max.copy()
        step_index = np.array(sim.state.step_index, copy=True)
        m = sim.step(reclaim, writeback, min_age)
        check_state(sim, label)
        check_metrics(sim, m, label)
        g = sim.gauges()
        # Counters monotone.
        for name, arr in sim.state.counters.items():
            assert (arr >= counters[name]).all(), f"{label}: counter {name} decreased {counters[name]} -> {arr}"
        counters = {k: v.copy() for k, v in sim.state.counters.items()}
        # Swap usage grows only while under memory.swap.max (lowering it does not free slots).
        bound = np.maximum(swap_max, swap_before * PAGE_SIZE)
        assert (g.swap_slot_pages * PAGE_SIZE <= bound + 1e-6).all(), (
            f"{label}: swap {g.swap_slot_pages * PAGE_SIZE} > max(swap.max, before) {bound}"
        )
        # The footprint is what the workload allocated, unless the memcg was OOM-killed this step.
        want = target_chunks(sim, step_index) * pages
        expected = np.where(m.oom_kills > 0, 0.0, want)
        np.testing.assert_array_equal(
            g.footprint_pages, expected, err_msg=f"{label}: footprint differs from the workload's allocation"
        )


# --------------------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------------------


@SETTINGS
@given(data=st.data(), scenario=scenarios())
def test_invariants_hold_under_random_configs_and_actions(data, scenario):
    """Conservation, non-negativity, monotone counters, swap and pool limits after every random step."""
    sim = Simulator(scenario, num_hosts=NUM_HOSTS, seed=data.draw(st.integers(0, 2**31 - 1)))
    plan = data.draw(action_plans(sim.num_memcgs, data.draw(st.integers(4, 12))))
    run_plan(sim, plan)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario=scenarios(initial_zswap=True), seed=st.integers(0, 2**31 - 1))
def test_initial_state_respects_swap_capacity_and_every_limit(scenario, seed):
    """A tenant starting with cold memory in zswap fits the swap device, the pool, zswap.max, swap.max."""
    sim = Simulator(scenario, num_hosts=NUM_HOSTS, seed=seed)
    check_state(sim, "reset")
    g = sim.gauges()
    chunk_bytes = scenario.host.chunk_bytes
    # The state a steady-state tenant reached through reclaim obeys its limits as reclaim would have.
    assert (g.zswap_bytes <= sim.state.zswap_max + chunk_bytes).all(), (
        f"reset: zswap {g.zswap_bytes} > memory.zswap.max {sim.state.zswap_max} + one chunk"
    )
    assert (g.swap_slot_pages * PAGE_SIZE <= sim.state.swap_max).all(), (
        f"reset: swap {g.swap_slot_pages * PAGE_SIZE} > memory.swap.max {sim.state.swap_max}"
    )
    assert (g.pool_bytes_host <= sim.max_pool_bytes).all(), (
        f"reset: pool {g.pool_bytes_host} > the host's limit {sim.max_pool_bytes}"
    )


def test_initial_zswap_of_several_tenants_shares_the_host_pool_limit():
    """The global pool limit is per host (``zswap_check_limits()`` compares the whole pool with
    ``max_pool_percent``): three cold tenants starting in zswap together stay within it, the tenants
    set up later getting what the earlier ones left (regression: each was checked alone)."""
    tenants = tuple(
        tenant(f"t{i}", wl=workload(1 * GiB, (COLD,), initial_zswap_idle_s=30.0), nr_tasks=2) for i in range(3)
    )
    sc = make_scenario(*tenants, dram=4 * GiB, zswap=ZswapConfig(max_pool_percent=5.0))
    sim = Simulator(sc, num_hosts=2, seed=0)
    g = sim.gauges()
    assert (g.pool_bytes_host <= sim.max_pool_bytes).all()
    assert (g.pool_bytes_host >= 0.9 * sim.max_pool_bytes).all()  # the pool is filled, not left empty
    assert (g.zswap_pages[:, 0] > 0).all()


@SETTINGS
@given(data=st.data(), scenario=scenarios(initial_zswap=True))
def test_invariants_hold_from_a_steady_state_start(data, scenario):
    """The same invariants hold when tenants start with their cold memory already in zswap."""
    sim = Simulator(scenario, num_hosts=NUM_HOSTS, seed=data.draw(st.integers(0, 2**31 - 1)))
    g = sim.gauges()
    # Only meaningful where the start itself is legal (covered by the test above).
    capacity_pages = scenario.host.swap.capacity_bytes // PAGE_SIZE
    slack = sim.memcg_active.sum() * scenario.host.chunk_pages * PAGE_SIZE
    if (g.swap_slot_pages.sum(axis=1) > capacity_pages).any() or (g.pool_bytes_host > sim.max_pool_bytes + slack).any():
        return
    plan = data.draw(action_plans(sim.num_memcgs, data.draw(st.integers(3, 8))))
    run_plan(sim, plan)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31 - 1), huge=st.sampled_from([1e19, 1e30, 1e300]))
def test_huge_reclaim_request_reclaims_at_least_what_a_whole_memcg_request_does(seed, huge):
    """memory.reclaim of an absurdly large amount reclaims as much as a request for the whole memcg."""
    scenario = ScenarioConfig(
        name="huge",
        host=HostConfig(dram_bytes=512 * MiB, chunk_pages=64, other_used_bytes=0),
        tenants=(TenantConfig(name="a", workload=WorkloadConfig(size_bytes=256 * MiB)),),
        max_memcgs=1,
    ).validate()
    whole = Simulator(scenario, seed=seed)
    big = Simulator(scenario, seed=seed)
    footprint = float(whole.gauges().footprint_pages[0, 0] * PAGE_SIZE)
    got_whole = whole.memory_reclaim(np.array([[footprint]]))[0, 0]
    got_big = big.memory_reclaim(np.array([[huge]]))[0, 0]
    assert got_whole > 0
    assert got_big >= got_whole, f"reclaim of {huge:g} bytes took {got_big:g}, of the footprint {got_whole:g}"
    # Writeback likewise (two passes: the first only rotates freshly stored entries).
    for _ in range(2):
        wb_whole = whole.zswap_proactive_writeback(np.array([[footprint]]))[0, 0]
        wb_big = big.zswap_proactive_writeback(np.array([[huge]]))[0, 0]
    assert wb_whole > 0
    assert wb_big >= wb_whole, f"writeback of {huge:g} bytes wrote {wb_big:g}, of the footprint {wb_whole:g}"


def test_invariants_hold_on_the_default_scenario_under_aggressive_actions():
    """A fixed aggressive run of the default scenario (two hosts) keeps every invariant for 40 steps."""
    from zswap_gym.sim import load_scenario

    scenario = load_scenario("default")
    sim = Simulator(scenario, num_hosts=2, seed=7)
    rng = np.random.default_rng(0)
    plan = []
    for i in range(40):
        reclaim = rng.choice([0.0, 64 * MiB, 1 * GiB], size=(2, sim.num_memcgs))
        writeback = rng.choice([0.0, 32 * MiB, 4 * GiB], size=(2, sim.num_memcgs))
        knobs = [("memory.zswap.max", 0, 0, 64 * MiB)] if i == 10 else []
        if i == 20:
            knobs = [("memory.high", 1, 0, 6 * GiB), ("memory.zswap.writeback", 0, 1, False)]
        plan.append((reclaim, writeback, 60.0 if i % 5 == 0 else None, knobs, (1, 5) if i == 30 else None))
    run_plan(sim, plan)
    assert math.isfinite(float(sim.state.device_bytes_written.sum()))


# --------------------------------------------------------------------------------------------------
# Fixed regressions of what the properties above found (fail reliably, whatever hypothesis draws)
# --------------------------------------------------------------------------------------------------


def small_host(**host) -> HostConfig:
    return HostConfig(dram_bytes=128 * MiB, chunk_pages=16, step_s=2.0, other_used_bytes=0, **host)


def flat_workload(size_bytes: int, phases: tuple[Phase, ...] = (), **kw) -> WorkloadConfig:
    return WorkloadConfig(
        size_bytes=size_bytes, rate_bands=(RateBand(1.0, 1.0, 1.0),), zero_filled_share=0.0, phases=phases, **kw
    )


def test_huge_reclaim_request_never_overfills_the_swap_device():
    """A memory.reclaim of 1e30 bytes on one memcg does not let another memcg's reclaim past swap capacity."""
    scenario = ScenarioConfig(
        name="noswap",
        host=small_host(swap=SwapDeviceConfig(capacity_bytes=0)),
        tenants=(
            TenantConfig(name="a", workload=flat_workload(30 * MiB)),
            TenantConfig(name="b", workload=flat_workload(30 * MiB)),
        ),
        max_memcgs=2,
    ).validate()
    sim = Simulator(scenario, seed=0)
    sim.memory_reclaim(np.array([[8 * MiB, 1e30]]))
    check_state(sim, "after reclaim of [8M, 1e30]")


def test_host_never_uses_more_dram_than_it_has_when_a_memcg_oom_coincides():
    """A memcg-level OOM kill in the same step does not stop the host OOM killer (free DRAM >= 0)."""
    scenario = ScenarioConfig(
        name="oom",
        host=small_host(swap=SwapDeviceConfig(capacity_bytes=0), zswap=ZswapConfig(enabled=False)),
        tenants=(
            TenantConfig(name="a", workload=flat_workload(20 * MiB)),
            TenantConfig(name="capped", memory_max_bytes=12 * MiB, workload=flat_workload(20 * MiB)),
            TenantConfig(
                name="growing",
                workload=flat_workload(81 * MiB, (Phase(kind="growth", duration_s=10.0, size_delta_bytes=40 * MiB),)),
            ),
        ),
        max_memcgs=3,
    ).validate()
    sim = Simulator(scenario, seed=0)
    for i in range(6):
        m = sim.step()
        assert (m.host_dram_free_bytes >= 0).all(), (
            f"step {i}: free DRAM {m.host_dram_free_bytes / MiB} MiB; footprints "
            f"{sim.gauges().footprint_pages[0] * PAGE_SIZE / MiB} MiB; OOM kills {m.oom_kills[0]}"
        )


def test_initial_zswap_residency_respects_swap_capacity_and_the_pool_limit():
    """initial_zswap_idle_s puts cold memory in zswap only as far as swap slots and the pool allow."""
    scenario = ScenarioConfig(
        name="steady",
        host=HostConfig(
            dram_bytes=1 * GiB,
            chunk_pages=16,
            other_used_bytes=0,
            swap=SwapDeviceConfig(capacity_bytes=64 * MiB),
            zswap=ZswapConfig(max_pool_percent=2.0),
        ),
        tenants=(
            TenantConfig(
                name="a",
                workload=WorkloadConfig(size_bytes=800 * MiB, initial_zswap_idle_s=30.0),
            ),
        ),
        max_memcgs=1,
    ).validate()
    check_state(Simulator(scenario, seed=0), "reset")
