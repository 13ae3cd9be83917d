"""Kernel conformance: one test per mechanism of docs/model.md (§6-§11) / issue 2.

Each test is named after the behaviour it checks and quotes, in its docstring, the kernel source
(``mm/zswap.c``, ``mm/memcontrol.c``, ``mm/vmscan.c``, ``kernel/sched/psi.c``) or the seed thread
(``shared/seed/zswap-proactive-writeback-thread.txt``) that states it. Tests drive
:class:`zswap_gym.sim.Simulator` directly on small scenarios built in :mod:`helpers_sim`.

Chunks: the simulator moves ``chunk_pages`` pages together, so "one entry" is one chunk and
page counts are exact multiples of ``chunk_pages``; tolerances of one chunk allow for that.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers_sim import (  # tests/ is on sys.path under pytest (rootdir-relative import)
    COLD,
    HOT,
    PAGE_SIZE,
    GiB,
    Loc,
    MiB,
    SwapDeviceConfig,
    ZswapConfig,
    band,
    chunk_bytes,
    counter,
    gauge,
    loc_pages,
    make_sim,
    pool_bytes,
    req,
    scenario,
    second_chance_pass,
    tenant,
    workload,
)

from zswap_gym.sim import Phase, RateBand, Simulator
from zswap_gym.sim.memcg_limits import high_delay_s, high_throttle_sleep_s
from zswap_gym.sim.psi import update_averages

WARM = RateBand(share=1.0, lo_hz=1e-3, hi_hz=1e-2)
"""Touched every 100-1000 s: memory that proactive reclaim takes and the workload later wants back."""


def expected_compressed_per_page(ratio: float, sigma: float) -> float:
    """Mean of 4096 / ratio for log(ratio) ~ N(log(median), sigma^2)."""
    return PAGE_SIZE / ratio * math.exp(sigma**2 / 2.0)


# ------------------------------------------------------------------------------------------------
# memory.reclaim
# ------------------------------------------------------------------------------------------------


def test_memory_reclaim_stores_the_requested_cold_bytes_in_zswap():
    """``memory.reclaim`` (mm/memcontrol.c ``memory_reclaim()`` -> ``try_to_free_mem_cgroup_pages()``)
    reclaims the requested bytes from the cold end of the memcg's LRU; each anon page goes through
    ``swap_writepage()`` -> ``zswap_store()``, which counts ``ZSWPOUT`` per page, charges the
    compressed size to the memcg (``obj_cgroup_charge_zswap()``: memory.stat ``zswap``) and counts
    the original size as ``zswapped``. memory.current keeps the compressed bytes, so it falls by N
    minus the compressed size."""
    ratio, sigma = 3.0, 0.2
    wl = workload(1 * GiB, (band(0.5, HOT), band(0.5, COLD)), ratio=ratio, sigma=sigma)
    sim = make_sim(tenant(wl=wl))
    n = 256 * MiB
    chunk = chunk_bytes(sim)
    current0, zswap0 = gauge(sim, "memory_current"), gauge(sim, "zswap_bytes")
    zswapped0, resident0 = gauge(sim, "zswap_pages") * PAGE_SIZE, gauge(sim, "resident_pages") * PAGE_SIZE
    zswpout0 = counter(sim, "zswpout")

    got = float(sim.memory_reclaim(req(sim, n))[0, 0])

    assert got == pytest.approx(n, abs=chunk)
    assert counter(sim, "zswpout") - zswpout0 == pytest.approx(n / PAGE_SIZE, abs=sim.cfg.host.chunk_pages)
    d_zswapped = gauge(sim, "zswap_pages") * PAGE_SIZE - zswapped0
    assert d_zswapped == pytest.approx(n, abs=chunk)
    assert resident0 - gauge(sim, "resident_pages") * PAGE_SIZE == pytest.approx(n, abs=chunk)
    d_zswap = gauge(sim, "zswap_bytes") - zswap0
    assert d_zswap == pytest.approx(n / PAGE_SIZE * expected_compressed_per_page(ratio, sigma), rel=0.05)
    assert gauge(sim, "memory_current") == pytest.approx(current0 - (n - d_zswap), abs=chunk)
    # The cold end: nothing touched every step was taken.
    in_zswap = sim.state.loc[0] == Loc.ZSWAP
    assert sim.state.rate_hz[0, in_zswap].max() < 1e-3


def test_proactive_reclaim_is_not_charged_as_memory_stall():
    """``memory.reclaim`` runs in the writer's context and does not count as the workload's memory
    pressure (kernel commit "mm: memcontrol: don't count limit-setting reclaim as memory pressure"
    moved ``psi_memstall_enter()`` out of ``try_to_free_mem_cgroup_pages()`` into the charge paths
    ``try_charge_memcg()`` and ``reclaim_high()``), whereas reclaim the workload does itself on its
    way over ``memory.high`` is stall (docs/model.md §7, §8).
    The same amount taken both ways: only the second shows up as stall and PSI."""
    n = 256 * MiB
    proactive = make_sim(tenant(wl=workload(1 * GiB)))
    m_pro = proactive.step(reclaim_bytes=req(proactive, n))
    assert m_pro.events["zswpout"][0, 0] == pytest.approx(n / PAGE_SIZE, abs=proactive.cfg.host.chunk_pages)
    assert m_pro.stall_total_s[0, 0] == 0.0
    assert m_pro.psi_some_avg10[0, 0] == 0.0

    high = make_sim(tenant(wl=workload(1 * GiB), memory_high_bytes=1 * GiB - n))
    m_high = high.step()
    assert m_high.events["zswpout"][0, 0] > 0
    assert m_high.stall_s["direct_reclaim"][0, 0] > 0.0
    assert m_high.psi_some_avg10[0, 0] > 0.0


# ------------------------------------------------------------------------------------------------
# memory.zswap.max
# ------------------------------------------------------------------------------------------------


def test_lowering_zswap_max_in_steady_state_writes_back_nothing():
    """Seed thread: "Writing memory.zswap.max itself does not trigger any writeback immediately ...
    in steady state nothing drives the zswap_store() -> shrink_memcg() path." The limit is only
    checked in ``zswap_store()`` (``obj_cgroup_may_zswap()``); with no stores over 10 simulated
    minutes, ``zswpwb`` must not move and zswap stays over the lowered limit."""
    wl = workload(1 * GiB, (band(0.4, HOT), band(0.6, COLD)), initial_zswap_idle_s=600.0)
    sim = make_sim(tenant(wl=wl))
    zswap0 = gauge(sim, "zswap_bytes")
    assert zswap0 > 150 * MiB  # the cold 60 % starts compressed
    limit = zswap0 // 2
    sim.set_knob("memory.zswap.max", 0, 0, limit)
    before = {k: counter(sim, k) for k in ("zswpwb", "zswpout", "pswpout")}

    for _ in range(60):  # 10 minutes of 10 s steps
        m = sim.step()
        assert all(v[0, 0] == 0 for v in m.writeback_pages.values())

    assert counter(sim, "zswpout") == before["zswpout"]  # the premise: no stores
    assert counter(sim, "zswpwb") == before["zswpwb"]
    assert counter(sim, "pswpout") == before["pswpout"]
    assert float(sim.state.device_bytes_written[0]) == 0.0
    assert gauge(sim, "zswap_bytes") == pytest.approx(zswap0)
    assert gauge(sim, "zswap_bytes") > limit


@pytest.mark.parametrize(("nr_nodes", "stores_to_converge"), [(1, math.inf), (2, 1.0), (4, 1.0 / 3.0)])
def test_each_store_over_zswap_max_writes_back_at_most_nr_nodes_entries(nr_nodes, stores_to_converge):
    """mm/zswap.c ``shrink_memcg()``: ``for_each_node_state(nid, N_NORMAL_MEMORY) { unsigned long
    nr_to_walk = 1; list_lru_walk_one(...) }`` — a store that finds the memcg over
    ``memory.zswap.max`` writes back at most one entry per node (here exactly one: every entry at
    the LRU's head has had its second chance), one that finds it under the limit writes back none.
    Seed thread: "each over-limit event can write back at most NR_NODES entries ... converging to
    the target size requires at least O(over-limit pages / NR_NODES) zswap_store() events, with no
    batching". One entry in and ``nr_nodes`` out per store: a memcg X pages over its limit gets
    under it after X / (nr_nodes - 1) stores (``stores_to_converge`` in units of X), never with one
    node. Stores counted by ``zswpout``, writebacks by ``zswpwb``."""
    sim = make_sim(tenant(wl=workload(1 * GiB)), nr_nodes=nr_nodes)
    pages, chunk = sim.cfg.host.chunk_pages, chunk_bytes(sim)
    sim.memory_reclaim(req(sim, 512 * MiB))
    # One pass over the fresh (referenced) entries so every entry is a writeback candidate.
    assert second_chance_pass(sim) == 0.0
    entries = gauge(sim, "zswap_pages") / pages
    per_entry = gauge(sim, "zswap_bytes") / entries
    over_entries = 64
    limit = gauge(sim, "zswap_bytes") - over_entries * per_entry
    sim.set_knob("memory.zswap.max", 0, 0, limit)
    x_pages = over_entries * pages

    stores = 0.0
    converged_after = math.inf  # stores (pages) until zswap is at or below the limit
    for _ in range(over_entries * 3 + 8):
        over = gauge(sim, "zswap_bytes") > limit
        out0, wb0 = counter(sim, "zswpout"), counter(sim, "zswpwb")
        sim.memory_reclaim(req(sim, chunk))  # one store
        d_out, d_wb = counter(sim, "zswpout") - out0, counter(sim, "zswpwb") - wb0
        assert d_out == pages, "one chunk reclaimed, one entry stored"
        assert d_wb == (nr_nodes * pages if over else 0.0), f"over the limit: {over}"
        stores += d_out
        if converged_after == math.inf and gauge(sim, "zswap_bytes") <= limit:
            converged_after = stores

    assert converged_after == pytest.approx(stores_to_converge * x_pages, rel=0.15)
    assert converged_after >= x_pages / nr_nodes  # the seed thread's lower bound


def test_zswap_max_other_than_0_and_max_makes_stores_pay_a_stats_flush():
    """Seed thread: "when you set memory.zswap.max to a value other than 0 max, every zswap store
    incurs a pretty expensive check (obj_cgroup_may_zswap), which does a force flush
    (__mem_cgroup_flush_stats)". In mm/memcontrol.c ``obj_cgroup_may_zswap()`` a limit of max is
    skipped and a limit of 0 returns false before the flush; any other value flushes per store."""

    def run(limit):
        sim = make_sim(tenant(wl=workload(1 * GiB), zswap_max_bytes=limit))
        return sim, sim.step(reclaim_bytes=req(sim, 256 * MiB))

    sim_max, m_max = run(None)
    sim_lim, m_lim = run(4 * GiB)  # never reached: only the check's cost differs
    _, m_zero = run(0)
    stores = m_lim.events["zswpout"][0, 0]
    assert stores == m_max.events["zswpout"][0, 0] > 0

    assert m_max.cpu_s["flush"][0, 0] == 0.0
    assert m_zero.cpu_s["flush"][0, 0] == 0.0
    flush_s = sim_lim.cfg.host.zswap.stats_flush_us * 1e-6
    assert m_lim.cpu_s["flush"][0, 0] == pytest.approx(stores * flush_s, rel=0.01)
    assert counter(sim_lim, "cpu_flush_s") == pytest.approx(stores * flush_s, rel=0.01)
    assert m_lim.cpu_total_s[0, 0] > m_max.cpu_total_s[0, 0]
    assert m_lim.cpu_s["compress"][0, 0] == pytest.approx(m_max.cpu_s["compress"][0, 0])


def test_zswap_max_left_low_by_a_crashed_controller_sends_a_growing_workload_to_disk():
    """Seed thread: "memory.zswap.max is a stateful interface. If the userspace reclaimer crashes
    ... it may leave memory.zswap.max at some set value, putting the application in a persistently
    throttled bad state", and "if the workload is rapidly expanding and triggers memory reclaim via
    memory.high ... the actual amount written back can exceed what was intended". Stores over the
    limit are rejected (``zswap_store()`` -> reject) and ``swap_writepage()`` writes the page to
    disk (``pswpout``); its refault is then a device read instead of a decompression."""
    wl = workload(
        512 * MiB,
        (band(0.3, HOT), band(0.3, WARM), band(0.4, COLD)),
        phases=(Phase("growth", start_s=0.0, duration_s=300.0, size_delta_bytes=512 * MiB),),
    )

    def run(zswap_max):
        cfg = scenario(tenant(wl=wl, memory_high_bytes=768 * MiB, zswap_max_bytes=zswap_max))
        sim = Simulator(cfg, num_hosts=4, seed=0)  # four hosts' draws, summed
        refault_stall = 0.0
        for _ in range(60):  # 10 minutes: 5 of growth, 5 at the new size
            m = sim.step()
            refault_stall += (m.stall_s["zswap_refault"][:, 0] + m.stall_s["swap_refault"][:, 0]).sum()
        return {k: float(v[:, 0].sum()) for k, v in sim.state.counters.items()}, refault_stall

    c_max, stall_max = run(None)
    c_low, stall_low = run(8 * MiB)
    assert c_max["zswpout"] > 0  # the growth did drive reclaim
    assert c_max["pswpout"] == 0.0
    assert c_low["pswpout"] > 0.25 * c_max["zswpout"]
    assert c_low["pswpin"] > 0
    assert stall_low > 1.3 * stall_max


# ------------------------------------------------------------------------------------------------
# Writeback: shrinker, proactive, second chance, memory.zswap.writeback
# ------------------------------------------------------------------------------------------------


def test_zswap_shrinker_moves_only_a_small_share_of_zswap_to_disk():
    """mm/zswap.c ``zswap_shrinker_count()`` / mm/vmscan.c ``do_shrink_slab()``: per reclaim the
    shrinker scans ``delta = (freeable >> priority) * 4 / seeks`` entries (seeks = 2), freeable being
    the entries scaled by pool pages / stored pages, and priority the one at which ``lru >> priority``
    covers the reclaim, so ``2^-priority < 2 * reclaimed / lru``; it rotates referenced entries
    (second chance). Seed thread: "Even when memory.reclaim is running, the fraction of zswap
    residency that ends up reaching the backing swap device is still very small". Disabled (the
    default, ``shrinker_enabled=N``), reclaim writes back nothing."""

    def run(enabled):
        wl = workload(1 * GiB, (band(0.2, HOT), band(0.8, COLD)))
        sim = make_sim(tenant(wl=wl), zswap=ZswapConfig(shrinker_enabled=enabled))
        sim.memory_reclaim(req(sim, 512 * MiB))
        second_chance_pass(sim)  # no entry protected by its referenced bit: the worst case
        zswapped0, wb0 = gauge(sim, "zswap_pages"), counter(sim, "zswpwb")
        for _ in range(10):  # Senpai-like: 1 % of memory.current per call
            lru, pool_pages, wb = gauge(sim, "resident_pages"), pool_bytes(sim) / PAGE_SIZE, counter(sim, "zswpwb")
            reclaimed = float(sim.memory_reclaim(req(sim, 0.01 * gauge(sim, "memory_current")))[0, 0]) / PAGE_SIZE
            assert reclaimed > 0
            bound = 4.0 * pool_pages * reclaimed / lru  # (freeable >> priority) * 4 / seeks
            assert counter(sim, "zswpwb") - wb <= bound + sim.cfg.host.chunk_pages
        return (counter(sim, "zswpwb") - wb0) / zswapped0

    assert run(False) == 0.0
    share = run(True)
    assert 0.0 < share < 0.15  # ten reclaims of 1 % leave well over 85 % of zswap in place


def _shrinker_scans(monkeypatch, sim, reclaimed_pages: float, lru_pages: float) -> float:
    """One ``shrink_slab()`` call of the zswap shrinker for memcg 0; returns the pages it asked the
    LRU walk to visit (``nr_to_scan`` summed over its batches)."""
    import zswap_gym.sim.zswap as zswap_module

    asked = []
    walk = zswap_module.zswap_writeback_walk

    def recording_walk(store, **kw):
        asked.append(float(kw["visit_budget"][0, 0]) * store.host.chunk_pages)
        return walk(store, **kw)

    monkeypatch.setattr(zswap_module, "zswap_writeback_walk", recording_walk)
    zswap_module.zswap_shrinker_scan(sim.store, req(sim, reclaimed_pages), req(sim, lru_pages))
    return sum(asked)


def _freeable(sim) -> float:
    """``zswap_shrinker_count()``: stored entries scaled by pool pages / stored pages (no disk swap-ins yet)."""
    stored, backing = gauge(sim, "zswap_pages"), gauge(sim, "zpool_bytes") / PAGE_SIZE
    return math.floor(stored * backing / stored)


def test_shrinker_scans_whole_batches_of_128_and_defers_the_remainder(monkeypatch):
    """mm/shrinker.c ``do_shrink_slab()``: "while (total_scan >= batch_size || total_scan >= freeable)
    { nr_to_scan = min(batch_size, total_scan); ... total_scan -= shrinkctl->nr_scanned; }" with
    ``batch_size = SHRINK_BATCH`` (128, the zswap shrinker sets no batch), then "next_deferred =
    max_t(long, (nr + delta - scanned), 0)": at priority 0 ``total_scan = 2 * freeable``, scanned in
    whole batches; the remainder under 128 (less than freeable) is not scanned but deferred."""
    sim = make_sim(tenant(wl=workload(1 * GiB)))
    sim.memory_reclaim(req(sim, 512 * MiB))  # the shrinker is off while zswap fills
    sim.set_zswap_parameter("shrinker_enabled", 0, True)
    freeable = _freeable(sim)
    total_scan = 2 * freeable  # (freeable >> 0) * 4 / seeks, capped at 2 * freeable
    assert 0 < total_scan % 128 < freeable  # a remainder the kernel leaves for later
    lru = gauge(sim, "resident_pages")
    scanned = _shrinker_scans(monkeypatch, sim, reclaimed_pages=lru, lru_pages=lru)  # lru >> 0 covers it
    assert scanned == total_scan // 128 * 128
    assert float(sim.state.shrinker_nr_deferred[0, 0]) == total_scan % 128


def test_shrinker_scans_nothing_while_its_work_is_under_one_batch(monkeypatch):
    """mm/shrinker.c ``do_shrink_slab()``: with ``total_scan`` under ``SHRINK_BATCH`` and under
    ``freeable`` the scan loop does not run at all; the work is deferred ("nr + delta - scanned")
    and adds up over calls (``>> priority`` of it is taken on each later call)."""
    sim = make_sim(tenant(wl=workload(1 * GiB)))
    sim.memory_reclaim(req(sim, 512 * MiB))
    sim.set_zswap_parameter("shrinker_enabled", 0, True)
    freeable = _freeable(sim)
    priority = 10  # a reclaim of 32 pages from an LRU of 32 << 10 pages
    delta = (freeable >> priority) * 4 // 2
    assert 0 < delta < 128 < freeable
    assert _shrinker_scans(monkeypatch, sim, reclaimed_pages=32, lru_pages=32 << priority) == 0.0
    assert float(sim.state.shrinker_nr_deferred[0, 0]) == delta
    assert counter(sim, "zswpwb") == 0.0


def test_proactive_writeback_moves_the_requested_amount_of_eligible_entries():
    """2026 series (docs/calibration.md, Controllers): ``memory.reclaim "N source=zswap"`` writes back N bytes of stored
    pages from the zswap LRU, "respects the second-chance bit; may write back less than asked"; the
    v1 form ``memory.zswap.proactive_writeback "[max=<bytes>] <age_seconds>"`` only takes entries
    that sat in zswap past the age threshold (seed thread: "Entries that then remain in zswap past a
    policy-defined age threshold are considered twice cold")."""
    sim = make_sim(tenant(wl=workload(1 * GiB)))
    chunk = chunk_bytes(sim)
    sim.memory_reclaim(req(sim, 512 * MiB))  # stored at t = 0
    for _ in range(30):
        sim.step()
    sim.memory_reclaim(req(sim, 256 * MiB))  # stored at t = 300 s
    assert gauge(sim, "zswap_pages") * PAGE_SIZE == pytest.approx(768 * MiB, abs=chunk)
    assert second_chance_pass(sim) == 0.0  # every entry was referenced: all rotated, none written

    wb0 = counter(sim, "zswpwb")
    want = 128 * MiB
    got = float(sim.zswap_proactive_writeback(req(sim, want))[0, 0])
    assert got == pytest.approx(want, abs=chunk)
    assert counter(sim, "zswpwb") - wb0 == pytest.approx(want / PAGE_SIZE, abs=sim.cfg.host.chunk_pages)
    assert gauge(sim, "writeback_pages") * PAGE_SIZE == pytest.approx(want, abs=chunk)
    assert gauge(sim, "zswap_pages") * PAGE_SIZE == pytest.approx(768 * MiB - want, abs=chunk)

    # Age form: only entries older than 200 s (the 512 MiB stored at t = 0, less what went above).
    got_old = float(sim.zswap_proactive_writeback(req(sim, 1 * GiB), min_age_s=200.0)[0, 0])
    assert got_old == pytest.approx(512 * MiB - want, abs=chunk)
    young = (sim.state.loc[0] == Loc.ZSWAP) & (sim.state.zswap_store_s[0] >= 299.0)
    assert gauge(sim, "zswap_pages") == pytest.approx(np.count_nonzero(young) * sim.cfg.host.chunk_pages)
    assert gauge(sim, "zswap_pages") * PAGE_SIZE == pytest.approx(256 * MiB, abs=chunk)


def test_second_chance_rotates_entries_stored_since_the_last_pass_so_writeback_returns_short():
    """mm/zswap.c ``shrink_memcg_cb()``: "if (entry->referenced) { entry->referenced = false;
    return LRU_ROTATE; }" and ``zswap_lru_add()`` sets ``entry->referenced = true`` on every new
    entry. A writeback walk right after a burst of stores finds the burst's entries referenced,
    rotates each once and writes back only what was already there; the next walk can take them."""
    sim = make_sim(tenant(wl=workload(1 * GiB)))
    chunk = chunk_bytes(sim)
    # Only a burst in zswap: the first walk writes nothing back.
    sim.memory_reclaim(req(sim, 256 * MiB))
    assert float(sim.zswap_proactive_writeback(req(sim, 128 * MiB))[0, 0]) == 0.0
    in_zswap = sim.state.loc[0] == Loc.ZSWAP
    assert not sim.state.referenced[0, in_zswap].any()  # each rotated once
    assert counter(sim, "zswpwb") == 0.0
    for _ in range(6):
        sim.step()

    # Old entries (already passed once) plus a new burst: a request for more than the old ones
    # returns short by the burst.
    sim.memory_reclaim(req(sim, 256 * MiB))
    got = float(sim.zswap_proactive_writeback(req(sim, 384 * MiB))[0, 0])
    assert got == pytest.approx(256 * MiB, abs=chunk)
    assert got < 384 * MiB - chunk
    in_zswap = sim.state.loc[0] == Loc.ZSWAP
    assert gauge(sim, "zswap_pages") * PAGE_SIZE == pytest.approx(256 * MiB, abs=chunk)
    assert not sim.state.referenced[0, in_zswap].any()
    # The burst had its second chance: now it goes.
    got2 = float(sim.zswap_proactive_writeback(req(sim, 128 * MiB))[0, 0])
    assert got2 == pytest.approx(128 * MiB, abs=chunk)


@pytest.mark.parametrize("path", ["memcg_limit", "shrinker"])
def test_second_chance_rotated_entries_go_behind_every_unvisited_entry(path):
    """mm/zswap.c ``shrink_memcg_cb()`` returns ``LRU_ROTATE`` for a referenced entry, and
    mm/list_lru.c ``__list_lru_walk_one()`` then does ``list_move_tail(item, &l->list)``: the entry
    goes to the young end, behind every entry not yet visited. So N fresh (referenced) entries take N
    visits before any is met a second time, and walks that together visit fewer than N write back
    nothing.

    memcg_limit: one over-``memory.zswap.max`` store at a time (one visit, ``nr_nodes`` = 1); each
    visit only rotates, so ``shrink_memcg()`` returns -EAGAIN and the store is rejected.
    shrinker: the 512 MiB reclaim that stores the entries already runs the shrinker once (rotating
    about a third of them); ten Senpai-like reclaims of 1 % then visit about a tenth of the entries,
    all from the part not yet visited, so they rotate and write back nothing."""
    if path == "memcg_limit":
        sim = make_sim(tenant(wl=workload(1 * GiB)))
        pages, chunk = sim.cfg.host.chunk_pages, chunk_bytes(sim)
        sim.memory_reclaim(req(sim, 64 * MiB))  # a burst of fresh, referenced entries
        entries = int(gauge(sim, "zswap_pages") // pages)
        assert entries == 64 * MiB // chunk
        sim.set_knob("memory.zswap.max", 0, 0, 1 * MiB)
        for i in range(entries - 1):
            sim.memory_reclaim(req(sim, chunk))  # one over-limit store, one visit
            assert counter(sim, "zswpwb") == 0.0, f"an entry was written back after {i + 1} visits"
        assert counter(sim, "zswpout") == 64 * MiB / PAGE_SIZE  # all those stores were rejected
        assert counter(sim, "pswpout") == pytest.approx((entries - 1) * pages)
        # Every entry has now had its second chance: the next visits write back.
        for _ in range(2):
            sim.memory_reclaim(req(sim, chunk))
        assert counter(sim, "zswpwb") > 0.0
    else:
        wl = workload(1 * GiB, (band(0.2, HOT), band(0.8, COLD)))
        sim = make_sim(tenant(wl=wl), zswap=ZswapConfig(shrinker_enabled=True))
        sim.memory_reclaim(req(sim, 512 * MiB))  # fresh, referenced entries
        entries = np.count_nonzero(sim.state.loc[0] == Loc.ZSWAP)
        for _ in range(10):
            sim.memory_reclaim(req(sim, 0.01 * gauge(sim, "memory_current")))
        in_zswap = sim.state.loc[0] == Loc.ZSWAP
        rotated = np.count_nonzero(in_zswap & ~sim.state.referenced[0])
        assert 0 < rotated < entries  # the shrinker ran and visited part of the LRU
        assert counter(sim, "zswpwb") == 0.0


@pytest.mark.parametrize("path", ["proactive", "shrinker", "memcg_limit", "pool_limit"])
def test_zswap_writeback_0_stops_every_path_to_disk_and_keeps_rejected_pages_resident(path):
    """mm/zswap.c ``shrink_memcg()`` / ``shrink_memcg_cb()`` / ``zswap_shrinker_count()`` all return
    early when ``!mem_cgroup_zswap_writeback_enabled(memcg)``, and mm/page_io.c ``swap_writepage()``
    after a failed ``zswap_store()``: "if (!mem_cgroup_zswap_writeback_enabled(...)) {
    folio_mark_dirty(folio); return AOP_WRITEPAGE_ACTIVATE; }" — the page stays resident. Each path
    is first shown to write back with ``memory.zswap.writeback = 1``."""

    def run(writeback: bool):
        zs = ZswapConfig(
            shrinker_enabled=(path == "shrinker"),
            max_pool_percent=2.0 if path == "pool_limit" else 20.0,
        )
        sim = make_sim(tenant(wl=workload(1 * GiB), zswap_writeback=writeback), zswap=zs)
        asked = 256 * MiB if path != "pool_limit" else 512 * MiB
        resident0 = gauge(sim, "resident_pages")
        took = float(sim.memory_reclaim(req(sim, asked))[0, 0])
        kept = gauge(sim, "resident_pages") - (resident0 - took / PAGE_SIZE)
        if path != "pool_limit":
            second_chance_pass(sim)
        if path == "proactive":
            sim.zswap_proactive_writeback(req(sim, 64 * MiB))
        elif path == "shrinker":
            for _ in range(5):
                sim.memory_reclaim(req(sim, 16 * MiB))
        elif path == "memcg_limit":
            sim.set_knob("memory.zswap.max", 0, 0, 16 * MiB)
            asked = 64 * MiB
            resident0 = gauge(sim, "resident_pages")
            took = float(sim.memory_reclaim(req(sim, asked))[0, 0])
            kept = gauge(sim, "resident_pages") - (resident0 - took / PAGE_SIZE)
        wrote = {}
        for _ in range(3):
            m = sim.step()
            for k, v in m.writeback_pages.items():
                wrote[k] = wrote.get(k, 0.0) + v[0, 0]
        return sim, asked, took, kept, wrote

    sim1, _, _, _, wrote1 = run(True)
    assert counter(sim1, "zswpwb") > 0
    assert counter(sim1, "pswpout") > 0
    if path == "proactive":
        assert counter(sim1, "zswpwb") == pytest.approx(64 * MiB / PAGE_SIZE, abs=sim1.cfg.host.chunk_pages)
    elif path == "memcg_limit":
        assert counter(sim1, "zswpwb") >= 0.9 * 64 * MiB / PAGE_SIZE  # one per over-limit store
    elif path == "pool_limit":
        assert wrote1["pool_limit"] > 0

    sim0, asked, took, kept, wrote0 = run(False)
    assert counter(sim0, "zswpwb") == 0.0
    assert counter(sim0, "pswpout") == 0.0
    assert float(sim0.state.device_bytes_written[0]) == 0.0
    assert float(sim0.state.device_backlog_pages[0]) == 0.0
    assert all(v == 0.0 for v in wrote0.values())
    assert loc_pages(sim0, Loc.SWAP) == 0.0
    assert loc_pages(sim0, Loc.WRITEBACK) == 0.0
    g = sim0.gauges()
    assert g.footprint_pages[0, 0] == g.resident_pages[0, 0] + g.zswap_pages[0, 0]
    assert kept == 0.0  # what reclaim reported as taken left the LRU; the rest is still resident
    if path == "memcg_limit":
        assert took == 0.0  # every store over the limit rejected, every page kept
    elif path == "pool_limit":
        assert took < asked - 64 * MiB  # the pool took what fit; the rest stayed resident
        assert took > 0.0


# ------------------------------------------------------------------------------------------------
# Loads, incompressible and zero-filled pages
# ------------------------------------------------------------------------------------------------


def test_exclusive_load_frees_the_entry_and_the_page_is_compressed_again_on_next_eviction():
    """mm/zswap.c ``zswap_load()``: "zswap_invalidate the entry ... folio_mark_dirty(folio)" — loads
    are exclusive: the entry is freed on swap-in (``zswpin``), the page comes back dirty, so its next
    eviction compresses it again (a new ``zswap_store()``, counted in ``zswpout``)."""
    hot_ish = RateBand(share=0.5, lo_hz=0.01, hi_hz=0.05)
    sim = make_sim(tenant(wl=workload(512 * MiB, (hot_ish, band(0.5, COLD)))))
    pages = sim.cfg.host.chunk_pages
    sim.memory_reclaim(req(sim, 512 * MiB))  # everything into zswap
    was_zswap = sim.state.loc[0] == Loc.ZSWAP
    assert gauge(sim, "zswap_pages") * PAGE_SIZE == pytest.approx(512 * MiB, abs=chunk_bytes(sim))
    zpages0, zbytes0, zin0 = gauge(sim, "zswap_pages"), gauge(sim, "zswap_bytes"), counter(sim, "zswpin")

    sim.step()

    loaded = was_zswap & (sim.state.loc[0] == Loc.RESIDENT)
    n_loaded = np.count_nonzero(loaded) * pages
    assert n_loaded > 0
    assert counter(sim, "zswpin") - zin0 == n_loaded
    assert gauge(sim, "zswap_pages") == zpages0 - n_loaded  # entries freed, no copy kept
    freed_bytes = float(sim.state.compressed_bytes[0, loaded].sum()) * pages
    assert gauge(sim, "zswap_bytes") == pytest.approx(zbytes0 - freed_bytes, rel=1e-6)

    out0, cpu0 = counter(sim, "zswpout"), counter(sim, "cpu_compress_s")
    sim.memory_reclaim(req(sim, 512 * MiB))
    assert (sim.state.loc[0, loaded] == Loc.ZSWAP).all()
    assert counter(sim, "zswpout") - out0 == n_loaded
    compress_s = sim.cfg.host.compressor.compress_us_per_page * 1e-6
    assert counter(sim, "cpu_compress_s") - cpu0 == pytest.approx(n_loaded * compress_s)


def test_incompressible_pages_are_stored_as_4k_objects_with_writeback_and_rejected_without():
    """mm/zswap.c ``zswap_compress()`` (2025, "store <PAGE_SIZE compression failed page as-is"): when
    compression does not shrink the page, it is stored as-is (a PAGE_SIZE object) if the memcg may
    write back, and the store is rejected otherwise (the page, with writeback disabled, is
    activated by ``swap_writepage()`` and stays resident). The compression attempt costs CPU either
    way."""
    wl = workload(1 * GiB, incompressible=1.0)
    n = 128 * MiB

    on = make_sim(tenant(wl=wl, zswap_writeback=True))
    current0 = gauge(on, "memory_current")
    got = float(on.memory_reclaim(req(on, n))[0, 0])
    assert got == pytest.approx(n, abs=chunk_bytes(on))
    assert counter(on, "zswpout") == pytest.approx(n / PAGE_SIZE, abs=on.cfg.host.chunk_pages)
    assert gauge(on, "zswap_bytes") == pytest.approx(gauge(on, "zswap_pages") * PAGE_SIZE)
    assert gauge(on, "zpool_bytes") == pytest.approx(gauge(on, "zswap_pages") * PAGE_SIZE)
    assert gauge(on, "memory_current") == pytest.approx(current0)  # 4 KiB charged per 4 KiB stored
    assert counter(on, "pswpout") == 0.0

    off = make_sim(tenant(wl=wl, zswap_writeback=False))
    resident0 = gauge(off, "resident_pages")
    got = float(off.memory_reclaim(req(off, n))[0, 0])
    assert got == 0.0
    assert counter(off, "zswpout") == 0.0
    assert counter(off, "pswpout") == 0.0
    assert gauge(off, "zswap_pages") == 0.0
    assert gauge(off, "resident_pages") == resident0
    assert counter(off, "cpu_compress_s") > 0.0


def test_a_store_over_zswap_max_is_rejected_before_it_is_compressed():
    """mm/zswap.c ``zswap_store()``: "if (objcg && !obj_cgroup_may_zswap(objcg)) { ... if
    (shrink_memcg(memcg)) goto put_objcg; }" comes before ``zswap_store_page()`` ->
    ``zswap_compress()``: a page the memcg limit turns away (here ``memory.zswap.max`` = 0, nothing
    in zswap to write back) costs no compression, incompressible or not, and goes to disk."""
    for incompressible in (0.0, 1.0):
        sim = make_sim(tenant(wl=workload(1 * GiB, incompressible=incompressible), zswap_max_bytes=0))
        got = float(sim.memory_reclaim(req(sim, 64 * MiB))[0, 0])
        assert got == pytest.approx(64 * MiB, abs=chunk_bytes(sim))
        assert counter(sim, "zswpout") == 0.0
        assert counter(sim, "pswpout") == pytest.approx(64 * MiB / PAGE_SIZE, abs=sim.cfg.host.chunk_pages)
        assert counter(sim, "cpu_compress_s") == 0.0, f"incompressible share {incompressible}"


def test_a_store_the_full_pool_rejects_is_never_compressed():
    """mm/zswap.c ``zswap_store()``: "if (zswap_check_limits()) goto put_objcg;" comes before
    ``zswap_compress()``: once the global pool is full, a rejected store — an incompressible page
    included — costs no compression; the page goes to the swap device."""
    fill = tenant("fill", workload(1 * GiB))
    ml = tenant("ml", workload(256 * MiB, incompressible=1.0))
    sim = make_sim(fill, ml, zswap=ZswapConfig(max_pool_percent=3.0))
    sim.memory_reclaim(req(sim, 1 * GiB, memcg=0))
    assert bool(sim.state.pool_reached_full[0])
    cpu0, zswpout0 = counter(sim, "cpu_compress_s", memcg=1), counter(sim, "zswpout", memcg=1)
    got = float(sim.memory_reclaim(req(sim, 64 * MiB, memcg=1))[0, 1])
    assert got == pytest.approx(64 * MiB, abs=chunk_bytes(sim))
    assert counter(sim, "zswpout", memcg=1) == zswpout0
    assert counter(sim, "pswpout", memcg=1) == pytest.approx(64 * MiB / PAGE_SIZE, abs=sim.cfg.host.chunk_pages)
    assert counter(sim, "cpu_compress_s", memcg=1) == cpu0


def test_zero_filled_pages_never_enter_zswap():
    """mm/page_io.c ``swap_writepage()``: "if (is_folio_zero_filled(folio)) { swap_zeromap_folio_set
    (folio); ... count_vm_event(SWPOUT_ZERO) ... return 0; }" before ``zswap_store()`` is called: a
    zero-filled page costs a swap slot marked zero, no zswap entry, no compression, no I/O."""
    sim = make_sim(tenant(wl=workload(1 * GiB, zero=1.0)))
    n = 256 * MiB
    current0 = gauge(sim, "memory_current")
    got = float(sim.memory_reclaim(req(sim, n))[0, 0])
    assert got == pytest.approx(n, abs=chunk_bytes(sim))
    assert counter(sim, "swpout_zero") == pytest.approx(n / PAGE_SIZE, abs=sim.cfg.host.chunk_pages)
    assert counter(sim, "zswpout") == 0.0
    assert counter(sim, "pswpout") == 0.0
    assert gauge(sim, "zswap_pages") == 0.0
    assert gauge(sim, "zswap_bytes") == 0.0
    assert counter(sim, "cpu_compress_s") == 0.0
    assert gauge(sim, "memory_current") == pytest.approx(current0 - n, abs=chunk_bytes(sim))
    sim.step()
    assert float(sim.state.device_bytes_written[0]) == 0.0


# ------------------------------------------------------------------------------------------------
# Global pool limit
# ------------------------------------------------------------------------------------------------


def test_global_pool_limit_rejects_stores_until_below_accept_threshold_and_worker_writes_back():
    """mm/zswap.c ``zswap_check_limits()``: "if (cur_pages >= max_pages) { zswap_pool_reached_full =
    true; } else if (zswap_pool_reached_full && cur_pages <= zswap_accept_thr_pages()) {
    zswap_pool_reached_full = false; } return zswap_pool_reached_full;" — once full, stores are
    rejected until the pool falls to ``accept_threshold_percent`` of ``max_pool_percent``; and
    ``shrink_worker()`` writes back "while (zswap_total_pages() > thr)" (down to that threshold)."""
    zs = ZswapConfig(max_pool_percent=5.0, accept_threshold_percent=90.0)
    sim = make_sim(tenant(wl=workload(2 * GiB)), zswap=zs)
    chunk, pages = chunk_bytes(sim), sim.cfg.host.chunk_pages
    max_pool = sim.cfg.host.dram_bytes * 0.05
    accept = 0.9 * max_pool

    def pool_per_chunk():
        return pool_bytes(sim) / (gauge(sim, "zswap_pages") / pages)

    # 1. Fill: stores go in until the pool reaches its limit, then are rejected (to disk).
    sim.memory_reclaim(req(sim, 1 * GiB))
    assert max_pool <= pool_bytes(sim) <= max_pool + 2 * pool_per_chunk()
    assert counter(sim, "pswpout") > 0
    assert bool(sim.state.pool_reached_full[0])

    # 2. Between the threshold and the limit: still full, every store rejected.
    assert second_chance_pass(sim) == 0.0
    drop = pool_bytes(sim) - 0.95 * max_pool
    sim.zswap_proactive_writeback(req(sim, math.ceil(drop / pool_per_chunk()) * chunk))
    assert accept < pool_bytes(sim) < max_pool
    out0, pswp0 = counter(sim, "zswpout"), counter(sim, "pswpout")
    sim.memory_reclaim(req(sim, 32 * MiB))
    assert counter(sim, "zswpout") == out0
    assert counter(sim, "pswpout") - pswp0 == pytest.approx(32 * MiB / PAGE_SIZE, abs=pages)

    # 3. Below the threshold: stores are accepted again.
    drop = pool_bytes(sim) - 0.85 * max_pool
    sim.zswap_proactive_writeback(req(sim, math.ceil(drop / pool_per_chunk()) * chunk))
    assert pool_bytes(sim) <= accept
    out0, pswp0 = counter(sim, "zswpout"), counter(sim, "pswpout")
    sim.memory_reclaim(req(sim, 8 * MiB))
    assert counter(sim, "zswpout") - out0 == pytest.approx(8 * MiB / PAGE_SIZE, abs=pages)
    assert counter(sim, "pswpout") == pswp0

    # 4. Full again: the background worker writes back down to (not far below) the threshold.
    sim.memory_reclaim(req(sim, 160 * MiB))
    assert bool(sim.state.pool_reached_full[0])
    assert pool_bytes(sim) >= max_pool
    m = sim.step()
    assert m.writeback_pages["pool_limit"][0, 0] > 0
    assert accept - 4 * pool_per_chunk() <= pool_bytes(sim) <= accept


# ------------------------------------------------------------------------------------------------
# Swap device
# ------------------------------------------------------------------------------------------------


def test_writeback_frees_dram_only_when_the_write_completes():
    """mm/zswap.c ``zswap_writeback_entry()`` decompresses the entry into a swap-cache folio, frees
    the entry and submits the write with ``__swap_writepage()``; the folio's 4 KiB stay in DRAM (and
    charged) until ``folio_end_writeback()`` after the I/O completes."""
    sim = make_sim(tenant(wl=workload(1 * GiB)))
    chunk = chunk_bytes(sim)
    sim.memory_reclaim(req(sim, 512 * MiB))
    second_chance_pass(sim)
    dram0, current0 = gauge(sim, "dram_bytes"), gauge(sim, "memory_current")
    want = 128 * MiB
    got = float(sim.zswap_proactive_writeback(req(sim, want))[0, 0])
    assert got == pytest.approx(want, abs=chunk)

    # Submitted, not completed: the pages are in WRITEBACK, 4 KiB each in DRAM.
    assert loc_pages(sim, Loc.WRITEBACK) * PAGE_SIZE == pytest.approx(got)
    assert gauge(sim, "writeback_pages") * PAGE_SIZE == pytest.approx(got)
    assert gauge(sim, "dram_bytes") > dram0  # decompressed into the swap cache: more, not less
    assert gauge(sim, "memory_current") > current0
    assert float(sim.state.device_backlog_pages[0]) == pytest.approx(got / PAGE_SIZE)

    dram_wb = gauge(sim, "dram_bytes")
    m = sim.step()  # the (fast) device completes every write
    assert loc_pages(sim, Loc.WRITEBACK) == 0.0
    assert loc_pages(sim, Loc.SWAP) * PAGE_SIZE == pytest.approx(got)
    assert m.host_device_bytes_written[0] == pytest.approx(got)
    assert gauge(sim, "dram_bytes") == pytest.approx(dram_wb - got, rel=1e-9)
    assert gauge(sim, "dram_bytes") < dram0


def test_saturated_swap_device_builds_a_backlog_and_slows_swap_ins():
    """docs/model.md §10: writes queue on the device with a backlog carried across steps, and
    "writeback bursts slow swap-ins" (reads share the device: latency grows with utilisation). A
    burst of proactive writeback much larger than the device's write rate leaves pages under
    writeback (still in DRAM) for several steps, and swap-ins issued meanwhile wait longer."""
    dev = SwapDeviceConfig(write_iops=2000.0)  # 20,000 pages (78 MiB) per 10 s step
    warm = tenant("warm", workload(128 * MiB, (RateBand(1.0, 2e-3, 1e-2),)))
    cold = tenant("cold", workload(1 * GiB))

    def prepare():
        sim = make_sim(warm, cold, swap=dev, seed=2)
        both = np.ones((1, sim.num_memcgs)) * 2 * GiB
        sim.memory_reclaim(both)
        sim.zswap_proactive_writeback(both)  # second-chance pass on both memcgs
        sim.zswap_proactive_writeback(req(sim, 128 * MiB, memcg=0))  # the warm memcg to disk
        for _ in range(4):
            sim.step()
        assert float(sim.state.device_backlog_pages[0]) == 0.0
        assert loc_pages(sim, Loc.SWAP, memcg=0) > 64 * MiB / PAGE_SIZE
        return sim

    quiet, busy = prepare(), prepare()
    burst = 640 * MiB
    quiet.zswap_proactive_writeback(req(quiet, 0.0, memcg=1))
    busy.zswap_proactive_writeback(req(busy, burst, memcg=1))
    mq, mb = quiet.step(), busy.step()

    assert mq.host_device_backlog_bytes[0] == 0.0
    backlog1 = mb.host_device_backlog_bytes[0]
    assert backlog1 > 0.5 * burst
    written1 = mb.host_device_bytes_written[0]
    assert 0 < written1 <= 2000.0 * 10.0 * PAGE_SIZE
    # Pages still under writeback occupy DRAM.
    assert loc_pages(busy, Loc.WRITEBACK, memcg=1) * PAGE_SIZE == pytest.approx(burst - written1, rel=0.02)
    # Swap-ins wait longer behind the writeback burst.
    assert mb.host_device_read_latency_us[0] > 5.0 * mq.host_device_read_latency_us[0]
    sq, sb = mq.refault_pages["swap"][0, 0], mb.refault_pages["swap"][0, 0]
    assert sq > 0 and sb > 0
    per_page_q = mq.stall_s["swap_refault"][0, 0] / sq
    per_page_b = mb.stall_s["swap_refault"][0, 0] / sb
    assert per_page_b > 5.0 * per_page_q
    # The backlog carries over and drains at the device's write rate.
    mb2 = busy.step()
    assert mb2.host_device_backlog_bytes[0] == pytest.approx(backlog1 - mb2.host_device_bytes_written[0])
    assert 0 < mb2.host_device_bytes_written[0] <= 2000.0 * 10.0 * PAGE_SIZE
    assert mb2.host_device_backlog_bytes[0] > 0


# ------------------------------------------------------------------------------------------------
# memory.high, memory.max
# ------------------------------------------------------------------------------------------------


def test_memory_high_penalty_matches_the_kernel_table_for_high_100m():
    """mm/memcontrol.c ``calculate_overage()`` / ``calculate_high_delay()``: overage =
    ((usage - high) << 20) / high; penalty_jiffies = overage^2 * HZ >> 20 >> 14, scaled by
    nr_pages / MEMCG_CHARGE_BATCH, clamped to MEMCG_MAX_HIGH_DELAY_JIFFIES (2 s). For high = 100M:
    101M -> 6 ms, 105M -> 159 ms, 110M -> 639 ms, >= 118M -> 2000 ms (docs/calibration.md)."""
    high = 100 * MiB
    usage = np.array([100, 101, 105, 110, 117, 118, 150, 1000]) * MiB
    got = high_delay_s(usage, np.full(usage.shape, high))
    expect = np.array([0.0, 0.006, 0.159, 0.639, None, 2.0, 2.0, 2.0], dtype=object)
    for u, g, e in zip(usage, got, expect, strict=True):
        if e is not None:
            assert g == pytest.approx(e, abs=0.0015), f"usage {u / MiB:.0f}M"
    assert 1.5 < got[4] < 2.0  # 117M: still quadratic, below the cap
    assert got[3] / got[2] == pytest.approx(4.0, rel=0.02)  # quadratic in the overage
    # Four half-batch charges cost what two full batches do (nr_pages / MEMCG_CHARGE_BATCH).
    assert high_delay_s(105 * MiB, high, nr_pages=32) == pytest.approx(got[2] / 2, abs=0.001)


def test_memory_high_sleep_is_skipped_at_10ms_or_less():
    """mm/memcontrol.c ``mem_cgroup_handle_over_high()``: "if (penalty_jiffies <= HZ / 100) goto
    out;" — a penalty of 10 ms or less is not slept; above it, one penalty per return to user
    space (charge batch of MEMCG_CHARGE_BATCH = 64 pages)."""
    high = 100 * MiB
    assert high_throttle_sleep_s(101 * MiB, high, 640.0) == 0.0  # 6 ms per batch: skipped
    assert high_throttle_sleep_s(100 * MiB, high, 640.0) == 0.0
    per_batch = float(high_delay_s(102 * MiB, high))
    assert 0.010 < per_batch < 0.030
    assert high_throttle_sleep_s(102 * MiB, high, 640.0) == pytest.approx(10 * per_batch)
    assert high_throttle_sleep_s(105 * MiB, high, 640.0) == pytest.approx(10 * 0.159, abs=0.01)
    assert high_throttle_sleep_s(200 * MiB, high, 64.0) == pytest.approx(2.0)


def test_memcg_growing_past_memory_high_accrues_high_throttle_stall():
    """mm/memcontrol.c: a memcg over ``memory.high`` whose reclaim cannot bring it back (here nothing
    is reclaimable: ``memory.swap.max`` = 0) is throttled on return to user space,
    ``psi_memstall_enter(); schedule_timeout_killable(penalty_jiffies)``: memory stall and PSI."""
    wl = workload(
        256 * MiB,
        (band(0.5, HOT), band(0.5, COLD)),
        phases=(Phase("growth", start_s=0.0, duration_s=300.0, size_delta_bytes=256 * MiB),),
    )

    def run(high):
        sim = make_sim(tenant(wl=wl, memory_high_bytes=high, swap_max_bytes=0))
        stall, psi = 0.0, 0.0
        for _ in range(30):
            m = sim.step()
            stall += m.stall_s["high_throttle"][0, 0]
            psi = max(psi, m.psi_some_avg10[0, 0])
        return sim, stall, psi

    sim_free, stall_free, _ = run(None)
    assert stall_free == 0.0
    sim_high, stall_high, psi_high = run(320 * MiB)
    assert gauge(sim_high, "memory_current") > 400 * MiB  # memory.high is not a hard limit
    assert counter(sim_high, "events_high") > 0
    assert counter(sim_high, "events_oom_kill") == 0
    assert stall_high > 1.0
    assert psi_high > 0.0


@pytest.mark.parametrize("backend", ["zswap", "disk"])
def test_memory_high_does_not_throttle_while_reclaim_keeps_up(backend):
    """mm/memcontrol.c ``mem_cgroup_handle_over_high()``: "If reclaim is making forward progress but
    we're still over memory.high, we want to encourage that rather than doing allocator
    throttling. if (nr_reclaimed || nr_retries--) goto retry_reclaim;" — the sleep is only for a
    memcg whose reclaim cannot keep up. A memcg growing slowly over its memory.high with plenty of
    cold memory and a fast swap device (zswap, or zswap off and an NVMe that completes a step's
    writes in well under a step) is reclaimed, not throttled."""
    wl = workload(
        512 * MiB,
        (band(0.3, HOT), band(0.7, COLD)),
        phases=(Phase("growth", start_s=0.0, duration_s=300.0, size_delta_bytes=512 * MiB),),
    )
    zs = ZswapConfig(enabled=(backend == "zswap"))
    sim = make_sim(tenant(wl=wl, memory_high_bytes=768 * MiB), zswap=zs)
    stall = 0.0
    for _ in range(60):
        m = sim.step()
        stall += m.stall_s["high_throttle"][0, 0]
    reclaimed = counter(sim, "zswpout") + counter(sim, "pswpout")
    assert reclaimed > 64 * MiB / PAGE_SIZE  # reclaim did the work
    assert stall == 0.0


def _grow_past_memory_max(swap_max=None, capacity=64 * GiB, steps=20):
    wl = workload(
        256 * MiB,
        (band(0.3, HOT), band(0.7, COLD)),
        phases=(Phase("growth", start_s=0.0, duration_s=200.0, size_delta_bytes=256 * MiB),),
    )
    sim = make_sim(
        tenant(wl=wl, memory_max_bytes=384 * MiB, swap_max_bytes=swap_max),
        swap=SwapDeviceConfig(capacity_bytes=capacity),
    )
    kills = 0.0
    for _ in range(steps):
        kills += sim.step().oom_kills[0, 0]
    return sim, kills


@pytest.mark.parametrize("no_swap", ["memory.swap.max=0", "swap capacity 0"])
def test_memory_max_with_nothing_reclaimable_ooms(no_swap):
    """mm/memcontrol.c ``try_charge_memcg()``: over ``memory.max``, direct reclaim
    (``try_to_free_mem_cgroup_pages()``) retries MAX_RECLAIM_RETRIES times; with nowhere to put anon
    memory (``memory.swap.max`` = 0, or no swap space) nothing is freed and ``mem_cgroup_oom()``
    kills (memory.events ``oom_kill``). A workload growing from 256 to 512 MiB under a 384 MiB
    ``memory.max`` must be killed."""
    if no_swap == "memory.swap.max=0":
        sim, kills = _grow_past_memory_max(swap_max=0)
    else:
        sim, kills = _grow_past_memory_max(capacity=0)
    assert counter(sim, "events_oom_kill") >= 1
    assert kills == counter(sim, "events_oom_kill")
    assert counter(sim, "zswpout") == 0.0
    assert counter(sim, "pswpout") == 0.0


def test_memory_max_with_reclaimable_memory_reclaims_instead_of_oom():
    """mm/memcontrol.c ``try_charge_memcg()``: "if (nr_reclaimed && nr_pages <= (1 <<
    PAGE_ALLOC_COSTLY_ORDER)) goto retry;" — while reclaim makes progress the charge retries, and
    ``mem_cgroup_oom()`` is reached only when reclaim cannot free enough. The same growth as above
    with swap available and 70 % of the memory cold (a 512 MiB footprint needs about 275 MiB once the
    cold part is in zswap) stays under a 384 MiB ``memory.max`` without an OOM kill."""
    sim, kills = _grow_past_memory_max()
    assert counter(sim, "zswpout") > 0  # reclaim ran
    assert counter(sim, "events_oom_kill") == 0.0
    assert kills == 0.0
    assert gauge(sim, "memory_current") <= 384 * MiB


# ------------------------------------------------------------------------------------------------
# PSI
# ------------------------------------------------------------------------------------------------


def test_psi_avg10_decays_by_exp_minus_2_over_10_per_2s_sample():
    """kernel/sched/psi.c ``calc_avgs()``: every PSI_FREQ (2 s), ``avg = avg * e + sample * (1 - e)``
    with e = EXP_10s = 1677 / 2048 ~ exp(-2/10) for avg10, EXP_60s ~ exp(-2/60), EXP_300s ~
    exp(-2/300)."""
    decay = np.exp(-2.0 / np.array([10.0, 60.0, 300.0]))
    avgs = np.array([[50.0, 50.0, 50.0]])
    one = update_averages(avgs, np.zeros((1, 1)))
    np.testing.assert_allclose(one[0], 50.0 * decay)
    assert one[0, 0] == pytest.approx(50.0 * 1677 / 2048, rel=1e-3)  # the kernel's fixed point
    five = update_averages(avgs, np.zeros((1, 5)))
    np.testing.assert_allclose(five[0], 50.0 * decay**5)
    rise = update_averages(np.zeros((1, 3)), np.full((1, 1), 100.0))
    np.testing.assert_allclose(rise[0], 100.0 * (1.0 - decay))


def test_psi_avg10_decays_end_to_end_after_a_stall():
    """kernel/sched/psi.c: with no stall after a stall, each 10 s of 2 s samples multiplies avg10 by
    exp(-2/10)^5 = exp(-1), avg60 by exp(-10/60), avg300 by exp(-10/300); ``total`` stops growing."""
    sim = make_sim(tenant(wl=workload(512 * MiB, (HOT,))))
    sim.memory_reclaim(req(sim, 512 * MiB))  # everything into zswap; all of it is hot
    m = sim.step()
    assert m.stall_total_s[0, 0] > 0.0
    assert gauge(sim, "zswap_pages") == 0.0  # all faulted back: no more stall
    prev = sim.state.psi_some_avg[0, 0].copy()
    total = float(sim.state.psi_some_total_us[0, 0])
    assert prev[0] > 0.0
    expect = np.exp(-10.0 / np.array([10.0, 60.0, 300.0]))
    for _ in range(4):
        m = sim.step()
        assert m.stall_total_s[0, 0] == 0.0
        now = sim.state.psi_some_avg[0, 0].copy()
        np.testing.assert_allclose(now / prev, expect, rtol=1e-9)
        assert m.psi_some_avg10[0, 0] == pytest.approx(now[0])
        prev = now
    assert float(sim.state.psi_some_total_us[0, 0]) == total


def test_psi_some_counts_any_task_stalled_and_full_all_of_them():
    """kernel/sched/psi.c: "SOME: [...] at least one task is delayed", "FULL: [...] all non-idle
    tasks are delayed at the same time". A memcg of 4 tasks stalled 10 task-seconds in a 10 s step
    (each task a quarter of the time): ``some`` covers more of the step than any one task's share
    (the model takes the tasks' stalls as independent: ``1 - (1 - 1/4)^4``), ``full`` far less
    (``(1/4)^4``); ``total`` is in microseconds."""
    from zswap_gym.sim.psi import psi_step

    sim = make_sim(tenant(nr_tasks=4))
    st, step_s = sim.state, sim.cfg.host.step_s
    st.tallies.spread_stall_s[0, 0] = 10.0  # reclaim or throttling: spread over the step
    some_s = psi_step(st, sim.nr_tasks, step_s, sim.psi_windows)
    per_task = 10.0 / (4 * step_s)
    assert float(some_s[0, 0]) == pytest.approx((1 - (1 - per_task) ** 4) * step_s)
    assert float(some_s[0, 0]) > 1.5 * per_task * step_s
    assert float(st.psi_some_total_us[0, 0]) == pytest.approx((1 - (1 - per_task) ** 4) * step_s * 1e6)
    assert float(st.psi_full_total_us[0, 0]) == pytest.approx(per_task**4 * step_s * 1e6)
