"""``google-coldage``: Google's cold-age threshold controller for zswap far memory.

Source: Lagar-Cavilla et al., "Software-Defined Far Memory in Warehouse-Scale Computers", ASPLOS'19
(§4: cold page identification and the control of the cold age threshold; docs/calibration.md, Controllers).

The rule, per job (memcg):

* a page is **cold** once it has been untouched for the cold age threshold ``T`` (never below
  ``min_threshold_s`` = 120 s); cold pages are compressed into zswap (far memory);
* the SLO: the **promotion rate** (far-memory pages touched again, per minute) stays at or below
  ``slo_percent_per_min`` = 0.2 % of the **working set** — the pages accessed within the minimum
  threshold (120 s);
* every minute the node agent computes, from that minute's promotion histogram, the **best threshold
  of the minute**: the smallest ``T`` of a predefined set whose promotions would have met the SLO;
  it then sets ``T`` for the next minute to the **K-th percentile** of the history of best thresholds
  (K = 98 by default) — so ``T`` rises at once when promotions exceed the SLO, and falls only once a
  lower threshold has kept meeting it;
* far memory is off for the first ``S`` seconds of a job (``job_start_delay_s``).

How it is expressed through the cgroup interface (the same reads and writes on a real host):

* ages come from MGLRU's ``/sys/kernel/debug/lru_gen`` (:func:`~zswap_gym.cgroup.parse_lru_gen`,
  :func:`~zswap_gym.cgroup.idle_pages_at_least`) instead of Google's kstaled page-age scanner;
* "reclaim what is idle >= T" is: read lru_gen, compute the bytes idle >= T, write that to
  ``memory.reclaim``, which takes the longest-idle memory first (kreclaimd's job), every control
  interval (10 s);
* the paper's kernel keeps a per-threshold promotion histogram; here it is estimated each minute.
  At or above the current threshold (those pages are in far memory, where lru_gen no longer sees
  them) it is the promotions measured at the current threshold (``workingset_refault_anon`` delta:
  every refault from zswap or swap) scaled by ``T_cur / T`` — the touch rate of pages idle >= T falls
  as 1/T when access rates are spread log-uniformly, as the scenarios draw them. Below it, by default
  (``estimator="flux"``), it is the flux of resident pages across idle age T: pages per second of idle
  age at T (lru_gen density) x 60 s. In steady state the rate at which pages cross age T equals the
  rate at which pages idle >= T are touched again — exactly the promotions threshold T would cause —
  and it needs one snapshot. ``estimator="snapshot"`` is the direct count instead: pages idle >= T a
  minute ago that are not idle >= T+60 s now were touched (minus what reclaim took off the LRU
  meanwhile, the ``pgsteal`` delta), plus the measured promotions. On chunked simulated memory that
  difference of two interpolated lru_gen counts is noisier than the SLO itself (a few chunks a
  minute), so its per-minute best thresholds jump between 120 s and "off", and the 98th percentile
  of them switches far memory off; the flux estimate averages over a whole generation.

Choices where the paper is silent or tuned per fleet (its GP-Bandit autotuner tunes K and S): the
threshold set (:data:`THRESHOLDS_S`, 120 s to 4 h; above it far memory is off), K = 98, S = 0 (an
hour-long episode has no job start to protect: the controller still waits for two lru_gen snapshots a
minute apart before its first decision), and an unbounded history of best thresholds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from zswap_gym.cgroup import LRU_GEN_PATH, PAGE_SIZE, CgroupFiles, idle_pages_at_least, parse_lru_gen
from zswap_gym.policy import CgroupController

from .cgroup_io import memory_stat, write_reclaim

THRESHOLDS_S: tuple[float, ...] = (
    120.0,
    150.0,
    180.0,
    240.0,
    300.0,
    420.0,
    600.0,
    900.0,
    1200.0,
    1800.0,
    2700.0,
    3600.0,
    5400.0,
    7200.0,
    10800.0,
    14400.0,
)
"""The predefined cold age thresholds (s) the promotion histogram is kept for."""

Generations = list[tuple[int, float, int]]


def idle_age_density(generations: Generations, age_s: float, limit_s: float = math.inf, ratio: float = 2**0.5) -> float:
    """Resident pages per second of idle age around ``age_s`` (pages/s), from lru_gen generations.

    Averaged over ``[age_s / ratio, min(age_s * ratio, limit_s))`` (``limit_s``: the threshold in
    force, above which reclaim has removed the pages), as the generations are log-spaced."""
    lo = age_s / ratio
    hi = min(age_s * ratio, limit_s)
    if hi <= lo:
        return 0.0
    return max(idle_pages_at_least(generations, lo) - idle_pages_at_least(generations, hi), 0.0) / (hi - lo)


def best_threshold(promotions: Sequence[float], thresholds: Sequence[float], slo_pages: float) -> float:
    """The best threshold of one minute: the smallest ``thresholds[i]`` whose estimated promotions
    ``promotions[i]`` (pages in that minute) met the SLO (``<= slo_pages``); ``inf`` if none did."""
    for threshold, promoted in zip(thresholds, promotions, strict=True):
        if promoted <= slo_pages:
            return float(threshold)
    return math.inf


def percentile_threshold(history: Sequence[float], k: float) -> float:
    """The K-th percentile of the history of per-minute best thresholds (s; ``inf`` = off).

    The nearest-rank percentile (one of the thresholds seen, never an interpolation between two),
    rounded up: with fewer than 100 / (100 - K) minutes of history it is the history's maximum."""
    if not history:
        return math.inf
    values = np.sort(np.asarray(history, dtype=np.float64))
    rank = max(math.ceil(k / 100.0 * len(values)), 1)
    return float(values[min(rank, len(values)) - 1])


