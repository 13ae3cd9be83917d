"""``shrinker``: Senpai with the kernel's zswap shrinker enabled (second chance) as the only path from
zswap to disk.

Source: mm/zswap.c (``zswap_shrinker_count()`` / ``zswap_shrinker_scan()``, the memcg-aware zswap
shrinker, Nhat Pham 2024, with the second-chance referenced bit) and mm/vmscan.c
(``do_shrink_slab()``: ``delta = (freeable >> priority) * 4 / seeks``); ``shrinker_enabled`` defaults
to N (docs/calibration.md, "Kernel constants"). The patch reports -58 to -64 % swap-ins and -7 to -10 %
wall time on a kernel build (docs/calibration.md, "Published outcomes"). The seed thread is the argument about
it: "Echo-ing to memory.reclaim should also offload some zswap entries, correct?" (Nhat Pham) and
"Even when memory.reclaim is running, the fraction of zswap residency that ends up reaching the
backing swap device is still very small ... we prefer to leave the zswap shrinker disabled" (Hao Jia).

Rule:

* first level: :class:`~agents.senpai_tmo.SenpaiTMO` (TMO paper rule on ``memory.reclaim``), unchanged;
* second level: the kernel's. At the start of the episode (and again if it finds it off) the
  controller writes ``Y`` to ``/sys/module/zswap/parameters/shrinker_enabled``; from then on every
  reclaim (Senpai's ``memory.reclaim``, ``memory.high``, kswapd) also scans the zswap LRU and writes
  back entries on their second encounter. No proactive writeback is written, ``memory.zswap.max`` is
  left at ``max`` and ``memory.zswap.writeback`` at its value (1 by default; 0 would disable every
  path to disk, the shrinker's included).

Choices: none beyond Senpai's (see :mod:`agents.senpai_tmo`); the shrinker is host-wide, so enabling
it affects every memcg, as on a real host.
"""

from __future__ import annotations

from zswap_gym.cgroup import SHRINKER_ENABLED_PATH, CgroupFiles

from .senpai_tmo import SenpaiTMO


class SenpaiShrinker(SenpaiTMO):
    """Senpai (TMO rule) with ``/sys/module/zswap/parameters/shrinker_enabled = Y``: the zswap shrinker
    (second chance) is the only proactive path from zswap to disk.

    Args:
        interval_s, reclaim_ratio, psi_threshold_percent, psi_window, memcgs: Senpai's, as in
            :class:`~agents.senpai_tmo.SenpaiTMO` (6 s, 0.0005, 0.1 %, ``"interval"``, all memcgs).
    """

    name = "shrinker"
    source = (
        "Senpai (Weiner et al., TMO, ASPLOS'22) with the memcg-aware zswap shrinker enabled "
        "(mm/zswap.c zswap_shrinker_scan, second chance; shrinker_enabled=Y)"
    )

    @staticmethod
    def ensure_shrinker(fs: CgroupFiles) -> None:
        """Write ``Y`` to ``shrinker_enabled`` unless it already reads ``Y``."""
        if fs.read(SHRINKER_ENABLED_PATH).strip() != "Y":
            fs.write(SHRINKER_ENABLED_PATH, "Y")

    def reset(self, fs: CgroupFiles, step_s: float) -> None:
        super().reset(fs, step_s)
        self.ensure_shrinker(fs)

    def control(self, fs: CgroupFiles, now_s: float) -> None:
        """Keep the shrinker on, then run Senpai (its reclaims drive the shrinker)."""
        self.ensure_shrinker(fs)
        super().control(fs, now_s)
