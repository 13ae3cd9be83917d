"""Privileged placement: move *chosen* chunks into zswap or out to swap, through the kernel's own paths.

The cgroup interface only reclaims in age order: ``memory.reclaim`` takes the coldest pages by idle
age, proactive writeback the oldest unreferenced zswap entries. A clairvoyant reference (the
``oracle`` baseline) wants to pick chunks by their true access rate and compressibility instead —
what a real host could approximate with ``process_madvise(MADV_PAGEOUT)`` on chosen ranges. This module
gives it that, and nothing else: *which* chunks move is chosen by the caller; *how* they move is the
simulator's unchanged mechanism, so every move costs the same CPU, I/O and DRAM and updates the same
counters as anybody's.

* :func:`store_chunks` runs :meth:`Simulator.memory_reclaim` (``_reclaim``: swap-slot limits,
  zero-filled pages to the swap map, ``zswap_store()`` with compression, charging, ``memory.zswap.max``
  and pool limits, rejected pages to disk, ``pgscan``/``pgsteal``/``*_proactive``, reclaim CPU, the
  shrinker) for exactly the chosen resident chunks.
* :func:`writeback_chunks` runs :meth:`Simulator.zswap_proactive_writeback`
  (``zswap_writeback_walk()``: decompress, ``zswpwb``/``pswpout``, the write queued on the device, DRAM
  held until it completes) for exactly the chosen zswap entries.

How the choice is handed to the unchanged paths (the hook the existing code does not offer): for the
duration of the call the chosen chunks are *lent* an ordering in which they come first — chosen
resident chunks look last accessed in the far past and every other resident chunk just now (so the
age-bin selection of ``_reclaim`` takes exactly the chosen ones); chosen zswap entries look stored in
the far past with their second-chance bit clear, and the walk runs in its age-threshold form with a
threshold only they pass (so it visits and writes exactly them, rotating nothing). The lent values are
restored afterwards wherever the kernel path did not itself change them (a page activated by a
rejected store keeps its new access time; a written-back entry leaves zswap, where its store time and
referenced bit mean nothing). The rounding remainders of the two request sites are restored too, so a
placement never shifts the next cgroup request by a fraction of a chunk.

The second-chance bit is cleared for the chosen entries on purpose: it is the kernel's recency
heuristic, and the caller knows the entry's true rate. Everything else (limits, rejections, counters,
the device) is the kernel's.

Nothing here is reachable from the cgroup files or the env's actions: only code holding the
simulator (the oracle) can place chunks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .lru import blend, count_per_memcg
from .state import ROUNDING_SITES, Loc

if TYPE_CHECKING:
    from .simulator import Simulator

FAR_PAST_S = np.float32(-1e30)
"""A time before anything: the lent last-access / store time of chosen chunks."""
AGE_GATE_S = 1e29
"""Age threshold of the lent writeback walk: only entries lent ``FAR_PAST_S`` are this old."""


def _site(name: str) -> int:
    return ROUNDING_SITES.index(name)


def store_chunks(sim: Simulator, chunks: np.ndarray) -> np.ndarray:
    """Proactively reclaim exactly ``chunks`` ((H, C) bool; only resident chunks count) through
    ``memory.reclaim``'s path: zero-filled chunks to the swap map, the rest through ``zswap_store()``
    (rejected ones to disk, or kept when the memcg may not write back).

    The kernel's limits still apply: when swap slots (capacity, ``memory.swap.max``) run short, fewer
    chunks are reclaimed, chosen ones in slot order. Returns chunks taken off the LRU per (H, M).
    """
    st, lay = sim.state, sim.layout
    chosen = np.asarray(chunks, dtype=bool) & (st.loc == Loc.RESIDENT)
    if not np.count_nonzero(chosen):
        return np.zeros((sim.num_hosts, sim.num_memcgs))
    request = count_per_memcg(chosen, lay) * float(sim.cfg.host.chunk_bytes)
    saved_access = st.last_access_s.copy()
    site = _site("round_reclaim")
    saved_residual = st.rounding_residual[:, site, :].copy()
    lent = blend(chosen, FAR_PAST_S, sim.now_f32)
    st.last_access_s[...] = lent
    try:
        reclaimed_bytes = sim.memory_reclaim(request)
    finally:
        changed = st.last_access_s != lent  # the path set it (a rejected page activated)
        st.last_access_s[...] = blend(changed, st.last_access_s, saved_access)
        st.rounding_residual[:, site, :] = saved_residual
    return reclaimed_bytes / sim.cfg.host.chunk_bytes


def writeback_chunks(sim: Simulator, chunks: np.ndarray) -> np.ndarray:
    """Proactively write back exactly ``chunks`` ((H, C) bool; only zswap entries of memcgs with
    ``memory.zswap.writeback = 1`` count) through the proactive writeback walk: each is decompressed
    into the swap cache, its entry freed, its write queued on the device. Returns chunks written back
    per (H, M)."""
    st, lay = sim.state, sim.layout
    chosen = np.asarray(chunks, dtype=bool) & (st.loc == Loc.ZSWAP) & st.zswap_writeback[:, lay.owner]
    if not np.count_nonzero(chosen):
        return np.zeros((sim.num_hosts, sim.num_memcgs))
    request = count_per_memcg(chosen, lay) * float(sim.cfg.host.chunk_bytes)
    saved_store = st.zswap_store_s[chosen]
    saved_referenced = st.referenced[chosen]
    site = _site("round_writeback_proactive")
    saved_residual = st.rounding_residual[:, site, :].copy()
    st.zswap_store_s[chosen] = FAR_PAST_S
    st.referenced[chosen] = False
    try:
        written_bytes = sim.zswap_proactive_writeback(request, min_age_s=AGE_GATE_S)
    finally:
        still = st.loc[chosen] == Loc.ZSWAP  # not written (none, unless the walk changes): restore
        if np.count_nonzero(still):
            rows, cols = np.nonzero(chosen)
            st.zswap_store_s[rows[still], cols[still]] = saved_store[still]
            st.referenced[rows[still], cols[still]] = saved_referenced[still]
        st.rounding_residual[:, site, :] = saved_residual
    return written_bytes / sim.cfg.host.chunk_bytes


def place_chunks(sim: Simulator, to_zswap: np.ndarray, to_swap: np.ndarray) -> dict[str, np.ndarray]:
    """Move chunks to their chosen tier: ``to_swap`` ((H, C) bool) to the swap device, ``to_zswap``
    to zswap (zero-filled ones to the swap map). Resident chunks bound for swap go the kernel's way,
    stored in zswap and written back at once (compression, decompression and the write all paid).

    Order: zswap entries bound for swap are written back first and resident chunks bound for swap
    pass through zswap next, both freeing or only briefly using pool room, before the chunks bound
    for zswap are stored. Returns chunks moved per (H, M): ``written_back`` (from zswap and via it)
    and ``stored`` (resident chunks taken off the LRU, whatever the tier they reached).
    """
    st = sim.state
    to_zswap = np.asarray(to_zswap, dtype=bool)
    to_swap = np.asarray(to_swap, dtype=bool)
    if np.count_nonzero(to_zswap & to_swap):
        raise ValueError("place_chunks: a chunk is marked for both zswap and swap")
    written = writeback_chunks(sim, to_swap & (st.loc == Loc.ZSWAP))
    via_zswap = to_swap & (st.loc == Loc.RESIDENT)
    stored = store_chunks(sim, via_zswap)
    written = written + writeback_chunks(sim, via_zswap & (st.loc == Loc.ZSWAP))
    stored = stored + store_chunks(sim, to_zswap)
    return {"stored": stored, "written_back": written}