class GoogleColdAge(CgroupController):
    """Google's cold-age controller: reclaim pages idle >= T; each minute T = K-th percentile of the
    per-minute best thresholds under the 0.2 %/min promotion SLO (ASPLOS'19).

    Args:
        slo_percent_per_min: promotion SLO, % of the working set per minute (paper: 0.2).
        k_percentile: K, the percentile of the best-threshold history used as T (default 98).
        min_threshold_s: the smallest cold age threshold and the working-set window (paper: 120 s).
        thresholds_s: the predefined thresholds (s, ascending, none below ``min_threshold_s``).
        decision_period_s: how often T is recomputed (paper: every minute, 60 s).
        job_start_delay_s: S, far memory off for the first S seconds (default 0: see the module doc).
        estimator: how promotions below the current threshold are estimated: ``"flux"`` (default) from
            the idle-age density, or ``"snapshot"`` from two lru_gen snapshots a period apart.
    """

    name = "google-coldage"
    source = "Lagar-Cavilla et al., Software-Defined Far Memory in Warehouse-Scale Computers, ASPLOS'19"

    def __init__(
        self,
        slo_percent_per_min: float = 0.2,
        k_percentile: float = 98.0,
        min_threshold_s: float = 120.0,
        thresholds_s: Sequence[float] = THRESHOLDS_S,
        decision_period_s: float = 60.0,
        job_start_delay_s: float = 0.0,
        estimator: str = "flux",
    ) -> None:
        if estimator not in ("flux", "snapshot"):
            raise ValueError(f"estimator = {estimator!r}: 'flux' or 'snapshot'")
        if not 0.0 < k_percentile <= 100.0:
            raise ValueError(f"k_percentile = {k_percentile!r}: must be in (0, 100]")
        thresholds = tuple(float(t) for t in thresholds_s if t >= min_threshold_s)
        if not thresholds or list(thresholds) != sorted(thresholds):
            raise ValueError(f"thresholds_s = {thresholds_s!r}: ascending, at least one >= min_threshold_s")
        self.slo_percent_per_min = float(slo_percent_per_min)
        self.k_percentile = float(k_percentile)
        self.min_threshold_s = float(min_threshold_s)
        self.thresholds_s = thresholds
        self.decision_period_s = float(decision_period_s)
        self.job_start_delay_s = float(job_start_delay_s)
        self.estimator = estimator
        self._state: dict[str, _JobState] = {}

    # Read-only views for tests and plots (not parameters, so not in config()).
    def threshold_s(self, memcg: str) -> float:
        """The cold age threshold in force for ``memcg`` (s; ``inf`` = far memory off)."""
        return self._state[memcg].threshold if memcg in self._state else math.inf

    def best_history(self, memcg: str) -> list[float]:
        """The per-minute best thresholds seen so far for ``memcg`` (s)."""
        return list(self._state[memcg].history) if memcg in self._state else []

    def reset(self, fs: CgroupFiles, step_s: float) -> None:
        super().reset(fs, step_s)
        self._state = {memcg: _JobState() for memcg in fs.memcgs()}
        self._start_s: float | None = None

    def control(self, fs: CgroupFiles, now_s: float) -> None:
        """Each minute: update T per memcg; every call: reclaim what is idle >= T (oldest first)."""
        if self._start_s is None:
            self._start_s = now_s
        decide = self.periods_due("minute", now_s, self.decision_period_s) > 0
        generations = parse_lru_gen(fs.read(LRU_GEN_PATH))
        for memcg in fs.memcgs():
            gens = generations.get("/" + memcg, [])
            job = self._state.setdefault(memcg, _JobState())
            if decide:
                self._decide(fs, memcg, job, gens)
            if now_s - self._start_s < self.job_start_delay_s or not math.isfinite(job.threshold):
                continue
            write_reclaim(fs, memcg, idle_pages_at_least(gens, job.threshold) * PAGE_SIZE)

    def promotion_estimates(
        self, previous: Generations | None, current: Generations, refaults: float, reclaimed: float, threshold: float
    ) -> list[float]:
        """Estimated promotions (pages per decision period) at each of :attr:`thresholds_s`.

        Args:
            previous, current: the memcg's lru_gen generations a period ago and now.
            refaults: pages faulted back from far memory in the period (measured at ``threshold``).
            reclaimed: pages reclaimed off the LRU in the period (``pgsteal`` delta; ``snapshot`` only).
            threshold: the threshold in force during the period (s; ``inf`` = none).
        """
        gap = self.decision_period_s
        out = []
        for t in self.thresholds_s:
            if t >= threshold:
                out.append(refaults * threshold / t)
            elif self.estimator == "snapshot" and previous is not None:
                touched = idle_pages_at_least(previous, t) - idle_pages_at_least(current, t + gap) - reclaimed
                out.append(refaults + max(touched, 0.0))
            else:
                out.append(gap * idle_age_density(current, t, threshold))
        return out

    def _decide(self, fs: CgroupFiles, memcg: str, job: _JobState, gens: Generations) -> None:
        stat = memory_stat(fs, memcg)
        refaults_total = float(stat.get("workingset_refault_anon", 0))
        steal_total = float(stat.get("pgsteal", 0))
        if job.previous is not None or self.estimator == "flux":
            refaults = refaults_total - job.refaults_total
            reclaimed = steal_total - job.steal_total
            estimates = self.promotion_estimates(job.previous, gens, refaults, reclaimed, job.threshold)
            resident = float(sum(pages for _, _, pages in gens))
            working_set = resident - idle_pages_at_least(gens, self.min_threshold_s)
            minutes = self.decision_period_s / 60.0
            slo_pages = self.slo_percent_per_min / 100.0 * working_set * minutes
            job.history.append(best_threshold(estimates, self.thresholds_s, slo_pages))
            job.threshold = percentile_threshold(job.history, self.k_percentile)
        job.previous = gens
        job.refaults_total = refaults_total
        job.steal_total = steal_total


class _JobState:
    """Per-memcg controller state: the threshold in force and what the next decision compares with."""

    def __init__(self) -> None:
        self.threshold = math.inf
        self.history: list[float] = []
        self.previous: Generations | None = None
        self.refaults_total = 0.0
        self.steal_total = 0.0
