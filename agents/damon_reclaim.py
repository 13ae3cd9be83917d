"""``damon-reclaim`` and ``damon-reclaim-psi``: the kernel's DAMON-based proactive reclaim (DAMON_RECLAIM).

Sources: mm/damon/reclaim.c (the module and its parameters) and mm/damon/core.c (watermarks
``damos_wmark_wait_us``, quotas ``damos_adjust_quota`` / ``damos_set_effective_quota``, the goal
feedback loop ``damon_feed_loop_next_input`` and ``damos_quota_score``), Linux 6.9+; docs/calibration.md,
Controllers.

The scheme DAMON_RECLAIM installs: page out (``DAMOS_PAGEOUT``) memory regions not accessed for
``min_age`` = 120 s or more, under a quota of ``quota_ms`` = 10 ms of CPU time and ``quota_sz`` =
128 MiB per ``quota_reset_interval_ms`` = 1 s window, oldest regions first (``weight_age`` = 1, the
other weights 0); active according to watermarks on the free memory rate (per-thousand of MemTotal)
checked every ``wmarks_interval`` = 5 s: off above ``wmarks_high`` = 500 or below ``wmarks_low`` =
200; once off, back on only below ``wmarks_mid`` = 400 (the scheme starts on). Optionally
(``quota_mem_pressure_us``, 0 = off in the kernel) a quota goal: each window the system-wide memory
PSI ``some`` stall time of the last window is scored as ``current * 10000 / target``, and the
effective size quota ``esz`` is moved by the feedback loop
``next = max(last * ((10000 - score) / 10000 + 1), 10000)`` in basis points of bytes (``score >= 20000``
drops it to the minimum, 1 byte), always within the CPU-time and size caps.

How it is expressed through the cgroup interface:

* **watermarks**: ``MemFree`` and ``MemTotal`` from ``/proc/meminfo``;
* **which memory, oldest first**: DAMON's sampled regions are modelled as exact — a page is "not
  accessed for ``min_age``" when lru_gen shows it idle >= ``min_age`` (``/sys/kernel/debug/lru_gen``,
  :func:`~zswap_gym.cgroup.idle_pages_at_least`). DAMON_RECLAIM monitors the physical address space,
  so the quota is shared by all memcgs, oldest memory first across them; each memcg's share is written
  to its ``memory.reclaim``, which takes that memcg's longest-idle memory first;
* **quota windows**: the controller runs every 10 s step; the step's ten 1 s windows are computed one
  after another (each with its own quota and goal update, the stall time of the step spread evenly
  over them, as only its total is seen) and the step's reclaim is their sum, written at the step's
  start;
* **the CPU-time quota**: the kernel converts ``quota_ms`` to bytes with the throughput it measured
  for its own page-outs (``total_charged_sz / total_charged_ns``; 4 MiB/ms before it has any). The
  time a page-out costs here is ``cost_us_per_page`` (default 6.5 us: the simulator's default reclaim
  plus lzo compression CPU per page, what the kernel's own clock would measure; the controller reads
  nothing but cgroup and procfs files, so it does not look the host's figure up), so the
  10 ms/s quota allows about 6 MiB/s and binds long before the 128 MiB/s size quota does;
* **system-wide PSI** for the goal: the sum over memcgs of ``memory.pressure`` ``some`` totals (us),
  an upper bound of the host's own ``some`` time (stalls of different memcgs may overlap).

What the module adds around this (kdamond's monitoring overhead, region splitting and merging,
the ``skip_anon`` filter, the ``quota_autotune_feedback`` user goal) is not modelled.
"""

from __future__ import annotations

import math

from zswap_gym.cgroup import (
    LRU_GEN_PATH,
    MEMINFO_PATH,
    PAGE_SIZE,
    CgroupFiles,
    idle_pages_at_least,
    parse_lru_gen,
    parse_meminfo,
)
from zswap_gym.policy import CgroupController

from .cgroup_io import memory_pressure, write_reclaim

MiB = 1 << 20

FEED_LOOP_GOAL = 10000
"""The score the feedback loop aims for (``damon_feed_loop_next_input``: the target is always 10000)."""
FEED_LOOP_MIN_INPUT = 10000
"""The loop's smallest input (``min_input``), so its compensation never becomes zero."""
DEFAULT_THROUGHPUT_BYTES_PER_MS = PAGE_SIZE * 1024
"""``damos_set_effective_quota``'s throughput before anything was charged: 4 MiB per ms."""


def feed_loop_next_input(last_input: int, score: int) -> int:
    """``damon_feed_loop_next_input()`` of mm/damon/core.c: the next input aiming at score 10000.

    ``next = max(last * ((goal - score) / goal + 1), min_input)``, in the kernel's integer arithmetic;
    a score of twice the goal or more returns the minimum input at once."""
    goal, min_input = FEED_LOOP_GOAL, FEED_LOOP_MIN_INPUT
    if score == goal:
        return last_input
    if score >= 2 * goal:
        return min_input
    diff = abs(score - goal)
    compensation = last_input * diff // goal
    if score > goal:
        return max(last_input - compensation, min_input)
    return last_input + compensation


