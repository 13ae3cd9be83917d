"""How a host starts: the initial state of every host of a batch (the scenario's instance generator).

At time 0 the first ``size_bytes`` of each tenant's block of chunk slots are allocated and resident,
with access rates and compressibility drawn from the tenant's workload; idle ages come from the
stationary backward recurrence time of a Poisson process (Exp(rate)), capped at the workload's
uptime. A workload with ``initial_zswap_idle_s`` starts with its memory idle that long already in
zswap (as a host that has run for days would), as far as swap slots and the pool limit allow.
"""

from __future__ import annotations

import numpy as np

from .config import ScenarioConfig
from .lru import ChunkLayout
from .rng import CounterRNG
from .state import COUNTER_NAMES, ROUNDING_SITES, Loc, SimState, StepTallies
from .units import PAGE_SIZE
from .workload import AttributeTables, draw_access_rates, draw_compressed_bytes, zsmalloc_class_bytes


def psi_windows(cfg: ScenarioConfig) -> int:
    """PSI samples per step: one per 2 s (``PSI_FREQ``), at least one."""
    return max(1, round(cfg.host.step_s / 2.0))


def initial_state(cfg: ScenarioConfig, layout: ChunkLayout, tables: AttributeTables, keys: np.ndarray) -> SimState:
    """Every host at time 0, host ``i`` drawing from the random stream ``keys[i]``."""
    h, m, c = keys.shape[0], layout.num_memcgs, layout.num_chunks
    owner = layout.owner
    inf = np.full((h, m), np.inf)
    st = SimState(
        loc=np.zeros((h, c), dtype=np.int8),
        rate_hz=np.zeros((h, c), dtype=np.float32),
        compressed_bytes=np.zeros((h, c), dtype=np.float32),
        zpool_bytes=np.zeros((h, c), dtype=np.float32),
        last_access_s=np.zeros((h, c), dtype=np.float32),
        zswap_store_s=np.zeros((h, c), dtype=np.float32),
        lru_seq=np.zeros((h, c), dtype=np.float64),
        referenced=np.zeros((h, c), dtype=bool),
        memory_high=inf.copy(),
        memory_max=inf.copy(),
        zswap_max=inf.copy(),
        swap_max=inf.copy(),
        zswap_writeback=np.ones((h, m), dtype=bool),
        counters={name: np.zeros((h, m)) for name in COUNTER_NAMES},
        psi_some_avg=np.zeros((h, m, 3)),
        psi_full_avg=np.zeros((h, m, 3)),
        psi_some_total_us=np.zeros((h, m)),
        psi_full_total_us=np.zeros((h, m)),
        shrinker_nr_deferred=np.zeros((h, m)),
        nr_disk_swapins=np.zeros((h, m)),
        lru_tail=np.zeros(h),
        pool_reached_full=np.zeros(h, dtype=bool),
        shrinker_enabled=np.full(h, cfg.host.zswap.shrinker_enabled),
        device_backlog_pages=np.zeros(h),
        device_bytes_written=np.zeros(h),
        device_bytes_read=np.zeros(h),
        rounding_residual=np.zeros((h, len(ROUNDING_SITES), m)),
        now_s=np.zeros(h),
        step_index=np.zeros(h, dtype=np.int64),
        rng_keys=np.asarray(keys, dtype=np.uint64).copy(),
        tallies=StepTallies(h, m, psi_windows(cfg)),
        counters_at_step_start=np.zeros((len(COUNTER_NAMES), h, m)),
    )
    for i, t in enumerate(cfg.tenants):
        for knob, value in (
            ("memory_high", t.memory_high_bytes),
            ("memory_max", t.memory_max_bytes),
            ("zswap_max", t.zswap_max_bytes),
            ("swap_max", t.swap_max_bytes),
        ):
            getattr(st, knob)[:, i] = np.inf if value is None else float(value)
        st.zswap_writeback[:, i] = t.zswap_writeback
    rng = CounterRNG(st.rng_keys)
    rng.begin_step(st.step_index)
    rows = np.repeat(np.arange(h), c)
    cols = np.tile(np.arange(c), h)
    draw_attributes(st, cfg, layout, tables, rng, rows, cols, "init_attributes")
    initial = np.zeros(m, dtype=np.int64)
    for i, t in enumerate(cfg.tenants):
        initial[i] = min(round(t.workload.size_bytes / cfg.host.chunk_bytes), layout.block_len[i])
    slot_in_block = np.arange(c) - layout.block_start[owner]
    alive = slot_in_block < initial[owner]
    st.loc[:, alive] = Loc.RESIDENT
    u, _ = rng.uniform_pair(c, "init_idle")
    uptime = np.array([t.workload.uptime_s for t in cfg.tenants] + [0.0] * (m - len(cfg.tenants)))
    idle = np.minimum(-np.log1p(-u.astype(np.float64)) / st.rate_hz, uptime[owner])
    st.last_access_s[:] = (-idle).astype(np.float32)
    for i, t in enumerate(cfg.tenants):
        threshold = t.workload.initial_zswap_idle_s
        if threshold is None:
            continue
        cold = (st.loc == Loc.RESIDENT) & (owner == i)[None, :] & (idle >= threshold)
        cold &= _fits_swap_and_pool(st, cfg, layout, cold, idle)
        zero = cold & (st.compressed_bytes == 0)
        stored = cold & ~zero & ((st.compressed_bytes < PAGE_SIZE) | st.zswap_writeback[:, owner])
        st.loc[zero] = Loc.SWAP_ZERO
        st.loc[stored] = Loc.ZSWAP
        since = (-(idle - threshold)).astype(np.float32)
        st.zswap_store_s[stored] = since[stored]
        st.lru_seq[stored] = since[stored]  # by store time; made dense list positions below
        st.referenced[stored] = True
    _dense_initial_lru(st)
    return st


