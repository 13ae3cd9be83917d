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
from typing import NamedTuple

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
    _bin_keys: dict[int, np.ndarray] = field(default_factory=dict, repr=False, compare=False)

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

    def bin_keys(self, num_hosts: int) -> np.ndarray:
        """:meth:`memcg_keys` times ``AGE_BINS + 1``: the first histogram slot of each chunk's
        (host, memcg) in :func:`select_oldest`."""
        keys = self._bin_keys.get(num_hosts)
        if keys is None:
            keys = self._bin_keys[num_hosts] = self.memcg_keys(num_hosts) * (AGE_BINS + 1)
        return keys


def flat_nonzero(mask: np.ndarray) -> np.ndarray:
    """Flat indices of the true elements (``np.flatnonzero`` without its Python-level wrappers)."""
    return mask.ravel().nonzero()[0]


def blend(mask: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``np.where(mask, a, b)`` for float32 arrays, bit for bit, without branches: ``np.where`` on
    an irregular mask costs several times a plain arithmetic pass. ``a`` and ``b`` broadcast to
    ``mask``'s shape."""
    a, b = np.asarray(a, dtype=np.float32), np.asarray(b, dtype=np.float32)
    if a.shape != mask.shape:  # (np.broadcast_to costs several microseconds; skip it when it is a no-op)
        a = np.broadcast_to(a, mask.shape)
    if b.shape != mask.shape:
        b = np.broadcast_to(b, mask.shape)
    bits = mask.view(np.int8).astype(np.int32)
    np.negative(bits, out=bits)  # all ones where mask
    b_bits = b.view(np.int32)
    out = a.view(np.int32) ^ b_bits  # b ^ ((a ^ b) & bits): a where mask, b elsewhere
    out &= bits
    out ^= b_bits
    return out.view(np.float32)


def age_bins(age_s: np.ndarray) -> np.ndarray:
    """Age bin (int8, same shape) of ages in seconds; negative ages count as 0."""
    bins = np.maximum(age_s, 0.0)
    bins += 1.0
    np.log2(bins, out=bins)
    bins *= 2.0
    np.minimum(bins, AGE_BINS - 1, out=bins)
    return bins.astype(np.int8)


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
    idx = flat_nonzero(mask)
    w = np.broadcast_to(weights, mask.shape).ravel()[idx]
    return np.bincount(keys[idx], weights=w, minlength=h * m).reshape(h, m)


def select_oldest(eligible: np.ndarray, bins: np.ndarray, target_chunks: np.ndarray, layout: ChunkLayout) -> np.ndarray:
    """Pick, per memcg, the ``target_chunks`` oldest eligible chunks (H, C) bool.

    The mask form of :func:`select_oldest_flat` (same arguments)."""
    selected = np.zeros(eligible.size, dtype=bool)
    selected[select_oldest_flat(eligible, bins, target_chunks, layout)] = True
    return selected.reshape(eligible.shape)


def select_oldest_flat(
    eligible: np.ndarray,
    bins: np.ndarray,
    target_chunks: np.ndarray,
    layout: ChunkLayout,
    histogram: AgeHistogram | None = None,
) -> np.ndarray:
    """Flat indices (ascending) of, per memcg, the ``target_chunks`` oldest eligible chunks.

    ``eligible`` (H, C) bool; ``bins`` (H, C) age bins; ``target_chunks`` (H, M) whole numbers of
    chunks. Whole bins go from the oldest down; within the last bin needed, chunks go in slot order
    (MGLRU evicts whole generations, oldest first). One histogram of every chunk, ineligible ones
    in a spill slot, gives each memcg's threshold bin; only the chunks at or above it are listed.
    ``histogram``: :func:`age_histogram` of ``eligible`` and ``bins`` made beforehand (then
    ``eligible`` and ``bins`` are not read). For a list with an exact position per entry,
    :func:`select_in_order`. Equals :func:`~.reference.reference_select_oldest`.
    """
    h = (eligible if histogram is None else histogram.slot).shape[0]
    groups = layout.num_memcgs
    target = np.asarray(target_chunks, dtype=np.int64).reshape(h, groups)
    if not np.count_nonzero(target > 0):
        return np.zeros(0, dtype=np.intp)
    slot, at_or_older, search_keys = histogram if histogram is not None else age_histogram(eligible, bins, layout)
    # Each memcg's threshold: the bins where at least ``target`` chunks are that old or older are
    # the first ``count`` (at_or_older only falls with the bin), found in one search over all rows.
    rows = np.arange(h * groups, dtype=np.int64)
    count = search_keys.searchsorted(rows * _ROW_STRIDE - target.ravel(), side="right") - rows * AGE_BINS
    thr = np.maximum(count - 1, 0).reshape(h, groups)
    thr[target <= 0] = AGE_BINS
    older = at_or_older.reshape(-1, AGE_BINS + 1)[rows, np.minimum(thr + 1, AGE_BINS).ravel()]
    need = np.maximum(target.ravel() - older, 0)
    # Candidates: eligible chunks in their memcg's threshold bin or older (slot = bin + 1 > thr).
    thr_slot = np.repeat(thr.astype(np.int8), layout.block_len, axis=1)
    ci = flat_nonzero(slot > thr_slot)
    # Those above the threshold bin are all taken; in it, the first ``need`` in slot order.
    keep = slot.ravel()[ci] != thr_slot.ravel()[ci] + np.int8(1)
    edge = flat_nonzero(~keep)
    eg = layout.memcg_keys(h)[ci[edge]]
    first = eg.searchsorted(eg, side="left")
    keep[edge] = np.arange(1, eg.size + 1) - first <= need[eg]
    return ci[keep]


class AgeHistogram(NamedTuple):
    """What :func:`select_oldest_flat` counts before it looks at the targets."""

    slot: np.ndarray
    """(H, C) int8: each eligible chunk's age bin + 1, 0 for the others."""
    at_or_older: np.ndarray
    """(H, M, AGE_BINS + 1) int64: eligible chunks per memcg in that bin or an older one (the last
    column 0)."""
    search_keys: np.ndarray
    """(H * M * AGE_BINS,) int64, ascending: ``row * _ROW_STRIDE - at_or_older[row, bin]`` for
    row = host * M + memcg."""


_ROW_STRIDE = 2**32
"""Spacing of the memcg rows in :attr:`AgeHistogram.search_keys` (above any chunk count)."""


def age_histogram(eligible: np.ndarray, bins: np.ndarray, layout: ChunkLayout) -> AgeHistogram:
    """Eligible chunks per memcg and age bin (see :class:`AgeHistogram`)."""
    h = eligible.shape[0]
    # Age bin + 1 of eligible chunks, 0 for the others (int8: three cheap passes, no branches).
    slot = bins + np.int8(1)
    slot *= eligible
    m = layout.num_memcgs
    stride = AGE_BINS + 1
    counts = np.bincount(layout.bin_keys(h) + slot.ravel(), minlength=h * m * stride)
    counts = counts.reshape(h, m, stride)[..., 1:]
    at_or_older = np.zeros((h, m, AGE_BINS + 1), dtype=np.int64)
    np.cumsum(counts[..., ::-1], axis=-1, out=at_or_older[..., AGE_BINS - 1 :: -1])
    search_keys = _row_offsets(h * m) - at_or_older[..., :AGE_BINS].reshape(h * m, AGE_BINS)
    return AgeHistogram(slot, at_or_older, search_keys.ravel())


def _row_offsets(rows: int) -> np.ndarray:
    """(rows, 1) int64: ``row * _ROW_STRIDE``."""
    return (np.arange(rows, dtype=np.int64) * _ROW_STRIDE)[:, None]


def select_in_order(
    eligible: np.ndarray, order: np.ndarray, target_chunks: np.ndarray, layout: ChunkLayout, per_host: bool = False
) -> np.ndarray:
    """The first ``target_chunks`` eligible chunks per memcg (or per host) in ``order`` (smaller =
    first): a list walked from its head, such as the zswap LRU (``list_lru_walk_one()``) or a device
    write queue. Shapes as :func:`select_oldest`; returns (H, C) bool."""
    h, c = eligible.shape
    groups = 1 if per_host else layout.num_memcgs
    target = np.asarray(target_chunks, dtype=np.int64).reshape(h * groups)
    selected = np.zeros(h * c, dtype=bool)
    if not np.count_nonzero(target > 0):
        return selected.reshape(h, c)
    idx = flat_nonzero(eligible)
    group = idx // c if per_host else layout.memcg_keys(h)[idx]
    sort = np.lexsort((order.ravel()[idx], group))
    group = group[sort]
    rank = np.arange(group.size) - group.searchsorted(group, side="left")
    selected[idx[sort[rank < target[group]]]] = True
    return selected.reshape(h, c)
