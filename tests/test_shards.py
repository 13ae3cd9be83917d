"""Sharded vector envs (``workers > 1``): hosts stepped in worker processes, bit for bit the same
trajectories as one batched simulator."""

from __future__ import annotations

import copy
import os
import pickle
import select
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode
from test_env import ENV_ID, assert_vector_step_equal, random_actions  # tests/ is on sys.path under pytest

import zswap_gym  # noqa: F401  (registers the env ids)
from zswap_gym.env import ActionError, HostOffloadVectorEnv
from zswap_gym.env.sb3 import HostOffloadSB3VecEnv
from zswap_gym.env.shards import ShardedCore, shard_sizes, warn_if_threads_collide

HOSTS = 5
HORIZON = 9
# The test process has PyTorch loaded (the SB3 tests) with its default threads; these envs step
# briefly, so the warning about threads and spinning workers is expected here, and checked below.
pytestmark = pytest.mark.filterwarnings("ignore:PyTorch may use:RuntimeWarning")


def pair(workers: int = 2, **kwargs) -> tuple[HostOffloadVectorEnv, HostOffloadVectorEnv]:
    """The same env twice: one batched simulator, and ``workers`` shards."""
    kwargs = {"num_envs": HOSTS, "max_episode_steps": HORIZON, **kwargs}
    return HostOffloadVectorEnv(**kwargs), HostOffloadVectorEnv(workers=workers, **kwargs)


def assert_steps_match(plain: HostOffloadVectorEnv, sharded: HostOffloadVectorEnv, rng, steps: int) -> None:
    """``steps`` random actions into both envs, every step's results equal bit for bit."""
    for _ in range(steps):
        action = random_actions(rng, plain.action_space.shape)
        assert_vector_step_equal(plain.step(action), sharded.step(action))


def random_requests(sim, rng, writeback_share: float) -> tuple[np.ndarray, np.ndarray]:
    """Reclaim up to 2 % of ``memory.current`` and write back up to ``writeback_share`` of the
    zswapped bytes, per memcg (bytes)."""
    g = sim.gauges()
    reclaim = g.memory_current * rng.uniform(0.0, 0.02, g.memory_current.shape)
    return reclaim, g.zswap_pages * 4096.0 * rng.uniform(0.0, writeback_share, g.memory_current.shape)


def test_shard_sizes_give_the_caller_a_lighter_shard_and_split_the_rest_evenly():
    assert shard_sizes(3, 1) == [3]
    assert shard_sizes(2, 2) == [1, 1]
    assert shard_sizes(4, 2) == [1, 3]
    assert shard_sizes(8, 2) == [1, 7]
    assert shard_sizes(16, 2) == [5, 11]
    assert shard_sizes(64, 2) == [29, 35]
    assert shard_sizes(3, 3) == [1, 1, 1]
    assert shard_sizes(10, 3) == [1, 4, 5]
    for n in range(1, 70):
        for k in range(1, min(n, 6) + 1):
            sizes = shard_sizes(n, k)
            assert sum(sizes) == n and len(sizes) == k and min(sizes) >= 1
            assert max(sizes[1:], default=0) - min(sizes[1:], default=0) <= 1  # workers even
            assert k == 1 or sizes[0] <= min(sizes[1:])  # the caller's is the lightest


@pytest.mark.parametrize("workers", [0, -1, 6, 2.0, True, "2"])
def test_bad_worker_count_raises_naming_workers(workers):
    with pytest.raises(ValueError, match="workers"):
        HostOffloadVectorEnv(num_envs=HOSTS, workers=workers)


