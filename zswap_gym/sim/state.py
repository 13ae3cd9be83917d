"""The simulator's state: struct-of-arrays, hosts first.

Chunk arrays are (H, C): H hosts, C chunk slots (each memcg slot owns a contiguous block of slots,
see :class:`~.lru.ChunkLayout`). Memcg arrays are (H, M). Host arrays are (H,). Times are simulated
seconds since the start of the episode.

:class:`SimState` is the whole state: a copy of it (with the scenario) is a saved simulation, and
everything else a :class:`~.simulator.Simulator` holds is derived from the two.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np


class Loc:
    """Where a chunk's pages are (``loc`` values)."""

    ABSENT = 0
    """Slot not allocated (the workload's footprint is smaller than its block)."""
    RESIDENT = 1
    """Anonymous pages in DRAM, on the memcg's LRU."""
    ZSWAP = 2
    """Compressed in the zswap pool; each page also holds a swap slot."""
    SWAP = 3
    """On the swap device."""
    SWAP_ZERO = 4
    """Zero-filled pages swapped out: a swap slot marked zero, no zswap entry, no I/O."""
    WRITEBACK = 5
    """Swap cache pages under write I/O: 4 KiB of DRAM each until the write completes."""
    COUNT = 6
    NAMES = ("absent", "resident", "zswap", "swap", "swap_zero", "writeback")


STALL_SOURCES = ("zswap_refault", "swap_refault", "direct_reclaim", "high_throttle")
"""Where memory stall time comes from (task-seconds)."""
REFAULT_TIERS = ("zswap", "swap", "zero")
"""Where a refaulted page comes back from: zswap, the swap device, or the swap map (zero-filled)."""
WRITEBACK_SOURCES = ("proactive", "memcg_limit", "shrinker", "pool_limit")
"""The paths that write zswap entries back to the swap device."""

ROUNDING_SITES = (
    "round_reclaim",
    "round_writeback_proactive",
    "round_writeback_memcg_limit",
    "round_writeback_shrinker",
    "round_writeback_pool_limit",
    "round_device",
)
"""Places that turn amounts into whole chunks; each carries its own rounding remainder."""

COUNTER_NAMES = (
    # memory.stat event counters, in pages (cumulative, per memcg)
    "zswpout",
    "zswpin",
    "zswpwb",
    "pswpin",
    "pswpout",
    "swpin_zero",
    "swpout_zero",
    "workingset_refault_anon",
    "pgscan",
    "pgsteal",
    "pgscan_kswapd",
    "pgscan_direct",
    "pgscan_proactive",
    "pgsteal_kswapd",
    "pgsteal_direct",
    "pgsteal_proactive",
    "pgfault_major",
    # memory.events counters (events)
    "events_high",
    "events_max",
    "events_oom",
    "events_oom_kill",
    # CPU spent, seconds (for metrics; not a kernel file)
    "cpu_compress_s",
    "cpu_decompress_s",
    "cpu_flush_s",
    "cpu_reclaim_s",
)


class StepTallies:
    """What the current step (or, between steps, the cgroup writes that count toward the next one)
    has done so far; the step's metrics and PSI are made from it. (H, M) task-seconds, pages or
    events unless stated.

    The (H, M) tallies are rows of one block (one allocation per step, not one each); the refault
    tiers and the writeback sources are whole (tiers, H, M) slices of it. A copy or an unpickled
    one is put back into one block.
    """

    def __init__(self, h: int, m: int, windows: int) -> None:
        n_stall, n_tiers, n_sources = len(STALL_SOURCES), len(REFAULT_TIERS), len(WRITEBACK_SOURCES)
        block = np.zeros((n_stall + n_tiers + n_sources + 3, h, m))
        rows = iter(block)
        self.stall_s = {name: next(rows) for name in STALL_SOURCES}
        """Memory stall by source (task-seconds)."""
        self.refault_pages = {name: next(rows) for name in REFAULT_TIERS}
        """Pages faulted back, by tier."""
        self.window_stall_s, self.window_swapin_pages = np.zeros((2, h, m, windows))
        """(H, M, PSI windows): stall task-seconds and swap-in pages in each 2 s PSI window."""
        self.writeback_chunks = {name: next(rows) for name in WRITEBACK_SOURCES}
        """Chunks written back from zswap, by path."""
        self.charged_pages, self.spread_stall_s, self.oom_kills = rows
        """Pages charged (allocated or faulted in); stall spread evenly over the step's PSI
        windows (reclaim and throttling); OOM kills."""
        self.write_pages_submitted = np.zeros(h)
        """(H,) pages queued for write on the swap device."""
        self.refault_by_tier = block[n_stall : n_stall + n_tiers]
        """The ``refault_pages`` rows as one (REFAULT_TIERS, H, M) block."""
        self.writeback_by_source = block[n_stall + n_tiers : n_stall + n_tiers + n_sources]
        """The ``writeback_chunks`` rows as one (WRITEBACK_SOURCES, H, M) block."""

    _VIEWS = ("refault_by_tier", "writeback_by_source")

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k not in self._VIEWS}

    def __setstate__(self, state: dict) -> None:
        h, m, windows = state["window_stall_s"].shape
        self.__init__(h, m, windows)
        for key, value in self.arrays(state).items():
            np.copyto(self._tally(key), value)

    @staticmethod
    def arrays(source: dict) -> dict[str, np.ndarray]:
        """Every tally of ``source`` (a ``__dict__``) by flat name (``stall_s.zswap_refault``)."""
        out: dict[str, np.ndarray] = {}
        for name, value in source.items():
            if name in StepTallies._VIEWS:
                continue
            if isinstance(value, dict):
                out.update({f"{name}.{k}": v for k, v in value.items()})
            else:
                out[name] = value
        return out

    def _tally(self, key: str) -> np.ndarray:
        name, _, sub = key.partition(".")
        return getattr(self, name)[sub] if sub else getattr(self, name)

    def as_dict(self) -> dict[str, np.ndarray]:
        """Every tally by flat name (views, not copies)."""
        return self.arrays(self.__dict__)

    def __eq__(self, other: object) -> bool:
        """Equal when every tally is (bit for bit, NaNs aside)."""
        if not isinstance(other, StepTallies):
            return NotImplemented
        mine, theirs = self.as_dict(), other.as_dict()
        return mine.keys() == theirs.keys() and all(np.array_equal(v, theirs[k]) for k, v in mine.items())

    __hash__ = None  # mutable


