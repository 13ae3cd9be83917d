"""The tiering baselines of issue 4 — static-high, google-coldage, damon-reclaim(-psi), katalyst — each
shown doing what its source says, on short episodes of the ``default`` scenario (or variants of it)."""

from __future__ import annotations

import dataclasses
import math

import pytest

from agents.damon_reclaim import DamonReclaim, DamonReclaimPsiGoal, feed_loop_next_input
from agents.google_coldage import GoogleColdAge, best_threshold, percentile_threshold
from agents.katalyst import KatalystTMO, _TmoStats
from agents.static_high import StaticHighController
from zswap_gym.cgroup import CgroupFiles, idle_pages_at_least, parse_flat_keyed, parse_lru_gen, parse_value
from zswap_gym.policy import CgroupController, make_policy, run_episode
from zswap_gym.sim import load_scenario

GiB = 1 << 30
MiB = 1 << 20
PAGE = 4096
TIERING = ("static-high", "google-coldage", "damon-reclaim", "damon-reclaim-psi", "katalyst")


def stat(fs: CgroupFiles, memcg: str) -> dict[str, int]:
    return parse_flat_keyed(fs.read(f"{memcg}/memory.stat"))


def with_dram(dram_bytes: int):
    """The default scenario on a host with ``dram_bytes`` of DRAM (same tenants)."""
    cfg = load_scenario("default")
    return dataclasses.replace(cfg, host=dataclasses.replace(cfg.host, dram_bytes=dram_bytes))


# ------------------------------------------------------------------------------------------------
# All of them
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", TIERING)
def test_found_by_name_and_deterministic(name):
    """Each baseline is found by name (``zswap_gym.agents`` entry points), names its source, and the
    same seed gives the same episode."""
    policy = make_policy(name)
    assert isinstance(policy, CgroupController)
    assert policy.name == name and policy.source
    first = run_episode("default", name, seed=3, episode_steps=60)
    second = run_episode("default", name, seed=3, episode_steps=60)
    assert first.summary == second.summary
    assert first.policy_config == second.policy_config == make_policy(name).config()


# ------------------------------------------------------------------------------------------------
# static-high
# ------------------------------------------------------------------------------------------------


class RecordingStaticHigh(StaticHighController):
    def reset(self, fs, step_s):
        self.start = {m: int(fs.read(f"{m}/memory.current")) for m in fs.memcgs()}
        super().reset(fs, step_s)
        self.high = {m: parse_value(fs.read(f"{m}/memory.high")) for m in fs.memcgs()}
        self.current: list[dict[str, int]] = []
        self.events_high: dict[str, int] = {}

    def control(self, fs, now_s):
        self.current.append({m: int(fs.read(f"{m}/memory.current")) for m in fs.memcgs()})
        self.events_high = {m: parse_flat_keyed(fs.read(f"{m}/memory.events"))["high"] for m in fs.memcgs()}


def test_static_high_holds_usage_at_a_fixed_memory_high_below_the_peak():
    """cgroup-v2.rst memory.high: a fixed limit below the tenant's usage; the kernel's memory.high
    reclaim and throttling then hold memory.current at the limit (memory.events ``high`` counts)."""
    controller = RecordingStaticHigh(share=0.9)
    result = run_episode("default", controller, seed=0, episode_steps=60)
    for memcg, high in controller.high.items():
        assert high == controller.limits[memcg] < controller.start[memcg]
        assert high == pytest.approx(0.9 * controller.start[memcg], rel=1e-3)
        assert controller.events_high[memcg] > 0
        late = [c[memcg] for c in controller.current[10:]]
        assert max(late) <= high * 1.01
        assert min(late) >= high * 0.95
    assert result.summary.dram_saved_percent > 5.0


def test_static_high_takes_a_known_peak():
    controller = StaticHighController(share=0.8, peak_bytes={"web": 12 * GiB})
    run_episode("default", controller, seed=0, episode_steps=1)
    assert controller.limits["web"] == int(0.8 * 12 * GiB) // PAGE * PAGE
    assert controller.limits["sidecar"] < 1 * GiB