@pytest.mark.parametrize(
    ("workers", "mode"),
    [(2, AutoresetMode.NEXT_STEP), (3, AutoresetMode.SAME_STEP)],
)
def test_sharded_env_steps_bit_for_bit_like_one_batched_simulator(workers, mode):
    """Every host's observations, rewards, flags and info, across episode ends and autoresets."""
    plain, sharded = pair(workers, autoreset_mode=mode)
    try:
        assert isinstance(sharded.core, ShardedCore) and sharded.core.workers == workers
        a, b = plain.reset(seed=11), sharded.reset(seed=11)
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1]["episode_seed"], b[1]["episode_seed"])
        rng = np.random.default_rng(3)
        assert_steps_match(plain, sharded, rng, 2 * HORIZON + 2)
        np.testing.assert_array_equal(plain.core.episode_seeds, sharded.core.episode_seeds)
        np.testing.assert_array_equal(plain.core.episode_steps, sharded.core.episode_steps)
    finally:
        sharded.close()


def test_float64_actions_reach_the_workers_unrounded():
    """Actions travel to the workers as float64: values no float32 can hold act as in one batch."""
    plain, sharded = pair(2)
    try:
        plain.reset(seed=8), sharded.reset(seed=8)
        rng = np.random.default_rng(9)
        for _ in range(4):
            action = rng.uniform(-1.0, 1.0, (HOSTS, *plain.single_action_space.shape))  # float64
            assert not np.array_equal(action.astype(np.float32), action)
            assert_vector_step_equal(plain.step(action), sharded.step(action))
    finally:
        sharded.close()


def test_partial_reset_of_a_sharded_env_matches_the_batched_one():
    plain, sharded = pair(2, autoreset_mode=AutoresetMode.DISABLED)
    try:
        plain.reset(seed=5), sharded.reset(seed=5)
        rng = np.random.default_rng(4)
        assert_steps_match(plain, sharded, rng, 3)
        mask = np.array([True, False, False, True, False])  # one host of each shard (sizes 1 and 4)
        a = plain.reset(options={"reset_mask": mask})
        b = sharded.reset(options={"reset_mask": mask})
        np.testing.assert_array_equal(a[0], b[0])
        assert_steps_match(plain, sharded, rng, 3)
    finally:
        sharded.close()


def test_sharded_env_without_spinning_matches_too():
    """With ``spin_s=0`` every wait sleeps (what happens with fewer CPUs than processes)."""
    plain = HostOffloadVectorEnv(num_envs=4, max_episode_steps=HORIZON)
    sharded = HostOffloadVectorEnv(num_envs=4, max_episode_steps=HORIZON, workers=2)
    sharded.core.close()
    sharded.core = ShardedCore("default", 4, max_episode_steps=HORIZON, workers=2, spin_s=0.0)
    try:
        plain.reset(seed=1), sharded.reset(seed=1)
        rng = np.random.default_rng(5)
        assert_steps_match(plain, sharded, rng, 4)
    finally:
        sharded.close()


def test_make_vec_passes_workers_to_the_native_vector_env():
    env = gym.make_vec(ENV_ID, num_envs=4, vectorization_mode="vector_entry_point", workers=2)
    try:
        assert isinstance(env, HostOffloadVectorEnv) and isinstance(env.core, ShardedCore)
        obs, _ = env.reset(seed=0)
        assert obs.shape == (4, *env.single_observation_space.shape)
    finally:
        env.close()


def test_sb3_adapter_over_a_sharded_env_matches_the_batched_one():
    plain = HostOffloadSB3VecEnv(num_envs=HOSTS, max_episode_steps=HORIZON)
    sharded = HostOffloadSB3VecEnv(num_envs=HOSTS, max_episode_steps=HORIZON, workers=2)
    try:
        plain.seed(9), sharded.seed(9)
        np.testing.assert_array_equal(plain.reset(), sharded.reset())
        rng = np.random.default_rng(6)
        for _ in range(HORIZON + 2):  # crosses the end of the episode (terminal observations)
            action = random_actions(rng, (HOSTS, *plain.action_space.shape))
            plain.step_async(action), sharded.step_async(action)
            a, b = plain.step_wait(), sharded.step_wait()
            for j in range(3):
                np.testing.assert_array_equal(a[j], b[j])
            for info_a, info_b in zip(a[3], b[3], strict=True):
                assert info_a.keys() == info_b.keys()
                for key in info_a:
                    np.testing.assert_array_equal(info_a[key], info_b[key], err_msg=key)
        assert plain.reset_infos == sharded.reset_infos
    finally:
        sharded.close()


