"""Reclaim the kernel does on its own: memcg limits (``memory.max``, ``memory.high``), the host's
watermarks (kswapd and direct reclaim), and OOM kills when nothing more can be freed.

At the end of a step's accesses (:mod:`.simulator` orders it):

* a memcg over ``memory.max`` or ``memory.high`` reclaims the overage itself
  (``try_charge_memcg()`` / ``reclaim_high()``), charged to it as stall, retrying while it makes
  progress (``MAX_RECLAIM_RETRIES``) and counting pages already under writeback as freed;
* a host below its low watermark wakes kswapd, which reclaims up to the high watermark (not charged
  to any memcg), within what one kswapd can do in a step; below the min watermark allocating tasks
  reclaim directly (charged, shared by what each memcg allocated);
* after the device has served the step: the ``memory.high`` penalty sleep on what is still over
  (``mem_cgroup_handle_over_high()``, :mod:`.memcg_limits`), and OOM kills where ``memory.max``
  cannot be met (pages still queued for write do not count: the kernel waits for them) or the host
  ran out of DRAM (``out_of_memory()`` takes the largest memcg first).
"""

from __future__ import annotations

import numpy as np

from .chunk_store import ChunkStore
from .memcg_limits import MEMCG_CHARGE_BATCH, high_throttle_sleep_s
from .reclaim import shrink_lru
from .state import Loc
from .units import PAGE_SIZE

MAX_RECLAIM_RETRIES = 16
"""``MAX_RECLAIM_RETRIES``: reclaim attempts before the kernel gives up (OOM or -EAGAIN)."""
BOUND_MARGIN_BYTES = 2.0**20
"""Slack kept below a watermark when it is ruled out from the DRAM bound alone."""


def memcg_limits_set(store: ChunkStore) -> bool:
    """Whether any memcg has a ``memory.max`` or ``memory.high`` limit."""
    st = store.state
    return bool(np.count_nonzero(np.isfinite(st.memory_max)) or np.count_nonzero(np.isfinite(st.memory_high)))


def _cpu_total(store: ChunkStore) -> np.ndarray:
    c = store.state.counters
    return c["cpu_compress_s"] + c["cpu_decompress_s"] + c["cpu_flush_s"] + c["cpu_reclaim_s"]


def _charged_reclaim(store: ChunkStore, chunks: np.ndarray, kswapd_share: np.ndarray) -> np.ndarray:
    """Reclaim ``chunks`` (H, M); its CPU time, less kswapd's share, is the memcg's stall."""
    cpu_before = _cpu_total(store)
    reclaimed = shrink_lru(store, chunks.astype(np.int64), kswapd_share=kswapd_share)
    charged_stall = (_cpu_total(store) - cpu_before) * (1.0 - kswapd_share)
    store.tallies.stall_s["direct_reclaim"] += charged_stall
    store.tallies.spread_stall_s += charged_stall
    return reclaimed