# ------------------------------------------------------------------------------------------------
# google-coldage
# ------------------------------------------------------------------------------------------------


def test_coldage_percentile_rule():
    """ASPLOS'19: each minute's best threshold is the smallest meeting the SLO; T is the K-th
    percentile of their history (nearest rank, so one of the thresholds seen)."""
    thresholds = (120.0, 300.0, 600.0, 1200.0)
    assert best_threshold([90, 40, 10, 5], thresholds, slo_pages=40) == 300.0
    assert best_threshold([90, 80, 70, 60], thresholds, slo_pages=40) == math.inf
    history = [300.0] * 99 + [1200.0]
    assert percentile_threshold(history, 98) == 300.0
    assert percentile_threshold(history[:20], 98) == 300.0
    assert percentile_threshold([300.0, 1200.0], 98) == 1200.0  # short history: the maximum
    assert percentile_threshold([], 98) == math.inf


def test_coldage_threshold_rises_when_promotions_exceed_the_slo():
    """Promotions above 0.2 %/min of the working set at the current T make the minute's best threshold
    higher than T, and the K-th percentile (the max of a short history) follows it up at once."""
    controller = GoogleColdAge()
    current = [(0, 7200.0, 100_000), (1, 600.0, 100_000), (2, 60.0, 1_000_000)]  # 1M pages working set
    slo = 0.002 * 1_000_000
    threshold = 600.0
    within = controller.promotion_estimates(None, current, refaults=0.5 * slo, reclaimed=0, threshold=threshold)
    above = controller.promotion_estimates(None, current, refaults=3 * slo, reclaimed=0, threshold=threshold)
    assert best_threshold(within, controller.thresholds_s, slo) <= threshold
    raised = best_threshold(above, controller.thresholds_s, slo)
    assert raised >= 3 * threshold
    assert percentile_threshold([threshold] * 5 + [raised], controller.k_percentile) == raised


class RecordingColdAge(GoogleColdAge):
    """Records, per minute, each memcg's promotions (refault delta) and working set (lru_gen)."""

    def reset(self, fs, step_s):
        super().reset(fs, step_s)
        self.minutes: list[tuple[float, float]] = []  # (promotions, working set) in pages, summed
        self._prev_refaults: float | None = None

    def control(self, fs, now_s):
        if self.periods_due("record", now_s, 60.0):
            gens = parse_lru_gen(fs.read("/sys/kernel/debug/lru_gen"))
            refaults = sum(stat(fs, m)["workingset_refault_anon"] for m in fs.memcgs())
            working_set = 0.0
            for m in fs.memcgs():
                g = gens["/" + m]
                working_set += sum(p for _, _, p in g) - idle_pages_at_least(g, 120.0)
            if self._prev_refaults is not None:
                self.minutes.append((refaults - self._prev_refaults, working_set))
            self._prev_refaults = refaults
        super().control(fs, now_s)


def test_coldage_holds_promotions_near_the_slo_while_saving_dram():
    """ASPLOS'19 SLO: after warm-up, promotions stay at or below 0.2 % of the working set per minute,
    while a useful share of memory sits in zswap."""
    controller = RecordingColdAge()
    result = run_episode("default", controller, seed=0, episode_steps=180)
    after_warmup = controller.minutes[5:]
    promoted = sum(p for p, _ in after_warmup)
    working_set = sum(w for _, w in after_warmup)
    rate_percent_per_min = 100.0 * promoted / working_set
    assert 0.0 < rate_percent_per_min <= 0.2 * 1.25
    assert result.summary.dram_saved_percent > 8.0
    assert math.isfinite(controller.threshold_s("web")) and controller.threshold_s("web") >= 120.0


# ------------------------------------------------------------------------------------------------
# damon-reclaim
# ------------------------------------------------------------------------------------------------