def test_bad_action_on_a_sharded_env_names_the_whole_batch_shape():
    env = HostOffloadVectorEnv(num_envs=4, workers=2)
    try:
        env.reset(seed=0)
        with pytest.raises(ActionError, match=r"\(4, 8, 2\)"):
            env.step(np.zeros((2, 8, 2), dtype=np.float32))
        bad = np.zeros((4, 8, 2), dtype=np.float32)
        bad[3, 0, 0] = np.nan  # a host of the worker's shard
        with pytest.raises(ActionError, match="nan"):
            env.step(bad)
        env.step(np.zeros((4, 8, 2), dtype=np.float32))  # still steps
    finally:
        env.close()


@pytest.mark.parametrize("copier", ["pickle", "deepcopy"])
def test_sharded_env_restored_mid_episode_continues_bit_for_bit(copier):
    plain, sharded = pair(2)
    clone = None
    try:
        plain.reset(seed=2), sharded.reset(seed=2)
        rng = np.random.default_rng(7)
        for _ in range(5):
            action = random_actions(rng, plain.action_space.shape)
            plain.step(action), sharded.step(action)
        clone = pickle.loads(pickle.dumps(sharded)) if copier == "pickle" else copy.deepcopy(sharded)
        assert isinstance(clone.core, ShardedCore)
        for _ in range(HORIZON):  # crosses the episode end
            action = random_actions(rng, plain.action_space.shape)
            expected = plain.step(action)
            assert_vector_step_equal(sharded.step(action), expected)
            assert_vector_step_equal(clone.step(action), expected)
    finally:
        sharded.close()
        if clone is not None:
            clone.close()


def test_switching_scenario_restarts_the_workers_and_matches_the_batched_env():
    plain, sharded = pair(2)
    try:
        old_workers = [w.process for w in sharded.core._workers]
        a = plain.reset(seed=3, options={"scenario": "web-steady"})
        b = sharded.reset(seed=3, options={"scenario": "web-steady"})
        assert isinstance(sharded.core, ShardedCore) and sharded.core.scenario.name == "web-steady"
        assert not any(p.is_alive() for p in old_workers)
        np.testing.assert_array_equal(a[0], b[0])
        rng = np.random.default_rng(12)
        assert_steps_match(plain, sharded, rng, 3)
    finally:
        sharded.close()


def test_ansi_render_of_a_sharded_env_is_the_batched_envs():
    plain, sharded = pair(2, render_mode="ansi")
    try:
        plain.reset(seed=4), sharded.reset(seed=4)
        action = np.full((HOSTS, *plain.single_action_space.shape), 0.5, dtype=np.float32)
        plain.step(action), sharded.step(action)
        assert sharded.render() == plain.render()
    finally:
        sharded.close()


def test_simulator_of_a_sharded_env_is_not_reachable_and_says_why():
    env = HostOffloadVectorEnv(num_envs=2, workers=2)
    try:
        with pytest.raises(AttributeError, match="workers=1"):
            env.core.sim  # noqa: B018
        with pytest.raises(AttributeError, match="workers=1"):
            env.core.last_metrics  # noqa: B018
    finally:
        env.close()


def test_close_stops_the_worker_processes_and_can_be_repeated():
    env = HostOffloadVectorEnv(num_envs=3, workers=3)
    processes = [w.process for w in env.core._workers]
    assert all(p.is_alive() for p in processes)
    env.close()
    assert not any(p.is_alive() for p in processes)
    env.core.close()  # again: nothing left to stop


