"""``senpai-tmo``: Senpai as the TMO paper states its rule, on ``memory.reclaim``.

Source: Weiner et al., "TMO: Transparent Memory Offloading in Datacenters", ASPLOS'22, §4 (Senpai):
every ``interval_s`` = 6 s, for each container,

    reclaim = memory.current * reclaim_ratio * max(0, 1 - psi_some / psi_threshold)

with ``reclaim_ratio`` = 0.0005 and ``psi_threshold`` = 0.1 %, written to ``memory.reclaim``
(docs/calibration.md, "Controllers"). The reclaim is stateless: no limit is left behind, and the kernel
picks the coldest pages (into zswap, or to the swap device when zswap rejects them). The same
``memory.reclaim`` path and the 6 s interval are what ``facebookincubator/oomd``'s
``plugins/Senpai.cpp`` uses when ``memory.reclaim`` exists (``interval`` = 6 ticks of 1 s); its
immediate-backoff rule is :mod:`agents.senpai_oomd`.

Choices where the paper is silent:

* ``psi_some`` is the memcg's PSI memory ``some`` over the time since the controller last acted:
  the growth of ``total`` (microseconds) in ``memory.pressure`` divided by the elapsed time, in
  percent (``psi_window="interval"``, the default). On the first decision, with no earlier
  ``total``, ``avg10`` stands in. ``psi_window="avg10"`` uses ``avg10`` throughout.
* The env calls :meth:`~SenpaiTMO.control` once per 10 s step, so the controller acts once per
  call and multiplies the amount by the number of its 6 s periods that began since it last acted
  (:meth:`~zswap_gym.policy.CgroupController.periods_due`: alternately 2 and 1 with 10 s steps,
  10/6 on average), with one PSI reading over the whole elapsed time. On a real host with
  ``control`` called every 6 s this is exactly the paper's rule.
* Every memcg of the host is a Senpai target (``memcgs=None``), sidecars included, as TMO ran
  Senpai on every container; pass names to restrict it.
* A short reclaim (``-EAGAIN``) is not an error: what was reclaimed stays reclaimed (oomd likewise
  ignores the short write).

:class:`SenpaiTMO` is also the base of the Senpai variants in this package (``senpai-zswap-max``,
``senpai-age-writeback``, ``shrinker``): they add their second-level (zswap -> disk) mechanism in
:meth:`SenpaiTMO.after_reclaim` and the first-level rule stays this one.
"""

from __future__ import annotations

from collections.abc import Sequence

from zswap_gym.cgroup import CgroupFiles
from zswap_gym.policy import CgroupController

from .cgroup_io import memory_current, memory_pressure, target_memcgs, write_reclaim

PSI_WINDOWS = ("interval", "avg10")


class PsiMeter:
    """PSI memory ``some`` of one memcg over the time between two readings, percent of wall time.

    Reads ``memory.pressure``; the first reading (no earlier ``total``) returns ``avg10``."""

    def __init__(self) -> None:
        self._last: dict[str, tuple[float, float]] = {}

    def reset(self) -> None:
        self._last.clear()

    def some_percent(self, fs: CgroupFiles, memcg: str, now_s: float, window: str = "interval") -> float:
        """PSI some (%) of ``memcg`` at ``now_s`` (s): over the interval since the last call, or avg10."""
        psi = memory_pressure(fs, memcg)["some"]
        total_us = float(psi["total"])
        last = self._last.get(memcg)
        self._last[memcg] = (now_s, total_us)
        if window == "avg10" or last is None or now_s <= last[0]:
            return float(psi["avg10"])
        elapsed_us = (now_s - last[0]) * 1e6
        return 100.0 * max(total_us - last[1], 0.0) / elapsed_us


class SenpaiTMO(CgroupController):
    """Senpai (TMO paper): every 6 s reclaim ``memory.current * 0.0005 * max(0, 1 - psi_some / 0.1 %)``.

    Args:
        interval_s: Senpai's period, s (TMO / oomd: 6).
        reclaim_ratio: share of ``memory.current`` reclaimed per period at zero pressure (TMO: 0.0005).
        psi_threshold_percent: PSI memory ``some`` target, % of wall time (TMO: 0.1); at or above it
            nothing is reclaimed.
        psi_window: ``"interval"`` (stall-time growth since the last decision) or ``"avg10"``.
        memcgs: names of the memcgs to drive; ``None`` for every memcg of the host.
    """

    name = "senpai-tmo"
    source = (
        "Weiner et al., TMO, ASPLOS'22 (Senpai: reclaim = current * 0.0005 * max(0, 1 - PSI_some/0.1%) "
        "every 6 s via memory.reclaim); facebookincubator/oomd plugins/Senpai.cpp (interval 6)"
    )

    def __init__(
        self,
        *,
        interval_s: float = 6.0,
        reclaim_ratio: float = 0.0005,
        psi_threshold_percent: float = 0.1,
        psi_window: str = "interval",
        memcgs: Sequence[str] | None = None,
    ) -> None:
        if interval_s <= 0:
            raise ValueError(f"interval_s = {interval_s!r}: must be > 0 seconds")
        if not 0 <= reclaim_ratio <= 1:
            raise ValueError(f"reclaim_ratio = {reclaim_ratio!r}: must be in [0, 1]")
        if psi_threshold_percent <= 0:
            raise ValueError(f"psi_threshold_percent = {psi_threshold_percent!r}: must be > 0")
        if psi_window not in PSI_WINDOWS:
            raise ValueError(f"psi_window = {psi_window!r}: must be one of {PSI_WINDOWS}")
        self.interval_s = float(interval_s)
        self.reclaim_ratio = float(reclaim_ratio)
        self.psi_threshold_percent = float(psi_threshold_percent)
        self.psi_window = psi_window
        self.memcgs = list(memcgs) if memcgs is not None else None
        self._psi = PsiMeter()
        self._last_psi: dict[str, float] = {}

    def reset(self, fs: CgroupFiles, step_s: float) -> None:
        super().reset(fs, step_s)
        self._psi.reset()
        self._last_psi = {}

    def last_psi_percent(self, memcg: str) -> float:
        """The PSI some (%) of ``memcg`` that Senpai's last decision used (0 before the first)."""
        return self._last_psi.get(memcg, 0.0)

    def reclaim_bytes(self, current_bytes: float, psi_some_percent: float, periods: int = 1) -> float:
        """The TMO rule: bytes to reclaim for ``periods`` periods of a memcg at ``current_bytes``
        (``memory.current``, bytes) under PSI some ``psi_some_percent`` (%)."""
        scale = max(0.0, 1.0 - psi_some_percent / self.psi_threshold_percent)
        return current_bytes * self.reclaim_ratio * scale * periods

    def control(self, fs: CgroupFiles, now_s: float) -> None:
        """Once per call, if a 6 s period began: reclaim by the TMO rule from every target memcg,
        then run the variant's second-level step (:meth:`after_reclaim`)."""
        periods = self.periods_due("senpai", now_s, self.interval_s)
        if periods == 0:
            return
        for memcg in target_memcgs(fs, self.memcgs):
            psi = self._psi.some_percent(fs, memcg, now_s, self.psi_window)
            self._last_psi[memcg] = psi
            amount = self.reclaim_bytes(memory_current(fs, memcg), psi, periods)
            write_reclaim(fs, memcg, amount)
        self.after_reclaim(fs, now_s)

    def after_reclaim(self, fs: CgroupFiles, now_s: float) -> None:
        """What a Senpai variant does after each round of reclaim (nothing in plain Senpai)."""