class RecordingDamon(DamonReclaim):
    """Records per step: pages reclaimed off the LRU (pgsteal delta) and the step's quotas."""

    def reset(self, fs, step_s):
        super().reset(fs, step_s)
        self.steps: list[tuple[float, list[int], bool]] = []
        self._steal: float | None = None

    def control(self, fs, now_s):
        steal = sum(stat(fs, m)["pgsteal"] for m in fs.memcgs())
        if self._steal is not None:
            self.steps[-1] = (steal - self._steal, *self.steps[-1][1:])
        self._steal = steal
        super().control(fs, now_s)
        self.steps.append((0.0, self.effective_quotas, self.activated))


def test_damon_never_reclaims_more_than_its_quota():
    """mm/damon/core.c: per 1 s window at most min(quota_sz, quota_ms x measured throughput); over a
    10 s step, ten windows. Shown for the default CPU-time quota (10 ms/s, ~6 MiB/s here) and for a
    smaller size quota (1 MiB/s)."""
    for kwargs, per_second in (({}, 10 * 4096 / 6.5 * 1000), ({"quota_sz_bytes": 1 * MiB}, 1 * MiB)):
        controller = RecordingDamon(**kwargs)
        run_episode("default", controller, seed=0, episode_steps=60)
        steps = controller.steps[1:-1]  # after the first window's 4 MiB/ms guess
        assert all(active for _, _, active in steps)
        for _, quotas, _ in steps:
            assert len(quotas) == 10
            assert max(quotas) <= min(128 * MiB, per_second) + PAGE
        reclaimed = sum(pages for pages, _, _ in steps) * PAGE
        allowed = len(steps) * 10 * per_second
        assert 0.5 * allowed < reclaimed <= allowed + 4 * MiB  # + one chunk of rounding carry
        assert sum(controller.last_reclaim.values()) <= sum(controller.effective_quotas)


def test_damon_only_acts_between_its_watermarks():
    """mm/damon/reclaim.c watermarks on the free memory rate: off above 50 % free (nothing to gain) and
    below 20 % (left to the kernel's own reclaim); active between — the default host has 25 % free."""
    for dram, active in ((64 * GiB, False), (13 * GiB, False), (16 * GiB, True)):
        controller = RecordingDamon()
        result = run_episode(with_dram(dram), controller, seed=0, episode_steps=30)
        assert controller.activated is active
        if active:
            assert result.summary.dram_saved_percent > 1.0
        else:
            assert all(not quotas for _, quotas, _ in controller.steps[1:])
            assert not controller.last_reclaim


def test_damon_watermark_hysteresis():
    """damos_wmark_wait_us: once off, the scheme comes back only below the middle watermark."""
    controller = DamonReclaim()
    assert controller.check_watermarks(450)  # starts activated; between mid and high stays on
    assert not controller.check_watermarks(600)  # above high: off
    assert not controller.check_watermarks(450)  # back between mid and high: still off
    assert controller.check_watermarks(350)  # below mid: on
    assert not controller.check_watermarks(150)  # below low: off


def test_damon_psi_goal_moves_the_effective_quota():
    """mm/damon/core.c quota goal: score = PSI / target x 10000; the feedback loop lowers the effective
    quota while PSI is over the goal (to the minimum at twice the goal) and raises it while under."""
    assert feed_loop_next_input(1_000_000, 5000) == 1_500_000
    assert feed_loop_next_input(1_000_000, 15000) == 500_000
    assert feed_loop_next_input(1_000_000, 20000) == 10000
    assert feed_loop_next_input(1_000_000, 10000) == 1_000_000
    controller = DamonReclaimPsiGoal(quota_mem_pressure_us=1000, quota_ms=0, quota_sz_bytes=0)
    controller._cost_us_per_page = 6.5
    rising = [controller.set_effective_quota(0.0) for _ in range(20)]
    assert rising == sorted(rising) and rising[-1] > rising[0]
    high = controller.set_effective_quota(1500.0)  # 1.5x the goal
    assert high < rising[-1]
    assert controller.last_score == 15000
    low = controller.set_effective_quota(500.0)
    assert low > high