def test_a_dead_worker_is_reported_with_its_hosts():
    env = HostOffloadVectorEnv(num_envs=4, workers=2)
    try:
        env.reset(seed=0)
        worker = env.core._workers[0]
        worker.process.kill()
        worker.process.join()
        assert worker.hosts == "hosts 1..3"
        with pytest.raises(RuntimeError, match=r"hosts 1\.\.3"):
            env.step(np.zeros((4, 8, 2), dtype=np.float32))
    finally:
        env.close()


def _assert_same_states(a, b) -> None:
    import dataclasses

    sa, sb = a.get_state(), b.get_state()
    for field in dataclasses.fields(sa):
        va, vb = getattr(sa, field.name), getattr(sb, field.name)
        if isinstance(va, dict):
            assert va.keys() == vb.keys()
            for key in va:
                np.testing.assert_array_equal(va[key], vb[key], err_msg=f"{field.name}.{key}")
        elif isinstance(va, np.ndarray):
            np.testing.assert_array_equal(va, vb, err_msg=field.name)
        else:
            assert va == vb, field.name


@pytest.mark.parametrize(
    ("scenario_name", "steps", "writeback"),
    [
        ("default", 6, True),
        ("working-set-shift", 185, True),  # across the shift's step (1800 s)
        ("batch-expand-high", 40, True),
        ("diurnal", 40, True),  # footprints growing every step
        # memory.zswap.writeback = 0 and incompressible pages: rejected stores go back to the active list
        ("ml-incompressible", 20, False),
        # memory.zswap.max and the shrinker: reclaim's stores write entries back before the proactive walk
        ("default", 12, "limits"),
    ],
)
def test_prepared_step_gives_the_same_step_as_an_unprepared_one(scenario_name, steps, writeback):
    """``Simulator.prepare_step`` (what a worker computes ahead: the schedule rows and the access
    draws) changes nothing in the trajectory, across footprint growth, working-set shifts, diurnal
    load, reclaim that reactivates pages and writeback during reclaim."""
    from zswap_gym.sim import Simulator, load_scenario

    scenario = load_scenario(scenario_name)
    a, b = Simulator(scenario, num_hosts=3, seed=4), Simulator(scenario, num_hosts=3, seed=4)
    if writeback == "limits":
        for sim in (a, b):
            for host in range(3):
                sim.set_knob("memory.zswap.max", host, 0, 64 * 2**20)
                sim.set_zswap_parameter("shrinker_enabled", host, True)
    if not writeback:
        for sim in (a, b):
            for host in range(3):
                for memcg in range(len(scenario.tenants)):
                    sim.set_knob("memory.zswap.writeback", host, memcg, False)
    rng = np.random.default_rng(10)
    for _ in range(steps):
        # (With limits, sometimes the whole list: the walk then reaches entries written back earlier.)
        reclaim, writeback_bytes = random_requests(a, rng, 0.1 if writeback != "limits" else 1.5)
        ma = a.step(reclaim, writeback_bytes)
        mb = b.step(reclaim, writeback_bytes, prepared=b.prepare_step())
        for key, value in ma.all_arrays().items():
            np.testing.assert_array_equal(value, mb.all_arrays()[key], err_msg=key)
    _assert_same_states(a, b)


def test_prepared_steps_on_the_stress_scenario_with_age_threshold_writeback_change_nothing():
    """The busy scenario (every mechanism fires) with age-threshold writeback on some steps: the
    case on which the earlier compute-ahead (touches, zswap LRU lists made ahead) diverged at step 22."""
    from test_determinism import batch_actions, busy_scenario

    from zswap_gym.sim import Simulator

    a, b = Simulator(busy_scenario(), 1, seed=3), Simulator(busy_scenario(), 1, seed=3)
    for step in range(40):
        reclaim, writeback = batch_actions(a, step)
        age = 30.0 if step % 7 == 3 else None
        ma = a.step(reclaim, writeback, age)
        mb = b.step(reclaim, writeback, age, prepared=b.prepare_step())
        for key, value in ma.all_arrays().items():
            np.testing.assert_array_equal(value, mb.all_arrays()[key], err_msg=f"step {step}: {key}")
    _assert_same_states(a, b)