def reactive_reclaim(
    store: ChunkStore, net_bytes_per_chunk: np.ndarray, dram_bound_bytes: float, limits_set: bool
) -> None:
    """The end-of-step catch-up: memcg-limit reclaim, kswapd and direct reclaim (module docstring).
    ``net_bytes_per_chunk`` (M,): what reclaiming one chunk is expected to free (its bytes less the
    compressed copy kept in zswap); ``dram_bound_bytes``: the most DRAM a host can ever use (no
    watermark can trigger below it); ``limits_set``: :func:`memcg_limits_set`."""
    st, host, acc = store.state, store.host, store.tallies
    dram = float(host.dram_bytes)
    if not limits_set:
        low_free = dram * host.watermark_low_percent / 100.0
        if dram - dram_bound_bytes >= low_free + BOUND_MARGIN_BYTES:
            return  # no host can ever get below its low watermark
    g = store.gauges()
    if not limits_set:
        above_low = dram - g.dram_used_host >= low_free
        if np.count_nonzero(above_low) == store.num_hosts:  # every host's free memory above the low watermark
            return
    usage = g.memory_current
    over_max = np.maximum(usage - st.memory_max, 0.0)
    over_high = np.maximum(usage - st.memory_high, 0.0)
    # memory.events high: every batch of charges that went over high and was sent to reclaim.
    batches = np.maximum(np.ceil(acc.charged_pages / MEMCG_CHARGE_BATCH), 1.0)
    st.counters["events_high"] += np.where(over_high > 0, batches, 0.0)
    limit_chunks = np.ceil(np.maximum(over_max, over_high) / net_bytes_per_chunk)
    free = dram - g.dram_used_host
    low, high_wm, min_wm = (
        dram * p / 100.0 for p in (host.watermark_low_percent, host.watermark_high_percent, host.watermark_min_percent)
    )
    kswapd_need = np.where(free < low, high_wm - free, 0.0)
    kswapd_cap = host.step_s / ((host.reclaim_us_per_page + host.compressor.compress_us_per_page) * 1e-6) * PAGE_SIZE
    kswapd_bytes = np.minimum(kswapd_need, kswapd_cap)
    direct_bytes = np.maximum(min_wm - (free + kswapd_bytes), 0.0) * (free < min_wm)
    resident_share = g.resident_pages / np.maximum(g.resident_pages.sum(axis=1, keepdims=True), 1.0)
    charged = acc.charged_pages
    alloc_share = np.where(
        charged.sum(axis=1, keepdims=True) > 0,
        charged / np.maximum(charged.sum(axis=1, keepdims=True), 1.0),
        resident_share,
    )
    kswapd_chunks = np.ceil(kswapd_bytes[:, None] * resident_share / net_bytes_per_chunk)
    direct_chunks = np.ceil(direct_bytes[:, None] * alloc_share / net_bytes_per_chunk)
    host_chunks = np.maximum(kswapd_chunks + direct_chunks - limit_chunks, 0.0)
    total = limit_chunks + host_chunks
    if not np.count_nonzero(total):
        return
    kswapd_share = np.where(total > 0, np.minimum(kswapd_chunks, host_chunks) / np.maximum(total, 1.0), 0.0)
    _charged_reclaim(store, total, kswapd_share)
    no_kswapd = np.zeros_like(kswapd_share)
    for _retry in range(MAX_RECLAIM_RETRIES):  # try_charge_memcg() / reclaim_high() retries
        g = store.gauges()
        usage = g.memory_current - g.writeback_pages * PAGE_SIZE
        over = np.maximum(np.maximum(usage - st.memory_max, usage - st.memory_high), 0.0)
        if not np.count_nonzero(over):
            break
        reclaimed = _charged_reclaim(store, np.ceil(over / net_bytes_per_chunk), no_kswapd)
        if not np.count_nonzero(reclaimed):
            break


def enforce_limits(
    store: ChunkStore, nr_tasks: np.ndarray, memcg_active: np.ndarray, dram_bound_bytes: float, limits_set: bool
) -> None:
    """After the step's I/O: the ``memory.high`` sleep on what is still over (one penalty per 64
    pages charged, at most the step's length per task; ``nr_tasks`` (M,)), and OOM kills (module
    docstring). ``memcg_active`` (M,): the slots in use."""
    st, host, acc = store.state, store.host, store.tallies
    if not limits_set and dram_bound_bytes + BOUND_MARGIN_BYTES <= host.dram_bytes:
        return  # no memcg limits, and no host can ever outgrow its DRAM
    g = store.gauges()
    if not limits_set and np.count_nonzero(g.dram_used_host <= host.dram_bytes) == store.num_hosts:
        return  # no memcg limits, and every host fits in DRAM
    over = g.memory_current > st.memory_high
    if np.count_nonzero(over):
        sleep = high_throttle_sleep_s(g.memory_current, st.memory_high, acc.charged_pages)
        sleep = np.minimum(np.where(over, sleep, 0.0), host.step_s * nr_tasks[None, :])
        acc.stall_s["high_throttle"] += sleep
        acc.spread_stall_s += sleep
    in_flight = g.writeback_pages * PAGE_SIZE
    oom = (g.memory_current - in_flight > st.memory_max) & memcg_active[None, :]
    st.counters["events_max"] += g.memory_current > st.memory_max
    if np.count_nonzero(oom):
        oom_kill(store, oom)
    # Host out of memory after all reclaim: the global OOM killer takes the largest memcg, and
    # the next largest, until the host fits (out_of_memory() picks the biggest consumer).
    for _victim in range(store.num_memcgs):
        g = store.gauges()
        host_oom = g.dram_used_host > host.dram_bytes
        if not np.count_nonzero(host_oom):
            break
        alive = memcg_active[None, :] & (g.dram_bytes > 0)
        largest = np.argmax(np.where(alive, g.dram_bytes, -1.0), axis=1)
        victims = host_oom[:, None] & alive & (np.arange(store.num_memcgs)[None, :] == largest[:, None])
        if not np.count_nonzero(victims):
            break
        oom_kill(store, victims)


def oom_kill(store: ChunkStore, victims: np.ndarray) -> None:
    """Kill the memcgs in ``victims`` (H, M): their memory is freed; the workload restarts and
    allocates its footprint again over the next steps."""
    st = store.state
    st.counters["events_oom"] += victims
    st.counters["events_oom_kill"] += victims
    store.tallies.oom_kills += victims
    store.set_loc(victims[:, store.layout.owner], Loc.ABSENT)
