"""Anonymous-memory reclaim from a memcg's LRU (``shrink_lruvec()`` and ``shrink_folio_list()`` for
anon pages), and ``memory.reclaim``, the proactive interface to it.

Reclaim takes chunks coldest first (MGLRU's oldest generations: :func:`~.lru.select_oldest_flat`
over half-octave age bins). Each page needs a swap slot (the host's swap capacity, the memcg's
``memory.swap.max``). Zero-filled pages are only marked in the swap map (``swpout_zero``); the rest go
through ``zswap_store()``; a page zswap rejects is written to the swap device (``pswpout``), or, when
the memcg may not write back (``memory.zswap.writeback = 0``), activated and kept
(``AOP_WRITEPAGE_ACTIVATE``). Each reclaim invokes the zswap shrinker when it is enabled.
"""

from __future__ import annotations

import numpy as np

from .chunk_store import ChunkStore
from .lru import AgeHistogram, age_bins, age_histogram, select_oldest_flat
from .state import Loc
from .units import PAGE_SIZE
from .zswap import zswap_shrinker_scan, zswap_store


def reclaim_histogram(store: ChunkStore) -> AgeHistogram:
    """Resident chunks per memcg and age bin (reclaim's order: MGLRU generations by age)."""
    st = store.state
    return age_histogram(st.loc == Loc.RESIDENT, age_bins(store.now_f32 - st.last_access_s), store.layout)


def shrink_lru(
    store: ChunkStore,
    target_chunks: np.ndarray,
    *,
    kswapd_share: np.ndarray | None,
    proactive: bool = False,
) -> np.ndarray:
    """Shrink each memcg's LRU by up to ``target_chunks`` (H, M), coldest first; returns the chunks
    taken off the LRU per (H, M), float64.

    The scanned and reclaimed pages count in ``pgscan``/``pgsteal`` and, by who reclaimed, in the
    ``_proactive`` (memory.reclaim), ``_kswapd`` (a ``kswapd_share`` of them) or ``_direct`` (the
    rest) counters; reclaim CPU is ``reclaim_us_per_page`` per scanned page.
    """
    st, lay, host = store.state, store.layout, store.host
    pages = host.chunk_pages
    g = store.gauges()
    # Whole chunks throughout: the LRU's resident chunks, then the swap slots left under
    # memory.swap.max (where it is set), then the host's free slots, shared in proportion.
    target = np.minimum(target_chunks, store.chunk_counts()[Loc.RESIDENT])
    if np.count_nonzero(st.swap_max != np.inf):
        slot_room = np.floor(np.maximum(st.swap_max / PAGE_SIZE - g.swap_slot_pages, 0.0) / pages)
        target = np.minimum(target, slot_room)
    swap_capacity_pages = host.swap.capacity_bytes // PAGE_SIZE
    host_room = np.maximum(swap_capacity_pages - np.add.reduce(g.swap_slot_pages, axis=1), 0.0) / pages
    want = np.add.reduce(target, axis=1)
    short = want > host_room
    if np.count_nonzero(short):
        scale = np.where(short, host_room / np.maximum(want, 1e-9), 1.0)
        target = np.floor(target * scale[:, None])
    target = target.astype(np.int64)
    if not np.count_nonzero(target):
        return np.zeros(target.shape)
    lru_before = g.resident_pages
    selected = select_oldest_flat(None, None, target, lay, reclaim_histogram(store))
    is_zero = st.compressed_bytes.reshape(-1)[selected] == 0
    zero = selected[is_zero]
    rejected = zswap_store(store, selected[~is_zero])
    to_disk = kept = rejected  # (none rejected: both empty)
    if rejected.size:
        may_write = st.zswap_writeback.reshape(-1)[store.memcg_keys[rejected]]
        to_disk, kept = rejected[may_write], rejected[~may_write]
    if zero.size:  # zero-filled: a swap slot marked zero, no entry, no I/O
        store.set_loc(zero, Loc.SWAP_ZERO, from_loc=Loc.RESIDENT)
        st.counters["swpout_zero"] += store.per_memcg(zero, pages)
    if to_disk.size:  # swap_writepage(): an async write; the page holds DRAM until it completes
        store.set_loc(to_disk, Loc.WRITEBACK, from_loc=Loc.RESIDENT)
        store.lru_push_tail(to_disk)  # write queue order
        n_disk = store.per_memcg(to_disk, pages)
        st.counters["pswpout"] += n_disk
        store.submit_writes(n_disk.sum(axis=1))
    if kept.size:  # AOP_WRITEPAGE_ACTIVATE: back to the active list
        st.last_access_s.reshape(-1)[kept] = store.now_f32[kept // lay.num_chunks, 0]
    scanned = store.per_memcg(selected)
    reclaimed = scanned  # every scanned chunk left the LRU unless kept
    if kept.size:
        reclaimed = scanned - store.per_memcg(kept)
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
    zswap_shrinker_scan(store, reclaimed_pages, lru_before)
    return reclaimed


def memory_reclaim(store: ChunkStore, request_bytes: np.ndarray) -> np.ndarray:
    """``memory.reclaim``: reclaim about ``request_bytes`` (H, M, checked finite and >= 0) from each
    memcg's cold end, proactively (not charged as the workload's stall). Returns bytes taken off
    the LRU (H, M); less than asked is the kernel's -EAGAIN."""
    chunk_bytes = store.host.chunk_bytes
    chunks = store.round_chunks(request_bytes / chunk_bytes, "round_reclaim")
    return shrink_lru(store, chunks, kswapd_share=None, proactive=True) * chunk_bytes