@pytest.mark.parametrize("with_draws", [False, True])
def test_a_partly_prepared_step_gives_the_same_step(with_draws):
    """``prepare_step(stop=...)`` leaves the access draws to the step once ``stop()`` says so (what
    the caller's shard does while it waits for the workers)."""
    from zswap_gym.sim import Simulator, load_scenario

    scenario = load_scenario("default")
    a, b = Simulator(scenario, num_hosts=2, seed=6), Simulator(scenario, num_hosts=2, seed=6)
    rng = np.random.default_rng(11)
    for _ in range(5):
        reclaim, writeback = random_requests(a, rng, 0.2)
        prepared = b.prepare_step(stop=lambda: not with_draws)
        assert (prepared.access_draws is not None) == with_draws
        ma, mb = a.step(reclaim, writeback), b.step(reclaim, writeback, prepared=prepared)
        for key, value in ma.all_arrays().items():
            np.testing.assert_array_equal(value, mb.all_arrays()[key], err_msg=key)
    _assert_same_states(a, b)


def test_a_prepared_step_holds_through_cgroup_writes_but_not_into_another_step():
    """What is made ahead depends only on each host's random stream and step index: a knob change or
    a proactive reclaim in between leaves it valid (and the trajectory unchanged); a step taken in
    between, or a host reset onto another stream, makes it stale and the step refuses it."""
    from zswap_gym.sim import Simulator, load_scenario

    scenario = load_scenario("default")
    a, b = Simulator(scenario, num_hosts=2, seed=0), Simulator(scenario, num_hosts=2, seed=0)
    prepared = b.prepare_step()
    for sim in (a, b):
        sim.set_knob("memory.high", 0, 0, 2**30)
        sim.memory_reclaim(sim.gauges().memory_current * 0.05)
    ma, mb = a.step(), b.step(prepared=prepared)
    for key, value in ma.all_arrays().items():
        np.testing.assert_array_equal(value, mb.all_arrays()[key], err_msg=key)
    with pytest.raises(ValueError, match="stale"):
        b.step(prepared=prepared)  # made for the step just taken
    prepared = b.prepare_step()
    b.reset_hosts(np.array([False, True]), host_seeds=[None, 123])
    with pytest.raises(ValueError, match="stale"):
        b.step(prepared=prepared)
    b.step(prepared=b.prepare_step())  # a fresh one is fine


def test_a_warning_names_pytorch_threads_that_would_take_turns_with_the_workers(monkeypatch):
    """Spinning workers keep their CPUs busy: PyTorch threads beyond the CPUs left make the policy
    and the workers take turns (measured four times slower); the env says so, naming the fix."""
    import sys
    import types
    import warnings

    cpus = len(__import__("os").sched_getaffinity(0))
    fake = types.SimpleNamespace(get_num_threads=lambda: cpus + 1)
    monkeypatch.setitem(sys.modules, "torch", fake)
    with pytest.warns(RuntimeWarning, match=r"torch.set_num_threads\("):
        warn_if_threads_collide(2)
    fake.get_num_threads = lambda: max(1, cpus - 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_if_threads_collide(2)
        warn_if_threads_collide(1)  # no worker processes: nothing to collide with
    monkeypatch.delitem(sys.modules, "torch")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_if_threads_collide(2)  # PyTorch not loaded: nothing to say


# ------------------------------------------------------------------------------------------------
# Nothing outlives the caller (issue 11, point 14)
# ------------------------------------------------------------------------------------------------

_HOLDER = textwrap.dedent(
    """
    import os, sys, threading, time
    import numpy as np
    from zswap_gym.env import HostOffloadVectorEnv
    from zswap_gym.env.shards import ShardedCore

    def make():
        if sys.argv[1] == "forkserver":
            return ShardedCore(num_envs=4, workers=2, start_method="forkserver")
        return HostOffloadVectorEnv(num_envs=4, workers=2)

    if __name__ == "__main__":
        if sys.argv[1] == "thread":  # made in a thread that has ended since: the workers live on
            made = []
            maker = threading.Thread(target=lambda: made.append(make()))
            maker.start()
            maker.join()
            time.sleep(1.0)
            env = made[0]
        else:
            env = make()
        env.reset([0, 1, 2, 3]) if isinstance(env, ShardedCore) else env.reset(seed=0)
        env.step(np.zeros((4, 8, 2)))
        workers = env.core._workers if hasattr(env, "core") else env._workers
        print(os.getpid(), *(w.process.pid for w in workers), *(w.shm.name for w in workers), flush=True)
        threading.Event().wait()  # until killed
    """
)


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, parent pid, start time) of a process from /proc, or None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return fields[0], int(fields[1]), int(fields[19])