class DamonReclaim(CgroupController):
    """DAMON_RECLAIM with its static quotas and free-memory watermarks (mm/damon/reclaim.c defaults).

    Args:
        min_age_s: page out memory idle at least this long (``min_age``, 120 s).
        quota_ms: CPU time allowed per quota window, ms (``quota_ms``, 10).
        quota_sz_bytes: bytes allowed per quota window (``quota_sz``, 128 MiB).
        quota_reset_interval_s: the quota window (``quota_reset_interval_ms``, 1000 ms).
        wmarks_interval_s: how often the watermarks are checked (``wmarks_interval``, 5 s).
        wmarks_high, wmarks_mid, wmarks_low: free memory rate watermarks, per-thousand (500/400/200).
        quota_mem_pressure_us: the PSI goal, memory ``some`` stall us per quota window (0 = off).
        cost_us_per_page: CPU time one page-out costs, us (default 6.5: reclaim 0.5 + lzo compression 6.0).
    """

    name = "damon-reclaim"
    source = "mm/damon/reclaim.c, mm/damon/core.c (DAMON_RECLAIM, static quota)"

    def __init__(
        self,
        min_age_s: float = 120.0,
        quota_ms: float = 10.0,
        quota_sz_bytes: int = 128 * MiB,
        quota_reset_interval_s: float = 1.0,
        wmarks_interval_s: float = 5.0,
        wmarks_high: int = 500,
        wmarks_mid: int = 400,
        wmarks_low: int = 200,
        quota_mem_pressure_us: int = 0,
        cost_us_per_page: float = 6.5,
    ) -> None:
        if not 0 <= wmarks_low <= wmarks_mid <= wmarks_high <= 1000:
            raise ValueError("watermarks: need 0 <= low <= mid <= high <= 1000 (per-thousand)")
        self.min_age_s = float(min_age_s)
        self.quota_ms = float(quota_ms)
        self.quota_sz_bytes = int(quota_sz_bytes)
        self.quota_reset_interval_s = float(quota_reset_interval_s)
        self.wmarks_interval_s = float(wmarks_interval_s)
        self.wmarks_high = int(wmarks_high)
        self.wmarks_mid = int(wmarks_mid)
        self.wmarks_low = int(wmarks_low)
        self.quota_mem_pressure_us = int(quota_mem_pressure_us)
        self.cost_us_per_page = cost_us_per_page
        self._clear()

    def _clear(self) -> None:
        self._activated = True  # damon_new_scheme() starts a scheme activated
        self._esz_bp = 0
        self._total_charged_sz = 0
        self._total_charged_ns = 0
        self._last_psi_total: float | None = None
        self._last_quotas: list[int] = []
        self._last_reclaim: dict[str, int] = {}
        self._last_score: int | None = None

    # Read-only state for tests and plots (not parameters, so not in config()).
    @property
    def activated(self) -> bool:
        """Whether the watermarks let the scheme run."""
        return self._activated

    @property
    def effective_quotas(self) -> list[int]:
        """The effective size quota ``esz`` (bytes) of each quota window of the last step."""
        return list(self._last_quotas)

    @property
    def last_reclaim(self) -> dict[str, int]:
        """Bytes written to each memcg's memory.reclaim in the last step."""
        return dict(self._last_reclaim)

    @property
    def last_score(self) -> int | None:
        """The PSI goal's last score (current / target x 10000), ``None`` without a goal."""
        return self._last_score

    def reset(self, fs: CgroupFiles, step_s: float) -> None:
        super().reset(fs, step_s)
        self._clear()
        self._cost_us_per_page = float(self.cost_us_per_page)

    # ------------------------------------------------------------------------------------------
    # mm/damon/core.c
    # ------------------------------------------------------------------------------------------

    def check_watermarks(self, free_rate: int) -> bool:
        """``damos_wmark_wait_us``: update and return whether the scheme is active, given the free
        memory rate (per-thousand)."""
        if free_rate > self.wmarks_high or free_rate < self.wmarks_low:
            self._activated = False
        elif not self._activated and free_rate >= self.wmarks_mid:
            pass  # inactive and above the middle watermark: stay off
        else:
            self._activated = True
        return self._activated

    def quota_score(self, psi_us: float) -> int:
        """``damos_quota_score`` for the one PSI goal: ``current * 10000 / target``."""
        return int(psi_us) * 10000 // max(self.quota_mem_pressure_us, 1)

    def set_effective_quota(self, psi_us: float) -> int:
        """``damos_set_effective_quota`` at the start of a window: the window's ``esz`` (bytes), given
        the memory PSI some stall (us) of the window that ended."""
        esz = math.inf
        if self.quota_mem_pressure_us > 0:
            score = self.quota_score(psi_us)
            self._last_score = score
            self._esz_bp = feed_loop_next_input(max(self._esz_bp, 10000), score)
            esz = self._esz_bp // 10000
        if self.quota_ms > 0:
            if self._total_charged_ns:
                throughput = self._total_charged_sz * 1_000_000 // self._total_charged_ns  # bytes per ms
            else:
                throughput = DEFAULT_THROUGHPUT_BYTES_PER_MS
            esz = min(throughput * self.quota_ms, esz)
        if self.quota_sz_bytes and self.quota_sz_bytes < esz:
            esz = self.quota_sz_bytes
        return int(esz)

    def _charge(self, nbytes: int) -> None:
        """Account a page-out of ``nbytes``: the size and the CPU time it takes (``total_charged_*``)."""
        self._total_charged_sz += nbytes
        self._total_charged_ns += int(nbytes / PAGE_SIZE * self._cost_us_per_page * 1000)

    # ------------------------------------------------------------------------------------------
    # the controller
    # ------------------------------------------------------------------------------------------

    def control(self, fs: CgroupFiles, now_s: float) -> None:
        """Check the watermarks; if active, run the step's quota windows and page out the oldest
        memory idle >= ``min_age`` within them."""
        self._last_quotas, self._last_reclaim = [], {}
        if self.periods_due("wmarks", now_s, self.wmarks_interval_s):
            meminfo = parse_meminfo(fs.read(MEMINFO_PATH))
            free_rate = meminfo["MemFree"] * 1000 // max(meminfo["MemTotal"], 1)
            self.check_watermarks(free_rate)
        windows = self.periods_due("quota", now_s, self.quota_reset_interval_s)
        if not self._activated or windows == 0:
            return
        psi_per_window = 0.0
        if self.quota_mem_pressure_us > 0:
            total = sum(memory_pressure(fs, memcg)["some"]["total"] for memcg in fs.memcgs())
            if self._last_psi_total is not None:
                psi_per_window = (total - self._last_psi_total) / windows
            self._last_psi_total = total
        cold = self._cold_levels(fs)
        available = int(sum(sum(level.values()) for level in cold) * PAGE_SIZE)
        budget = 0
        for _ in range(windows):
            esz = self.set_effective_quota(psi_per_window)
            self._last_quotas.append(esz)
            charged = min(esz, available - budget) // PAGE_SIZE * PAGE_SIZE
            if charged > 0:
                self._charge(charged)
                budget += charged
        self._last_reclaim = self._split_oldest_first(cold, budget)
        for memcg, nbytes in self._last_reclaim.items():
            write_reclaim(fs, memcg, nbytes)

    def _cold_levels(self, fs: CgroupFiles) -> list[dict[str, float]]:
        """Memory idle >= ``min_age`` in age slices, oldest slice first: per slice, pages per memcg.

        The slices are cut at every generation edge of every memcg (lru_gen ages are per memcg)."""
        generations = parse_lru_gen(fs.read(LRU_GEN_PATH))
        per_memcg = {m: generations.get("/" + m, []) for m in fs.memcgs()}
        edges = {self.min_age_s}
        for gens in per_memcg.values():
            edges.update(age for _, age, _ in gens if age > self.min_age_s)
        levels: list[dict[str, float]] = [{} for _ in edges]
        for memcg, gens in per_memcg.items():
            above = 0.0
            for i, age in enumerate(sorted(edges, reverse=True)):
                at_least = idle_pages_at_least(gens, age)
                if at_least > above:
                    levels[i][memcg] = at_least - above
                above = max(above, at_least)
        return levels

    @staticmethod
    def _split_oldest_first(levels: list[dict[str, float]], budget: int) -> dict[str, int]:
        """Spend ``budget`` bytes on the oldest slices first (a slice the budget cannot cover is shared
        in proportion); bytes per memcg, page-aligned."""
        out: dict[str, float] = {}
        left = float(budget)
        for level in levels:
            total = sum(level.values()) * PAGE_SIZE
            if left <= 0 or total <= 0:
                continue
            share = min(left / total, 1.0)
            for memcg, pages in level.items():
                out[memcg] = out.get(memcg, 0.0) + pages * PAGE_SIZE * share
            left -= total * share
        return {m: int(b) // PAGE_SIZE * PAGE_SIZE for m, b in out.items() if b >= PAGE_SIZE}


class DamonReclaimPsiGoal(DamonReclaim):
    """DAMON_RECLAIM with the PSI-goal quota auto-tuning (``quota_mem_pressure_us``, mm/damon/core.c
    feedback loop); the goal defaults to 1000 us of memory ``some`` stall per 1 s window (0.1 %).

    Takes the same arguments as :class:`DamonReclaim`."""

    name = "damon-reclaim-psi"
    source = "mm/damon/reclaim.c quota_mem_pressure_us; mm/damon/core.c damon_feed_loop_next_input"

    def __init__(self, quota_mem_pressure_us: int = 1000, **kwargs: float) -> None:
        if quota_mem_pressure_us <= 0:
            raise ValueError("quota_mem_pressure_us: the PSI goal must be > 0 us per window")
        super().__init__(quota_mem_pressure_us=quota_mem_pressure_us, **kwargs)  # type: ignore[arg-type]
