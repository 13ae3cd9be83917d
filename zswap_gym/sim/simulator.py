"""The batched host simulator: H hosts of one scenario, stepped together.

One :meth:`Simulator.step` is one control interval (``host.step_s``, 10 s by default), in this order:

1. the controller's proactive requests act at the start of the interval (``memory.reclaim`` into
   zswap, :mod:`.reclaim`; proactive zswap writeback, :mod:`.zswap`);
2. workloads allocate and free memory and shift their working sets (:mod:`.allocation`);
3. every chunk is touched or not (Poisson); a touched chunk that is not resident faults back in at
   its first access time: zswap load, swap-in, zero page (:mod:`.accesses`);
4. at the end of the interval the kernel catches up: ``memory.max`` and ``memory.high`` reclaim,
   kswapd and direct reclaim against the host watermarks (:mod:`.limits`);
5. the zswap pool-limit worker writes back if the pool filled (:mod:`.zswap`);
6. the swap device serves the reads and as much of the write queue as it can (:mod:`.swapdev`);
7. the ``memory.high`` sleep and OOM kills (:mod:`.limits`);
8. PSI folds the interval's stall time into its averages, one 2 s period at a time (:mod:`.psi`).

The kernel-facing operations (:meth:`Simulator.memory_reclaim`,
:meth:`Simulator.zswap_proactive_writeback`, :meth:`Simulator.set_knob`) act immediately at the
current time, on every (host, memcg) with a nonzero request; the cgroup file interface
(:mod:`zswap_gym.cgroup`) calls them for one memcg at a time. What they do counts toward the next
step's metrics.

The state (:class:`~.state.SimState`) is the whole simulation; everything else here is derived from
it and the scenario (docs/model.md describes each mechanism and where it lives).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import fields
from typing import NamedTuple

import numpy as np

from .accesses import TouchProbabilityCache, step_accesses, zswap_load_us
from .allocation import Schedule, ScheduleRows, follow_footprint
from .chunk_store import ChunkStore
from .config import ScenarioConfig
from .gauges import Gauges
from .generator import initial_state, psi_windows
from .limits import enforce_limits, memcg_limits_set, reactive_reclaim
from .lru import ChunkLayout, count_per_memcg
from .metrics import StepMetrics, step_metrics
from .psi import psi_step
from .reclaim import memory_reclaim
from .rng import CounterRNG, host_key, host_keys
from .state import Loc, SimState, StepTallies
from .swapdev import device_step
from .units import PAGE_SIZE
from .workload import AttributeTables, expected_compressed_bytes
from .zswap import zswap_pool_worker, zswap_writeback_walk

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


class PreparedStep(NamedTuple):
    """The part of a step that no action or cgroup write can change, made ahead by
    :meth:`Simulator.prepare_step` (a sharded env's worker does it while the policy thinks): the
    schedule rows and the access draws, pure functions of each host's random stream and step index.
    Valid for the step of exactly those streams and step indices."""

    rng_keys: np.ndarray
    """(H,) the hosts' random streams it was made for."""
    step_index: np.ndarray
    """(H,) the step it was made for."""
    schedule: ScheduleRows
    """The step's schedule rows."""
    access_draws: tuple[np.ndarray, np.ndarray] | None = None
    """The step's access draws (``uniform24_pair(C, "access")``), or None to draw them in the step."""


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
        self.num_hosts = num_hosts
        self.first_host = first_host
        self._derive()
        self.reset(seed)

    def _derive(self) -> None:
        """The constants of the scenario and batch (everything but the state)."""
        cfg, host = self.cfg, self.cfg.host
        m = self.num_memcgs = cfg.max_memcgs
        self.memcg_names = tuple(t.name for t in cfg.tenants)
        capacities = [max(1, math.ceil(t.workload.peak_size_bytes() / host.chunk_bytes) + 1) for t in cfg.tenants]
        self.layout = ChunkLayout.from_capacities(capacities, m)
        self.tables = AttributeTables.build(cfg)
        self.memcg_active = np.zeros(m, dtype=bool)
        self.memcg_active[: len(cfg.tenants)] = True
        self.nr_tasks = np.ones(m)
        self.expected_compressed = np.zeros(m)
        for i, t in enumerate(cfg.tenants):
            self.nr_tasks[i] = t.nr_tasks
            self.expected_compressed[i] = expected_compressed_bytes(t.workload, host)
        self.max_pool_bytes = host.dram_bytes * host.zswap.max_pool_percent / 100.0
        self.swap_capacity_pages = host.swap.capacity_bytes // PAGE_SIZE
        self.psi_windows = psi_windows(cfg)
        self.schedule = Schedule(cfg, self.layout, self.memcg_active)
        self._touch_cache = TouchProbabilityCache()
        # What reclaiming one chunk is expected to free: its bytes less the compressed copy in zswap.
        chunk_bytes = host.chunk_bytes
        self._net_bytes_per_chunk = np.maximum(
            chunk_bytes - host.chunk_pages * self.expected_compressed, 0.05 * chunk_bytes
        )
        # Mean refault latency per tier (zswap, swap, zero page), (H, 3) us; the swap column is the
        # device's, filled in each step.
        self._tier_means_us = np.empty((self.num_hosts, 3))
        self._tier_means_us[:, 0] = zswap_load_us(host)
        self._tier_means_us[:, 1] = np.nan
        self._tier_means_us[:, 2] = host.page_fault_us
        # The most DRAM a host can ever use: every chunk slot of every tenant allocated, each page
        # resident (4 KiB) or a zswap entry (at most 4 KiB in the pool, plus its metadata), plus the
        # memory outside the tenants. Below the watermarks, no host check can ever trigger.
        per_page = PAGE_SIZE + host.zswap.entry_metadata_bytes
        self._dram_bound_bytes = (
            float(self.layout.block_len.sum()) * host.chunk_pages * per_page + host.other_used_bytes
        )

    def _bind(self, state: SimState) -> None:
        """Make ``state`` the simulation's state (the chunk store and random streams follow it)."""
        self.state = state
        self.store = ChunkStore(state, self.cfg.host, self.layout)
        self.rng = CounterRNG(state.rng_keys)
        self.rng.begin_step(state.step_index)

    def __getstate__(self) -> dict:
        # The state and what it was made from; everything else is derived again on unpickling.
        return {k: self.__dict__[k] for k in ("cfg", "num_hosts", "first_host", "seed", "state")}

    def __setstate__(self, saved: dict) -> None:
        self.__dict__.update(saved)
        self._derive()
        self._bind(self.state)

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
        self._bind(initial_state(self.cfg, self.layout, self.tables, self._keys(seed, host_seeds)))

    def reset_hosts(self, mask: np.ndarray, host_seeds: Sequence[int | None] | None = None) -> None:
        """Start over only the hosts in ``mask`` (H,) bool; with ``host_seeds`` (one per host,
        used where ``mask``) they take new streams, else they replay their own from the start."""
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != (self.num_hosts,):
            raise ValueError(f"reset mask has shape {mask.shape}, expected ({self.num_hosts},)")
        if not np.count_nonzero(mask):
            return
        keys = self.state.rng_keys.copy()
        if host_seeds is not None:
            keys[mask] = self._keys(None, host_seeds, where=mask)[mask]
        _copy_rows(self.state, initial_state(self.cfg, self.layout, self.tables, keys), mask)
        self._bind(self.state)

    def _keys(
        self, seed: int | None, host_seeds: Sequence[int | None] | None, where: np.ndarray | None = None
    ) -> np.ndarray:
        if host_seeds is None:
            return host_keys(seed, self.num_hosts, self.first_host)
        if len(host_seeds) != self.num_hosts:
            raise ValueError(f"host_seeds has {len(host_seeds)} seeds for {self.num_hosts} hosts")
        use = np.ones(self.num_hosts, dtype=bool) if where is None else where
        return np.array([host_key(s, 0) if u else 0 for s, u in zip(host_seeds, use, strict=True)], dtype=np.uint64)

    # ------------------------------------------------------------------------------------------
    # Views of the state
    # ------------------------------------------------------------------------------------------

    @property
    def now_s(self) -> np.ndarray:
        """Each host's clock, (H,) seconds."""
        return self.state.now_s

    @property
    def now_f32(self) -> np.ndarray:
        """Each host's clock as a float32 column (H, 1), to broadcast against chunk arrays."""
        return self.store.now_f32

    def gauges(self) -> Gauges:
        """Current sizes per memcg and host (cached until the next change)."""
        return self.store.gauges()

    def invalidate_gauges(self) -> None:
        """Recompute the gauges from scratch next time (after editing state arrays directly)."""
        self.store.invalidate()

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
        request = _checked_request(request_bytes, "memory.reclaim", (self.num_hosts, self.num_memcgs))
        if swappiness is not None:
            request = np.where(np.asarray(swappiness) == 0, 0.0, request)
        return memory_reclaim(self.store, request)

    def zswap_proactive_writeback(
        self, request_bytes: np.ndarray, min_age_s: np.ndarray | float | None = None
    ) -> np.ndarray:
        """Proactive zswap writeback (``memory.reclaim "N source=zswap"``, or with ``min_age_s``
        the age-threshold form of ``memory.zswap.proactive_writeback``): write back up to
        ``request_bytes`` (H, M) of stored pages (original size) from the LRU's old end, second
        chance applied. Returns bytes written back (H, M); may be less than asked."""
        request = _checked_request(request_bytes, "proactive writeback", (self.num_hosts, self.num_memcgs))
        age = None
        if min_age_s is not None:
            age = np.broadcast_to(np.asarray(min_age_s, dtype=np.float32), request.shape)
        chunk_bytes = self.cfg.host.chunk_bytes
        written = zswap_writeback_walk(
            self.store, write_target=request / chunk_bytes, min_age_s=age, source="proactive"
        )
        return written * chunk_bytes

    def set_knob(self, knob: str, host: int, memcg: int, value: float | bool | None) -> None:
        """Set a cgroup knob of one memcg: limits in bytes (``None`` = max), writeback 0/1."""
        if knob not in _KNOB_FIELD:
            raise KeyError(f"unknown knob {knob!r}; known: {list(KNOBS)}")
        array = getattr(self.state, _KNOB_FIELD[knob])
        if knob == "memory.zswap.writeback":
            array[host, memcg] = bool(value)
        else:
            array[host, memcg] = np.inf if value is None else float(value)

    def get_knob(self, knob: str, host: int, memcg: int) -> float | bool | None:
        array = getattr(self.state, _KNOB_FIELD[knob])
        value = array[host, memcg]
        if knob == "memory.zswap.writeback":
            return bool(value)
        return None if not np.isfinite(value) else float(value)

    def set_zswap_parameter(self, name: str, host: int, value: bool) -> None:
        """Set a zswap module parameter of one host at run time (``/sys/module/zswap/parameters/``).

        Only ``shrinker_enabled`` is writable here; the pool limits are fixed by the scenario."""
        if name not in ZSWAP_PARAMETERS:
            raise KeyError(f"unknown zswap parameter {name!r}; known: {list(ZSWAP_PARAMETERS)}")
        self.state.shrinker_enabled[host] = bool(value)

    def get_zswap_parameter(self, name: str, host: int) -> bool:
        if name not in ZSWAP_PARAMETERS:
            raise KeyError(f"unknown zswap parameter {name!r}; known: {list(ZSWAP_PARAMETERS)}")
        return bool(self.state.shrinker_enabled[host])

    # ------------------------------------------------------------------------------------------
    # The step
    # ------------------------------------------------------------------------------------------

    def prepare_step(self, stop: Callable[[], bool] | None = None) -> PreparedStep:
        """Compute ahead what the next :meth:`step` uses whatever its requests: its schedule rows and,
        unless ``stop()`` says True by then, its access draws. Pass it to that step
        (``step(..., prepared=...)``); the trajectory is the same as without it."""
        st = self.state
        schedule = self.schedule.rows(st.step_index)
        draws = None
        if stop is None or not stop():
            draws = self.rng.peek24_pair(self.layout.num_chunks, "access")
        return PreparedStep(st.rng_keys.copy(), st.step_index.copy(), schedule, draws)

    def is_current(self, prepared: PreparedStep) -> bool:
        """Whether ``prepared`` was made for the next step of these hosts' streams."""
        st = self.state
        return np.array_equal(prepared.step_index, st.step_index) and np.array_equal(prepared.rng_keys, st.rng_keys)

    def step(
        self,
        reclaim_bytes: np.ndarray | None = None,
        writeback_bytes: np.ndarray | None = None,
        writeback_min_age_s: np.ndarray | float | None = None,
        prepared: PreparedStep | None = None,
    ) -> StepMetrics:
        """Advance one interval. ``reclaim_bytes`` / ``writeback_bytes`` (H, M) are the controller's
        proactive requests at the interval's start (``memory.reclaim``; proactive writeback).
        ``prepared``: :meth:`prepare_step`'s result for this step."""
        st, store, host = self.state, self.store, self.cfg.host
        if prepared is not None and not self.is_current(prepared):
            raise ValueError("prepared step is stale: it was made for another step or other random streams")
        t0 = st.now_s.copy()
        # 1. The controller's proactive requests, at the interval's start.
        if reclaim_bytes is not None and np.count_nonzero(reclaim_bytes):
            self.memory_reclaim(np.asarray(reclaim_bytes) * self.memcg_active)
        if writeback_bytes is not None and np.count_nonzero(writeback_bytes):
            self.zswap_proactive_writeback(np.asarray(writeback_bytes) * self.memcg_active, writeback_min_age_s)
        # 2-3. Workloads allocate, free and shift; their accesses fault memory back in.
        schedule = prepared.schedule if prepared is not None else self.schedule.rows(st.step_index)
        follow_footprint(store, self.cfg, self.tables, self.rng, schedule, t0)
        draws = prepared.access_draws if prepared is not None else None
        step_accesses(store, self.rng, self._touch_cache, schedule.rate_multiplier, t0, self.psi_windows, draws)
        st.now_s = t0 + host.step_s
        # 4-7. The kernel catches up: limits and watermarks, the pool worker, the device, OOM.
        limits_set = memcg_limits_set(store)  # (no knob changes within the step)
        reactive_reclaim(store, self._net_bytes_per_chunk, self._dram_bound_bytes, limits_set)
        if np.count_nonzero(st.pool_reached_full):  # the pool-limit worker is queued only once the pool filled
            zswap_pool_worker(store)
        device = device_step(store)
        enforce_limits(store, self.nr_tasks, self.memcg_active, self._dram_bound_bytes, limits_set)
        # 8. PSI, then the step's metrics; cgroup writes from here on count toward the next step.
        some_s = psi_step(st, self.nr_tasks, host.step_s, self.psi_windows)
        st.step_index += 1
        self.rng.begin_step(st.step_index)
        now_counters = st.counter_block.copy()
        tier_means = self._tier_means_us.copy()  # zswap and zero-page means are fixed; swap-in varies
        tier_means[:, 1] = device.swapin_us
        metrics = step_metrics(store, now_counters - st.counters_at_step_start, device, some_s, tier_means)
        st.tallies = StepTallies(self.num_hosts, self.num_memcgs, self.psi_windows)
        st.counters_at_step_start = now_counters
        return metrics

    # ------------------------------------------------------------------------------------------
    # Save / restore
    # ------------------------------------------------------------------------------------------

    def get_state(self) -> SimState:
        """A copy of the whole state (restoring it continues identically)."""
        return self.state.snapshot()

    def set_state(self, state: SimState) -> None:
        """Restore a state from :meth:`get_state` (of a simulator of the same scenario and batch)."""
        if state.loc.shape != self.state.loc.shape:
            raise ValueError(f"state shape {state.loc.shape} does not match this simulator {self.state.loc.shape}")
        self._bind(state.snapshot())


def _copy_rows(dst: SimState, src: SimState, mask: np.ndarray) -> None:
    """Copy hosts ``mask`` of every per-host array from ``src`` into ``dst`` (the host axis is the
    first, except for the counters' stacked start values)."""
    for f in fields(SimState):
        a, b = getattr(dst, f.name), getattr(src, f.name)
        if f.name == "counters_at_step_start":
            a[:, mask] = b[:, mask]
        elif isinstance(a, np.ndarray):
            a[mask] = b[mask]
        elif isinstance(a, dict | StepTallies):
            rows = a.as_dict() if isinstance(a, StepTallies) else a
            fresh = b.as_dict() if isinstance(b, StepTallies) else b
            for key, value in rows.items():
                value[mask] = fresh[key][mask]


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
