"""The simulator's state: struct-of-arrays, hosts first.

Chunk arrays are (H, C): H hosts, C chunk slots (each memcg slot owns a contiguous block of slots,
see :class:`~.lru.ChunkLayout`). Memcg arrays are (H, M). Host arrays are (H,). Times are simulated
seconds since the start of the episode.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

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
    counters: dict[str, np.ndarray]  # COUNTER_NAMES -> (H, M) float64
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
    rng: dict[str, np.ndarray] = field(default_factory=dict)  # the random streams' positions
    pending: dict[str, np.ndarray] = field(default_factory=dict)  # this step's tallies so far (snapshots)

    def snapshot(self) -> SimState:
        """A deep copy (restoring it continues identically)."""
        return copy.deepcopy(self)

    @property
    def num_hosts(self) -> int:
        return int(self.loc.shape[0])
