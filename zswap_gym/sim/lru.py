"""Approximate-LRU selection over chunks, vectorised over hosts and memcgs.

The kernel never sorts memory by age. MGLRU keeps pages in a handful of *generations* and reclaims the
oldest generation first; zswap keeps its entries on a list LRU. We do the same with more, finer
generations: a chunk's age (seconds since last access, or since it entered the zswap LRU) falls in a
half-octave *age bin*; selection takes whole bins from the oldest down, and within the last bin it
needs, chunks in slot order (the kernel's order within one generation is likewise arbitrary).

Chunks of one memcg occupy a contiguous block of slots in every host (:class:`ChunkLayout`), so a
per-memcg running count is a row-wise cumulative sum minus the sum at the block's start.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

AGE_BINS = 44
"""Half-octave age bins: bin = floor(2 * log2(1 + age_s)), the last one open-ended (> ~12 days)."""


@dataclass(frozen=True)
class ChunkLayout:
    """Which chunk slots belong to which memcg slot (the same in every host of a batch).

    Shapes: ``owner`` (C,) memcg slot of each chunk; ``block_start``/``block_len`` (M,).
    """

    owner: np.ndarray
    block_start: np.ndarray
    block_len: np.ndarray
    num_memcgs: int
    _memcg_keys: dict[int, np.ndarray] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_capacities(cls, capacities: list[int], num_memcgs: int) -> ChunkLayout:
        lens = np.zeros(num_memcgs, dtype=np.int64)
        lens[: len(capacities)] = capacities
        starts = np.concatenate(([0], np.cumsum(lens)[:-1])).astype(np.int64)
        owner = np.repeat(np.arange(num_memcgs, dtype=np.int64), lens)
        return cls(owner=owner, block_start=starts, block_len=lens, num_memcgs=num_memcgs)

    @property
    def num_chunks(self) -> int:
        return int(self.owner.shape[0])

    def memcg_keys(self, num_hosts: int) -> np.ndarray:
        """Flat (host, memcg) index of every chunk of an (H, C) array, raveled: h * M + owner."""
        keys = self._memcg_keys.get(num_hosts)
        if keys is None:
            rows = np.arange(num_hosts, dtype=np.int64)[:, None] * self.num_memcgs
            keys = self._memcg_keys[num_hosts] = (rows + self.owner[None, :]).ravel()
        return keys


def age_bins(age_s: np.ndarray) -> np.ndarray:
    """Age bin (int64, same shape) of ages in seconds; negative ages count as 0."""
    bins = np.log2(np.maximum(age_s, 0.0) + 1.0)
    bins *= 2.0
    out = bins.astype(np.int64)
    np.minimum(out, AGE_BINS - 1, out=out)
    return out


def rank_in_block(mask: np.ndarray, layout: ChunkLayout, weights: np.ndarray | None = None) -> np.ndarray:
    """Running total (inclusive) of ``mask`` (or ``mask * weights``) within each memcg's block, (H, C)."""
    values = mask if weights is None else np.where(mask, weights, 0.0)
    running = np.cumsum(values, axis=1, dtype=np.float64 if weights is not None else np.int64)
    starts = layout.block_start
    before = np.zeros((running.shape[0], layout.num_memcgs), dtype=running.dtype)
    nonzero = starts > 0
    before[:, nonzero] = running[:, starts[nonzero] - 1]
    running -= before[:, layout.owner]
    return running


def count_per_memcg(mask: np.ndarray, layout: ChunkLayout, weights: np.ndarray | None = None) -> np.ndarray:
    """Sum of ``mask`` (or ``mask * weights``) per (host, memcg), shape (H, M) float64."""
    h = mask.shape[0]
    m = layout.num_memcgs
    keys = layout.memcg_keys(h)
    if weights is None:
        return np.bincount(keys[mask.ravel()], minlength=h * m).reshape(h, m).astype(np.float64)
    return np.bincount(keys, weights=np.where(mask, weights, 0.0).ravel(), minlength=h * m).reshape(h, m)


def select_oldest(
    eligible: np.ndarray,
    bins: np.ndarray,
    target_chunks: np.ndarray,
    layout: ChunkLayout,
    per_host: bool = False,
    order: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Pick, per memcg (or per host), the ``target_chunks`` oldest eligible chunks.

    ``eligible`` (H, C) bool, ``bins`` (H, C) age bins, ``target_chunks`` (H, M) — or (H,) with
    ``per_host`` — whole numbers of chunks. Within the last bin needed, chunks go in slot order, or,
    with ``order`` (H, C) (smaller = older, e.g. a list position), in that exact order — so a list
    LRU such as zswap's is walked exactly. Returns the selection (H, C) bool and the threshold bin
    per group (the youngest bin the selection reached; ``AGE_BINS`` where nothing was selected), so
    callers know which part of the LRU a walk passed over.
    """
    h, c = eligible.shape
    groups = 1 if per_host else layout.num_memcgs
    target = np.asarray(target_chunks, dtype=np.int64).reshape(h, groups)
    if per_host:
        group_of_chunk = np.zeros(c, dtype=np.int64)
        keys = np.arange(h, dtype=np.int64)[:, None] * AGE_BINS + bins
    else:
        group_of_chunk = layout.owner
        keys = layout.memcg_keys(h).reshape(h, c) * AGE_BINS + bins
    counts = np.bincount(keys[eligible], minlength=h * groups * AGE_BINS).reshape(h, groups, AGE_BINS)
    # at_or_older[b]: eligible chunks in bins >= b.
    at_or_older = np.cumsum(counts[..., ::-1], axis=-1)[..., ::-1]
    enough = at_or_older >= target[..., None]
    # Threshold: the youngest bin we must dip into = the largest b with at_or_older[b] >= target.
    has = enough.any(axis=-1)
    thr = np.where(has, AGE_BINS - 1 - np.argmax(enough[..., ::-1], axis=-1), 0)
    thr = np.where(target > 0, thr, AGE_BINS).astype(np.int64)
    older_than_thr = np.zeros_like(target)
    inside = thr < AGE_BINS - 1
    idx = np.minimum(thr + 1, AGE_BINS - 1)
    older_than_thr = np.where(inside, np.take_along_axis(at_or_older, idx[..., None], -1)[..., 0], 0)
    need_in_thr = np.maximum(target - older_than_thr, 0)

    thr_chunk = thr[:, group_of_chunk]
    selected = eligible & (bins > thr_chunk)
    edge = eligible & (bins == thr_chunk)
    if order is not None:
        rows, cols = np.nonzero(edge)
        if rows.size:
            group = rows * groups + group_of_chunk[cols]
            sort = np.lexsort((order[rows, cols], group))
            group_sorted = group[sort]
            first = np.searchsorted(group_sorted, group_sorted, side="left")
            rank = np.arange(group_sorted.size) - first + 1
            take = rank <= need_in_thr.ravel()[group_sorted]
            selected[rows[sort[take]], cols[sort[take]]] = True
        return selected, thr
    if per_host:
        rank = np.cumsum(edge, axis=1)
        selected |= edge & (rank <= need_in_thr[:, :1])
    else:
        rank = rank_in_block(edge, layout)
        selected |= edge & (rank <= need_in_thr[:, group_of_chunk])
    return selected, thr


def stochastic_round(x: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Round ``x`` >= 0 down or up with the probability that keeps the expectation (int64)."""
    return np.floor(x + u).astype(np.int64)
