"""Point-in-time sizes derived from the chunk store: what ``memory.current``, ``memory.stat``'s
``zswap``/``zswapped``, ``memory.swap.current`` and ``/proc/meminfo`` report.

Every size is (H, M) pages or bytes, or (H,) for ``*_host``; each is computed on first read from the
per-(location, host, memcg) tally (:meth:`~.chunk_store.ChunkStore.chunk_counts`).
"""

from __future__ import annotations

import numpy as np

from .config import HostConfig
from .state import Loc
from .units import PAGE_SIZE


class _lazy:
    """A field computed on first read and then stored on the instance (``functools.cached_property``
    without its lock, which costs more than the small arrays it computes)."""

    def __init__(self, compute) -> None:
        self.compute = compute

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        value = obj.__dict__[self.name] = self.compute(obj)
        return value


class Gauges:
    """Sizes per memcg, (H, M) pages or bytes; (H,) for ``*_host``. Computed on first use (most
    callers read one or two of them)."""

    FIELDS = (
        "resident_pages",
        "zswap_pages",
        "swap_pages",
        "zero_pages",
        "writeback_pages",
        "footprint_pages",
        "zswap_bytes",
        "zpool_bytes",
        "memory_current",
        "swap_slot_pages",
        "dram_bytes",
        "pool_bytes_host",
        "dram_used_host",
    )

    def __init__(self, counts: np.ndarray, zswap_bytes: np.ndarray, zpool_bytes: np.ndarray, host: HostConfig):
        self._counts = counts  # (Loc.COUNT, H, M) pages per location
        self.zswap_bytes = zswap_bytes
        """memory.stat ``zswap``: compressed bytes charged to the memcg."""
        self.zpool_bytes = zpool_bytes
        """zsmalloc bytes the memcg's entries occupy in the pool."""
        self._host = host

    resident_pages = _lazy(lambda self: self._counts[Loc.RESIDENT])
    zswap_pages = _lazy(lambda self: self._counts[Loc.ZSWAP])
    swap_pages = _lazy(lambda self: self._counts[Loc.SWAP])
    zero_pages = _lazy(lambda self: self._counts[Loc.SWAP_ZERO])
    writeback_pages = _lazy(lambda self: self._counts[Loc.WRITEBACK])

    @_lazy
    def footprint_pages(self) -> np.ndarray:
        # Every location but ABSENT (RESIDENT..WRITEBACK); whole pages, so the sum is exact in any order.
        return np.add.reduce(self._counts[Loc.RESIDENT :], axis=0)

    @_lazy
    def _in_dram(self) -> np.ndarray:
        # Resident pages and pages under writeback hold 4 KiB of DRAM each.
        return (self._counts[Loc.RESIDENT] + self._counts[Loc.WRITEBACK]) * PAGE_SIZE

    @_lazy
    def memory_current(self) -> np.ndarray:
        return self._in_dram + self.zswap_bytes

    @_lazy
    def swap_slot_pages(self) -> np.ndarray:
        # The locations holding a swap slot: ZSWAP, SWAP, SWAP_ZERO, WRITEBACK (whole pages, exact).
        return np.add.reduce(self._counts[Loc.ZSWAP :], axis=0)

    @_lazy
    def dram_bytes(self) -> np.ndarray:
        metadata = self._counts[Loc.ZSWAP] * self._host.zswap.entry_metadata_bytes  # per zswap entry
        return self._in_dram + self.zpool_bytes + metadata

    @_lazy
    def pool_bytes_host(self) -> np.ndarray:
        return np.add.reduce(self.zpool_bytes, axis=1)

    @_lazy
    def dram_used_host(self) -> np.ndarray:
        return np.add.reduce(self.dram_bytes, axis=1) + self._host.other_used_bytes

    def as_dict(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in self.FIELDS}