def draw_attributes(
    st: SimState,
    cfg: ScenarioConfig,
    layout: ChunkLayout,
    tables: AttributeTables,
    rng: CounterRNG,
    rows: np.ndarray,
    cols: np.ndarray,
    site: str,
) -> None:
    """Fresh access rate and compressibility for chunk slots (rows = host, cols = slot): at reset,
    and for memory a workload allocates."""
    owner = layout.owner[cols]
    u_band, u_rate = rng.pair_at(rows, cols, site)
    u_class, u_n1 = rng.pair_at(rows, cols, site)
    u_n2, _ = rng.pair_at(rows, cols, site)
    st.rate_hz[rows, cols] = draw_access_rates(owner, tables, u_band, u_rate)
    compressed = draw_compressed_bytes(owner, tables, u_class, u_n1, u_n2)
    st.compressed_bytes[rows, cols] = compressed
    zpool = zsmalloc_class_bytes(compressed, cfg.host.zswap.zsmalloc_huge_class_bytes)
    st.zpool_bytes[rows, cols] = np.where(compressed > 0, zpool, 0.0)


def _dense_initial_lru(st: SimState) -> None:
    """Turn the initial entries' store times into list positions -n..-1 per host (oldest first), so
    positions are whole numbers and later additions (from 1 on) go behind them."""
    stored = st.loc == Loc.ZSWAP
    if not np.count_nonzero(stored):
        return
    c = stored.shape[1]
    order = np.argsort(np.where(stored, st.lru_seq, np.inf), axis=1, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(c)[None, :], axis=1)
    first_free = stored.sum(axis=1, keepdims=True)
    st.lru_seq[:] = np.where(stored, rank - first_free, 0.0)


def _fits_swap_and_pool(
    st: SimState, cfg: ScenarioConfig, layout: ChunkLayout, cold: np.ndarray, idle: np.ndarray
) -> np.ndarray:
    """Of the ``cold`` chunks, the coldest that fit in the free swap slots, the memcg's
    ``memory.swap.max`` and the zswap pool limit (reset time only: sorts per host)."""
    host = cfg.host
    pages = host.chunk_pages
    max_pool_bytes = host.dram_bytes * host.zswap.max_pool_percent / 100.0
    order = np.argsort(np.where(cold, -idle, np.inf), axis=1, kind="stable")
    ranked_cold = np.take_along_axis(cold, order, axis=1)
    slots_used = (st.loc != Loc.RESIDENT) & (st.loc != Loc.ABSENT)
    slots_free = host.swap.capacity_bytes // PAGE_SIZE - slots_used.sum(axis=1) * pages
    pool_bytes = np.where(ranked_cold, np.take_along_axis(st.zpool_bytes, order, axis=1) * pages, 0.0)
    # The pool limit is the host's (zswap_check_limits): earlier tenants' entries count against it.
    pool_used = np.where(st.loc == Loc.ZSWAP, st.zpool_bytes, 0.0).sum(axis=1) * pages
    fits = (np.cumsum(ranked_cold, axis=1) * pages <= slots_free[:, None]) & (
        np.cumsum(pool_bytes, axis=1) <= (max_pool_bytes - pool_used)[:, None]
    )
    owner_ranked = layout.owner[order]
    swap_max = np.take_along_axis(st.swap_max, owner_ranked, axis=1)
    zswap_max = np.take_along_axis(st.zswap_max, owner_ranked, axis=1)
    charge = np.take_along_axis(st.compressed_bytes, order, axis=1) * pages
    swap_used = np.zeros_like(pool_bytes)
    zswap_used = np.zeros_like(pool_bytes)
    for m in range(layout.num_memcgs):  # reset time: a loop over the memcg slots
        mine = ranked_cold & (owner_ranked == m)
        swap_used = np.where(mine, np.cumsum(mine, axis=1) * pages * PAGE_SIZE, swap_used)
        zswap_used = np.where(mine, np.cumsum(np.where(mine, charge, 0.0), axis=1), zswap_used)
    fits &= (swap_used <= swap_max) & (zswap_used <= zswap_max)
    out = np.zeros_like(cold)
    np.put_along_axis(out, order, ranked_cold & fits, axis=1)
    return out