@dataclass
class SimState:
    """Every mutable array of the simulation. Copying it (``snapshot()``) saves the simulation."""

    # Chunks, (H, C)
    loc: np.ndarray  # int8, a Loc value
    rate_hz: np.ndarray  # float32, per-page access rate (Poisson)
    compressed_bytes: np.ndarray  # float32 per page: 0 zero-filled, 4096 incompressible
    zpool_bytes: np.ndarray  # float32 per page: zsmalloc bytes it occupies when stored
    last_access_s: np.ndarray  # float32, time of the last access
    zswap_store_s: np.ndarray  # float32, when the entry entered zswap (ZSWAP only)
    lru_seq: np.ndarray  # float64, position in the zswap LRU (or write queue): smaller = older
    referenced: np.ndarray  # bool, zswap entry's second-chance bit
    # Memcg knobs, (H, M); limits in bytes, inf = "max"
    memory_high: np.ndarray
    memory_max: np.ndarray
    zswap_max: np.ndarray
    swap_max: np.ndarray
    zswap_writeback: np.ndarray  # bool
    # Memcg counters and PSI
    counters: dict[str, np.ndarray]  # COUNTER_NAMES -> (H, M) float64, rows of ``counter_block``
    psi_some_avg: np.ndarray  # (H, M, 3) percent: avg10, avg60, avg300
    psi_full_avg: np.ndarray  # (H, M, 3)
    psi_some_total_us: np.ndarray  # (H, M)
    psi_full_total_us: np.ndarray  # (H, M)
    shrinker_nr_deferred: np.ndarray  # (H, M) pages, the shrinker's deferred scan work
    nr_disk_swapins: np.ndarray  # (H, M) pages swapped in from disk since the shrinker last counted
    # Host, (H,)
    lru_tail: np.ndarray  # float64, next LRU position to hand out (the young end)
    pool_reached_full: np.ndarray  # bool, zswap_pool_reached_full
    shrinker_enabled: np.ndarray  # bool, /sys/module/zswap/parameters/shrinker_enabled
    device_backlog_pages: np.ndarray  # float64, writes queued on the swap device
    device_bytes_written: np.ndarray  # float64, cumulative (wear)
    device_bytes_read: np.ndarray  # float64, cumulative
    rounding_residual: np.ndarray  # (H, ROUNDING_SITES, M) chunk fractions carried by round_chunks
    # Clock, per host (hosts of a batch may have been reset at different times)
    now_s: np.ndarray  # (H,) float64, seconds since the host's episode began
    step_index: np.ndarray  # (H,) int64, steps taken since the host's reset
    rng_keys: np.ndarray  # (H,) uint64, each host's random stream (draws are keyed by step_index)
    # The step in progress: what cgroup writes since the last step did, counted toward the next
    tallies: StepTallies
    counters_at_step_start: np.ndarray  # (len(COUNTER_NAMES), H, M) the counters when the step began

    def __post_init__(self) -> None:
        self._bind_counters()

    def _bind_counters(self) -> None:
        """Make the counters rows of one (len(COUNTER_NAMES), H, M) block (``counter_block``), so a
        step's increments are one subtraction. Counters are only ever updated in place (``+=``)."""
        block = np.stack([self.counters[k] for k in COUNTER_NAMES])
        self.counters = {name: block[i] for i, name in enumerate(COUNTER_NAMES)}
        self.__dict__["counter_block"] = block

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "counter_block"}

    def __setstate__(self, state: dict) -> None:
        # Unpickled (or deep-copied) counters are separate arrays again: rebind them to one block.
        self.__dict__.update(state)
        self._bind_counters()

    def snapshot(self) -> SimState:
        """A deep copy (restoring it continues identically)."""
        return copy.deepcopy(self)

    @property
    def num_hosts(self) -> int:
        return int(self.loc.shape[0])
