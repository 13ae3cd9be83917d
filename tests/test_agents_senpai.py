"""The Senpai family of baselines (issue 4: ``senpai-tmo``, ``senpai-oomd``, ``senpai-zswap-max``,
``senpai-age-writeback``, ``shrinker``): each test states the defining behaviour of one baseline and,
in its docstring, the source rule it checks.

Controllers are driven exactly as the runner drives them (``control(fs, now_s)`` before every 10 s env
step, on a :class:`~zswap_gym.cgroup.CgroupFS`), on small scenarios built here so each outcome is
unambiguous, or on the shipped ``default`` scenario. Unit-level tests set the simulator's PSI state and
record what the controller writes.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from helpers_sim import (  # tests/ is on sys.path under pytest (rootdir-relative import)
    COLD,
    HOT,
    GiB,
    MiB,
    SwapDeviceConfig,
    ZswapConfig,
    band,
    scenario,
    tenant,
    workload,
)

from agents.senpai_age_writeback import SenpaiAgeWriteback
from agents.senpai_oomd import SenpaiOomd
from agents.senpai_tmo import SenpaiTMO
from agents.senpai_zswap_max import SenpaiZswapMax
from agents.shrinker import SHRINKER_ENABLED_PATH, SenpaiShrinker
from zswap_gym.cgroup import CgroupFS, parse_flat_keyed, parse_meminfo, parse_pressure
from zswap_gym.env.host_env import HostOffloadEnv
from zswap_gym.policy import CgroupController, make_policy, policy_spec, run_episode
from zswap_gym.sim import Phase, RateBand, ScenarioConfig, Simulator, StepMetrics, load_scenario

BASELINES = {
    "senpai-tmo": SenpaiTMO,
    "senpai-oomd": SenpaiOomd,
    "senpai-zswap-max": SenpaiZswapMax,
    "senpai-age-writeback": SenpaiAgeWriteback,
    "shrinker": SenpaiShrinker,
}

WARM = RateBand(share=0.2, lo_hz=1e-4, hi_hz=1e-2)
"""Touched every few minutes to hours: reclaimable, but refaults now and then."""
TWICE_COLD = RateBand(share=0.5, lo_hz=1e-8, hi_hz=1e-5)
"""Idle for hours to weeks: with ``initial_zswap_idle_s`` it starts in zswap, stored long ago."""


# ------------------------------------------------------------------------------------------------
# Driving a controller
# ------------------------------------------------------------------------------------------------


class RecordingFS:
    """A :class:`CgroupFS` that records every write (path, text) and passes it on."""

    def __init__(self, fs: CgroupFS) -> None:
        self.fs = fs
        self.root = fs.root
        self.writes: list[tuple[str, str]] = []

    def read(self, path: str) -> str:
        return self.fs.read(path)

    def write(self, path: str, text: str | bytes | int) -> int:
        self.writes.append((str(path), str(text)))
        return self.fs.write(path, text)

    def memcgs(self) -> list[str]:
        return self.fs.memcgs()

    def memcg(self, name: str) -> Any:
        return self.fs.memcg(name)

    def reclaim_writes(self, memcg: str = "t0") -> list[str]:
        return [text for path, text in self.writes if path == f"{memcg}/memory.reclaim"]


@dataclass
class Drive:
    """A controller driven on one host of a scenario, step by step, as the runner does."""

    cfg: ScenarioConfig
    controller: CgroupController
    steps: int
    env: HostOffloadEnv = field(init=False)
    fs: RecordingFS = field(init=False)
    metrics: list[StepMetrics] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.env = HostOffloadEnv(self.cfg, episode_steps=self.steps)
        self.env.reset(seed=0)
        self.fs = RecordingFS(CgroupFS(self.sim, 0))
        self.controller.reset(self.fs, self.cfg.host.step_s)
        self._noop = np.zeros(self.env.action_space.shape, dtype=np.float32)

    @property
    def sim(self) -> Simulator:
        return self.env.sim

    def run(self, steps: int, before: Callable[[Drive], None] | None = None) -> None:
        for _ in range(steps):
            if before is not None:
                before(self)
            self.controller.control(self.fs, float(self.sim.now_s[0]))
            self.env.step(self._noop)
            self.metrics.append(self.env.core.last_metrics)

    def series(self, get: Callable[[StepMetrics], float]) -> np.ndarray:
        return np.array([get(m) for m in self.metrics])

    def counter(self, name: str, memcg: int = 0) -> float:
        return float(self.sim.state.counters[name][0, memcg])


def fresh_fs(cfg: ScenarioConfig) -> tuple[Simulator, RecordingFS]:
    sim = Simulator(cfg, num_hosts=1, seed=0)
    return sim, RecordingFS(CgroupFS(sim, 0))


def reclaim_bytes(text: str) -> int:
    return int(text.split()[0])


def one_tenant(**kw: Any) -> ScenarioConfig:
    """A 4 GiB host with one 1 GiB tenant ``t0``: 40 % hot, 60 % cold."""
    return scenario(tenant(wl=workload(1 * GiB, (band(0.4, HOT), band(0.6, COLD)))), **kw)


def twice_cold(*, memory_high: int | None = None, growth: int = 0) -> ScenarioConfig:
    """A steady-state tenant (up a week) whose memory idle >= 30 min already sits in zswap, stored
    long ago: 30 % hot, 20 % warm, 50 % twice cold; optionally growing under ``memory.high``."""
    phases = (Phase("growth", start_s=0.0, duration_s=1200.0, size_delta_bytes=growth),) if growth else ()
    wl = workload(
        1 * GiB,
        (band(0.3, HOT), WARM, TWICE_COLD),
        initial_zswap_idle_s=1800.0,
        uptime_s=604800.0,
        phases=phases,
    )
    return scenario(tenant(wl=wl, memory_high_bytes=memory_high))


# ------------------------------------------------------------------------------------------------
# Every baseline: registered by name, documented, deterministic
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_baseline_is_found_by_name_and_runs_an_episode_deterministically(name):
    """Issue 4: each baseline is registered by name (the ``zswap_gym.agents`` entry points) so the CLI
    and the benchmark find it, has a docstring naming its source and parameters, and runs an episode
    of the ``default`` scenario; the same seed gives the same summary."""
    policy = make_policy(name)
    assert type(policy) is BASELINES[name]
    assert isinstance(policy, CgroupController)
    assert policy.name == name
    assert policy.source and policy_spec(name).source == policy.source
    assert type(policy).__doc__ and sys.modules[type(policy).__module__].__doc__
    config = policy.config()
    assert config and all(not k.startswith("_") for k in config)
    a = run_episode("default", name, seed=0, episode_steps=60)
    b = run_episode("default", name, seed=0, episode_steps=60)
    assert a.summary == b.summary
    assert a.policy_config == config
    assert a.summary.dram_saved_percent > 0.0


# ------------------------------------------------------------------------------------------------
# senpai-tmo
# ------------------------------------------------------------------------------------------------


def test_senpai_tmo_reclaims_less_as_psi_rises_to_the_target_and_nothing_above():
    """TMO paper (Weiner et al., ASPLOS'22): every 6 s ``reclaim = memory.current * 0.0005 *
    max(0, 1 - PSI_some / 0.1 %)``. On the first decision PSI is read as ``avg10``; the amount falls
    linearly with PSI and is zero at and above the 0.1 % target."""
    written = []
    for psi in (0.0, 0.02, 0.05, 0.08, 0.1, 0.2):
        sim, fs = fresh_fs(one_tenant())
        sim.state.psi_some_avg[0, 0, :] = psi
        current = int(fs.read("t0/memory.current"))
        printed = parse_pressure(fs.read("t0/memory.pressure"))["some"]["avg10"]  # fixed point, truncated
        assert psi - 0.011 < printed <= psi
        senpai = SenpaiTMO(memcgs=["t0"])
        senpai.reset(fs, 10.0)
        senpai.control(fs, 0.0)
        texts = fs.reclaim_writes()
        expected = current * 0.0005 * max(0.0, 1.0 - printed / 0.1)
        if expected < 4096:
            assert texts == []
            written.append(0)
        else:
            assert len(texts) == 1
            assert reclaim_bytes(texts[0]) == pytest.approx(expected, abs=1.0)
            written.append(reclaim_bytes(texts[0]))
    assert written[0] > written[1] > written[2] > written[3] > 0
    assert written[4] == written[5] == 0


def test_senpai_tmo_measures_psi_over_its_interval_and_scales_by_elapsed_periods():
    """TMO's PSI is the stall share over Senpai's interval: the growth of ``memory.pressure``
    ``some total`` (us) since the last decision over the elapsed time. With 10 s env steps and a 6 s
    period, the amount is multiplied by the periods that began (10 s after t=0: one, the one at 6 s)."""
    sim, fs = fresh_fs(one_tenant())
    senpai = SenpaiTMO(memcgs=["t0"])
    senpai.reset(fs, 10.0)
    senpai.control(fs, 0.0)
    sim.state.psi_some_total_us[0, 0] += 5_000.0  # 5 ms stalled in 10 s: 0.05 %
    sim.state.psi_some_avg[0, 0, :] = 0.0  # avg10 would say no pressure; the interval figure rules
    current = int(fs.read("t0/memory.current"))
    senpai.control(fs, 10.0)
    assert reclaim_bytes(fs.reclaim_writes()[-1]) == pytest.approx(current * 0.0005 * 0.5, abs=1.0)
    current = int(fs.read("t0/memory.current"))
    senpai.control(fs, 20.0)  # periods at 12 s and 18 s, no stall since t=10
    assert reclaim_bytes(fs.reclaim_writes()[-1]) == pytest.approx(current * 0.0005 * 2, abs=1.0)


def test_senpai_tmo_saves_dram_on_default_with_psi_below_target():
    """TMO: Senpai offloads cold memory while holding PSI some near or below 0.1 %; it writes only
    ``memory.reclaim`` (stateless) and, with zswap and no writeback path, nothing to the SSD."""
    result = run_episode("default", "senpai-tmo", seed=0, episode_steps=180)
    s = result.summary
    assert s.dram_saved_percent > 4.0
    assert s.psi_some_avg10_mean < 0.1
    assert s.ssd_write_mb_s == 0.0
    assert s.oom_kills == 0


# ------------------------------------------------------------------------------------------------
# senpai-oomd
# ------------------------------------------------------------------------------------------------


def test_senpai_oomd_backs_off_immediately_and_probes_one_percent_above_the_floor():
    """oomd ``Senpai::tick_immediate_backoff()``: reclaim only if memory and I/O pressure
    ``max(avg10, avg60)`` are below 0.1 % (``validatePressure()``); then ``(current - floor) * 0.01``
    with ``floor = 100 MiB + current - min(swap free, anon)`` (``getLimitMinBytes()``), at
    ``swappiness = 60 * factor`` (no swap-outs, swap nearly empty: factor 1)."""
    for avg10, avg60 in ((0.2, 0.0), (0.0, 0.15), (0.1, 0.0)):
        sim, fs = fresh_fs(one_tenant())
        sim.state.psi_some_avg[0, 0, :] = (avg10, avg60, 0.0)
        oomd = SenpaiOomd(memcgs=["t0"])
        oomd.reset(fs, 10.0)
        oomd.control(fs, 0.0)
        assert fs.reclaim_writes() == [], (avg10, avg60)

    sim, fs = fresh_fs(one_tenant())
    sim.state.psi_some_avg[0, 0, :] = (0.05, 0.09, 0.0)
    anon = parse_flat_keyed(fs.read("t0/memory.stat"))["anon"]
    swap_free = parse_meminfo(fs.read("/proc/meminfo"))["SwapFree"]
    oomd = SenpaiOomd(memcgs=["t0"])
    oomd.reset(fs, 10.0)
    oomd.control(fs, 0.0)
    (text,) = fs.reclaim_writes()
    expected = int((min(anon, swap_free) - 100 * MiB) * 0.01) & ~4095
    assert text == f"{expected} swappiness=60"


def test_senpai_oomd_never_reclaims_while_pressure_is_above_target():
    """oomd immediate backoff over an episode of ``default``: at every decision where the memcg's
    memory some ``max(avg10, avg60)`` read >= 0.1 %, no reclaim is written for it; below, it probes."""
    drive = Drive(load_scenario("default"), SenpaiOomd(), 120)
    decisions: list[tuple[bool, bool]] = []
    for _ in range(120):
        some = parse_pressure(drive.fs.read("web/memory.pressure"))["some"]
        pressured = max(some["avg10"], some["avg60"]) >= 0.1
        probes = len(drive.fs.reclaim_writes("web"))
        drive.run(1)
        decisions.append((pressured, len(drive.fs.reclaim_writes("web")) > probes))
    assert any(p for p, _ in decisions) and any(not p for p, _ in decisions)
    assert not any(p and wrote for p, wrote in decisions)
    assert all(wrote for p, wrote in decisions if not p)


def test_senpai_oomd_keeps_swap_writes_near_one_mib_per_second():
    """oomd ``calculateSwappinessFactor()``: swappiness scales with ``1 - swapout_bps / 1 MiB/s``,
    0 at or above it, the rate being ``max(ewma60, ewma300)`` of ``pswpout``. Without zswap every
    reclaimed page is a swap write: modulated, the long-run rate stays near 1 MiB/s; unmodulated,
    the 1 % probes write at several MiB/s."""
    cfg = scenario(
        tenant(wl=workload(2 * GiB, (band(0.4, HOT), band(0.6, COLD)))),
        zswap=ZswapConfig(enabled=False),
    )
    rates = {}
    for modulate in (True, False):
        drive = Drive(cfg, SenpaiOomd(modulate_swappiness=modulate), 180)
        drive.run(180)
        written = drive.series(lambda m: float(m.host_device_bytes_written[0]))
        rates[modulate] = (written.sum() / 1800.0 / MiB, written[:30].sum() / 300.0 / MiB)
        if modulate:
            swappiness = {t.split("swappiness=")[1] for t in drive.fs.reclaim_writes()}
            assert "0" in swappiness and "60" in swappiness  # the gate closes and opens
    assert 0.7 < rates[True][0] < 1.15
    assert rates[True][1] < 1.5
    assert rates[False][1] > 2.0
    assert rates[False][0] > 1.3 * rates[True][0]


def test_senpai_oomd_stops_swap_growth_at_eighty_percent_full():
    """oomd ``calculateSwappinessFactor()``: the factor is also ``1 - swap_util / 0.8`` and 0 from 80 %
    swap utilisation on (``effective_swap_util_pct``: used / total of ``/proc/swaps``, every zswap
    entry holding a slot). Modulated, swap stops just below 80 % full; unmodulated, it fills past it."""
    cfg = scenario(
        tenant(wl=workload(2 * GiB, (band(0.3, HOT), band(0.7, COLD)))),
        swap=SwapDeviceConfig(capacity_bytes=1 * GiB),
    )
    final = {}
    for modulate in (True, False):
        drive = Drive(cfg, SenpaiOomd(modulate_swappiness=modulate), 180)
        drive.run(180)
        used = drive.series(lambda m: float(m.swap_bytes[0].sum()))
        final[modulate] = used[-1] / GiB
        if modulate:
            assert used.max() / GiB < 0.8 + 0.01  # one probe may cross the threshold by its size
    assert 0.7 < final[True] <= 0.81
    assert final[False] > 0.82


# ------------------------------------------------------------------------------------------------
# senpai-zswap-max
# ------------------------------------------------------------------------------------------------


def test_senpai_zswap_max_in_steady_state_writes_back_nothing_and_does_not_converge():
    """Seed thread (Hao Jia): "Writing memory.zswap.max itself does not trigger any writeback
    immediately ... in steady state nothing drives the zswap_store() -> shrink_memcg() path", and
    "each over-limit event can write back at most NR_NODES entries ... converging to the target size
    requires at least O(over-limit pages / NR_NODES) zswap_store() events". A steady-state memcg
    holds 60 % of its memory in zswap, stored long ago; the controller sets ``memory.zswap.max`` to
    2 % of ``memory.current``, far below that. With Senpai idle (reclaim ratio 0: the reclaimer does
    not invoke memory.reclaim), ``zswpwb`` stays flat for 10 minutes. With Senpai running, each
    store writes back at most ``nr_nodes`` entries, so residency stays far above the limit — while
    proactive writeback (``senpai-age-writeback``) on the same memcg brings it down."""
    wl = workload(1 * GiB, (band(0.4, HOT), band(0.6, TWICE_COLD)), initial_zswap_idle_s=1800.0, uptime_s=604800.0)
    cfg = scenario(tenant(wl=wl))
    idle = Drive(cfg, SenpaiZswapMax(reclaim_ratio=0.0), 60)
    zswap0 = int(idle.fs.read("t0/memory.zswap.current"))
    idle.run(60)
    limit = idle.controller.limits_written["t0"]  # type: ignore[attr-defined]
    assert idle.fs.read("t0/memory.zswap.max").strip() == str(limit)
    assert 0 < limit < zswap0 / 10
    assert idle.counter("zswpout") == 0.0
    assert idle.counter("zswpwb") == 0.0
    assert int(idle.fs.read("t0/memory.zswap.current")) == pytest.approx(zswap0, rel=0.01)

    active = Drive(cfg, SenpaiZswapMax(), 60)
    active.run(60)
    pages = cfg.host.chunk_pages
    for m in active.metrics:
        e = m.events
        rejected = e["pswpout"][0, 0] - e["zswpwb"][0, 0]  # stores refused to disk
        attempts = (e["zswpout"][0, 0] + rejected) / pages
        assert m.writeback_pages["memcg_limit"][0, 0] / pages <= cfg.host.nr_nodes * attempts
    assert active.counter("pswpout") > 0  # Senpai did reclaim, and stores met the limit
    assert int(active.fs.read("t0/memory.zswap.current")) > 0.9 * zswap0

    proactive = Drive(cfg, SenpaiAgeWriteback(), 60)
    proactive.run(60)
    assert int(proactive.fs.read("t0/memory.zswap.current")) < 0.5 * zswap0


def test_senpai_zswap_max_limit_left_behind_keeps_acting():
    """Seed thread: "memory.zswap.max is a stateful interface. If the userspace reclaimer crashes ...
    it may leave memory.zswap.max at some set value", and (Nhat Pham) a limit other than 0 or max makes
    every store pay a forced stats flush. The controller is replaced by plain Senpai after 5 minutes
    (before its limit bound); the limit stays in the file and later sends stores to disk and costs
    flush CPU, where a host that never had it writes nothing to disk."""
    cfg = scenario(tenant(wl=workload(2 * GiB, (band(0.5, HOT), band(0.5, COLD)))))
    out = {}
    for first in (SenpaiZswapMax(), SenpaiTMO()):
        drive = Drive(cfg, first, 150)
        drive.run(30)
        before = {k: drive.counter(k) for k in ("pswpout", "cpu_flush_s")}
        assert before["pswpout"] == 0.0
        successor = SenpaiTMO()
        successor.reset(drive.fs, 10.0)
        drive.controller = successor
        drive.run(120)
        out[first.name] = {k: drive.counter(k) - v for k, v in before.items()}
        out[first.name]["zswap.max"] = drive.fs.read("t0/memory.zswap.max").strip()
    stale, clean = out["senpai-zswap-max"], out["senpai-tmo"]
    assert stale["zswap.max"] != "max" and clean["zswap.max"] == "max"
    assert stale["pswpout"] > 0 and clean["pswpout"] == 0.0
    assert stale["cpu_flush_s"] > 0 and clean["cpu_flush_s"] == 0.0


# ------------------------------------------------------------------------------------------------
# senpai-age-writeback
# ------------------------------------------------------------------------------------------------


def test_senpai_age_writeback_writes_back_only_entries_older_than_the_threshold():
    """Seed thread (Hao Jia): "Entries that then remain in zswap past a policy-defined age threshold
    are considered 'twice cold', and the reclaimer wants to write them back"; v1 interface
    ``memory.zswap.proactive_writeback "[max=<bytes>] <age_seconds>"``. Senpai stores cold memory
    from t=0; with a 600 s threshold nothing is written back before the first entries are 600 s old
    although zswap fills, and no round writes back more than the entries that old."""
    cfg = one_tenant()
    drive = Drive(cfg, SenpaiAgeWriteback(age_threshold_s=600.0), 120)
    memcg = drive.fs.memcg("t0")
    eligible: list[int] = []
    drive.run(120, lambda d: eligible.append(memcg.zswap_bytes_older_than(600.0)))
    written = drive.series(lambda m: float(m.writeback_pages["proactive"][0, 0]) * 4096)
    zswapped = drive.series(lambda m: float(m.zswapped_bytes[0, 0]))
    assert written[:60].sum() == 0.0 and zswapped[59] > 20 * MiB
    assert written.sum() > 0
    assert all(w <= e for w, e in zip(written, eligible, strict=True))
    texts = [t for p, t in drive.fs.writes if p == "t0/memory.zswap.proactive_writeback"]
    assert texts and all(t.split()[0].startswith("max=") and t.split()[1] == "600" for t in texts)


def test_senpai_age_writeback_saves_more_dram_than_senpai_on_twice_cold_memory_within_its_budget():
    """Seed thread: for "a memcg that has reached steady state ... we want
    memory.zswap.proactive_writeback to write back entries that have sat in zswap past an age
    threshold, to further reclaim the DRAM still held by the compressed data"; TMO held SSD writes near
    1 MB/s per host. On a steady-state memcg whose twice-cold memory sits in zswap, the writeback saves
    more DRAM than plain Senpai, at no more than 1 MB/s of SSD writes, with PSI below Senpai's target."""
    cfg = twice_cold()
    results = {
        name: run_episode(cfg, name, seed=0, episode_steps=120).summary
        for name in ("senpai-tmo", "senpai-age-writeback")
    }
    age, tmo = results["senpai-age-writeback"], results["senpai-tmo"]
    assert age.dram_saved_percent > tmo.dram_saved_percent + 3.0
    assert 0.0 < age.ssd_write_mb_s <= 1.0
    assert tmo.ssd_write_mb_s == 0.0
    assert age.psi_some_avg10_mean < 0.1 and age.stall_percent < 0.01  # refaults from disk stay rare


# ------------------------------------------------------------------------------------------------
# shrinker
# ------------------------------------------------------------------------------------------------


def test_shrinker_writes_back_through_the_kernel_shrinker_only_and_less_than_age_writeback():
    """mm/zswap.c: with ``shrinker_enabled=Y`` every reclaim also runs the zswap shrinker, which
    writes entries back on their second encounter; the seed thread: "even when memory.reclaim is
    running, the fraction of zswap residency that ends up reaching the backing swap device is still
    very small". On a memcg growing under ``memory.high`` with twice-cold entries in zswap, the
    ``shrinker`` baseline turns the shrinker on and writes back only through it (no proactive
    writeback, ``memory.zswap.writeback`` left 1); it writes less to disk than ``senpai-age-writeback``
    and plain Senpai (shrinker off, the kernel default) writes back nothing."""
    cfg = twice_cold(memory_high=768 * MiB, growth=512 * MiB)
    drives = {}
    for controller in (SenpaiShrinker(), SenpaiTMO(), SenpaiAgeWriteback()):
        drive = Drive(cfg, controller, 120)
        drive.run(120)
        drives[controller.name] = drive
    shrinker = drives["shrinker"]
    assert shrinker.fs.read(SHRINKER_ENABLED_PATH).strip() == "Y"
    assert shrinker.fs.read("t0/memory.zswap.writeback").strip() == "1"
    paths = {p for p, _ in shrinker.fs.writes}
    assert paths <= {SHRINKER_ENABLED_PATH, "t0/memory.reclaim"}
    assert shrinker.series(lambda m: float(m.writeback_pages["shrinker"][0, 0])).sum() > 0
    assert shrinker.series(lambda m: float(m.writeback_pages["proactive"][0, 0])).sum() == 0.0
    assert drives["senpai-tmo"].counter("zswpwb") == 0.0
    assert drives["senpai-tmo"].fs.read(SHRINKER_ENABLED_PATH).strip() == "N"
    written = {name: float(d.sim.state.device_bytes_written[0]) for name, d in drives.items()}
    assert 0 < written["shrinker"] < written["senpai-age-writeback"]
