"""The policy framework: registry and entry points, the episode runner and its summary, the
resumable comparison, and the ``zswap-gym run`` / ``compare`` commands."""

from __future__ import annotations

import json

import numpy as np
import pytest

from zswap_gym.cgroup import CgroupFiles, parse_flat_keyed
from zswap_gym.cli import main
from zswap_gym.env.host_env import HostOffloadEnv
from zswap_gym.policy import (
    CgroupController,
    UnknownPolicyError,
    list_policies,
    make_policy,
    register_policy,
    run_episode,
)
from zswap_gym.policy.compare import load_results, run_comparison

BASELINES = (
    "noop",
    "static-high",
    "senpai-tmo",
    "senpai-oomd",
    "senpai-zswap-max",
    "senpai-age-writeback",
    "google-coldage",
    "damon-reclaim",
    "damon-reclaim-psi",
    "katalyst",
    "shrinker",
    "oracle",
)


class ConstantAction:
    """An action policy: the same action every step."""

    def __init__(self, reclaim: float, writeback: float = 0.0) -> None:
        self.reclaim, self.writeback = reclaim, writeback
        self.resets = 0

    def reset(self, obs, info) -> None:
        self.resets += 1

    def act(self, obs) -> np.ndarray:
        action = np.full((8, 2), -1.0, dtype=np.float32)
        action[:2, 0], action[:2, 1] = self.reclaim, self.writeback
        return action


