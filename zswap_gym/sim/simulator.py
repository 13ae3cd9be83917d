"""The batched host simulator: H hosts of one scenario, stepped together.

One :meth:`Simulator.step` is one control interval (``host.step_s``, 10 s by default):

1. the controller's proactive requests act at the start of the interval (``memory.reclaim`` into
   zswap; proactive zswap writeback);
2. workloads allocate and free memory and shift their working sets;
3. every chunk is touched or not (Poisson); a touched chunk that is not resident faults back in at
   its first access time (zswap load: decompress, entry freed; swap-in: a read I/O; zero page);
4. at the end of the interval the kernel catches up: ``memory.max`` and ``memory.high`` reclaim
   and throttling, kswapd and direct reclaim against the host watermarks, OOM kills;
5. the zswap pool-limit worker writes back if the pool filled;
6. the swap device serves the reads and as much of the write queue as it can;
7. PSI folds the interval's stall time into its averages, one 2 s period at a time.

The kernel-facing operations (:meth:`memory_reclaim`, :meth:`zswap_proactive_writeback`,
:meth:`set_knob`) act immediately at the current time, on every (host, memcg) with a nonzero
request; the cgroup file interface (:mod:`zswap_gym.cgroup`) calls them for one memcg at a time.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import fields
from typing import NamedTuple

import numpy as np

from .config import HostConfig, ScenarioConfig
from .lru import (
    AgeHistogram,
    ChunkLayout,
    age_bins,
    age_histogram,
    blend,
    count_per_memcg,
    flat_nonzero,
    rank_in_block,
    select_in_order,
    select_oldest_flat,
)
from .memcg_limits import MEMCG_CHARGE_BATCH, high_throttle_sleep_s
from .metrics import REFAULT_TIERS, STALL_SOURCES, StepMetrics
from .psi import stall_shares, update_averages
from .rng import CounterRNG, host_key, host_keys
from .state import COUNTER_NAMES, ROUNDING_SITES, Loc, SimState
from .swapdev import DeviceStep, serve_step
from .units import PAGE_SIZE
from .workload import (
    AttributeTables,
    build_schedule,
    draw_access_rates,
    draw_compressed_bytes,
    expected_compressed_bytes,
    invert_rates_by_rank,
    zsmalloc_class_bytes,
)
from .zswap import (
    WRITEBACK_SOURCES,
    lru_order,
    zswap_pool_worker,
    zswap_shrinker_scan,
    zswap_store,
    zswap_writeback_walk,
)

ZSWAP_PARAMETERS = ("shrinker_enabled",)
"""zswap module parameters a controller may change at run time (per host)."""
KNOBS = ("memory.high", "memory.max", "memory.zswap.max", "memory.swap.max", "memory.zswap.writeback")
_KNOB_FIELD = {
    "memory.high": "memory_high",
    "memory.max": "memory_max",
    "memory.zswap.max": "zswap_max",
    "memory.swap.max": "swap_max",
    "memory.zswap.writeback": "zswap_writeback",
}
RECLAIM_SOURCES = ("proactive", "kswapd", "direct")
_ROUNDING_INDEX = {name: i for i, name in enumerate(ROUNDING_SITES)}
MAX_RECLAIM_RETRIES = 16
"""``MAX_RECLAIM_RETRIES``: reclaim attempts before the kernel gives up (OOM or -EAGAIN)."""
SCHEDULE_BLOCK = 512
_ZSWAP_BYTES, _ZPOOL_BYTES = Loc.COUNT, Loc.COUNT + 1
"""Rows of the gauge tally after the Loc.COUNT location counts: zswap and zpool bytes per page."""
_CPU_COUNTER_ROWS = [
    COUNTER_NAMES.index(k) for k in ("cpu_compress_s", "cpu_decompress_s", "cpu_flush_s", "cpu_reclaim_s")
]
"""Rows of the counter block behind ``StepMetrics.cpu_s`` (compress, decompress, flush, reclaim)."""
_BOUND_MARGIN_BYTES = 2.0**20
"""Slack kept below a watermark when it is ruled out from the DRAM bound alone."""
_UNIT24 = np.float32(2.0**-24)
_TWO_P24 = np.float32(2.0**24)


class TouchProbabilities(NamedTuple):
    """Per-chunk touch probabilities for one interval at the access rates ``rate`` (H, C) float32:
    ``p_none`` = exp(-r dt); ``p_touch_x2p24`` = (1 - p_none) * 2**24 and ``p_touch_x2m24`` =
    (1 - p_none) * 2**-24, for draws kept as 24-bit whole numbers (:meth:`CounterRNG.uniform24_pair`)."""

    rate: np.ndarray
    p_none: np.ndarray
    p_touch_x2p24: np.ndarray
    p_touch_x2m24: np.ndarray


class _ScheduleBlock(NamedTuple):
    """One block of the tenants' schedule, (SCHEDULE_BLOCK, M) per step: the footprint target in whole
    chunks, the access-rate multiplier (float32), the working-set shift fraction and inversion flag."""

    target_chunks: np.ndarray
    rate_multiplier: np.ndarray
    shift_fraction: np.ndarray
    shift_invert: np.ndarray


class _DeviceTotals(NamedTuple):
    """The swap device's step (:class:`~.swapdev.DeviceStep`), each host's swap-in latency (us) and
    the bytes it wrote and read, (H,)."""

    dev: DeviceStep
    swapin_us: np.ndarray
    bytes_written: np.ndarray
    bytes_read: np.ndarray


class PreparedTouches(NamedTuple):
    """A step's touches made ahead (when its access rates are known: no allocation, no working-set
    shift): ``touched`` (H, C) bool, ``last`` (H, C) float32 last touch times; and, when the step
    frees nothing either, ``touched`` already excludes unallocated chunks, ``blended`` is the
    step's new ``last_access_s`` and ``faults`` the flat indices of the touched chunks not resident
    at the step's start (None otherwise: then ``touched`` still includes unallocated chunks)."""

    touched: np.ndarray
    last: np.ndarray
    blended: np.ndarray | None
    faults: np.ndarray | None = None


class PreparedStep(NamedTuple):
    """The part of the next step that no action changes, computed ahead by
    :meth:`Simulator.prepare_step` (a sharded env's worker does it while the policy thinks).
    A part left None is computed by the step itself.

    Valid for the step it was made before, as long as nothing changes the simulator in between
    (:meth:`Simulator.step` refuses it otherwise, except direct edits of state arrays, which it
    cannot see)."""

    generation: int
    """The simulator's change count when it was made."""
    schedule: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None
    """The step's schedule rows (:meth:`Simulator._schedule_rows`)."""
    accumulator: StepAccumulator | None = None
    """A zeroed accumulator for the step after (what the step installs at its end)."""
    reclaim_histogram: AgeHistogram | None = None
    """Resident chunks by memcg and age bin at the step's start (what ``memory.reclaim`` sorts)."""
    access_draws: tuple[np.ndarray, np.ndarray] | None = None
    """The step's access draws (``uniform24_pair(C, "access")``)."""
    touches: PreparedTouches | None = None
    """The step's touches, when the step will neither allocate nor shift a working set (so the
    access rates stay as they are). (The second draw array is used up making them.)"""
    zswap_lru: tuple[np.ndarray, np.ndarray] | None = None
    """Every zswap entry's flat chunk index and (host, memcg) key at the step's start, in LRU order
    (memcgs ascending, each list oldest first): what the proactive writeback walks, with the entries
    the step's reclaim stores appended to their lists."""


class _lazy:
    """A field computed on first read and then stored on the instance (``functools.cached_property``
    without its lock, which costs more than the small arrays it computes)."""

    def __init__(self, compute) -> None:
        self.compute = compute

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        value = obj.__dict__[self.name] = self.compute(obj)
        return value


class Gauges:
    """Point-in-time sizes derived from the chunk arrays, (H, M) pages or bytes; (H,) for host_*.

    Each field is computed on first use (most callers read one or two of them).
    """

    FIELDS = (
        "resident_pages",
        "zswap_pages",
        "swap_pages",
        "zero_pages",
        "writeback_pages",
        "footprint_pages",
        "zswap_bytes",
        "zpool_bytes",
        "memory_current",
        "swap_slot_pages",
        "dram_bytes",
        "pool_bytes_host",
        "dram_used_host",
    )

    def __init__(self, counts: np.ndarray, zswap_bytes: np.ndarray, zpool_bytes: np.ndarray, host: HostConfig):
        self._counts = counts  # (Loc.COUNT, H, M) pages per location
        self.zswap_bytes = zswap_bytes
        self.zpool_bytes = zpool_bytes
        self._host = host

    resident_pages = _lazy(lambda self: self._counts[Loc.RESIDENT])
    zswap_pages = _lazy(lambda self: self._counts[Loc.ZSWAP])
    swap_pages = _lazy(lambda self: self._counts[Loc.SWAP])
    zero_pages = _lazy(lambda self: self._counts[Loc.SWAP_ZERO])
    writeback_pages = _lazy(lambda self: self._counts[Loc.WRITEBACK])

    @_lazy
    def footprint_pages(self) -> np.ndarray:
        # Every location but ABSENT (RESIDENT..WRITEBACK); whole pages, so the sum is exact in any order.
        return np.add.reduce(self._counts[Loc.RESIDENT :], axis=0)

    @_lazy
    def _in_dram(self) -> np.ndarray:
        # Resident pages and pages under writeback hold 4 KiB of DRAM each.
        return (self._counts[Loc.RESIDENT] + self._counts[Loc.WRITEBACK]) * PAGE_SIZE

    @_lazy
    def memory_current(self) -> np.ndarray:
        return self._in_dram + self.zswap_bytes

    @_lazy
    def swap_slot_pages(self) -> np.ndarray:
        # The locations holding a swap slot: ZSWAP, SWAP, SWAP_ZERO, WRITEBACK (whole pages, exact).
        return np.add.reduce(self._counts[Loc.ZSWAP :], axis=0)

    @_lazy
    def dram_bytes(self) -> np.ndarray:
        metadata = self._counts[Loc.ZSWAP] * self._host.zswap.entry_metadata_bytes  # per zswap entry
        return self._in_dram + self.zpool_bytes + metadata

    @_lazy
    def pool_bytes_host(self) -> np.ndarray:
        return np.add.reduce(self.zpool_bytes, axis=1)

    @_lazy
    def dram_used_host(self) -> np.ndarray:
        return np.add.reduce(self.dram_bytes, axis=1) + self._host.other_used_bytes

    def as_dict(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in self.FIELDS}


