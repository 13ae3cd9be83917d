"""``static-high``: a fixed ``memory.high`` below each tenant's peak, set once, nothing else.

The oldest way to squeeze a container: cap it with ``memory.high`` (cgroup v2's "main mechanism to
control memory usage", Documentation/admin-guide/cgroup-v2.rst) a little below what it uses, and let
the kernel's ``memory.high`` reclaim and throttling (mm/memcontrol.c: the allocating task reclaims the
overage, then sleeps by a penalty quadratic in it) push the rest out to zswap. The limit is static: it
follows neither the workload's cold share nor its pressure, which is why proactive controllers exist.

Through the cgroup interface: at :meth:`reset` read each memcg's ``memory.current`` (bytes, including
its zswap pool charge) and write ``memory.high = share x reference``, once. The reference is the
tenant's peak if given (``peak_bytes``), else ``memory.current`` at the start of the episode — the
peak for a steady tenant, below the peak for a growing one (a known peak is then the fairer choice).
"""

from __future__ import annotations

from collections.abc import Mapping

from zswap_gym.cgroup import PAGE_SIZE, CgroupFiles
from zswap_gym.policy import CgroupController

from .cgroup_io import memory_current


class StaticHighController(CgroupController):
    """Fixed ``memory.high`` = ``share`` x each memcg's peak (default: its memory.current at start).

    Args:
        share: ``memory.high`` as a share of the reference usage (0 < share <= 1; default 0.9).
        peak_bytes: known peak usage per memcg name, bytes; memcgs not named use memory.current at
            reset.
    """

    name = "static-high"
    source = "Documentation/admin-guide/cgroup-v2.rst (memory.high); mm/memcontrol.c memory.high throttling"

    def __init__(self, share: float = 0.9, peak_bytes: Mapping[str, float] | None = None) -> None:
        if not 0.0 < share <= 1.0:
            raise ValueError(f"share = {share!r}: must be in (0, 1]")
        self.share = float(share)
        self.peak_bytes = dict(peak_bytes) if peak_bytes else None
        self._limits: dict[str, int] = {}

    @property
    def limits(self) -> dict[str, int]:
        """The ``memory.high`` written per memcg at the last reset, bytes."""
        return dict(self._limits)

    def reset(self, fs: CgroupFiles, step_s: float) -> None:
        """Write ``memory.high`` once for every memcg (page-aligned, bytes)."""
        super().reset(fs, step_s)
        self._limits = {}
        for memcg in fs.memcgs():
            reference = (self.peak_bytes or {}).get(memcg)
            if reference is None:
                reference = memory_current(fs, memcg)
            limit = max(int(self.share * float(reference)) // PAGE_SIZE * PAGE_SIZE, PAGE_SIZE)
            fs.write(f"{memcg}/memory.high", str(limit))
            self._limits[memcg] = limit

    def control(self, fs: CgroupFiles, now_s: float) -> None:
        """Nothing: the kernel's memory.high reclaim and throttling do the rest."""