def _descendants(pid: int) -> dict[int, int]:
    """Every process below ``pid`` (children, their children, ...), each with its start time."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            parents[int(entry.name)] = stat
    found, frontier = {}, [pid]
    while frontier:
        parent = frontier.pop()
        for child, (_, ppid, start) in parents.items():
            if ppid == parent and child not in found:
                found[child] = start
                frontier.append(child)
    return found


def _alive(pid: int, start: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[0] != "Z" and stat[2] == start  # a zombie has exited


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("mode", ["main", "thread", "forkserver"])
def test_sigkill_of_the_caller_leaves_no_worker_forkserver_or_resource_tracker(tmp_path, mode):
    """A process holding a ``workers=2`` env is SIGKILLed: within seconds its worker, the
    resource tracker (and with ``start_method="forkserver"`` the forkserver) are gone too, and the
    shared blocks are unlinked. ``thread``: the env was made by a thread that ended before (the
    workers must outlive that thread, and still not the process)."""
    script = tmp_path / "holder.py"
    script.write_text(_HOLDER, encoding="utf-8")
    root = Path(zswap_gym.__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    with open(tmp_path / "stderr.txt", "w+b") as stderr:
        holder = subprocess.Popen([sys.executable, str(script), mode], stdout=subprocess.PIPE, stderr=stderr, env=env)
        helpers: dict[int, int] = {}
        try:
            ready, _, _ = select.select([holder.stdout], [], [], 120.0)
            line = holder.stdout.readline().decode() if ready else ""
            stderr.seek(0)
            assert line, f"the holder printed nothing: {stderr.read().decode()}"
            pid, worker, shm = line.split()
            assert int(pid) == holder.pid
            helpers = _descendants(holder.pid)
            assert int(worker) in helpers, helpers
            expected = 3 if mode == "forkserver" else 2  # worker, resource tracker (, forkserver)
            assert len(helpers) == expected, {p: Path(f"/proc/{p}/cmdline").read_bytes() for p in helpers}
            os.kill(holder.pid, signal.SIGKILL)
            holder.wait(timeout=10.0)
            deadline = time.monotonic() + 5.0
            survivors = helpers
            while time.monotonic() < deadline:
                survivors = {p: start for p, start in helpers.items() if _alive(p, start)}
                if not survivors:
                    break
                time.sleep(0.05)
            cmdlines = {p: Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ")[:120] for p in survivors}
            assert not survivors, f"alive 5 s after the caller's SIGKILL: {cmdlines}"
            deadline = time.monotonic() + 5.0
            while Path(f"/dev/shm/{shm}").exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not Path(f"/dev/shm/{shm}").exists(), "the worker's shared block outlived everyone"
        finally:
            if holder.poll() is None:
                holder.kill()
                holder.wait()
            for p, start in helpers.items():  # only what this test started, checked by start time
                if _alive(p, start):
                    os.kill(p, signal.SIGKILL)
