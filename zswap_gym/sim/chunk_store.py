"""The chunk store: the state's chunk arrays, their per-(location, host, memcg) tally, and the
primitives every mechanism moves chunks with.

A chunk is ``chunk_pages`` pages of one memcg that are accessed, reclaimed, stored, written back and
refaulted together; its location (:class:`~.state.Loc`) says where those pages are. The tally counts
chunks per (location, host, memcg) and sums the stored chunks' zswap and zpool bytes, kept up to date
by :meth:`ChunkStore.set_loc` (exact: whole numbers and float64 sums of float32 sizes), so the
gauges never rescan the chunks. Mechanism modules take a :class:`ChunkStore`; none reaches into the
simulator.
"""

from __future__ import annotations

import numpy as np

from .config import HostConfig
from .gauges import Gauges
from .lru import ChunkLayout, flat_nonzero
from .state import ROUNDING_SITES, Loc, SimState, StepTallies

_ZSWAP_BYTES, _ZPOOL_BYTES = Loc.COUNT, Loc.COUNT + 1
"""Rows of the tally after the Loc.COUNT location counts: zswap and zpool bytes per page."""
_ROUNDING_INDEX = {name: i for i, name in enumerate(ROUNDING_SITES)}


class ChunkStore:
    """The chunks of ``state`` laid out by ``layout`` on hosts configured by ``host``.

    Derived from the state alone (make a new one when the state is replaced); its caches (the
    tally, the gauges) are rebuilt from the chunk arrays on demand.
    """

    def __init__(self, state: SimState, host: HostConfig, layout: ChunkLayout) -> None:
        self.state = state
        self.host = host
        self.layout = layout
        self.num_hosts, self.num_memcgs = state.num_hosts, layout.num_memcgs
        self.memcg_keys = layout.memcg_keys(self.num_hosts)
        """(H * C,) flat (host, memcg) index of every chunk."""
        # Where location ``loc`` starts in the (Loc.COUNT, H * M) chunk counts.
        self._loc_offset = np.arange(Loc.COUNT, dtype=np.int64) * (self.num_hosts * self.num_memcgs)
        self.max_pool_bytes = host.dram_bytes * host.zswap.max_pool_percent / 100.0
        """The global pool limit (``max_pool_percent`` of RAM), bytes."""
        self._tally: np.ndarray | None = None
        self._gauges: Gauges | None = None

    @property
    def tallies(self) -> StepTallies:
        """What the step in progress has done so far."""
        return self.state.tallies

    @property
    def now_f32(self) -> np.ndarray:
        """Each host's clock as a float32 column (H, 1), to broadcast against chunk arrays."""
        return self.state.now_s.astype(np.float32)[:, None]

    def stamp_now(self, times: np.ndarray, mask: np.ndarray) -> None:
        """Set ``times`` (H, C) to each host's current time where ``mask``."""
        np.copyto(times, np.broadcast_to(self.now_f32, times.shape), where=mask)

    def invalidate(self) -> None:
        """Recount the tally from the chunk arrays next time (after editing them directly)."""
        self._tally = None
        self._gauges = None

    def set_loc(self, sel, new: int, from_loc: int | np.ndarray | None = None) -> None:
        """Move chunks (a mask, (rows, cols), or flat indices) to location ``new``, keeping the tally
        up to date. ``from_loc``: where every chunk of ``sel`` is now (one location), or where each
        one is (an array, one per chunk in flat-index order), when the caller knows it (saves reading
        each chunk's old location)."""
        st = self.state
        if isinstance(sel, tuple):
            flat = sel[0] * st.loc.shape[1] + sel[1]
        elif sel.dtype == bool:
            flat = flat_nonzero(sel)
        else:
            flat = sel  # flat chunk indices
        if flat.size == 0:
            return
        locf = st.loc.reshape(-1)
        tally = self._tally
        if tally is not None:
            cnt = tally[: Loc.COUNT]  # (Loc.COUNT, H * M) chunks per location
            g = self.memcg_keys[flat]
            if from_loc is None or isinstance(from_loc, np.ndarray):
                old = locf[flat] if from_loc is None else from_loc
                cnt[new] += np.bincount(g, minlength=cnt.shape[1])
                cnt -= np.bincount(g + self._loc_offset[old], minlength=cnt.size).reshape(cnt.shape)
                move = (old != Loc.ZSWAP) if new == Loc.ZSWAP else (old == Loc.ZSWAP)
                moved = new == Loc.ZSWAP or np.count_nonzero(move)
                if moved:
                    f, g = flat[move], g[move]
            else:
                per_memcg = np.bincount(g, minlength=cnt.shape[1])
                cnt[new] += per_memcg
                cnt[from_loc] -= per_memcg
                f, moved = flat, Loc.ZSWAP in (new, from_loc) and new != from_loc
            if moved:
                # Entries stored add their sizes, entries leaving zswap subtract them (x + -y is x - y).
                change = np.add if new == Loc.ZSWAP else np.subtract
                zb, zp = tally[_ZSWAP_BYTES], tally[_ZPOOL_BYTES]
                change(zb, np.bincount(g, weights=st.compressed_bytes.reshape(-1)[f], minlength=zb.size), out=zb)
                change(zp, np.bincount(g, weights=st.zpool_bytes.reshape(-1)[f], minlength=zp.size), out=zp)
        locf[flat] = new
        self._gauges = None

    def complete_all_writeback(self) -> None:
        """Every chunk under writeback completes (``end_page_writeback()``): WRITEBACK -> SWAP, the
        tally moved wholesale (what :meth:`set_loc` does chunk by chunk)."""
        locf = self.state.loc.reshape(-1)
        locf[flat_nonzero(locf == Loc.WRITEBACK)] = Loc.SWAP
        if self._tally is not None:
            self._tally[Loc.SWAP] += self._tally[Loc.WRITEBACK]
            self._tally[Loc.WRITEBACK] = 0.0
        self._gauges = None

    def _count(self) -> np.ndarray:
        """The tally (Loc.COUNT + 2, H * M), float64 (whole numbers, exact): chunks per location, then
        the per-page zswap bytes and zpool bytes summed over the stored chunks."""
        st, h, m = self.state, self.num_hosts, self.num_memcgs
        keys = self.memcg_keys + self._loc_offset[st.loc.ravel()]
        n = Loc.COUNT * h * m
        zb = np.bincount(keys, weights=st.compressed_bytes.ravel(), minlength=n).reshape(Loc.COUNT, h * m)
        zp = np.bincount(keys, weights=st.zpool_bytes.ravel(), minlength=n).reshape(Loc.COUNT, h * m)
        tally = np.empty((Loc.COUNT + 2, h * m))
        tally[: Loc.COUNT] = np.bincount(keys, minlength=n).reshape(Loc.COUNT, h * m)
        tally[_ZSWAP_BYTES], tally[_ZPOOL_BYTES] = zb[Loc.ZSWAP], zp[Loc.ZSWAP]
        return tally

    def chunk_counts(self) -> np.ndarray:
        """Chunks per (location, host, memcg), (Loc.COUNT, H, M) float64 whole numbers: the live tally
        behind the gauges (read it, never write it)."""
        if self._tally is None:
            self._tally = self._count()
        return self._tally[: Loc.COUNT].reshape(Loc.COUNT, self.num_hosts, self.num_memcgs)

    def gauges(self) -> Gauges:
        """Current sizes per memcg and host (cached until the next move)."""
        if self._gauges is not None:
            return self._gauges
        if self._tally is None:
            self._tally = self._count()
        sizes = self._tally.reshape(Loc.COUNT + 2, self.num_hosts, self.num_memcgs) * float(self.host.chunk_pages)
        self._gauges = Gauges(sizes[: Loc.COUNT], sizes[_ZSWAP_BYTES], sizes[_ZPOOL_BYTES], self.host)
        return self._gauges

    def round_chunks(self, chunks: np.ndarray, site: str) -> np.ndarray:
        """Whole chunks for (H, M) — or (H,) — chunk amounts, by error diffusion: each (host, memcg,
        ``site``) carries the fraction it rounded away into its next amount, so requests smaller
        than a chunk are honoured exactly on average whatever the chunk size (and a whole amount
        is never changed)."""
        # Callers pass finite amounts (requests are checked on the way in); amounts beyond any
        # host's size are capped so the integer cast cannot overflow.
        x = np.minimum(np.maximum(chunks, 0.0), 2.0**52)
        j = _ROUNDING_INDEX[site]
        residual = self.state.rounding_residual[:, j, 0] if x.ndim == 1 else self.state.rounding_residual[:, j, :]
        x += residual
        whole = np.floor(x)
        residual[...] = x - whole
        return whole.astype(np.int64)

    def lru_push_tail(self, chunks: np.ndarray) -> None:
        """Put ``chunks`` at the young end of their list (the zswap LRU or the write queue), in the
        order given: ``list_lru_add()``, or ``LRU_ROTATE`` for a walk's rotated entries. ``chunks``
        is a mask, or flat chunk indices sorted by host. Positions stay dense per host."""
        st = self.state
        idx = chunks if chunks.dtype != bool else flat_nonzero(chunks)
        seq = st.lru_seq.reshape(-1)
        position = np.arange(1, idx.size + 1, dtype=np.float64)  # 1, 2, ... in the order given
        if self.num_hosts == 1:
            seq[idx] = st.lru_tail[0] + position
            st.lru_tail += idx.size
            return
        rows = idx // st.lru_seq.shape[1]
        per_host = np.bincount(rows, minlength=st.lru_tail.size)
        first = np.add.accumulate(per_host) - per_host  # where each host's chunks start in ``idx``
        # Host h's chunks go to tail_h + 1, tail_h + 2, ... (whole numbers: exact in any order).
        seq[idx] = (st.lru_tail - first)[rows] + position
        st.lru_tail += per_host

    def submit_writes(self, pages: np.ndarray) -> None:
        """Queue asynchronous writes of ``pages`` (H,) on each host's swap device."""
        self.state.device_backlog_pages += pages
        self.state.tallies.write_pages_submitted += pages

    def per_memcg(self, flat: np.ndarray, pages: float = 1.0) -> np.ndarray:
        """How many of the chunks ``flat`` (flat indices) each (host, memcg) has, times ``pages``,
        (H, M) float64."""
        counts = np.bincount(self.memcg_keys[flat], minlength=self.num_hosts * self.num_memcgs)
        return counts.reshape(self.num_hosts, self.num_memcgs) * pages
