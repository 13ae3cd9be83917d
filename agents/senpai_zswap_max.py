"""``senpai-zswap-max``: Senpai plus a static ``memory.zswap.max`` — the second-level offloading
approach the seed thread argues against.

Source: shared/seed/zswap-proactive-writeback-thread.txt. Yosry Ahmed: "if we do need to minimize
the compressed memory and force higher writeback rates, we can do so with memory.zswap.max, right?";
Hao Jia's reply lists why it is not enough, and this baseline exists to show those reasons on the
simulator:

1. "Writing memory.zswap.max itself does not trigger any writeback immediately ... in steady state
   nothing drives the zswap_store() -> shrink_memcg() path": the limit writes back only when the
   memcg stores; a memcg whose zswap is already over the limit and that stores nothing keeps it.
2. "each over-limit event can write back at most NR_NODES entries": while over the limit, every
   store writes back at most ``nr_nodes`` entries and is itself stored, so residency converges only
   through refaults, at best ``nr_nodes`` entries per store. A store whose one-entry walk meets a
   referenced entry (second chance: rotated, not written) is rejected and its page goes straight to
   disk, so on a memcg full of old entries the limit sends the *newly* reclaimed pages to the SSD
   while the twice-cold entries stay in zswap.
3. "memory.zswap.max is a stateful interface. If the userspace reclaimer crashes ... it may leave
   memory.zswap.max at some set value": the limit written here is never undone; it keeps acting
   after the controller stops.
4. (Nhat Pham) a limit other than 0 or max makes every store pay a forced stats flush (CPU).

First level: :class:`~agents.senpai_tmo.SenpaiTMO` (TMO paper rule on ``memory.reclaim``), unchanged.
Second level: at ``set_at_s`` (default 0, the first control call) write, once, per target memcg,
``memory.zswap.max = zswap_max_share * memory.current`` (or ``zswap_max_bytes`` if given), rounded
down to 4 KiB. The limit is static: never raised, lowered or reset (the kernel default is ``max``).

Choice of default (the sources give none): ``zswap_max_share`` = 0.02, 2 % of the memcg's
``memory.current`` when the limit is written, on compressed bytes. Under plain Senpai-TMO on the
``default`` scenario, zswap grows to about 7 % of ``memory.current`` (compressed) in an hour, so a
2 % limit binds within the first half hour and from then on every store writes back or goes to disk
(about 0.5 MB/s of SSD writes over the hour on ``default``, under TMO's ~1 MB/s budget). On a steady-state memcg whose
zswap is already large (``twice-cold-zswap``) the same limit is far below its residency: the seed
thread's convergence case.
"""

from __future__ import annotations

from typing import Any

from zswap_gym.cgroup import PAGE_SIZE, CgroupFiles

from .cgroup_io import memory_current, target_memcgs
from .senpai_tmo import SenpaiTMO


class SenpaiZswapMax(SenpaiTMO):
    """Senpai (TMO rule) plus a static ``memory.zswap.max`` of 2 % of ``memory.current``, written once.

    Args:
        zswap_max_share: the limit on compressed bytes as a share of ``memory.current`` when written.
        zswap_max_bytes: an absolute limit in bytes instead of the share (``None``: use the share).
        set_at_s: simulated time at which the limit is written, s (0: at the first call).
        **senpai: Senpai's ``interval_s``, ``reclaim_ratio``, ``psi_threshold_percent``, ``psi_window``,
            ``memcgs``, as in
            :class:`~agents.senpai_tmo.SenpaiTMO` (6 s, 0.0005, 0.1 %, ``"interval"``, all memcgs).
    """

    name = "senpai-zswap-max"
    source = (
        "Senpai (Weiner et al., TMO, ASPLOS'22) plus a static memory.zswap.max, as proposed and argued "
        "against in the seed LKML thread (Yosry Ahmed / Hao Jia / Nhat Pham, May 2026)"
    )

    def __init__(
        self,
        *,
        zswap_max_share: float = 0.02,
        zswap_max_bytes: int | None = None,
        set_at_s: float = 0.0,
        **senpai: Any,
    ) -> None:
        super().__init__(**senpai)
        if not 0 <= zswap_max_share <= 1:
            raise ValueError(f"zswap_max_share = {zswap_max_share!r}: must be in [0, 1]")
        if zswap_max_bytes is not None and zswap_max_bytes < 0:
            raise ValueError(f"zswap_max_bytes = {zswap_max_bytes!r}: must be >= 0 bytes")
        self.zswap_max_share = float(zswap_max_share)
        self.zswap_max_bytes = None if zswap_max_bytes is None else int(zswap_max_bytes)
        self.set_at_s = float(set_at_s)
        self._limits: dict[str, int] = {}

    def reset(self, fs: CgroupFiles, step_s: float) -> None:
        super().reset(fs, step_s)
        self._limits = {}

    @property
    def limits_written(self) -> dict[str, int]:
        """The ``memory.zswap.max`` written per memcg, bytes (empty until ``set_at_s``)."""
        return dict(self._limits)

    def control(self, fs: CgroupFiles, now_s: float) -> None:
        """Write the static limits once ``set_at_s`` is reached (before that round's reclaim), then
        run Senpai."""
        if not self._limits and now_s + 1e-9 >= self.set_at_s:
            for memcg in target_memcgs(fs, self.memcgs):
                if self.zswap_max_bytes is not None:
                    value = self.zswap_max_bytes
                else:
                    value = int(self.zswap_max_share * memory_current(fs, memcg))
                value &= ~(PAGE_SIZE - 1)
                fs.write(f"{memcg}/memory.zswap.max", str(value))
                self._limits[memcg] = value
        super().control(fs, now_s)
