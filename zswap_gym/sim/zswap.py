"""zswap (``mm/zswap.c``): store, exclusive load, second-chance writeback, the shrinker, limits.

Each function works on a batch of chunks across all hosts at once. Entries are pages; a chunk's pages
are stored, loaded and written back together, so "one entry" below is one chunk's worth of pages.
"""

from __future__ import annotations

import numpy as np

from .chunk_store import ChunkStore
from .lru import flat_nonzero
from .state import WRITEBACK_SOURCES, Loc
from .units import PAGE_SIZE

SHRINK_BATCH = 128
"""``SHRINK_BATCH``: the shrinker scans in batches of this many objects."""
DEFAULT_SEEKS = 2
"""``DEFAULT_SEEKS``: the zswap shrinker's seeks (cost of recreating an object)."""
DEF_PRIORITY = 12
"""Reclaim starts at priority 12 and scans ``size >> priority`` per pass."""

_GROUP_STRIDE = float(2**40)
"""Spacing of memcgs in the walk's sort key (list positions stay far below it)."""

_ROUNDING_SITE = {source: f"round_writeback_{source}" for source in WRITEBACK_SOURCES}


def zswap_store(store: ChunkStore, candidates: np.ndarray) -> np.ndarray:
    """``zswap_store()`` for the chunks ``candidates`` (flat chunk indices, ascending: resident, not
    zero-filled), storing each memcg's chunks in slot order.

    Checks, as the kernel does before compressing: the memcg's ``memory.zswap.max``
    (``obj_cgroup_may_zswap()``, with a forced stats flush per store when the limit is neither 0 nor
    max; when over, ``shrink_memcg()`` writes back at most one entry per node and the store goes on,
    or is rejected if nothing could be written back), then the global pool limit with its accept
    threshold hysteresis (``zswap_check_limits()``). A store the limits turn away is never
    compressed. ``zswap_compress()`` then stores an incompressible page as-is when the memcg may
    write back, and rejects it otherwise (after paying for the compression that found it
    incompressible). Returns the rejected chunks (flat indices); accepted ones are now ``ZSWAP``
    with their referenced bit set. Sizes are bytes, CPU time seconds.
    """
    st, cfg, lay = store.state, store.host, store.layout
    pages = cfg.chunk_pages
    h = st.loc.shape[0]
    groups = h * lay.num_memcgs
    if not cfg.zswap.enabled or candidates.size == 0:
        return candidates
    group = store.memcg_keys[candidates]  # ascending: each memcg's stores are contiguous
    first = None  # each store's memcg's first store (index into candidates), when a limit needs it
    compressed = st.compressed_bytes.reshape(-1)[candidates]
    # zswap_compress() rejects an incompressible page of a memcg that may not write back.
    unstorable = (compressed >= PAGE_SIZE) & ~st.zswap_writeback.reshape(-1)[group]
    # ``admitted``: passed the limits (so compressed); ``attempt``: admitted and storable, i.e.
    # stored. Whether every candidate is stored (the common case, with shortcuts below).
    admitted = np.ones(candidates.size, dtype=bool)
    attempt = ~unstorable
    attempt_all = not np.count_nonzero(unstorable)
    pool_limited = False

    limit = st.zswap_max.reshape(-1)
    limited = np.isfinite(limit)
    if np.count_nonzero(limited) and np.count_nonzero(limited[group]):
        # obj_cgroup_may_zswap(): force-flush stats on every store when 0 < max < "max".
        flushing = limited & (limit > 0)
        stores = np.bincount(group, minlength=groups)
        flush_s = stores.reshape(h, -1) * pages * cfg.zswap.stats_flush_us * 1e-6
        st.counters["cpu_flush_s"] += flush_s * flushing.reshape(h, -1)
        charge = np.where(attempt, compressed * pages, 0.0)  # only stored pages are charged
        first = group.searchsorted(group, side="left")
        before = _running_in_group(charge, first) - charge
        # The check is "usage < max" before the store: the store that crosses the limit goes in.
        under = store.gauges().zswap_bytes.reshape(-1)[group] + before < limit[group]
        over = attempt & ~under
        n_over = np.bincount(group[over], minlength=groups)
        # An unstorable page's memcg may not write back: over the limit, shrink_memcg() fails.
        admitted = under
        if np.count_nonzero(n_over):
            # shrink_memcg(): one entry per node per over-limit store, second chance applies;
            # nothing written back means the store is rejected.
            attempt_all = False
            visits = n_over.reshape(h, -1) * cfg.nr_nodes * st.zswap_writeback
            written = zswap_writeback_walk(store, visit_budget=visits, source="memcg_limit")
            satisfied = np.minimum(n_over, np.ceil(written.reshape(-1) / cfg.nr_nodes))
            over_ok = over & (_running_in_group(over, first) <= satisfied[group])
            attempt = (attempt & under) | over_ok
            admitted = under | over_ok

    # zswap_check_limits(): global pool limit with hysteresis.
    max_pool = store.max_pool_bytes
    accept_below = max_pool * cfg.zswap.accept_threshold_percent / 100.0
    pool_now = store.gauges().pool_bytes_host
    full = st.pool_reached_full
    full &= ~(pool_now <= accept_below)
    full |= pool_now >= max_pool
    pool_cost = st.zpool_bytes.reshape(-1)[candidates] * pages
    # Per-memcg sums in store order; a store not attempted adds 0.
    new_bytes = np.bincount(group, weights=pool_cost if attempt_all else pool_cost * attempt, minlength=groups)
    new_total = np.add.reduce(new_bytes.reshape(h, -1), axis=1)
    room = np.where(full, 0.0, np.maximum(max_pool - pool_now, 0.0))
    # A share below 1 needs room < max(new_total, 1): test that first.
    if np.count_nonzero(room < np.maximum(new_total, 1.0)):
        share = np.where(new_total > 0, np.minimum(room / np.maximum(new_total, 1.0), 1.0), 1.0)
        if np.count_nonzero(share < 1.0):
            # Concurrent stores from several memcgs interleave: each memcg gets the same share of
            # the remaining room; a store is admitted while the pool (as it saw it) was under the
            # limit.
            pool_limited, attempt_all = True, False
            if first is None:
                first = group.searchsorted(group, side="left")
            cost = np.where(attempt, pool_cost, 0.0)
            before = _running_in_group(cost, first) - cost
            fits = before < np.repeat(share, lay.num_memcgs)[group] * new_bytes[group]
            newly_rejected = attempt & ~fits
            attempt &= fits
            admitted &= fits
            full |= np.bincount(candidates[newly_rejected] // st.loc.shape[1], minlength=h) > 0

    # zswap_compress() for every store the limits admitted.
    if attempt_all:
        tried = np.bincount(group, minlength=groups).reshape(h, -1)
    else:
        tried = np.bincount(group[admitted], minlength=groups).reshape(h, -1)
    st.counters["cpu_compress_s"] += tried * pages * cfg.compressor.compress_us_per_page * 1e-6
    if attempt_all:
        stored, stored_per_memcg = candidates, tried
    else:
        stored = candidates[attempt]
        stored_per_memcg = np.bincount(group[attempt], minlength=groups).reshape(h, -1)
    if stored.size:
        store.set_loc(stored, Loc.ZSWAP, from_loc=Loc.RESIDENT)
        st.zswap_store_s.reshape(-1)[stored] = store.now_f32[stored // st.loc.shape[1], 0]
        store.lru_push_tail(stored)  # list_lru_add(): the young end
        # New entries start referenced: the first writeback pass rotates them (second chance).
        st.referenced.reshape(-1)[stored] = True
        st.counters["zswpout"] += stored_per_memcg * pages
        if pool_limited:  # fewer stores went in than the pool check above counted
            new_total = np.bincount(group, weights=pool_cost * attempt, minlength=groups).reshape(h, -1).sum(axis=1)
        full |= pool_now + new_total >= max_pool
    return candidates[~attempt]


def _running_in_group(values: np.ndarray, first: np.ndarray) -> np.ndarray:
    """Inclusive running sum of ``values`` within each run of equal groups; ``first`` gives each
    element's group start (``searchsorted(group, group, "left")`` on sorted groups)."""
    running = values.cumsum(dtype=np.float64)
    return running - (running[first] - values[first])


def zswap_writeback_walk(
    store: ChunkStore,
    *,
    write_target: np.ndarray | None = None,
    visit_budget: np.ndarray | None = None,
    min_age_s: np.ndarray | None = None,
    source: str,
) -> np.ndarray:
    """Walk each memcg's zswap LRU from its oldest entry (``list_lru_walk_one()`` with
    ``shrink_memcg_cb()``): a referenced entry has its bit cleared and is rotated to the young end
    (second chance); an unreferenced one is written back (``zswap_writeback_entry()``): decompressed
    into a swap cache page that holds 4 KiB of DRAM until its write completes, the entry freed.

    Either ``write_target`` (H, M) chunks to write back, walking at most once over the list (the
    proactive and pool-limit paths), or ``visit_budget`` (H, M) chunks to visit (the shrinker and
    ``memory.zswap.max`` paths). ``min_age_s`` (H, M) seconds restricts the walk to entries older
    than that (the age-threshold form of proactive writeback). Memcgs with
    ``memory.zswap.writeback = 0`` are skipped. Returns chunks written back per (H, M), float64.

    Equals :func:`~.reference.reference_walk` (tests/test_zswap_speed_paths.py checks it).
    """
    st, lay, pages = store.state, store.layout, store.host.chunk_pages
    h, c = st.loc.shape
    groups = h * lay.num_memcgs
    keys = store.memcg_keys
    site = _ROUNDING_SITE[source]
    may_write = st.zswap_writeback.reshape(-1)
    if visit_budget is None:
        assert write_target is not None
        limit = store.round_chunks(write_target, site).reshape(-1)  # whole chunks to write back
        walked = may_write & (limit > 0)
        if not np.count_nonzero(walked):  # nothing asked of any memcg that may write back
            return np.zeros((h, lay.num_memcgs))
    # The walk works on the compacted list of entries (flat chunk indices) of the memcgs walked.
    idx = flat_nonzero(st.loc == Loc.ZSWAP)
    group = keys[idx]  # ascending, as memcg blocks are contiguous
    if visit_budget is not None:
        if not may_write.all():
            keep = may_write[group]
            idx, group = idx[keep], group[keep]
    if min_age_s is not None:
        age = store.now_f32[idx // c, 0] - st.zswap_store_s.reshape(-1)[idx]
        keep = age >= min_age_s.reshape(-1)[group]
        idx, group = idx[keep], group[keep]
    if visit_budget is not None:
        available = np.bincount(group, minlength=groups).reshape(h, -1)
        limit = store.round_chunks(np.minimum(visit_budget, available), site).reshape(-1)  # chunks to visit
        walked = limit > 0
    keep = walked[group]
    idx, group = idx[keep], group[keep]
    # Into each memcg's LRU order, oldest first.
    idx = idx[lru_order(st.lru_seq, idx, group)]
    referenced = st.referenced.reshape(-1)[idx]
    # Each memcg's walk visits a prefix of its list: with a visit budget, the first ``limit``
    # entries; with a write target, the entries up to the one that completes it, every referenced
    # entry before that one rotated (a short walk goes over the whole list). Either way an entry
    # is visited when fewer than ``limit`` entries (unreferenced ones, for a target) come before it
    # in its memcg's list. Counts run over the whole compacted list; ``base`` is each memcg's count
    # at the head of its list.
    if visit_budget is not None:
        count = np.arange(idx.size)
        per_group = np.bincount(group, minlength=groups)
    else:
        unreferenced = ~referenced
        count = unreferenced.cumsum()
        count -= unreferenced
        per_group = np.bincount(group, weights=unreferenced, minlength=groups)
        n_written = np.minimum(per_group, limit).reshape(h, -1)
    base = per_group.cumsum() - per_group
    visited = count < (base + limit)[group]
    rotated = visited & referenced
    if np.count_nonzero(rotated):
        rotated_idx = idx[rotated]
        st.referenced.reshape(-1)[rotated_idx] = False
        store.lru_push_tail(rotated_idx)  # LRU_ROTATE, in walk order: behind every entry not yet visited
    written = visited
    written &= ~referenced
    if visit_budget is not None:
        n_written = np.bincount(group[written], minlength=groups).reshape(h, -1).astype(np.float64)
    if np.count_nonzero(n_written):
        written_idx = idx[written]
        written_idx.sort()
        store.set_loc(written_idx, Loc.WRITEBACK, from_loc=Loc.ZSWAP)
        store.lru_push_tail(written_idx)  # write queue order (FIFO completion)
        written_pages = n_written * pages
        st.counters["zswpwb"] += written_pages
        st.counters["pswpout"] += written_pages
        st.counters["cpu_decompress_s"] += written_pages * store.host.compressor.decompress_us_per_page * 1e-6
        store.submit_writes(np.add.reduce(n_written, axis=1) * pages)
        store.tallies.writeback_chunks[source] += n_written
    return n_written


def lru_order(lru_seq: np.ndarray, idx: np.ndarray, group: np.ndarray) -> np.ndarray:
    """The permutation that puts the entries ``idx`` (flat chunk indices; ``group`` ascending, their
    (host, memcg) keys) into each memcg's LRU order, oldest first (``group``, the major key, stays
    ascending). List positions are whole numbers, unique per host, well inside +-2**39: one float
    key sorts by (memcg, position) exactly."""
    return (group * _GROUP_STRIDE + lru_seq.reshape(-1)[idx]).argsort()


def zswap_shrinker_scan(store: ChunkStore, reclaimed_pages: np.ndarray, lru_pages_before: np.ndarray) -> np.ndarray:
    """The memcg-aware zswap shrinker (``zswap_shrinker_count()`` + ``do_shrink_slab()``), invoked by
    reclaim of ``reclaimed_pages`` (H, M) from an LRU of ``lru_pages_before`` pages.

    count: freeable = entries on the memcg's zswap LRU, minus pages recently swapped in from disk
    (``nr_disk_swapins``), scaled by pool pages / stored pages (better compression, less writeback).
    scan: the reclaim's priority is the one at which ``lru >> priority`` covers the request;
    ``delta = (freeable >> priority) * 4 / seeks``, plus deferred work ``>> priority``, capped at
    twice freeable, scanned in batches of 128 (``SHRINK_BATCH``): a remainder under a batch is
    scanned only when it covers all of freeable, else deferred with the rest.
    One ``shrink_slab()`` call per reclaim request at that equivalent priority.
    Returns chunks written back per (H, M).
    """
    st, cfg = store.state, store.host
    if not st.shrinker_enabled.any():  # zswap.shrinker_enabled=N on every host
        return np.zeros_like(reclaimed_pages)
    g = store.gauges()
    active = (reclaimed_pages > 0) & st.zswap_writeback & (g.zswap_pages > 0) & st.shrinker_enabled[:, None]
    if not np.count_nonzero(active):
        return np.zeros_like(reclaimed_pages)
    stored = g.zswap_pages
    freeable = np.maximum(stored - st.nr_disk_swapins, 0.0)
    st.nr_disk_swapins = np.where(active, np.maximum(st.nr_disk_swapins - stored, 0.0), st.nr_disk_swapins)
    backing_pages = g.zpool_bytes / PAGE_SIZE
    freeable = np.floor(freeable * backing_pages / np.maximum(stored, 1.0))
    ratio = np.maximum(lru_pages_before, 1.0) / np.maximum(reclaimed_pages, 32.0)
    priority = np.minimum(np.floor(np.log2(np.maximum(ratio, 1.0))), DEF_PRIORITY)
    scale = np.exp2(-priority)
    delta = np.floor(freeable * scale) * 4.0 / DEFAULT_SEEKS
    cap = 2.0 * freeable
    total_scan = np.minimum(np.floor(st.shrinker_nr_deferred * scale) + delta, cap)
    # do_shrink_slab(): "while (total_scan >= batch_size || total_scan >= freeable)" scans a batch of
    # SHRINK_BATCH (or what is left) at a time: whole batches, then a remainder under a batch only
    # when it covers all of freeable; what is not scanned is deferred to the next call.
    whole_batches = np.floor(total_scan / SHRINK_BATCH) * SHRINK_BATCH
    remainder = total_scan - whole_batches
    scanned = whole_batches + np.where((remainder > 0) & (remainder >= freeable), remainder, 0.0)
    scanned = np.where(active, scanned, 0.0)
    deferred = np.maximum(st.shrinker_nr_deferred + delta - scanned, 0.0)
    st.shrinker_nr_deferred = np.where(active, np.minimum(deferred, cap), st.shrinker_nr_deferred)
    if not np.count_nonzero(scanned):
        return np.zeros_like(reclaimed_pages)
    return zswap_writeback_walk(store, visit_budget=scanned / cfg.chunk_pages, source="shrinker")


def zswap_pool_worker(store: ChunkStore) -> np.ndarray:
    """``shrink_worker()``: once the pool reached its limit, write back from the memcgs in turn
    (one entry each per round) until the pool is below the accept threshold.

    Round-robin with one entry per memcg per round takes equal amounts from each memcg that has
    entries (water-filling); second chance applies, and a rotated entry is written on the next lap.
    Returns chunks written back per (H, M).
    """
    st, cfg, pages = store.state, store.host, store.host.chunk_pages
    total = np.zeros_like(st.memory_high)
    if not np.count_nonzero(st.pool_reached_full):
        return total
    accept_below = store.max_pool_bytes * cfg.zswap.accept_threshold_percent / 100.0
    for _lap in range(2):  # a second lap writes what the first one rotated
        g = store.gauges()
        excess = np.where(st.pool_reached_full, np.maximum(g.pool_bytes_host - accept_below, 0.0), 0.0)
        if not np.count_nonzero(excess > 0):
            break
        stored_chunks = g.zswap_pages / pages
        per_chunk = np.where(g.zswap_pages > 0, g.zpool_bytes / np.maximum(stored_chunks, 1e-9), 0.0)
        avail_chunks = np.where(st.zswap_writeback, stored_chunks, 0.0)
        avail_bytes = avail_chunks * per_chunk
        share = _water_fill(avail_bytes, excess)
        target = np.where(per_chunk > 0, np.ceil(share / np.maximum(per_chunk, 1e-9)), 0.0)
        total += zswap_writeback_walk(store, write_target=target, source="pool_limit")
    return total


def _water_fill(capacity: np.ndarray, total: np.ndarray) -> np.ndarray:
    """Split ``total`` (H,) across columns of ``capacity`` (H, M) as equally as capacities allow."""
    order = np.sort(capacity, axis=1)
    m = capacity.shape[1]
    remaining_cols = m - np.arange(m)
    cum_before = np.concatenate([np.zeros((capacity.shape[0], 1)), np.cumsum(order, axis=1)[:, :-1]], axis=1)
    # Level needed if the k smallest are fully used and the rest get an equal level.
    level_candidates = (total[:, None] - cum_before) / remaining_cols
    feasible = level_candidates <= order
    k = np.where(feasible.any(axis=1), np.argmax(feasible, axis=1), m - 1)
    level = np.take_along_axis(level_candidates, k[:, None], 1)
    return np.minimum(capacity, np.maximum(level, 0.0))