class StepAccumulator:
    """Per-step tallies the metrics and PSI are computed from."""

    def __init__(self, h: int, m: int, windows: int) -> None:
        # The (H, M) tallies are rows of one zeroed block (one allocation per step, not one each);
        # the refault tiers and the writeback sources are also whole (tiers, H, M) slices of it.
        n_stall, n_tiers, n_sources = len(STALL_SOURCES), len(REFAULT_TIERS), len(WRITEBACK_SOURCES)
        block = np.zeros((n_stall + n_tiers + n_sources + 3, h, m))
        rows = iter(block)
        self.stall_s = {name: next(rows) for name in STALL_SOURCES}
        self.refault_pages = {name: next(rows) for name in REFAULT_TIERS}
        self.window_stall_s, self.window_swapin_pages = np.zeros((2, h, m, windows))
        self.writeback_chunks = {name: next(rows) for name in WRITEBACK_SOURCES}
        self.charged_pages, self.spread_stall_s, self.oom_kills = rows
        self.write_pages_submitted = np.zeros(h)
        # The refault_pages arrays as one (REFAULT_TIERS, H, M) block, the writeback_chunks ones as
        # one (WRITEBACK_SOURCES, H, M) block.
        self._refault_by_tier = block[n_stall : n_stall + n_tiers]
        self._writeback_by_source = block[n_stall + n_tiers : n_stall + n_tiers + n_sources]

    def __setstate__(self, state: dict) -> None:
        # Unpickled (or deep-copied) tallies are separate arrays again: put them back in one block.
        self.__dict__.update(state)
        h, m, windows = self.window_stall_s.shape
        arrays = self.to_arrays()
        self.__init__(h, m, windows)
        self.load_arrays(arrays)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Every tally as a named array copy (for snapshots)."""
        out: dict[str, np.ndarray] = {}
        for name, value in vars(self).items():
            if name.startswith("_"):  # another view of the same tallies
                continue
            if isinstance(value, dict):
                out.update({f"{name}.{k}": v.copy() for k, v in value.items()})
            else:
                out[name] = value.copy()
        return out

    def load_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Restore tallies saved by :meth:`to_arrays` (copied into this accumulator's arrays)."""
        for key, value in arrays.items():
            name, _, sub = key.partition(".")
            tally = getattr(self, name)[sub] if sub else getattr(self, name)
            np.copyto(tally, value)