def test_damon_psi_goal_cuts_pressure_against_the_static_quota():
    """The DAMON PSI-goal auto-tuning cut PSI against untuned DAMON_RECLAIM (docs/calibration.md: -69 %)."""
    static = run_episode("default", "damon-reclaim", seed=0, episode_steps=120).summary
    tuned = run_episode("default", "damon-reclaim-psi", seed=0, episode_steps=120).summary
    assert tuned.psi_some_avg10_mean < 0.5 * static.psi_some_avg10_mean
    assert tuned.dram_saved_percent > 2.0


# ------------------------------------------------------------------------------------------------
# katalyst
# ------------------------------------------------------------------------------------------------


def tmo_stats(**values: float) -> _TmoStats:
    stats = _TmoStats()
    for key, value in values.items():
        setattr(stats, key, value)
    return stats


def test_katalyst_psi_policy_reduces_reclaim_as_pressure_rises():
    """katalyst memory_offloading.go psiPolicyFunc: max(0, 1 - psi_avg60 / 0.1) x 1 % x usage."""
    controller = KatalystTMO()
    last = tmo_stats()
    usage = 10 * GiB
    sizes = [controller.psi_policy(last, tmo_stats(usage=usage, psi_avg60=p)) for p in (0.0, 0.05, 0.1, 0.3)]
    assert sizes == pytest.approx([0.01 * usage, 0.005 * usage, 0.0, 0.0])


def test_katalyst_refault_policy_backs_off_on_poor_accuracy():
    """refaultPolicyFunc: accuracy 1 - refaults/pgsteal < 0.99 (or pgsteal/pgscan < 0.6) shrinks the
    target to last x accuracy; otherwise it grows by 5 % (at least 10 % of inactive), capped at 1 %
    of usage; integratedPolicyFunc takes the smaller of PSI and refault targets."""
    controller = KatalystTMO()
    usage = 10 * GiB
    last = tmo_stats(pgscan=0, pgsteal=0, refault=0, target=50 * MiB)
    poor = tmo_stats(usage=usage, pgscan=1000, pgsteal=1000, refault=100, inactive=1 * GiB)
    assert controller.refault_policy(last, poor) == pytest.approx(0.9 * 50 * MiB)
    inefficient = tmo_stats(usage=usage, pgscan=2000, pgsteal=1000, refault=0, inactive=1 * GiB)
    assert controller.refault_policy(last, inefficient) == pytest.approx(50 * MiB)
    good = tmo_stats(usage=usage, pgscan=1000, pgsteal=1000, refault=5, inactive=0)
    assert controller.refault_policy(last, good) == pytest.approx(1.05 * 50 * MiB)
    assert controller.refault_policy(last, tmo_stats(usage=usage, inactive=10 * GiB)) == pytest.approx(0.01 * usage)
    pressured = tmo_stats(usage=usage, psi_avg60=0.05, pgscan=1000, pgsteal=1000, refault=100)
    assert controller.target_size(last, pressured) == pytest.approx(min(0.005 * usage, 0.9 * 50 * MiB))


def test_katalyst_episode_backs_off_on_refaults_and_pressure():
    """On the default host: the refault policy alone (accuracy target 0.99) reclaims less and causes
    fewer refaults than the same policy with its targets disabled; the integrated policy (the min of
    PSI and refault) keeps PSI below the PSI policy's 0.1 % avg60 threshold while saving DRAM."""
    refault = run_episode("default", KatalystTMO(policy="refault"), seed=0, episode_steps=120).summary
    lax = KatalystTMO(policy="refault", reclaim_accuracy_target=0.0, reclaim_scan_efficiency_target=0.0)
    unchecked = run_episode("default", lax, seed=0, episode_steps=120).summary
    assert refault.refaults < 0.8 * unchecked.refaults
    assert refault.dram_saved_percent < unchecked.dram_saved_percent
    integrated = run_episode("default", "katalyst", seed=0, episode_steps=120).summary
    assert integrated.dram_saved_percent > 5.0
    assert integrated.psi_some_avg10_mean < 0.1
    assert integrated.refaults < refault.refaults