class ReclaimShare(CgroupController):
    """Writes ``share`` of each memcg's memory.current to memory.reclaim every ``period_s``."""

    name = "test-reclaim-share"
    source = "test"

    def __init__(self, share: float = 0.005, period_s: float = 10.0) -> None:
        self.share, self.period_s = share, period_s
        self.calls: list[float] = []

    def control(self, fs: CgroupFiles, now_s: float) -> None:
        self.calls.append(now_s)
        for _ in range(self.periods_due("reclaim", now_s, self.period_s)):
            for memcg in fs.memcgs():
                current = int(fs.read(f"{memcg}/memory.current"))
                fs.write(f"{memcg}/memory.reclaim", str(int(current * self.share) // 4096 * 4096))


def test_every_baseline_of_the_issue_is_declared_by_name():
    """The CLI and the benchmark find baselines by name through the ``zswap_gym.agents`` entry points."""
    assert set(BASELINES) <= set(list_policies())


def test_unknown_policy_name_is_refused_naming_the_known_ones():
    with pytest.raises(UnknownPolicyError, match="unknown policy 'no-such'.*noop"):
        make_policy("no-such")


def test_registered_policy_is_made_by_name_with_parameters():
    register_policy("test-reclaim-share", ReclaimShare, "test", "test")
    policy = make_policy("test-reclaim-share", share=0.01)
    assert isinstance(policy, ReclaimShare) and policy.share == 0.01
    assert policy.config() == {"share": 0.01, "period_s": 10.0, "calls": []}
    with pytest.raises(ValueError, match="already registered"):
        register_policy("test-reclaim-share", ConstantAction)


def test_periods_due_counts_the_controllers_own_periods_on_the_env_clock():
    """A 6 s controller called every 10 s acts 1, 1, 2, 2, 1, 2, 2 times (Senpai's interval on 10 s steps);
    a 30 s controller acts every third call."""
    fast, slow = ReclaimShare(period_s=6.0), ReclaimShare(period_s=30.0)
    for c in (fast, slow):
        c.reset(None, 10.0)
    times = [10.0 * k for k in range(7)]
    assert [fast.periods_due("x", t, 6.0) for t in times] == [1, 1, 2, 2, 1, 2, 2]
    assert [slow.periods_due("x", t, 30.0) for t in times] == [1, 0, 0, 1, 0, 0, 1]


def test_controller_runs_before_every_step_and_its_reclaim_saves_dram():
    """The runner calls ``control(fs, now_s)`` once before each env step at the step's start time;
    the controller's memory.reclaim writes take memory out of DRAM as the kernel's proactive reclaim
    does (``pgsteal_proactive``)."""
    controller = ReclaimShare(0.005)
    result = run_episode("default", controller, seed=0, episode_steps=12)
    assert controller.calls == [10.0 * k for k in range(12)]
    assert result.summary.steps == 12 and result.summary.duration_s == 120.0
    assert result.summary.dram_saved_percent > 0.5
    assert result.summary.cpu_percent > 0


def test_summary_matches_the_env_info_step_by_step():
    """The summary's figures are the episode's own: the return is the sum of the rewards, DRAM saved
    the mean of ``info["dram_saved_share"]``, SSD writes the bytes written over the duration, the
    refault mean the refault-weighted mean of the steps' means."""
    policy = ConstantAction(0.9, 0.6)
    result = run_episode("default", policy, seed=3, episode_steps=25)
    env = HostOffloadEnv("default", episode_steps=25)
    obs, _ = env.reset(seed=3)
    rewards, saved, written, refaults, weighted = [], [], 0.0, 0.0, 0.0
    for _ in range(25):
        obs, reward, _, _, info = env.step(policy.act(obs))
        rewards.append(reward)
        saved.append(info["dram_saved_share"])
        written += info["swap_bytes_written"]
        n = info["refault_pages"]
        refaults += n
        m = env.core.last_metrics
        per_memcg = sum(v[0] for v in m.refault_pages.values())
        weighted += float((per_memcg * m.refault_latency_mean_us[0]).sum())
    s = result.summary
    assert policy.resets == 1
    assert s.episode_return == pytest.approx(sum(rewards))
    assert s.dram_saved_percent == pytest.approx(100 * np.mean(saved))
    assert s.ssd_write_mb_s == pytest.approx(written / 250.0 / 1e6)
    assert s.refaults == pytest.approx(refaults)
    assert refaults > 0 and s.refault_latency_mean_us == pytest.approx(weighted / refaults)
    assert s.refault_latency_p99_us >= s.refault_latency_mean_us


def test_same_seed_same_summary():
    a = run_episode("default", ConstantAction(0.4), seed=11, episode_steps=15).summary
    b = run_episode("default", ConstantAction(0.4), seed=11, episode_steps=15).summary
    c = run_episode("default", ConstantAction(0.4), seed=12, episode_steps=15).summary
    assert a == b and a != c


def test_comparison_saves_each_episode_and_resumes(tmp_path, monkeypatch):
    """Long runs save results as they go: a rerun skips the episodes already in the file, and a torn
    last line (an interrupted write) is run again."""
    register_policy("test-reclaim-share", ReclaimShare, "test", "test")
    path = str(tmp_path / "out" / "results.jsonl")
    grid = dict(seeds=[0, 1], results_path=path, episode_steps=4, jobs=1, progress=False)
    table = run_comparison(["default"], ["noop", "test-reclaim-share"], **grid)
    assert len(load_results(path)) == 4
    assert "| default | test-reclaim-share | 2 |" in table
    with open(path, encoding="utf-8") as f:
        lines = f.readlines()
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(lines[:3])
        f.write(lines[3][:20])  # torn
    ran = []
    import zswap_gym.policy.compare as compare

    real = compare.run_one
    monkeypatch.setattr(compare, "run_one", lambda *key: ran.append(key) or real(*key))
    assert run_comparison(["default"], ["noop", "test-reclaim-share"], **grid) == table
    assert len(ran) == 1


def test_cli_run_prints_the_summary_and_writes_plot_and_json(tmp_path, capsys):
    plot, summary = tmp_path / "episode.png", tmp_path / "summary.json"
    args = ["run", "--agent", "noop", "--steps", "6", "--seed", "2", "--quiet"]
    code = main([*args, "--plot", str(plot), "--json", str(summary)])
    assert code == 0
    out = capsys.readouterr().out
    for label in ("DRAM saved", "memory stall", "PSI some", "refault latency", "promotion rate", "SSD writes", "CPU"):
        assert label in out
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    record = json.loads(summary.read_text())
    assert record["policy"] == "noop" and record["seed"] == 2 and record["summary"]["steps"] == 6


def test_cli_run_refuses_an_unknown_agent_or_scenario(capsys):
    assert main(["run", "--agent", "no-such", "--quiet"]) == 2
    assert "unknown policy 'no-such'" in capsys.readouterr().err
    assert main(["run", "--agent", "noop", "--scenario", "no-such", "--quiet"]) == 2
    assert "unknown scenario" in capsys.readouterr().err


KERNEL_OPERATIONS = ("memory_reclaim", "zswap_proactive_writeback", "set_knob", "set_zswap_parameter")
"""The simulator's kernel-facing operations: every cgroup file write ends in one of them."""


def test_noop_writes_nothing_and_saves_nothing(monkeypatch):
    """``noop`` is the kernel alone: no cgroup file, module parameter or knob is written, no
    simulator operation is called, the knobs stay the scenario's and no proactive reclaim or
    writeback is counted; on the default scenario (no limits below the footprint, host not short of
    memory) nothing leaves DRAM (``zswpout``, ``pswpout``, ``swpout_zero`` stay 0)."""
    import zswap_gym.policy.runner as runner
    from zswap_gym.cgroup import CgroupFS
    from zswap_gym.cgroup.memcg import Memcg
    from zswap_gym.sim import Simulator, load_scenario

    calls, views = [], []

    class RecordingFS(CgroupFS):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            views.append(self)

        def write(self, path, text):
            calls.append(("write", path, text))
            return super().write(path, text)

    def recording(owner, name):
        real = getattr(owner, name)

        def call(self, *args, **kwargs):
            calls.append((f"{owner.__name__}.{name}", *args))
            return real(self, *args, **kwargs)

        monkeypatch.setattr(owner, name, call)

    monkeypatch.setattr(runner, "CgroupFS", RecordingFS)
    recording(Memcg, "write")
    for operation in KERNEL_OPERATIONS:
        recording(Simulator, operation)

    result = run_episode("default", "noop", seed=0, episode_steps=30)
    assert len(views) == 1, "the runner gives the controller the host's cgroup files"
    assert calls == []
    sim = views[0].sim
    fresh = Simulator(load_scenario("default"), num_hosts=1, seed=0)
    for knob in ("memory_high", "memory_max", "zswap_max", "swap_max", "zswap_writeback"):
        np.testing.assert_array_equal(getattr(sim.state, knob), getattr(fresh.state, knob), err_msg=knob)
    np.testing.assert_array_equal(sim.state.shrinker_enabled, fresh.state.shrinker_enabled)
    for name in ("pgscan_proactive", "pgsteal_proactive", "zswpwb", "zswpout", "pswpout", "swpout_zero"):
        assert not sim.state.counters[name].any(), name
    assert result.summary.dram_saved_percent == 0.0 and result.summary.episode_return == 0.0


def test_memory_stat_reads_back_what_the_controller_did():
    """What a controller reads is what the kernel would print: after its reclaims, ``pgsteal_proactive``
    and ``zswpout`` in memory.stat count the pages it reclaimed."""
    controller = ReclaimShare(0.01)
    env = HostOffloadEnv("default", episode_steps=5)
    env.reset(seed=0)
    from zswap_gym.cgroup import CgroupFS

    fs = CgroupFS(env.sim, 0)
    controller.reset(fs, 10.0)
    controller.control(fs, 0.0)
    stat = parse_flat_keyed(fs.read("web/memory.stat"))
    assert stat["pgsteal_proactive"] > 0 and stat["zswpout"] + stat["swpout_zero"] == stat["pgsteal_proactive"]


def test_cli_run_passes_policy_parameters_and_names_a_bad_one(capsys):
    """``--param NAME=VALUE`` sets a policy parameter (value read as YAML); an unknown one is refused."""
    assert main(["run", "--agent", "static-high", "--param", "share=0.8", "--steps", "3", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["run", "--agent", "static-high", "--param", "nosuch=1", "--steps", "3", "--quiet"]) == 2
    assert "nosuch" in capsys.readouterr().err
    assert main(["run", "--agent", "static-high", "--param", "share", "--steps", "3", "--quiet"]) == 2
    assert "expected NAME=VALUE" in capsys.readouterr().err


def test_cli_output_piped_into_a_reader_that_quits_early_stops_quietly():
    """``zswap-gym agents | head -1`` prints one line and no BrokenPipeError traceback."""
    import subprocess
    import sys

    code = "import sys; from zswap_gym.cli import main; sys.exit(main(['agents']))"
    proc = subprocess.run(
        f'{sys.executable} -c "{code}" | head -1', shell=True, capture_output=True, text=True, check=False
    )
    assert len(proc.stdout.splitlines()) == 1
    assert "Traceback" not in proc.stderr
