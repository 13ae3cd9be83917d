"""The plainest statements of the mechanisms whose working versions are written for speed.

Each function here is a short loop over (host, memcg) that reads like the kernel function it models,
and each optimised function's docstring names the one here it equals; the differential tests
(tests/test_zswap_speed_paths.py, tests/test_speed_paths.py) check that they agree bit for bit on
random states. Nothing in the simulator calls these: they are the definitions, slow on purpose.
"""

from __future__ import annotations

import numpy as np

from .chunk_store import ChunkStore
from .lru import ChunkLayout
from .metrics import _LOG_GRID, LATENCY_GRID_US, LATENCY_SIGMA, _normal_cdf, _tier_cdf
from .state import Loc


def reference_walk(
    store: ChunkStore,
    *,
    write_target: np.ndarray | None = None,
    visit_budget: np.ndarray | None = None,
    min_age_s: np.ndarray | None = None,
    source: str,
) -> np.ndarray:
    """``list_lru_walk_one()`` with ``shrink_memcg_cb()``, one (host, memcg) list at a time: entries
    in list order from the oldest; a referenced one loses its bit and is rotated to the young end
    (``LRU_ROTATE``: second chance), an unreferenced one is written back
    (``zswap_writeback_entry()``); the walk stops after ``write_target`` writes or ``visit_budget``
    visits (whole chunks, rounded as the walk rounds them). Memcgs with ``memory.zswap.writeback =
    0`` are not walked; ``min_age_s`` restricts the list to entries stored at least that long ago.
    Rotated entries go to the young end in walk order, written ones to the write queue in slot
    order. Returns chunks written back per (H, M). :func:`~.zswap.zswap_writeback_walk` equals it."""
    st, lay, host = store.state, store.layout, store.host
    h, m, c, pages = store.num_hosts, store.num_memcgs, lay.num_chunks, host.chunk_pages
    lists = {}
    for hi in range(h):
        for memcg in range(m):
            slots = np.flatnonzero((st.loc[hi] == Loc.ZSWAP) & (lay.owner == memcg))
            if not st.zswap_writeback[hi, memcg]:
                slots = slots[:0]
            if min_age_s is not None:
                age = store.now_f32[hi, 0] - st.zswap_store_s[hi, slots]
                slots = slots[age >= min_age_s[hi, memcg]]
            lists[hi, memcg] = sorted(slots.tolist(), key=lambda s, hi=hi: st.lru_seq[hi, s])
    site = f"round_writeback_{source}"
    if visit_budget is not None:
        available = np.array([[len(lists[hi, memcg]) for memcg in range(m)] for hi in range(h)])
        limit = store.round_chunks(np.minimum(visit_budget, available), site)
    else:
        limit = store.round_chunks(write_target, site)
    rotated, written = [], []
    n_written = np.zeros((h, m))
    for hi in range(h):
        for memcg in range(m):
            visits = writes = 0
            for s in lists[hi, memcg]:
                if (visits if visit_budget is not None else writes) == limit[hi, memcg]:
                    break
                visits += 1
                if st.referenced[hi, s]:
                    rotated.append(hi * c + s)
                else:
                    written.append(hi * c + s)
                    writes += 1
            n_written[hi, memcg] = writes
    if rotated:
        st.referenced.reshape(-1)[rotated] = False
        store.lru_push_tail(np.array(rotated))
    if written:
        chunks = np.sort(np.array(written))
        store.set_loc(chunks, Loc.WRITEBACK)
        store.lru_push_tail(chunks)
        st.counters["zswpwb"] += n_written * pages
        st.counters["pswpout"] += n_written * pages
        st.counters["cpu_decompress_s"] += n_written * pages * host.compressor.decompress_us_per_page * 1e-6
        store.submit_writes(n_written.sum(axis=1) * pages)
        store.tallies.writeback_chunks[source] += n_written
    return n_written


def reference_select_oldest(
    eligible: np.ndarray, bins: np.ndarray, target: np.ndarray, layout: ChunkLayout
) -> np.ndarray:
    """MGLRU's eviction order, one (host, memcg) at a time: the ``target`` (H, M) oldest ``eligible``
    (H, C) chunks by age bin ``bins`` (H, C), whole generations from the oldest down and, in the
    last one needed, slot order (the kernel's order within a generation is arbitrary). Returns the
    chosen chunks (H, C) bool. :func:`~.lru.select_oldest` equals it."""
    h, c = eligible.shape
    out = np.zeros((h, c), dtype=bool)
    for host in range(h):
        for memcg in range(layout.num_memcgs):
            want = int(target[host, memcg])
            if want <= 0:
                continue
            slots = np.flatnonzero(eligible[host] & (layout.owner == memcg))
            order = sorted(slots, key=lambda s, host=host: (-int(bins[host, s]), s))
            # Whole bins older than the last one needed, then that bin in slot order.
            chosen = order[:want]
            if chosen:
                edge = min(int(bins[host, s]) for s in chosen)
                older = [s for s in order if bins[host, s] > edge]
                in_edge = [s for s in order if bins[host, s] == edge][: max(want - len(older), 0)]
                chosen = older + in_edge
            out[host, chosen] = True
    return out


def reference_quantile(weights: np.ndarray, tier_means_us: np.ndarray, q: float) -> np.ndarray:
    """Quantile ``q`` (us) of a step's refault latency, per (host, memcg): every tier's log-normal CDF
    on the whole grid (one per host unless every host has the same mean), mixed by each row's
    shares of refaults ``weights`` (H, M, T), then the first grid point at or above ``q``; 0 without
    refaults. :func:`~.metrics.refault_latency_quantile` equals it."""
    total = weights.sum(axis=-1)
    share = weights / np.maximum(total, 1e-300)[..., None]
    cdf = np.zeros(weights.shape[:-1] + LATENCY_GRID_US.shape)
    for t in range(weights.shape[-1]):
        means = tier_means_us[:, t]
        if (means == means[0]).all():
            tier = _tier_cdf(float(means[0]))[None, None, :]
        else:
            mu = np.log(np.maximum(means, 1e-3)) - 0.5 * LATENCY_SIGMA**2
            tier = _normal_cdf((_LOG_GRID[None, :] - mu[:, None]) / LATENCY_SIGMA)[:, None, :]
        cdf += share[..., t, None] * tier
    idx = np.argmax(cdf >= q, axis=-1)
    return np.where(total > 0, LATENCY_GRID_US[idx], 0.0)