class Simulator:
    """H hosts of one scenario; see the module docstring for what a step does.

    Args:
        scenario: the validated scenario.
        num_hosts: hosts simulated together (the batch).
        seed: host ``i`` draws from ``SeedSequence(seed, spawn_key=(first_host + i,))``.
        first_host: index of this batch's first host in the seed's host sequence.
    """

    def __init__(self, scenario: ScenarioConfig, num_hosts: int = 1, seed: int | None = 0, first_host: int = 0) -> None:
        if not isinstance(num_hosts, int) or num_hosts < 1:
            raise ValueError(f"num_hosts = {num_hosts!r}: must be a positive integer")
        self.cfg = scenario.validate()
        host = self.cfg.host
        self.num_hosts = num_hosts
        self.num_memcgs = self.cfg.max_memcgs
        self.memcg_names = tuple(t.name for t in self.cfg.tenants)
        self.first_host = first_host
        capacities = [max(1, math.ceil(t.workload.peak_size_bytes() / host.chunk_bytes) + 1) for t in self.cfg.tenants]
        self.layout = ChunkLayout.from_capacities(capacities, self.num_memcgs)
        self.tables = AttributeTables.build(self.cfg)
        m = self.num_memcgs
        self.memcg_active = np.zeros(m, dtype=bool)
        self.memcg_active[: len(self.cfg.tenants)] = True
        self.nr_tasks = np.ones(m)
        self.expected_compressed = np.zeros(m)
        for i, t in enumerate(self.cfg.tenants):
            self.nr_tasks[i] = t.nr_tasks
            self.expected_compressed[i] = expected_compressed_bytes(t.workload, host)
        self.max_pool_bytes = host.dram_bytes * host.zswap.max_pool_percent / 100.0
        self.swap_capacity_pages = host.swap.capacity_bytes // PAGE_SIZE
        self.psi_windows = max(1, round(host.step_s / 2.0))
        self._precompute()
        self._gauges: Gauges | None = None
        self._agg = None
        self._schedule_cache: dict[int, _ScheduleBlock] = {}
        self._touch_cache: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self.acc = StepAccumulator(num_hosts, m, self.psi_windows)
        self._generation = 0  # changes made through the simulator's API (see PreparedStep)
        self._walks = 0  # zswap LRU walks that wrote entries back (removed them from zswap)
        self._taken_in_step = np.zeros(0, dtype=np.intp)  # chunks this step's proactive reclaim took
        self.reset(seed)

    def _precompute(self) -> None:
        """Constants of the scenario and batch that the step's bookkeeping uses."""
        host, h, m = self.cfg.host, self.num_hosts, self.num_memcgs
        self._memcg_keys = self.layout.memcg_keys(h)  # (H * C,) flat (host, memcg) of every chunk
        # Where location ``loc`` starts in the (Loc.COUNT, H * M) chunk counts (``set_loc``).
        self._loc_offset = np.arange(Loc.COUNT, dtype=np.int64) * (h * m)
        self._pool_limit_bytes = np.full(h, self.max_pool_bytes)  # (H,), for the metrics
        # Mean refault latency per tier (zswap, swap, zero page), (H, 3) us; the swap column is the
        # device's, filled in each step.
        self._tier_means_us = np.empty((h, 3))
        self._tier_means_us[:, 0] = host.page_fault_us + host.compressor.decompress_us_per_page
        self._tier_means_us[:, 1] = np.nan
        self._tier_means_us[:, 2] = host.page_fault_us
        # The most DRAM a host can ever use: every chunk slot of every tenant allocated, each page
        # resident (4 KiB) or a zswap entry (at most 4 KiB in the pool, plus its metadata), plus the
        # memory outside the tenants. Below the watermarks, no host check can ever trigger.
        per_page = PAGE_SIZE + host.zswap.entry_metadata_bytes
        self._dram_bound_bytes = (
            float(self.layout.block_len.sum()) * host.chunk_pages * per_page + host.other_used_bytes
        )

    # ------------------------------------------------------------------------------------------
    # Set-up
    # ------------------------------------------------------------------------------------------

    def reset(self, seed: int | None = 0, *, host_seeds: Sequence[int | None] | None = None) -> None:
        """Start every host over from time 0 (workloads freshly drawn, knobs from the scenario).

        Host ``i`` draws from ``SeedSequence(seed, spawn_key=(first_host + i,))``, or, with
        ``host_seeds``, from ``SeedSequence(host_seeds[i], spawn_key=(0,))`` — the stream a single
        host reset with that seed gets (what a vector env needs).
        """
        self.seed = seed
        self.rng = CounterRNG(self._keys(seed, host_seeds))
        self.state = self._initial_state(self.rng)
        self._after_state_change()

    def reset_hosts(self, mask: np.ndarray, host_seeds: Sequence[int | None] | None = None) -> None:
        """Start over only the hosts in ``mask`` (H,) bool; with ``host_seeds`` (one per host,
        used where ``mask``) they take new streams, else they replay their own from the start."""
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != (self.num_hosts,):
            raise ValueError(f"reset mask has shape {mask.shape}, expected ({self.num_hosts},)")
        if not np.count_nonzero(mask):
            return
        keys = self.rng.keys.copy()
        if host_seeds is not None:
            new_keys = self._keys(None, host_seeds, where=mask)
            keys[mask] = new_keys[mask]
        rng = CounterRNG(keys)
        fresh = self._initial_state(rng)
        _copy_rows(self.state, fresh, mask)
        self.rng.keys = keys
        self.rng._column_salt.clear()
        self.rng.step_index[mask] = rng.step_index[mask]
        self.rng.invocations[mask] = rng.invocations[mask]
        self.rng.refresh_base()
        before = self._counters_at_step_start
        self._after_state_change()
        before[:, mask] = self._counters_at_step_start[:, mask]
        self._counters_at_step_start = before

    def _keys(
        self, seed: int | None, host_seeds: Sequence[int | None] | None, where: np.ndarray | None = None
    ) -> np.ndarray:
        if host_seeds is None:
            return host_keys(seed, self.num_hosts, self.first_host)
        if len(host_seeds) != self.num_hosts:
            raise ValueError(f"host_seeds has {len(host_seeds)} seeds for {self.num_hosts} hosts")
        use = np.ones(self.num_hosts, dtype=bool) if where is None else where
        return np.array([host_key(s, 0) if u else 0 for s, u in zip(host_seeds, use, strict=True)], dtype=np.uint64)

    def _after_state_change(self) -> None:
        self._changed()
        self._bind_counters()
        self._gauges = None
        self._agg = None
        self.acc = StepAccumulator(self.num_hosts, self.num_memcgs, self.psi_windows)
        self._counters_at_step_start = self._stacked_counters()

    def _initial_state(self, rng: CounterRNG) -> SimState:
        """Every host at time 0: the first ``size_bytes`` of each block allocated and resident,
        idle ages from the stationary backward recurrence time of a Poisson process (Exp(rate))."""
        h, m, c = self.num_hosts, self.num_memcgs, self.layout.num_chunks
        owner = self.layout.owner
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
            shrinker_enabled=np.full(h, self.cfg.host.zswap.shrinker_enabled),
            device_backlog_pages=np.zeros(h),
            device_bytes_written=np.zeros(h),
            device_bytes_read=np.zeros(h),
            rounding_residual=np.zeros((h, len(ROUNDING_SITES), m)),
            now_s=np.zeros(h),
            step_index=np.zeros(h, dtype=np.int64),
        )
        for i, t in enumerate(self.cfg.tenants):
            for knob, value in (
                ("memory_high", t.memory_high_bytes),
                ("memory_max", t.memory_max_bytes),
                ("zswap_max", t.zswap_max_bytes),
                ("swap_max", t.swap_max_bytes),
            ):
                getattr(st, knob)[:, i] = np.inf if value is None else float(value)
            st.zswap_writeback[:, i] = t.zswap_writeback
        rng.begin_step(st.step_index)
        rows = np.repeat(np.arange(h), c)
        cols = np.tile(np.arange(c), h)
        self._draw_attributes(st, rng, rows, cols, "init_attributes")
        initial = np.zeros(m, dtype=np.int64)
        for i, t in enumerate(self.cfg.tenants):
            initial[i] = min(round(t.workload.size_bytes / self.cfg.host.chunk_bytes), self.layout.block_len[i])
        slot_in_block = np.arange(c) - self.layout.block_start[owner]
        alive = slot_in_block < initial[owner]
        st.loc[:, alive] = Loc.RESIDENT
        u, _ = rng.uniform_pair(c, "init_idle")
        uptime = np.array([t.workload.uptime_s for t in self.cfg.tenants] + [0.0] * (m - len(self.cfg.tenants)))
        idle = np.minimum(-np.log1p(-u.astype(np.float64)) / st.rate_hz, uptime[owner])
        st.last_access_s[:] = (-idle).astype(np.float32)
        for i, t in enumerate(self.cfg.tenants):
            threshold = t.workload.initial_zswap_idle_s
            if threshold is None:
                continue
            cold = (st.loc == Loc.RESIDENT) & (owner == i)[None, :] & (idle >= threshold)
            cold &= self._fits_swap_and_pool(st, cold, idle)
            zero = cold & (st.compressed_bytes == 0)
            stored = cold & ~zero & ((st.compressed_bytes < PAGE_SIZE) | st.zswap_writeback[:, owner])
            st.loc[zero] = Loc.SWAP_ZERO
            st.loc[stored] = Loc.ZSWAP
            since = (-(idle - threshold)).astype(np.float32)
            st.zswap_store_s[stored] = since[stored]
            st.lru_seq[stored] = since[stored]  # by store time; made dense list positions below
            st.referenced[stored] = True
        self._dense_initial_lru(st)
        rng.begin_step(st.step_index)
        return st

    @staticmethod
    def _dense_initial_lru(st: SimState) -> None:
        """Turn the initial entries' store times into list positions -n..-1 per host (oldest
        first), so positions are whole numbers and later additions (from 1 on) go behind them."""
        stored = st.loc == Loc.ZSWAP
        if not np.count_nonzero(stored):
            return
        c = stored.shape[1]
        order = np.argsort(np.where(stored, st.lru_seq, np.inf), axis=1, kind="stable")
        rank = np.empty_like(order)
        np.put_along_axis(rank, order, np.arange(c)[None, :], axis=1)
        first_free = stored.sum(axis=1, keepdims=True)
        st.lru_seq[:] = np.where(stored, rank - first_free, 0.0)

    def _fits_swap_and_pool(self, st: SimState, cold: np.ndarray, idle: np.ndarray) -> np.ndarray:
        """Of the ``cold`` chunks, the coldest that fit in the free swap slots, the memcg's
        ``memory.swap.max`` and the zswap pool limit (reset time only: sorts per host)."""
        pages = self.cfg.host.chunk_pages
        order = np.argsort(np.where(cold, -idle, np.inf), axis=1, kind="stable")
        ranked_cold = np.take_along_axis(cold, order, axis=1)
        slots_used = (st.loc != Loc.RESIDENT) & (st.loc != Loc.ABSENT)
        slots_free = self.swap_capacity_pages - slots_used.sum(axis=1) * pages
        pool_bytes = np.where(ranked_cold, np.take_along_axis(st.zpool_bytes, order, axis=1) * pages, 0.0)
        # The pool limit is the host's (zswap_check_limits): earlier tenants' entries count against it.
        pool_used = np.where(st.loc == Loc.ZSWAP, st.zpool_bytes, 0.0).sum(axis=1) * pages
        fits = (np.cumsum(ranked_cold, axis=1) * pages <= slots_free[:, None]) & (
            np.cumsum(pool_bytes, axis=1) <= (self.max_pool_bytes - pool_used)[:, None]
        )
        owner_ranked = self.layout.owner[order]
        swap_max = np.take_along_axis(st.swap_max, owner_ranked, axis=1)
        zswap_max = np.take_along_axis(st.zswap_max, owner_ranked, axis=1)
        charge = np.take_along_axis(st.compressed_bytes, order, axis=1) * pages
        swap_used = np.zeros_like(pool_bytes)
        zswap_used = np.zeros_like(pool_bytes)
        for m in range(self.num_memcgs):  # reset time: a loop over the memcg slots
            mine = ranked_cold & (owner_ranked == m)
            swap_used = np.where(mine, np.cumsum(mine, axis=1) * pages * PAGE_SIZE, swap_used)
            zswap_used = np.where(mine, np.cumsum(np.where(mine, charge, 0.0), axis=1), zswap_used)
        fits &= (swap_used <= swap_max) & (zswap_used <= zswap_max)
        out = np.zeros_like(cold)
        np.put_along_axis(out, order, ranked_cold & fits, axis=1)
        return out

    def _draw_attributes(self, st: SimState, rng: CounterRNG, rows: np.ndarray, cols: np.ndarray, site: str) -> None:
        """Fresh access rate and compressibility for chunk slots (rows = host, cols = slot)."""
        owner = self.layout.owner[cols]
        u_band, u_rate = rng.pair_at(rows, cols, site)
        u_class, u_n1 = rng.pair_at(rows, cols, site)
        u_n2, _ = rng.pair_at(rows, cols, site)
        st.rate_hz[rows, cols] = draw_access_rates(owner, self.tables, u_band, u_rate)
        compressed = draw_compressed_bytes(owner, self.tables, u_class, u_n1, u_n2)
        st.compressed_bytes[rows, cols] = compressed
        zpool = zsmalloc_class_bytes(compressed, self.cfg.host.zswap.zsmalloc_huge_class_bytes)
        st.zpool_bytes[rows, cols] = np.where(compressed > 0, zpool, 0.0)

    # ------------------------------------------------------------------------------------------
    # Helpers shared by the mechanisms
    # ------------------------------------------------------------------------------------------

    @property
    def now_s(self) -> np.ndarray:
        """Each host's clock, (H,) seconds."""
        return self.state.now_s

    @property
    def now_f32(self) -> np.ndarray:
        """Each host's clock as a float32 column (H, 1), to broadcast against chunk arrays."""
        return self.state.now_s.astype(np.float32)[:, None]

    def stamp_now(self, times: np.ndarray, mask: np.ndarray) -> None:
        """Set ``times`` (H, C) to each host's current time where ``mask``."""
        np.copyto(times, np.broadcast_to(self.now_f32, times.shape), where=mask)

    def invalidate_gauges(self) -> None:
        """Recompute the gauges from scratch next time (after editing state arrays directly)."""
        self._changed()
        self._gauges = None
        self._agg = None

    def _changed(self) -> None:
        """Count a change of the state (a :class:`PreparedStep` made before it no longer applies)."""
        self._generation = getattr(self, "_generation", 0) + 1  # (absent in simulators pickled before it)

    def set_loc(self, sel, new: int, from_loc: int | np.ndarray | None = None) -> None:
        """Move chunks (a mask, (rows, cols), or flat indices) to location ``new``, keeping the per-(host, memcg,
        location) counts and zswap byte sums up to date incrementally (exact: float64 sums of
        float32 sizes). ``from_loc``: where every chunk of ``sel`` is now (one location), or where each
        one is (an array, one per chunk in flat-index order), when the caller knows it (saves reading
        each chunk's old location)."""
        st = self.state
        if isinstance(sel, tuple):
            flat = sel[0] * st.loc.shape[1] + sel[1]
        elif sel.dtype == bool:
            flat = flat_nonzero(sel)
        else:
            flat = sel  # flat chunk indices
        if flat.size == 0:
            return
        locf = st.loc.reshape(-1)
        tally = self._agg
        if tally is not None:
            cnt = tally[: Loc.COUNT]  # (Loc.COUNT, H * M) chunks per location
            g = self._memcg_keys[flat]
            if from_loc is None or isinstance(from_loc, np.ndarray):
                old = locf[flat] if from_loc is None else from_loc
                cnt[new] += np.bincount(g, minlength=cnt.shape[1])
                cnt -= np.bincount(g + self._loc_offset[old], minlength=cnt.size).reshape(cnt.shape)
                move = (old != Loc.ZSWAP) if new == Loc.ZSWAP else (old == Loc.ZSWAP)
                moved = new == Loc.ZSWAP or np.count_nonzero(move)
                if moved:
                    f, g = flat[move], g[move]
            else:
                per_memcg = np.bincount(g, minlength=cnt.shape[1])
                cnt[new] += per_memcg
                cnt[from_loc] -= per_memcg
                f, moved = flat, Loc.ZSWAP in (new, from_loc) and new != from_loc
            if moved:
                # Entries stored add their sizes, entries leaving zswap subtract them (x + -y is x - y).
                change = np.add if new == Loc.ZSWAP else np.subtract
                zb, zp = tally[_ZSWAP_BYTES], tally[_ZPOOL_BYTES]
                change(zb, np.bincount(g, weights=st.compressed_bytes.reshape(-1)[f], minlength=zb.size), out=zb)
                change(zp, np.bincount(g, weights=st.zpool_bytes.reshape(-1)[f], minlength=zp.size), out=zp)
        locf[flat] = new
        self._gauges = None

    def gauges(self) -> Gauges:
        """Current sizes per memcg and host (cached until the next change)."""
        if self._gauges is not None:
            return self._gauges
        st, h, m = self.state, self.num_hosts, self.num_memcgs
        pages = self.cfg.host.chunk_pages
        if self._agg is None:
            # The tally (Loc.COUNT + 2, H * M), float64 (whole numbers, exact): chunks per location,
            # then the per-page zswap bytes and zpool bytes summed over the stored chunks.
            keys = self._memcg_keys + self._loc_offset[st.loc.ravel()]
            n = Loc.COUNT * h * m
            zb = np.bincount(keys, weights=st.compressed_bytes.ravel(), minlength=n).reshape(Loc.COUNT, h * m)
            zp = np.bincount(keys, weights=st.zpool_bytes.ravel(), minlength=n).reshape(Loc.COUNT, h * m)
            tally = np.empty((Loc.COUNT + 2, h * m))
            tally[: Loc.COUNT] = np.bincount(keys, minlength=n).reshape(Loc.COUNT, h * m)
            tally[_ZSWAP_BYTES], tally[_ZPOOL_BYTES] = zb[Loc.ZSWAP], zp[Loc.ZSWAP]
            self._agg = tally
        sizes = self._agg.reshape(Loc.COUNT + 2, h, m) * float(pages)  # chunks to pages, all at once
        self._gauges = Gauges(sizes[: Loc.COUNT], sizes[_ZSWAP_BYTES], sizes[_ZPOOL_BYTES], self.cfg.host)
        return self._gauges

    def round_chunks(self, chunks: np.ndarray, site: str) -> np.ndarray:
        """Whole chunks for (H, M) — or (H,) — chunk amounts, by error diffusion: each (host, memcg,
        ``site``) carries the fraction it rounded away into its next amount, so requests smaller
        than a chunk are honoured exactly on average whatever the chunk size (and a whole amount
        is never changed)."""
        # Callers pass finite amounts (requests are checked on the way in); amounts beyond any
        # host's size are capped so the integer cast cannot overflow.
        x = np.minimum(np.maximum(chunks, 0.0), 2.0**52)
        j = _ROUNDING_INDEX[site]
        residual = self.state.rounding_residual[:, j, 0] if x.ndim == 1 else self.state.rounding_residual[:, j, :]
        x += residual
        whole = np.floor(x)
        residual[...] = x - whole
        return whole.astype(np.int64)

    def lru_push_tail(self, chunks: np.ndarray) -> None:
        """Put ``chunks`` at the young end of their list (the zswap LRU or the write queue), in the
        order given: ``list_lru_add()``, or ``LRU_ROTATE`` for a walk's rotated entries. ``chunks``
        is a mask, or flat chunk indices sorted by host. Positions stay dense per host."""
        st = self.state
        idx = chunks if chunks.dtype != bool else flat_nonzero(chunks)
        seq = st.lru_seq.reshape(-1)
        position = np.arange(1, idx.size + 1, dtype=np.float64)  # 1, 2, ... in the order given
        if self.num_hosts == 1:
            seq[idx] = st.lru_tail[0] + position
            st.lru_tail += idx.size
            return
        rows = idx // st.lru_seq.shape[1]
        per_host = np.bincount(rows, minlength=st.lru_tail.size)
        first = np.add.accumulate(per_host) - per_host  # where each host's chunks start in ``idx``
        # Host h's chunks go to tail_h + 1, tail_h + 2, ... (whole numbers: exact in any order).
        seq[idx] = (st.lru_tail - first)[rows] + position
        st.lru_tail += per_host

    def submit_writes(self, pages: np.ndarray) -> None:
        """Queue asynchronous writes of ``pages`` (H,) on each host's swap device."""
        self.state.device_backlog_pages += pages
        self.acc.write_pages_submitted += pages

    # ------------------------------------------------------------------------------------------
    # Kernel-facing operations (what writes to cgroup files do)
    # ------------------------------------------------------------------------------------------

    def memory_reclaim(self, request_bytes: np.ndarray, swappiness: np.ndarray | float | None = None) -> np.ndarray:
        """``memory.reclaim``: reclaim about ``request_bytes`` (H, M) from each memcg's cold end.

        Reclaimed anon goes to zswap (or to disk when zswap rejects it, or stays resident when the
        memcg may not write back). ``swappiness`` = 0 reclaims no anon (file memory is not modelled),
        any other value anon only. Not charged as the workload's memory stall. Returns bytes taken
        off the LRU (H, M); less than asked means the kernel's -EAGAIN.
        """
        return self._memory_reclaim(request_bytes, swappiness)

    def _memory_reclaim(
        self, request_bytes: np.ndarray, swappiness: np.ndarray | float | None, histogram: AgeHistogram | None = None
    ) -> np.ndarray:
        """:meth:`memory_reclaim`; ``histogram``: the resident chunks' age histogram as it is now
        (from a :class:`PreparedStep`), instead of counting it here."""
        self._changed()
        request = _checked_request(request_bytes, "memory.reclaim", (self.num_hosts, self.num_memcgs))
        if swappiness is not None:
            request = np.where(np.asarray(swappiness) == 0, 0.0, request)
        chunks = self.round_chunks(request / self.cfg.host.chunk_bytes, "round_reclaim")
        reclaimed = self._reclaim(chunks, kswapd_share=None, proactive=True, histogram=histogram)
        return reclaimed * self.cfg.host.chunk_bytes

    def zswap_proactive_writeback(
        self, request_bytes: np.ndarray, min_age_s: np.ndarray | float | None = None
    ) -> np.ndarray:
        """Proactive zswap writeback (``memory.reclaim "N source=zswap"``, or with ``min_age_s``
        the age-threshold form of ``memory.zswap.proactive_writeback``): write back up to
        ``request_bytes`` (H, M) of stored pages (original size) from the LRU's old end, second
        chance applied. Returns bytes written back (H, M); may be less than asked."""
        return self._zswap_proactive_writeback(request_bytes, min_age_s)

    def _zswap_proactive_writeback(
        self,
        request_bytes: np.ndarray,
        min_age_s: np.ndarray | float | None,
        lru: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> np.ndarray:
        """:meth:`zswap_proactive_writeback`; ``lru``: the zswap entries in LRU order with their
        (host, memcg) keys, when the caller knows them."""
        self._changed()
        request = _checked_request(request_bytes, "proactive writeback", (self.num_hosts, self.num_memcgs))
        age = None
        if min_age_s is not None:
            age = np.broadcast_to(np.asarray(min_age_s, dtype=np.float32), request.shape)
        written = zswap_writeback_walk(
            self, write_target=request / self.cfg.host.chunk_bytes, min_age_s=age, source="proactive", lru=lru
        )
        return written * self.cfg.host.chunk_bytes

    def set_knob(self, knob: str, host: int, memcg: int, value: float | bool | None) -> None:
        """Set a cgroup knob of one memcg: limits in bytes (``None`` = max), writeback 0/1."""
        if knob not in _KNOB_FIELD:
            raise KeyError(f"unknown knob {knob!r}; known: {list(KNOBS)}")
        self._changed()
        array = getattr(self.state, _KNOB_FIELD[knob])
        if knob == "memory.zswap.writeback":
            array[host, memcg] = bool(value)
        else:
            array[host, memcg] = np.inf if value is None else float(value)

    def set_zswap_parameter(self, name: str, host: int, value: bool) -> None:
        """Set a zswap module parameter of one host at run time (``/sys/module/zswap/parameters/``).

        Only ``shrinker_enabled`` is writable here; the pool limits are fixed by the scenario."""
        if name not in ZSWAP_PARAMETERS:
            raise KeyError(f"unknown zswap parameter {name!r}; known: {list(ZSWAP_PARAMETERS)}")
        self._changed()
        self.state.shrinker_enabled[host] = bool(value)

    def get_zswap_parameter(self, name: str, host: int) -> bool:
        if name not in ZSWAP_PARAMETERS:
            raise KeyError(f"unknown zswap parameter {name!r}; known: {list(ZSWAP_PARAMETERS)}")
        return bool(self.state.shrinker_enabled[host])

    def get_knob(self, knob: str, host: int, memcg: int) -> float | bool | None:
        array = getattr(self.state, _KNOB_FIELD[knob])
        value = array[host, memcg]
        if knob == "memory.zswap.writeback":
            return bool(value)
        return None if not np.isfinite(value) else float(value)

    # ------------------------------------------------------------------------------------------
    # Reclaim
    # ------------------------------------------------------------------------------------------

    def _reclaim(
        self,
        target_chunks: np.ndarray,
        *,
        kswapd_share: np.ndarray | None,
        proactive: bool = False,
        histogram: AgeHistogram | None = None,
    ) -> np.ndarray:
        """Shrink each memcg's LRU by up to ``target_chunks`` (H, M), coldest first.

        Each page needs a swap slot (host capacity, ``memory.swap.max``); zero-filled pages are only
        marked in the swap map; the rest go through ``zswap_store()``; a rejected page is written to
        disk, or — with ``memory.zswap.writeback = 0`` — activated and kept. Returns chunks taken
        off the LRU per (H, M).
        """
        st, lay, host = self.state, self.layout, self.cfg.host
        pages = host.chunk_pages
        g = self.gauges()
        # Whole chunks throughout: the LRU's resident chunks, then the swap slots left under
        # memory.swap.max (where it is set), then the host's free slots, shared in proportion.
        target = np.minimum(target_chunks, self._chunk_counts()[Loc.RESIDENT])
        if np.count_nonzero(st.swap_max != np.inf):
            slot_room = np.floor(np.maximum(st.swap_max / PAGE_SIZE - g.swap_slot_pages, 0.0) / pages)
            target = np.minimum(target, slot_room)
        host_room = np.maximum(self.swap_capacity_pages - np.add.reduce(g.swap_slot_pages, axis=1), 0.0) / pages
        want = np.add.reduce(target, axis=1)
        short = want > host_room
        if np.count_nonzero(short):
            scale = np.where(short, host_room / np.maximum(want, 1e-9), 1.0)
            target = np.floor(target * scale[:, None])
        target = target.astype(np.int64)
        if not np.count_nonzero(target):
            return np.zeros(target.shape)
        lru_before = g.resident_pages
        if histogram is None:
            histogram = self._reclaim_histogram()
        selected = select_oldest_flat(None, None, target, lay, histogram)
        is_zero = st.compressed_bytes.reshape(-1)[selected] == 0
        zero = selected[is_zero]
        if proactive:
            taken = getattr(self, "_taken_in_step", selected[:0])
            self._taken_in_step = np.concatenate((taken, selected))
        candidates = selected[~is_zero]
        rejected = zswap_store(self, candidates)
        # The chunks this reclaim added to zswap, when simply known (every candidate stored).
        self._stored_in_reclaim = candidates if not rejected.size else None
        keys = self._memcg_keys
        to_disk = kept = rejected  # (none rejected: both empty)
        if rejected.size:
            may_write = st.zswap_writeback.reshape(-1)[keys[rejected]]
            to_disk, kept = rejected[may_write], rejected[~may_write]
        groups = self.num_hosts * self.num_memcgs
        if zero.size:
            self.set_loc(zero, Loc.SWAP_ZERO, from_loc=Loc.RESIDENT)
            st.counters["swpout_zero"] += (
                np.bincount(keys[zero], minlength=groups).reshape(st.memory_high.shape) * pages
            )
        if to_disk.size:
            self.set_loc(to_disk, Loc.WRITEBACK, from_loc=Loc.RESIDENT)
            self.lru_push_tail(to_disk)  # write queue order
            n_disk = np.bincount(keys[to_disk], minlength=groups).reshape(st.memory_high.shape) * pages
            st.counters["pswpout"] += n_disk
            self.submit_writes(n_disk.sum(axis=1))
        if kept.size:  # AOP_WRITEPAGE_ACTIVATE: back to the active list
            st.last_access_s.reshape(-1)[kept] = self.now_f32[kept // lay.num_chunks, 0]
            self._activated_in_step = True
        scanned = np.bincount(keys[selected], minlength=groups).reshape(st.memory_high.shape).astype(np.float64)
        reclaimed = scanned  # every scanned chunk left the LRU unless kept
        if kept.size:
            reclaimed = scanned - np.bincount(keys[kept], minlength=groups).reshape(st.memory_high.shape)
        scanned_pages, reclaimed_pages = scanned * pages, reclaimed * pages
        st.counters["cpu_reclaim_s"] += scanned_pages * host.reclaim_us_per_page * 1e-6
        st.counters["pgscan"] += scanned_pages
        st.counters["pgsteal"] += reclaimed_pages
        if proactive:
            st.counters["pgscan_proactive"] += scanned_pages
            st.counters["pgsteal_proactive"] += reclaimed_pages
        else:
            k = kswapd_share if kswapd_share is not None else 0.0
            st.counters["pgscan_kswapd"] += scanned_pages * k
            st.counters["pgsteal_kswapd"] += reclaimed_pages * k
            st.counters["pgscan_direct"] += scanned_pages * (1 - k)
            st.counters["pgsteal_direct"] += reclaimed_pages * (1 - k)
        zswap_shrinker_scan(self, reclaimed_pages, lru_before)
        return reclaimed

    def _reclaim_histogram(self) -> AgeHistogram:
        """Resident chunks per memcg and age bin (reclaim's order: MGLRU generations by age)."""
        st = self.state
        return age_histogram(st.loc == Loc.RESIDENT, age_bins(self.now_f32 - st.last_access_s), self.layout)

    def prepare_step(self, stop: Callable[[], bool] | None = None) -> PreparedStep:
        """Compute ahead what the next :meth:`step` will compute whatever its requests: its schedule
        rows, the age histogram ``memory.reclaim`` selects from, the access draws and touches, the
        zswap entries in LRU order. Pass it to that step (``step(..., prepared=...)``); the
        trajectory is the same as without it. ``stop`` is asked between those parts: once it says
        True, the rest is left to the step."""
        schedule = self._schedule_rows(self.state.step_index)
        accumulator = StepAccumulator(self.num_hosts, self.num_memcgs, self.psi_windows)
        parts: dict[str, object] = {}
        for make in (
            lambda: {"reclaim_histogram": self._reclaim_histogram()},
            lambda: self._prepared_accesses(schedule),
            lambda: {"zswap_lru": self._zswap_lru()},
        ):
            if stop is not None and stop():
                break
            parts.update(make())
        return PreparedStep(self._generation, schedule, accumulator, **parts)

    def _prepared_accesses(self, schedule: tuple[np.ndarray, ...]) -> dict[str, object]:
        """The next step's access draws and, when its access rates are known now, its touches."""
        st = self.state
        target_chunks, rate_mult, shift, _ = schedule
        draws = self.rng.peek24_pair(self.layout.num_chunks, "access")
        # Memory reclaim and writeback never allocate or free: the step allocates (and draws new
        # rates) exactly when a footprint target is above what is allocated now, frees when below.
        allocated = self.layout.block_len - self._chunk_counts()[Loc.ABSENT]
        if np.count_nonzero(target_chunks > allocated) or np.count_nonzero(shift):
            return {"access_draws": draws}
        touched, last = self._touch_times(self._access_rates(rate_mult), *draws, st.now_s)
        blended = faults = None
        if not np.count_nonzero(target_chunks < allocated):  # nothing freed: allocation as now
            touched &= st.loc != Loc.ABSENT
            blended = blend(touched, last, st.last_access_s)
            faults = flat_nonzero(touched & (st.loc != Loc.RESIDENT))
        return {"access_draws": draws, "touches": PreparedTouches(touched, last, blended, faults)}

    def _zswap_lru(self) -> tuple[np.ndarray, np.ndarray]:
        """Every zswap entry's flat chunk index and (host, memcg) key, in LRU order."""
        st = self.state
        idx = flat_nonzero(st.loc == Loc.ZSWAP)
        group = self._memcg_keys[idx]
        order = lru_order(st.lru_seq, idx, group)
        return idx[order], group[order]

    def _with_stored(
        self, zswap_lru: tuple[np.ndarray, np.ndarray], walks: int
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """The zswap LRU lists found ahead (``zswap_lru``), with what the reclaim just done stored
        (None if a walk removed entries since — more than ``walks`` walks wrote back — or not every
        store is known). New entries go to the young end of their memcg's list (``list_lru_add()``)
        in store order: after the entries already there (a stable sort by memcg keeps both orders)."""
        stored = self._stored_in_reclaim
        if stored is None or getattr(self, "_walks", 0) != walks:
            return None
        if not stored.size:
            return zswap_lru
        idx = np.concatenate((zswap_lru[0], stored))
        group = np.concatenate((zswap_lru[1], self._memcg_keys[stored]))
        order = group.argsort(kind="stable")
        return idx[order], group[order]

    def is_current(self, prepared: PreparedStep) -> bool:
        """Whether ``prepared`` still applies to the next step (nothing changed since it was made)."""
        return prepared.generation == self._generation

    def _bind_counters(self) -> None:
        """Make the counters views of one (len(COUNTER_NAMES), H, M) block, so a step's increments
        are one subtraction. Counters are only ever updated in place (``+=``)."""
        st = self.state
        block = np.stack([st.counters[k] for k in COUNTER_NAMES])
        st.counters = {name: block[i] for i, name in enumerate(COUNTER_NAMES)}
        self._counter_block = block

    def __setstate__(self, state: dict) -> None:
        # Unpickled (or deep-copied) counters are separate arrays again: rebind them to one block.
        self.__dict__.update(state)
        if "_loc_offset" not in state:  # pickled before the precomputed constants and the one-block tally
            self._precompute()
            self._gauges = self._agg = None
            self._schedule_cache = {}
        self._bind_counters()

    def _stacked_counters(self) -> np.ndarray:
        """Every counter stacked, (len(COUNTER_NAMES), H, M) (a copy)."""
        return self._counter_block.copy()

    def _cpu_total(self) -> np.ndarray:
        c = self.state.counters
        return c["cpu_compress_s"] + c["cpu_decompress_s"] + c["cpu_flush_s"] + c["cpu_reclaim_s"]

    def _charged_reclaim(self, chunks: np.ndarray, kswapd_share: np.ndarray) -> np.ndarray:
        """Reclaim ``chunks`` (H, M); its CPU time, less kswapd's share, is the memcg's stall."""
        cpu_before = self._cpu_total()
        reclaimed = self._reclaim(chunks.astype(np.int64), kswapd_share=kswapd_share)
        charged_stall = (self._cpu_total() - cpu_before) * (1.0 - kswapd_share)
        self.acc.stall_s["direct_reclaim"] += charged_stall
        self.acc.spread_stall_s += charged_stall
        return reclaimed

    def _memcg_limits_set(self) -> bool:
        """Whether any memcg has a ``memory.max`` or ``memory.high`` limit."""
        st = self.state
        return bool(np.count_nonzero(np.isfinite(st.memory_max)) or np.count_nonzero(np.isfinite(st.memory_high)))

    def _reactive_reclaim(self, limits_set: bool) -> None:
        """End-of-interval catch-up: ``memory.max`` and ``memory.high`` reclaim (charged to the
        memcg), kswapd between the low and high watermarks (not charged), direct reclaim below the
        min watermark (charged). Limit reclaim retries while it makes progress
        (``MAX_RECLAIM_RETRIES``), counting pages already under writeback as freed. ``limits_set``:
        :meth:`_memcg_limits_set`."""
        st, host, acc = self.state, self.cfg.host, self.acc
        pages, chunk_bytes = host.chunk_pages, host.chunk_bytes
        if not limits_set:
            dram0 = float(host.dram_bytes)
            low_free = dram0 * host.watermark_low_percent / 100.0
            if dram0 - getattr(self, "_dram_bound_bytes", np.inf) >= low_free + _BOUND_MARGIN_BYTES:
                return  # no host can ever get below its low watermark
        g = self.gauges()
        if not limits_set:
            above_low = dram0 - g.dram_used_host >= low_free
            if np.count_nonzero(above_low) == self.num_hosts:  # every host's free memory above the low watermark
                return
        usage = g.memory_current
        net_per_chunk = np.maximum(chunk_bytes - pages * self.expected_compressed, 0.05 * chunk_bytes)
        over_max = np.maximum(usage - st.memory_max, 0.0)
        over_high = np.maximum(usage - st.memory_high, 0.0)
        # memory.events high: every batch of charges that went over high and was sent to reclaim.
        batches = np.maximum(np.ceil(acc.charged_pages / MEMCG_CHARGE_BATCH), 1.0)
        st.counters["events_high"] += np.where(over_high > 0, batches, 0.0)
        limit_chunks = np.ceil(np.maximum(over_max, over_high) / net_per_chunk)
        dram = float(host.dram_bytes)
        free = dram - g.dram_used_host
        low, high_wm, min_wm = (
            dram * p / 100.0
            for p in (host.watermark_low_percent, host.watermark_high_percent, host.watermark_min_percent)
        )
        kswapd_need = np.where(free < low, high_wm - free, 0.0)
        kswapd_cap = (
            host.step_s / ((host.reclaim_us_per_page + host.compressor.compress_us_per_page) * 1e-6) * PAGE_SIZE
        )
        kswapd_bytes = np.minimum(kswapd_need, kswapd_cap)
        direct_bytes = np.maximum(min_wm - (free + kswapd_bytes), 0.0) * (free < min_wm)
        resident_share = g.resident_pages / np.maximum(g.resident_pages.sum(axis=1, keepdims=True), 1.0)
        charged = acc.charged_pages
        alloc_share = np.where(
            charged.sum(axis=1, keepdims=True) > 0,
            charged / np.maximum(charged.sum(axis=1, keepdims=True), 1.0),
            resident_share,
        )
        kswapd_chunks = np.ceil(kswapd_bytes[:, None] * resident_share / net_per_chunk)
        direct_chunks = np.ceil(direct_bytes[:, None] * alloc_share / net_per_chunk)
        host_chunks = np.maximum(kswapd_chunks + direct_chunks - limit_chunks, 0.0)
        total = limit_chunks + host_chunks
        if not np.count_nonzero(total):
            return
        kswapd_share = np.where(total > 0, np.minimum(kswapd_chunks, host_chunks) / np.maximum(total, 1.0), 0.0)
        self._charged_reclaim(total, kswapd_share)
        no_kswapd = np.zeros_like(kswapd_share)
        for _retry in range(MAX_RECLAIM_RETRIES):  # try_charge_memcg() / reclaim_high() retries
            g = self.gauges()
            usage = g.memory_current - g.writeback_pages * PAGE_SIZE
            over = np.maximum(np.maximum(usage - st.memory_max, usage - st.memory_high), 0.0)
            if not np.count_nonzero(over):
                break
            reclaimed = self._charged_reclaim(np.ceil(over / net_per_chunk), no_kswapd)
            if not np.count_nonzero(reclaimed):
                break

    def _enforce_limits(self, limits_set: bool) -> None:
        """After the interval's I/O: the ``memory.high`` sleep on what is still over (one penalty
        per 64 pages charged), and OOM kills where ``memory.max`` could not be met (pages still
        queued for write do not count: the kernel waits for them) or the host ran out of DRAM.
        ``limits_set``: :meth:`_memcg_limits_set`."""
        st, host, acc = self.state, self.cfg.host, self.acc
        if not limits_set and getattr(self, "_dram_bound_bytes", np.inf) + _BOUND_MARGIN_BYTES <= host.dram_bytes:
            return  # no memcg limits, and no host can ever outgrow its DRAM
        g = self.gauges()
        if not limits_set and np.count_nonzero(g.dram_used_host <= host.dram_bytes) == self.num_hosts:
            return  # no memcg limits, and every host fits in DRAM
        over = g.memory_current > st.memory_high
        if np.count_nonzero(over):
            sleep = high_throttle_sleep_s(g.memory_current, st.memory_high, acc.charged_pages)
            sleep = np.minimum(np.where(over, sleep, 0.0), host.step_s * self.nr_tasks[None, :])
            acc.stall_s["high_throttle"] += sleep
            acc.spread_stall_s += sleep
        in_flight = g.writeback_pages * PAGE_SIZE
        oom = (g.memory_current - in_flight > st.memory_max) & self.memcg_active[None, :]
        st.counters["events_max"] += g.memory_current > st.memory_max
        if np.count_nonzero(oom):
            self._oom_kill(oom)
        # Host out of memory after all reclaim: the global OOM killer takes the largest memcg, and
        # the next largest, until the host fits (out_of_memory() picks the biggest consumer).
        for _victim in range(self.num_memcgs):
            g = self.gauges()
            host_oom = g.dram_used_host > host.dram_bytes
            if not np.count_nonzero(host_oom):
                break
            alive = self.memcg_active[None, :] & (g.dram_bytes > 0)
            largest = np.argmax(np.where(alive, g.dram_bytes, -1.0), axis=1)
            victims = host_oom[:, None] & alive & (np.arange(self.num_memcgs)[None, :] == largest[:, None])
            if not np.count_nonzero(victims):
                break
            self._oom_kill(victims)

    def _oom_kill(self, victims: np.ndarray) -> None:
        """Kill the memcgs in ``victims`` (H, M): their memory is freed; the workload restarts and
        allocates its footprint again over the next intervals."""
        st = self.state
        st.counters["events_oom"] += victims
        st.counters["events_oom_kill"] += victims
        self.acc.oom_kills += victims
        self.set_loc(victims[:, self.layout.owner], Loc.ABSENT)

    # ------------------------------------------------------------------------------------------
    # Workload
    # ------------------------------------------------------------------------------------------

    def _schedule_rows(self, step_index: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Each host's footprint target (whole chunks), rate multiplier, shift fraction and shift
        inversion flag for its step, (H, M)."""
        blocks = step_index // SCHEDULE_BLOCK
        h, m = self.num_hosts, self.num_memcgs
        first = int(blocks[0])
        table = self._schedule_cache.get(first)
        if table is not None and not np.count_nonzero(blocks != first):  # the usual case: one table for all hosts
            i = step_index - first * SCHEDULE_BLOCK
            return table.target_chunks[i], table.rate_multiplier[i], table.shift_fraction[i], table.shift_invert[i]
        target, rate, shift = np.empty((h, m)), np.empty((h, m), dtype=np.float32), np.empty((h, m))
        invert = np.empty((h, m), dtype=bool)
        for block in np.unique(blocks):  # hosts reset at different times may be in other blocks
            table = self._schedule_cache.get(int(block))
            if table is None:
                if len(self._schedule_cache) > 8:
                    self._schedule_cache.clear()
                table = self._schedule_cache[int(block)] = self._schedule_block(int(block))
            rows = blocks == block
            i = step_index[rows] - block * SCHEDULE_BLOCK
            target[rows], rate[rows], shift[rows], invert[rows] = (
                table.target_chunks[i],
                table.rate_multiplier[i],
                table.shift_fraction[i],
                table.shift_invert[i],
            )
        return target, rate, shift, invert

    def _schedule_block(self, block: int) -> _ScheduleBlock:
        """The tenants' schedule for steps ``block * SCHEDULE_BLOCK`` onwards, with each footprint as
        the whole chunks the step allocates to: rounded, capped at the memcg's block of chunk slots,
        0 for unused slots."""
        table = build_schedule(self.cfg, SCHEDULE_BLOCK, block * SCHEDULE_BLOCK)
        target = np.minimum(np.floor(table.size_chunks + 0.5), self.layout.block_len[None, :]) * self.memcg_active
        return _ScheduleBlock(target, table.rate_multiplier, table.shift_fraction, table.shift_invert)

    def _workload_changes(
        self, target_chunks: np.ndarray, shift_fraction: np.ndarray, shift_invert: np.ndarray, t0: np.ndarray
    ) -> None:
        """Allocate or free to follow each tenant's footprint (``target_chunks`` (H, M) whole chunks);
        redraw (or invert) rates on a working-set shift."""
        st, lay, pages, dt = self.state, self.layout, self.cfg.host.chunk_pages, self.cfg.host.step_s
        allocated = lay.block_len - self._chunk_counts()[Loc.ABSENT]  # chunks in use
        delta = target_chunks - allocated  # chunks to allocate (> 0) or free (< 0)
        if np.count_nonzero(delta):  # a footprint grows or shrinks this step
            if np.count_nonzero(delta > 0):
                absent = st.loc == Loc.ABSENT
                new = absent & (rank_in_block(absent, lay) <= delta[:, lay.owner])
                rows, cols = np.nonzero(new)
                self._draw_attributes(st, self.rng, rows, cols, "alloc_attributes")
                u, _ = self.rng.pair_at(rows, cols, "alloc_time")
                self.set_loc((rows, cols), Loc.RESIDENT, from_loc=Loc.ABSENT)
                st.last_access_s[rows, cols] = t0[rows].astype(np.float32) + u * np.float32(dt)
                self.acc.charged_pages += count_per_memcg(new, lay) * pages
            if np.count_nonzero(delta < 0):
                alive = st.loc != Loc.ABSENT
                freed = alive & (rank_in_block(alive, lay) <= -delta[:, lay.owner])
                self.set_loc(freed, Loc.ABSENT)  # munmap: zswap entries and swap slots freed with the pages
        if np.count_nonzero(shift_fraction):
            alive = st.loc != Loc.ABSENT
            u = self.rng.uniform(lay.num_chunks, "shift_pick", active=shift_fraction.any(axis=1))
            moved = alive & (u < shift_fraction[:, lay.owner])
            inverted = moved & shift_invert[:, lay.owner]
            if inverted.any():  # the cold set turns hot and the hot set cold
                invert_rates_by_rank(st.rate_hz, inverted, lay.owner)
                moved &= ~inverted
            rows, cols = np.nonzero(moved)
            u_band, u_rate = self.rng.pair_at(rows, cols, "shift_rate")
            st.rate_hz[rows, cols] = draw_access_rates(lay.owner[cols], self.tables, u_band, u_rate)

    def _access_rates(self, rate_multiplier: np.ndarray) -> np.ndarray:
        """Each chunk's access rate this step (H, C) float32: diurnal load and bursts scale the
        drawn rates; without them the rates are used as drawn."""
        st = self.state
        if not np.count_nonzero(rate_multiplier != 1.0):
            return st.rate_hz
        return st.rate_hz * rate_multiplier[:, self.layout.owner]

    def _touch_times(
        self, rate: np.ndarray, u1_24: np.ndarray, u2_24: np.ndarray, t0: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Which chunks an interval from ``t0`` touches at rates ``rate`` (H, C) bool, allocated or
        not, and each one's last touch time (H, C) float32 s (meaningless where not touched);
        ``u2_24`` is used up."""
        dt = np.float32(self.cfg.host.step_s)
        touch = self._touch_probabilities(rate, dt)
        touched = u1_24 < touch.p_touch_x2p24
        # since_last = -ln(p_none + u2 p_touch) / r; the last touch t_end - since_last, in place.
        last = u2_24
        last *= touch.p_touch_x2m24
        last += touch.p_none
        np.maximum(last, np.float32(1e-30), out=last)
        np.log(last, out=last)
        last /= rate
        last += (t0 + self.cfg.host.step_s).astype(np.float32)[:, None]
        return touched, last

    def _accesses(
        self,
        rate_multiplier: np.ndarray,
        t0: np.ndarray,
        draws: tuple[np.ndarray, np.ndarray] | None = None,
        touches: PreparedTouches | None = None,
    ) -> None:
        """Touch chunks for one interval; fault back the ones that are not resident. ``draws``: the
        step's access draws, peeked ahead (:meth:`prepare_step`); the stream moves past them here.
        ``touches``: the touches made ahead with this step's rates (:class:`PreparedTouches`).

        A chunk with per-page rate ``r`` is touched with probability ``1 - exp(-r dt)``; its first
        touch comes at ``-ln(1 - u1) / r`` and its last at ``dt - a`` with ``a`` drawn from the
        backward recurrence time conditioned on at least one touch.
        """
        st, lay, host, acc = self.state, self.layout, self.cfg.host, self.acc
        pages = host.chunk_pages
        rate = self._access_rates(rate_multiplier)
        # u1, u2 as 24-bit whole numbers: the 2**-24 scale is folded into the cached constants.
        if draws is None:
            u1_24, u2_24 = self.rng.uniform24_pair(lay.num_chunks, "access")
        else:
            u1_24, u2_24 = draws
            self.rng.advance("access")
        if touches is None:
            touched, last = self._touch_times(rate, u1_24, u2_24, t0)
        else:
            touched, last, blended, faults_at_start = touches
        if touches is None or blended is None:
            touched &= st.loc != Loc.ABSENT
        if touches is not None and blended is not None and not self._activated_in_step:
            st.last_access_s = blended  # no last-access time changed since it was made
            # Not resident now: not resident at the step's start, or taken by its reclaim (nothing
            # became resident since). In no particular order (nothing below needs one).
            taken = self._taken_in_step
            flat = np.concatenate((faults_at_start, taken[touched.reshape(-1)[taken]]))
        else:
            st.last_access_s = blend(touched, last, st.last_access_s)
            flat = flat_nonzero(touched & (st.loc != Loc.RESIDENT))
        if not flat.size:
            return
        first_touch = -np.log1p(-(u1_24.reshape(-1)[flat] * _UNIT24)) / rate.reshape(-1)[flat]
        window = np.minimum((first_touch / (host.step_s / self.psi_windows)).astype(np.int64), self.psi_windows - 1)
        m = self.num_memcgs
        # Faulted pages per (host, memcg, PSI window, location they came from), in one count.
        came_from = st.loc.reshape(-1)[flat]
        source_key = (self._memcg_keys[flat] * self.psi_windows + window) * Loc.COUNT + came_from
        shape = (self.num_hosts, m, self.psi_windows, Loc.COUNT)
        by_source = np.bincount(source_key, minlength=math.prod(shape)).reshape(shape) * float(pages)
        from_zswap = by_source[..., Loc.ZSWAP]
        from_swap = by_source[..., Loc.SWAP]
        from_zero = by_source[..., Loc.SWAP_ZERO]
        # zswap_load(): fault + decompress; the entry is freed (exclusive load), the page dirty.
        zswap_us = host.page_fault_us + host.compressor.decompress_us_per_page
        acc.window_stall_s += from_zswap * zswap_us * 1e-6 + from_zero * host.page_fault_us * 1e-6
        acc.window_swapin_pages += from_swap
        # Pages per (tier, host, memcg), tiers in REFAULT_TIERS order (zswap, swap, zero: Loc order).
        by_tier = np.add.reduce(by_source[..., Loc.ZSWAP : Loc.SWAP_ZERO + 1], axis=-2).transpose(2, 0, 1)
        acc._refault_by_tier += by_tier
        z, s, zr = by_tier[0], by_tier[1], by_tier[2]
        refaulted = z + s + zr  # whole pages: exact
        acc.stall_s["zswap_refault"] += z * zswap_us * 1e-6 + zr * host.page_fault_us * 1e-6
        acc.charged_pages += refaulted
        c = st.counters
        c["zswpin"] += z
        c["pswpin"] += s
        c["swpin_zero"] += zr
        c["workingset_refault_anon"] += refaulted
        c["pgfault_major"] += refaulted
        c["cpu_decompress_s"] += z * host.compressor.decompress_us_per_page * 1e-6
        st.nr_disk_swapins += s
        self.set_loc(flat, Loc.RESIDENT, from_loc=came_from)  # a page under writeback is a swap cache hit

    def _touch_probabilities(self, rate: np.ndarray, dt: np.float32) -> TouchProbabilities:
        """Each chunk's probability of no touch in an interval, ``exp(-r dt)``, and of at least one
        (H, C) float32. Rates change only when chunks are allocated or the working set shifts (or
        diurnal load scales them), so they are kept while the rates are the same as last time."""
        cached = getattr(self, "_touch_cache", None)  # absent in simulators pickled before it existed
        if isinstance(cached, TouchProbabilities) and cached.rate.shape == rate.shape:
            if np.array_equal(cached.rate, rate):
                return cached
        p_none = np.exp(-rate * dt)
        p_touch = 1.0 - p_none
        self._touch_cache = TouchProbabilities(rate.copy(), p_none, p_touch * _TWO_P24, p_touch * _UNIT24)
        return self._touch_cache

    # ------------------------------------------------------------------------------------------
    # Device, PSI, metrics
    # ------------------------------------------------------------------------------------------

    def _device_step(self) -> _DeviceTotals:
        """The swap device serves the interval's swap-ins and queued writes; completed writes free
        their pages; swap-ins stall for the device's read latency."""
        st, host, acc = self.state, self.cfg.host, self.acc
        read_pages = np.add.reduce(acc.refault_pages["swap"], axis=1)
        dev, backlog = serve_step(host.swap, host.step_s, read_pages, st.device_backlog_pages)
        st.device_backlog_pages = backlog
        in_flight_chunks = np.add.reduce(self._chunk_counts()[Loc.WRITEBACK], axis=1)
        if np.count_nonzero(in_flight_chunks) and np.count_nonzero(dev.pages_written):
            done_chunks = self.round_chunks(dev.pages_written / host.chunk_pages, "round_device")
            # end_page_writeback(): the page is freed, the slot keeps the data.
            if np.count_nonzero(done_chunks >= in_flight_chunks) == self.num_hosts:
                self._complete_all_writeback()  # the device kept up: every queued write completed
            else:
                in_flight = st.loc == Loc.WRITEBACK
                done = select_in_order(in_flight, st.lru_seq, done_chunks, self.layout, per_host=True)
                self.set_loc(done, Loc.SWAP, from_loc=Loc.WRITEBACK)
        bytes_written = dev.pages_written * PAGE_SIZE
        bytes_read = read_pages * PAGE_SIZE
        st.device_bytes_written += bytes_written
        st.device_bytes_read += bytes_read
        swapin_us = host.page_fault_us + dev.read_latency_us
        # Without swap-ins (none on any host) the stall terms below add zeros.
        if np.count_nonzero(read_pages):
            acc.stall_s["swap_refault"] += acc.refault_pages["swap"] * swapin_us[:, None] * 1e-6
            acc.window_stall_s += acc.window_swapin_pages * swapin_us[:, None, None] * 1e-6
        return _DeviceTotals(dev, swapin_us, bytes_written, bytes_read)

    def _complete_all_writeback(self) -> None:
        """Every chunk under writeback completes (``end_page_writeback()``): WRITEBACK -> SWAP, the
        per-(host, memcg) counts moved wholesale (what :meth:`set_loc` does chunk by chunk)."""
        locf = self.state.loc.reshape(-1)
        locf[flat_nonzero(locf == Loc.WRITEBACK)] = Loc.SWAP
        if self._agg is not None:
            by_loc = self._agg
            by_loc[Loc.SWAP] += by_loc[Loc.WRITEBACK]
            by_loc[Loc.WRITEBACK] = 0.0
        self._gauges = None

    def _chunk_counts(self) -> np.ndarray:
        """Chunks per (location, host, memcg), (Loc.COUNT, H, M) float64 whole numbers: the live tally
        behind the gauges (kept up to date by :meth:`set_loc`; read it, never write it)."""
        if self._agg is None:
            self.gauges()
        return self._agg[: Loc.COUNT].reshape(Loc.COUNT, self.num_hosts, self.num_memcgs)

    def _psi_step(self) -> np.ndarray:
        st, acc = self.state, self.acc
        k = self.psi_windows
        window_s = self.cfg.host.step_s / k
        stall = acc.window_stall_s + (acc.spread_stall_s / k)[..., None]
        some, full = stall_shares(stall, self.nr_tasks[None, :, None], window_s)
        st.psi_some_avg = update_averages(st.psi_some_avg, some * 100.0, window_s)
        st.psi_full_avg = update_averages(st.psi_full_avg, full * 100.0, window_s)
        some_s = np.add.reduce(some, axis=-1) * window_s
        st.psi_some_total_us += some_s * 1e6
        st.psi_full_total_us += np.add.reduce(full, axis=-1) * window_s * 1e6
        return some_s

    def step(
        self,
        reclaim_bytes: np.ndarray | None = None,
        writeback_bytes: np.ndarray | None = None,
        writeback_min_age_s: np.ndarray | float | None = None,
        prepared: PreparedStep | None = None,
    ) -> StepMetrics:
        """Advance one interval. ``reclaim_bytes`` / ``writeback_bytes`` (H, M) are the controller's
        proactive requests at the interval's start (``memory.reclaim``; proactive writeback).
        ``prepared``: :meth:`prepare_step`'s result, made since the last change."""
        st, host = self.state, self.cfg.host
        h, m = self.num_hosts, self.num_memcgs
        if prepared is not None and prepared.generation != self._generation:
            raise ValueError("prepared step is stale: the simulator changed after prepare_step()")
        prepared = prepared or PreparedStep(self._generation)  # (nothing made ahead)
        t0 = st.now_s.copy()
        self._activated_in_step = False  # set when reclaim puts a chunk back on the active list
        self._taken_in_step = np.zeros(0, dtype=np.intp)  # chunks proactive reclaim took off the LRU
        zswap_lru = prepared.zswap_lru
        if reclaim_bytes is not None and np.count_nonzero(reclaim_bytes):
            walks = getattr(self, "_walks", 0)
            self._stored_in_reclaim = np.zeros(0, dtype=np.intp)  # (what a reclaim that takes nothing stores)
            self._memory_reclaim(np.asarray(reclaim_bytes) * self.memcg_active, None, prepared.reclaim_histogram)
            if zswap_lru is not None:
                zswap_lru = self._with_stored(zswap_lru, walks)
        if writeback_bytes is not None and np.count_nonzero(writeback_bytes):
            self._zswap_proactive_writeback(
                np.asarray(writeback_bytes) * self.memcg_active, writeback_min_age_s, zswap_lru
            )
        target_chunks, rate_mult, shift, invert = prepared.schedule or self._schedule_rows(st.step_index)
        self._workload_changes(target_chunks, shift, invert, t0)
        self._accesses(rate_mult, t0, prepared.access_draws, prepared.touches)
        st.now_s = t0 + host.step_s
        limits_set = self._memcg_limits_set()  # (no knob changes within the step)
        self._reactive_reclaim(limits_set)
        if np.count_nonzero(st.pool_reached_full):  # the pool-limit worker is queued only once the pool filled
            zswap_pool_worker(self)
        device = self._device_step()
        self._enforce_limits(limits_set)
        some_s = self._psi_step()
        st.step_index += 1
        self.rng.begin_step(st.step_index)
        now_counters = self._stacked_counters()
        metrics = self._metrics(self._counters_at_step_start, now_counters, device, some_s)
        # Operations between steps (cgroup writes) count toward the next step.
        self.acc = prepared.accumulator or StepAccumulator(h, m, self.psi_windows)
        self._counters_at_step_start = now_counters
        self._changed()
        return metrics

    def _metrics(self, before, now_counters, device: _DeviceTotals, some_s) -> StepMetrics:
        st, host, acc = self.state, self.cfg.host, self.acc
        dev, swapin_us = device.dev, device.swapin_us
        g = self.gauges()
        increments = now_counters - before
        pages = host.chunk_pages
        refaults = acc.refault_pages
        tier_means = self._tier_means_us.copy()  # zswap and zero-page means are fixed; swap-in varies
        tier_means[:, 1] = swapin_us
        footprint = g.footprint_pages * PAGE_SIZE
        saved = footprint - g.dram_bytes
        writeback_pages = iter(acc._writeback_by_source * pages)
        budget_step = host.swap.write_budget_bytes_per_day * host.step_s / 86400.0
        written = device.bytes_written
        cpu = increments[_CPU_COUNTER_ROWS]
        return StepMetrics(
            memory_current_bytes=g.memory_current,
            anon_resident_bytes=g.resident_pages * PAGE_SIZE,
            zswap_bytes=g.zswap_bytes,
            zswapped_bytes=g.zswap_pages * PAGE_SIZE,
            swap_bytes=g.swap_slot_pages * PAGE_SIZE,
            dram_bytes=g.dram_bytes,
            footprint_bytes=footprint,
            dram_saved_bytes=saved,
            stall_s=dict(acc.stall_s),
            refault_pages=dict(refaults),
            cpu_s={"compress": cpu[0], "decompress": cpu[1], "flush": cpu[2], "reclaim": cpu[3]},
            writeback_pages={name: next(writeback_pages) for name in WRITEBACK_SOURCES},
            psi_some_avg10=st.psi_some_avg[..., 0].copy(),
            psi_some_avg60=st.psi_some_avg[..., 1].copy(),
            psi_full_avg10=st.psi_full_avg[..., 0].copy(),
            psi_some_stall_s=some_s,
            oom_kills=acc.oom_kills,
            host_dram_used_bytes=g.dram_used_host,
            host_dram_free_bytes=host.dram_bytes - g.dram_used_host,
            host_dram_saved_bytes=np.add.reduce(saved, axis=1),
            host_zswap_pool_bytes=g.pool_bytes_host,
            host_zswap_pool_limit_bytes=self._pool_limit_bytes.copy(),
            host_device_utilisation=dev.utilisation,
            host_device_read_latency_us=dev.read_latency_us,
            host_device_bytes_written=written,
            host_device_bytes_read=device.bytes_read,
            host_device_backlog_bytes=st.device_backlog_pages * PAGE_SIZE,
            host_write_budget_used=written / budget_step,
            host_refault_tier_mean_us=tier_means,
            _increments=increments,
            _refault_by_tier=acc._refault_by_tier,
            _step_s=host.step_s,
        )

    # ------------------------------------------------------------------------------------------
    # Save / restore and inspection
    # ------------------------------------------------------------------------------------------

    def get_state(self) -> SimState:
        """A copy of the full state (with the random stream position)."""
        snap = self.state.snapshot()
        snap.rng = self.rng.get_state()
        # Writes between steps count toward the next step: keep their tallies with the state.
        snap.pending = {"counters_at_step_start": self._counters_at_step_start.copy()}
        snap.pending.update({f"acc.{k}": v for k, v in self.acc.to_arrays().items()})
        return snap

    def set_state(self, state: SimState) -> None:
        """Restore a state from :meth:`get_state` (of a simulator of the same scenario and batch)."""
        if state.loc.shape != self.state.loc.shape:
            raise ValueError(f"state shape {state.loc.shape} does not match this simulator {self.state.loc.shape}")
        self.state = state.snapshot()
        self.rng.set_state(state.rng)
        self._after_state_change()
        if state.pending:
            self._counters_at_step_start = np.array(state.pending["counters_at_step_start"])
            self.acc.load_arrays({k[4:]: np.asarray(v) for k, v in state.pending.items() if k.startswith("acc.")})

    def idle_share(self, idle_s: float) -> np.ndarray:
        """Share of each memcg's footprint not touched for ``idle_s`` seconds (H, M)."""
        st = self.state
        alive = st.loc != Loc.ABSENT
        idle = alive & ((self.now_f32 - st.last_access_s) >= idle_s)
        n_alive = count_per_memcg(alive, self.layout)
        return np.where(n_alive > 0, count_per_memcg(idle, self.layout) / np.maximum(n_alive, 1.0), 0.0)

    def memcg_index(self, name: str) -> int:
        try:
            return self.memcg_names.index(name)
        except ValueError:
            raise KeyError(f"no memcg named {name!r}; memcgs: {list(self.memcg_names)}") from None


def _copy_rows(dst: SimState, src: SimState, mask: np.ndarray) -> None:
    """Copy hosts ``mask`` of every per-host array (first axis) from ``src`` into ``dst``."""
    for f in fields(SimState):
        a, b = getattr(dst, f.name), getattr(src, f.name)
        if isinstance(a, np.ndarray):
            a[mask] = b[mask]
        elif isinstance(a, dict):
            for key, value in a.items():
                if isinstance(value, np.ndarray):
                    value[mask] = b[key][mask]


def _checked_request(request_bytes: np.ndarray, what: str, shape: tuple[int, int]) -> np.ndarray:
    """A byte request as float64 (H, M); NaN, infinite or negative amounts are refused."""
    request = np.asarray(request_bytes, dtype=np.float64)
    if request.shape != shape:
        raise ValueError(f"{what}: request has shape {request.shape}, expected {shape} (hosts x memcg slots)")
    # Every amount in [0, inf) exactly when the smallest is >= 0 and the largest < inf (a NaN fails both).
    if not (np.minimum.reduce(request, axis=None) >= 0.0 and np.maximum.reduce(request, axis=None) < np.inf):
        bad = ~(np.isfinite(request) & (request >= 0))
        raise ValueError(f"{what}: request bytes must be finite and >= 0, got {request[bad][:3]}")
    return request
