"""``noop``: the kernel alone — no proactive reclaim, no proactive writeback.

Memory leaves DRAM only through the kernel's reactive paths: ``memory.high`` and ``memory.max``
reclaim, kswapd and direct reclaim under host memory pressure, and the zswap pool's own limits.
This is the leaderboard's lower anchor (score 0).
"""

from __future__ import annotations

from zswap_gym.cgroup import CgroupFiles
from zswap_gym.policy import CgroupController


class NoopController(CgroupController):
    """The kernel alone: reads nothing, writes nothing (reactive limits only)."""

    name = "noop"
    source = "Linux kernel defaults (no userspace controller)"

    def control(self, fs: CgroupFiles, now_s: float) -> None:
        """Do nothing: the kernel's reactive reclaim is all that runs."""
