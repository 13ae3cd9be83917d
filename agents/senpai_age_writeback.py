"""``senpai-age-writeback``: Senpai plus proactive writeback of zswap entries older than an age
threshold — the seed thread's proposal (second-level offloading of "twice cold" memory).

Source: shared/seed/zswap-proactive-writeback-thread.txt (Hao Jia, "[PATCH 2/3] mm/zswap: Implement
proactive writeback", May 2026): "Our deployment runs a userspace proactive reclaimer that drives
memory.reclaim ... That first stage compresses cold anon pages into zswap. Entries that then remain in
zswap past a policy-defined age threshold are considered 'twice cold', and the reclaimer wants to
write them back to the backing swap device at a moment of its own choosing"; "we prefer to leave the
zswap shrinker disabled, decouple LRU -> zswap from zswap -> swap". Interfaces (docs/calibration.md,
"Controllers"): v1 ``memory.zswap.proactive_writeback "[max=<bytes>] <age_seconds>"``; v5
``memory.reclaim "<bytes> source=zswap"``; both respect the second-chance bit and may write back less
than asked. TMO (Weiner et al., ASPLOS'22) held SSD writes near 1 MB/s per host for endurance.

Rule:

* first level: :class:`~agents.senpai_tmo.SenpaiTMO` (TMO paper rule on ``memory.reclaim``), unchanged;
* second level: every ``writeback_interval_s`` (60 s), for each target memcg with entries in zswap,
  write
  ``memory.zswap.proactive_writeback "max=<budget> <age_threshold_s>"``: write back entries stored at
  least ``age_threshold_s`` ago, at most ``budget = write_budget_bytes_per_s * elapsed`` bytes
  (original size, which is what reaches the SSD), shared between the memcgs in proportion to their
  ``memory.stat`` ``zswapped`` (so a small memcg does not strand its share of the budget).
  A short writeback (``-EAGAIN``: fewer old entries, or some rotated by the second chance) is not an
  error; what was written stays written.
* ``form="reclaim"`` uses the v5 interface instead (``memory.reclaim "<budget> source=zswap"``): no
  age threshold, the second chance alone decides (entries not touched since the last pass).

Choices where the sources are silent (the thread's threshold is "policy-defined"):

* ``age_threshold_s`` = 1800 s (30 min). Long enough that an entry is twice cold: it was cold when
  reclaimed (Senpai reclaims the LRU's cold end) and then untouched in zswap for 30 more minutes,
  15x Google's 120 s cold threshold (ASPLOS'19); short enough that entries Senpai stores early in a
  one-hour episode become eligible within it. The ``twice-cold-zswap`` scenario starts with what an
  earlier reclaimer stored hours to days ago, all past this age.
* ``write_budget_bytes_per_s`` = 1e6 (1 MB/s, TMO's per-host SSD write rate), split between memcgs.
* ``writeback_interval_s`` = 60 s: writes come in batches of at most 60 MB, not a stream.
* Writeback does not pause on pressure by default (``pause_on_pressure=False``): Senpai itself holds
  PSI near its 0.1 % target, so a gate at the same target would close about half the time whatever
  the entries' age; with ``pause_on_pressure=True`` a memcg whose PSI (the figure Senpai just used)
  is at or above the target skips that round.
"""

from __future__ import annotations

from typing import Any

from zswap_gym.cgroup import CgroupFiles, ReclaimShortError

from .cgroup_io import memory_stat, target_memcgs, write_reclaim
from .senpai_tmo import SenpaiTMO

FORMS = ("proactive_writeback", "reclaim")


class SenpaiAgeWriteback(SenpaiTMO):
    """Senpai (TMO rule) plus, every 60 s, proactive writeback of zswap entries stored >= 30 min ago,
    within an SSD write budget of 1 MB/s.

    Args:
        age_threshold_s: minimum time an entry has been in zswap to be written back, s (1800).
        write_budget_bytes_per_s: SSD write budget shared by the memcgs, bytes/s (1e6, TMO).
        writeback_interval_s: period of the writeback, s (60).
        form: ``"proactive_writeback"`` (v1 file with the age) or ``"reclaim"`` (v5
            ``memory.reclaim source=zswap``, no age).
        pause_on_pressure: skip a memcg's writeback while its PSI some is at or above Senpai's target
            (default off).
        **senpai: Senpai's ``interval_s``, ``reclaim_ratio``, ``psi_threshold_percent``, ``psi_window``,
            ``memcgs``, as in
            :class:`~agents.senpai_tmo.SenpaiTMO` (6 s, 0.0005, 0.1 %, ``"interval"``, all memcgs).
    """

    name = "senpai-age-writeback"
    source = (
        "Senpai (Weiner et al., TMO, ASPLOS'22) plus age-threshold proactive zswap writeback as proposed "
        "in the seed LKML thread (Hao Jia, memory.zswap.proactive_writeback, May 2026)"
    )

    def __init__(
        self,
        *,
        age_threshold_s: float = 1800.0,
        write_budget_bytes_per_s: float = 1e6,
        writeback_interval_s: float = 60.0,
        form: str = "proactive_writeback",
        pause_on_pressure: bool = False,
        **senpai: Any,
    ) -> None:
        super().__init__(**senpai)
        if age_threshold_s < 0:
            raise ValueError(f"age_threshold_s = {age_threshold_s!r}: must be >= 0 seconds")
        if write_budget_bytes_per_s < 0:
            raise ValueError(f"write_budget_bytes_per_s = {write_budget_bytes_per_s!r}: must be >= 0")
        if writeback_interval_s <= 0:
            raise ValueError(f"writeback_interval_s = {writeback_interval_s!r}: must be > 0 seconds")
        if form not in FORMS:
            raise ValueError(f"form = {form!r}: must be one of {FORMS}")
        self.age_threshold_s = float(age_threshold_s)
        self.write_budget_bytes_per_s = float(write_budget_bytes_per_s)
        self.writeback_interval_s = float(writeback_interval_s)
        self.form = form
        self.pause_on_pressure = bool(pause_on_pressure)

    def after_reclaim(self, fs: CgroupFiles, now_s: float) -> None:
        """Every ``writeback_interval_s``: write back old zswap entries within the SSD budget, shared
        between the memcgs in proportion to their ``zswapped`` bytes."""
        periods = self.periods_due("writeback", now_s, self.writeback_interval_s)
        if periods == 0:
            return
        stored: dict[str, float] = {}
        for memcg in target_memcgs(fs, self.memcgs):
            if self.pause_on_pressure and self.last_psi_percent(memcg) >= self.psi_threshold_percent:
                continue
            zswapped = float(memory_stat(fs, memcg).get("zswapped", 0))
            if zswapped > 0:
                stored[memcg] = zswapped
        total = sum(stored.values())
        budget = self.write_budget_bytes_per_s * self.writeback_interval_s * periods
        for memcg, zswapped in stored.items():
            amount = int(budget * zswapped / total) & ~4095
            if amount <= 0:
                continue
            if self.form == "reclaim":
                write_reclaim(fs, memcg, amount, "source=zswap")
                continue
            try:
                fs.write(f"{memcg}/memory.zswap.proactive_writeback", f"max={amount} {self.age_threshold_s:g}")
            except ReclaimShortError:
                pass  # fewer old entries than the budget, or some got their second chance
