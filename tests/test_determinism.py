"""Determinism (docs/model.md §15, issue 2 "Determinism").

The same seed gives the same trajectory bit for bit: across two runs, across a fresh Python process,
whatever the batch size (a host's trajectory depends only on the seed and its index in the seed's
host sequence, never on which other hosts share the batch or what they do), and across save/restore
(``get_state``/``set_state`` and pickling the whole simulator). Different seeds give different runs.

Actions here are a pure function of (global host index, step), so host ``i`` gets the same actions in
every batch it is simulated in, and other hosts of a batch act differently from it (as the members of
a vector env do under a policy).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from zswap_gym.sim import (
    HostConfig,
    Phase,
    ScenarioConfig,
    Simulator,
    SwapDeviceConfig,
    TenantConfig,
    WorkloadConfig,
    ZswapConfig,
    load_scenario,
)
from zswap_gym.sim.state import StepTallies

MiB = 1 << 20
GiB = 1 << 30
STEPS = 40


def busy_scenario() -> ScenarioConfig:
    """A small host where every mechanism fires: growth and bursts, zswap.max, the shrinker, a small
    pool that fills (global worker), a slow swap device with a backlog, memory.high throttling."""
    host = HostConfig(
        dram_bytes=1 * GiB,
        chunk_pages=32,
        other_used_bytes=64 * MiB,
        nr_nodes=2,
        swap=SwapDeviceConfig(capacity_bytes=512 * MiB, write_iops=3_000.0),
        zswap=ZswapConfig(max_pool_percent=8.0, shrinker_enabled=True),
    )
    web = TenantConfig(
        name="web",
        memory_high_bytes=560 * MiB,
        zswap_max_bytes=48 * MiB,
        workload=WorkloadConfig(
            size_bytes=512 * MiB,
            incompressible_share=0.05,
            phases=(
                Phase(kind="growth", start_s=50.0, duration_s=100.0, size_delta_bytes=96 * MiB),
                Phase(kind="shift", start_s=120.0, fraction=0.3),
                Phase(kind="burst", start_s=200.0, duration_s=60.0, size_delta_bytes=32 * MiB, rate_multiplier=5.0),
            ),
        ),
    )
    batch = TenantConfig(
        name="batch",
        workload=WorkloadConfig(
            size_bytes=256 * MiB,
            phases=(Phase(kind="diurnal", period_s=300.0, size_amplitude=0.3, rate_amplitude=0.5),),
        ),
    )
    return ScenarioConfig(name="busy", host=host, tenants=(web, batch), max_memcgs=3).validate()


def actions(global_host: int, step: int, num_memcgs: int) -> tuple[np.ndarray, np.ndarray]:
    """This host's (reclaim, writeback) requests in bytes at ``step``: a pure function of both."""
    rng = np.random.default_rng((20260601, global_host, step))
    reclaim = rng.choice([0.0, 0.0, 4 * MiB, 32 * MiB, 128 * MiB], size=num_memcgs)
    writeback = rng.choice([0.0, 0.0, 0.0, 8 * MiB, 64 * MiB], size=num_memcgs)
    return reclaim, writeback


def batch_actions(sim: Simulator, step: int, same_as_host0: bool = False) -> tuple[np.ndarray, np.ndarray]:
    rows = [actions(0 if same_as_host0 else sim.first_host + h, step, sim.num_memcgs) for h in range(sim.num_hosts)]
    return np.stack([r for r, _ in rows]), np.stack([w for _, w in rows])


def _feed(h: hashlib._Hash, name: str, value: object) -> None:
    h.update(name.encode())
    if isinstance(value, np.ndarray):
        h.update(str(value.dtype).encode() + str(value.shape).encode())
        h.update(np.ascontiguousarray(value).tobytes())
    elif isinstance(value, dict):
        for key in sorted(value):
            _feed(h, f"{name}.{key}", value[key])
    else:
        h.update(repr(value).encode())


def state_arrays(state) -> dict[str, object]:
    """Every field of a SimState, dicts and the step tallies flattened (``counters.zswpout``,
    ``tallies.stall_s.zswap_refault``)."""
    out: dict[str, object] = {}
    for f in dataclasses.fields(state):
        value = getattr(state, f.name)
        if isinstance(value, StepTallies):
            value = value.as_dict()
        if isinstance(value, dict):
            for key, v in value.items():
                out[f"{f.name}.{key}"] = v
        else:
            out[f.name] = value
    return out


def digest(sim: Simulator, metrics: list) -> str:
    """SHA-256 of the full state and every metric of every step."""
    h = hashlib.sha256()
    for name, value in sorted(state_arrays(sim.get_state()).items()):
        _feed(h, name, value)
    for i, m in enumerate(metrics):
        for name, value in sorted(m.all_arrays().items()):
            _feed(h, f"{i}.{name}", np.asarray(value))
    return h.hexdigest()


def run(
    scenario: ScenarioConfig,
    seed: int,
    num_hosts: int = 1,
    first_host: int = 0,
    steps: int = STEPS,
    same_as_host0: bool = False,
) -> tuple[Simulator, list]:
    sim = Simulator(scenario, num_hosts=num_hosts, seed=seed, first_host=first_host)
    metrics = []
    for step in range(steps):
        reclaim, writeback = batch_actions(sim, step, same_as_host0)
        metrics.append(sim.step(reclaim, writeback, 30.0 if step % 7 == 3 else None))
    return sim, metrics


def fresh_process_digest(seed: int) -> str:
    """Entry point for the subprocess test: the digest of the busy scenario's run with ``seed``."""
    sim, metrics = run(busy_scenario(), seed, num_hosts=2)
    return digest(sim, metrics)


def assert_states_equal(a, b, label: str) -> None:
    fa, fb = state_arrays(a), state_arrays(b)
    assert fa.keys() == fb.keys(), label
    for name in fa:
        va, vb = fa[name], fb[name]
        if isinstance(va, np.ndarray):
            assert va.dtype == vb.dtype and va.shape == vb.shape, f"{label}: {name}"
            assert va.tobytes() == vb.tobytes(), f"{label}: state.{name} differs"
        else:
            assert va == vb, f"{label}: state.{name} {va!r} != {vb!r}"


def assert_metrics_equal(ma: list, mb: list, label: str) -> None:
    assert len(ma) == len(mb)
    for step, (a, b) in enumerate(zip(ma, mb, strict=True)):
        aa, bb = a.all_arrays(), b.all_arrays()
        assert aa.keys() == bb.keys()
        for name in aa:
            assert np.asarray(aa[name]).tobytes() == np.asarray(bb[name]).tobytes(), (
                f"{label}: step {step} metric {name} differs: {aa[name]} vs {bb[name]}"
            )


def host_rows(sim: Simulator, host: int) -> dict[str, object]:
    """Host ``host``'s slice of every per-host array of the state (plus the clock)."""
    out: dict[str, object] = {}
    for name, value in state_arrays(sim.get_state()).items():
        if isinstance(value, np.ndarray) and value.ndim >= 1 and value.shape[0] == sim.num_hosts:
            out[name] = value[host]
        elif name in ("now_s", "step_index"):
            out[name] = value
    return out


def assert_host_equal(sim_a: Simulator, host_a: int, sim_b: Simulator, host_b: int, metrics_a, metrics_b, label):
    """Host ``host_a`` of ``sim_a`` and ``host_b`` of ``sim_b`` have identical state and metrics."""
    ra, rb = host_rows(sim_a, host_a), host_rows(sim_b, host_b)
    assert ra.keys() == rb.keys(), label
    differing = [name for name in ra if (np.asarray(ra[name]).tobytes() != np.asarray(rb[name]).tobytes())]
    # Report the first step where the metrics diverge: more telling than the final state.
    for step, (a, b) in enumerate(zip(metrics_a, metrics_b, strict=True)):
        aa, bb = a.all_arrays(), b.all_arrays()
        bad = [n for n in aa if np.asarray(aa[n])[host_a].tobytes() != np.asarray(bb[n])[host_b].tobytes()]
        assert not bad, f"{label}: metrics diverge at step {step}: {bad[:6]}"
    assert not differing, f"{label}: final state differs in {differing}"


# --------------------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("scenario_name", ["busy", "default"])
def test_same_seed_gives_bit_identical_state_and_metrics(scenario_name):
    """Two runs with the same seed and actions end in the same state and report the same metrics."""
    scenario = busy_scenario() if scenario_name == "busy" else load_scenario("default")
    sim_a, ma = run(scenario, seed=11, num_hosts=2)
    sim_b, mb = run(scenario, seed=11, num_hosts=2)
    assert_states_equal(sim_a.get_state(), sim_b.get_state(), "two runs")
    assert_metrics_equal(ma, mb, "two runs")
    assert digest(sim_a, ma) == digest(sim_b, mb)


def test_fresh_process_reproduces_the_trajectory_digest():
    """A fresh Python process running the same seed prints the same state-and-metrics digest."""
    tests_dir = Path(__file__).resolve().parent
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); "
        "import test_determinism as t; print(t.fresh_process_digest(int(sys.argv[2])))"
    )
    env = dict(os.environ, PYTHONHASHSEED="12345")
    out = subprocess.run(
        [sys.executable, "-c", code, str(tests_dir), "5"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=tests_dir.parent,
        timeout=300,
    )
    assert out.stdout.strip() == fresh_process_digest(5)


@pytest.mark.parametrize("scenario_name", ["busy", "default"])
def test_host0_is_the_same_in_a_batch_of_1_and_8_under_identical_actions(scenario_name):
    """Host 0 of an 8-host batch matches a 1-host simulator when every host gets host 0's actions."""
    scenario = busy_scenario() if scenario_name == "busy" else load_scenario("default")
    one, m1 = run(scenario, seed=3, num_hosts=1)
    eight, m8 = run(scenario, seed=3, num_hosts=8, same_as_host0=True)
    assert_host_equal(one, 0, eight, 0, m1, m8, "batch 1 vs 8, identical actions")


@pytest.mark.parametrize("scenario_name", ["busy", "default"])
def test_host0_is_the_same_in_a_batch_of_1_and_8_when_other_hosts_act_differently(scenario_name):
    """Host 0's trajectory does not depend on what the other hosts of its batch do."""
    scenario = busy_scenario() if scenario_name == "busy" else load_scenario("default")
    one, m1 = run(scenario, seed=3, num_hosts=1)
    eight, m8 = run(scenario, seed=3, num_hosts=8)
    assert_host_equal(one, 0, eight, 0, m1, m8, "batch 1 vs 8, per-host actions")


def test_host_i_of_a_batch_equals_a_single_host_simulator_with_first_host_i():
    """Host i of an 8-host batch matches Simulator(num_hosts=1, first_host=i) with the same actions."""
    scenario = busy_scenario()
    eight, m8 = run(scenario, seed=9, num_hosts=8)
    failures = []
    for i in range(8):
        single, m1 = run(scenario, seed=9, num_hosts=1, first_host=i)
        try:
            assert_host_equal(eight, i, single, 0, m8, m1, f"host {i}")
        except AssertionError as exc:
            failures.append(str(exc))
    assert not failures, "\n".join(failures)


def test_hosts_of_a_batch_differ_from_each_other():
    """Hosts of one batch draw from independent streams (their workloads are not copies)."""
    sim = Simulator(busy_scenario(), num_hosts=4, seed=0)
    rates = sim.get_state().rate_hz
    for i in range(1, 4):
        assert rates[0].tobytes() != rates[i].tobytes()


def test_get_state_set_state_mid_run_continues_identically():
    """Restoring a mid-run state (into the same or a fresh simulator) continues bit for bit."""
    scenario = busy_scenario()
    sim = Simulator(scenario, num_hosts=2, seed=21)
    for step in range(15):
        sim.step(*batch_actions(sim, step))
    saved = sim.get_state()
    # The reference continuation.
    ref = []
    for step in range(15, 35):
        ref.append(sim.step(*batch_actions(sim, step)))
    ref_state = sim.get_state()
    # Rewind the same simulator.
    sim.set_state(saved)
    again = [sim.step(*batch_actions(sim, step)) for step in range(15, 35)]
    assert_metrics_equal(ref, again, "set_state on the same simulator")
    assert_states_equal(ref_state, sim.get_state(), "set_state on the same simulator")
    # Restore into a fresh simulator of the same scenario, batch and seed (a checkpoint reloaded).
    other = Simulator(scenario, num_hosts=2, seed=21)
    other.step(*batch_actions(other, 0))  # whatever it did before is overwritten
    other.set_state(saved)
    fresh = [other.step(*batch_actions(other, step)) for step in range(15, 35)]
    assert_metrics_equal(ref, fresh, "set_state on a fresh simulator")
    assert_states_equal(ref_state, other.get_state(), "set_state on a fresh simulator")


def test_restoring_into_a_simulator_of_another_seed_continues_identically_or_refuses():
    """A saved state carries its random streams: restoring it where the seed differs must not
    silently continue on other streams (it continues identically, or set_state raises)."""
    scenario = busy_scenario()
    sim = Simulator(scenario, num_hosts=2, seed=21)
    for step in range(15):
        sim.step(*batch_actions(sim, step))
    saved = sim.get_state()
    ref = [sim.step(*batch_actions(sim, step)) for step in range(15, 25)]
    other = Simulator(scenario, num_hosts=2, seed=999)
    try:
        other.set_state(saved)
    except ValueError:
        return  # refusing is acceptable: the state cannot be continued here
    again = [other.step(*batch_actions(other, step)) for step in range(15, 25)]
    assert_metrics_equal(ref, again, "set_state into a simulator built with another seed")
    assert_states_equal(sim.get_state(), other.get_state(), "set_state into a simulator built with another seed")


def test_get_state_is_a_copy_not_a_view():
    """A saved state does not change when the simulator steps on."""
    sim = Simulator(busy_scenario(), num_hosts=1, seed=2)
    saved = sim.get_state()
    before = digest_of_state(saved)
    for step in range(5):
        sim.step(*batch_actions(sim, step))
    assert digest_of_state(saved) == before


def digest_of_state(state) -> str:
    h = hashlib.sha256()
    for name, value in sorted(state_arrays(state).items()):
        _feed(h, name, value)
    return h.hexdigest()


def test_state_saved_after_a_between_step_cgroup_write_continues_identically():
    """Saving right after a memory.reclaim / knob write between steps restores to the same next step."""
    scenario = busy_scenario()
    sim = Simulator(scenario, num_hosts=1, seed=4)
    for step in range(10):
        sim.step(*batch_actions(sim, step))
    # A controller writes to cgroup files between steps, then the env is checkpointed.
    sim.memory_reclaim(np.array([[64 * MiB, 16 * MiB, 0.0]]))
    sim.zswap_proactive_writeback(np.array([[8 * MiB, 0.0, 0.0]]))
    sim.set_knob("memory.zswap.max", 0, 0, 16 * MiB)
    saved = sim.get_state()
    ref = [sim.step(*batch_actions(sim, step)) for step in range(10, 16)]
    restored = Simulator(scenario, num_hosts=1, seed=4)
    restored.set_state(saved)
    again = [restored.step(*batch_actions(restored, step)) for step in range(10, 16)]
    assert_metrics_equal(ref, again, "restore after a between-step write")
    assert_states_equal(sim.get_state(), restored.get_state(), "restore after a between-step write")


def test_pickled_simulator_continues_identically():
    """pickle.loads(pickle.dumps(sim)) mid-run continues exactly like the original."""
    scenario = busy_scenario()
    sim = Simulator(scenario, num_hosts=2, seed=8)
    for step in range(12):
        sim.step(*batch_actions(sim, step))
    clone = pickle.loads(pickle.dumps(sim))
    ma = [sim.step(*batch_actions(sim, step)) for step in range(12, 30)]
    mb = [clone.step(*batch_actions(clone, step)) for step in range(12, 30)]
    assert_metrics_equal(ma, mb, "pickled simulator")
    assert_states_equal(sim.get_state(), clone.get_state(), "pickled simulator")


def test_reset_with_the_same_seed_replays_the_run():
    """reset(seed) starts the same trajectory again, bit for bit."""
    scenario = busy_scenario()
    sim = Simulator(scenario, num_hosts=2, seed=13)
    first = [sim.step(*batch_actions(sim, step)) for step in range(10)]
    state_first = sim.get_state()
    sim.reset(13)
    second = [sim.step(*batch_actions(sim, step)) for step in range(10)]
    assert_metrics_equal(first, second, "reset")
    assert_states_equal(state_first, sim.get_state(), "reset")


def test_different_seeds_give_different_trajectories():
    """Different seeds draw different workloads and different step outcomes."""
    scenario = busy_scenario()
    sim_a, ma = run(scenario, seed=1, num_hosts=1, steps=10)
    sim_b, mb = run(scenario, seed=2, num_hosts=1, steps=10)
    assert sim_a.get_state().rate_hz.tobytes() != sim_b.get_state().rate_hz.tobytes()
    assert sim_a.get_state().last_access_s.tobytes() != sim_b.get_state().last_access_s.tobytes()
    assert digest(sim_a, ma) != digest(sim_b, mb)
    # Not merely a different initial draw: per-step outcomes differ too.
    refaults_a = np.array([m.refault_pages["zswap"].sum() + m.refault_pages["swap"].sum() for m in ma])
    refaults_b = np.array([m.refault_pages["zswap"].sum() + m.refault_pages["swap"].sum() for m in mb])
    assert not np.array_equal(refaults_a, refaults_b)


def test_a_host_reset_with_a_seed_replays_like_a_fresh_single_host_reset_with_that_seed():
    """reset_hosts(mask, host_seeds) mid-batch gives that host the trajectory of a fresh simulator
    reset with host_seeds=[seed], and leaves the other hosts' trajectories untouched."""
    scenario = busy_scenario()
    batch = Simulator(scenario, num_hosts=4, seed=6)
    untouched = Simulator(scenario, num_hosts=4, seed=6)
    for step in range(8):
        acts = batch_actions(batch, step)
        batch.step(*acts)
        untouched.step(*acts)
    batch.reset_hosts(np.array([False, True, False, False]), host_seeds=[None, 77, None, None])
    single = Simulator(scenario, num_hosts=1, seed=0)
    single.reset(host_seeds=[77])
    mb, ms, mu = [], [], []
    for k in range(10):
        # Host 1 acts by its own step count since its reset; the others by the batch's.
        reclaim, writeback = batch_actions(batch, 8 + k)
        reclaim[1], writeback[1] = actions(1000, k, batch.num_memcgs)
        mb.append(batch.step(reclaim, writeback))
        mu.append(untouched.step(reclaim, writeback))
        r1, w1 = actions(1000, k, single.num_memcgs)
        ms.append(single.step(r1[None, :], w1[None, :]))
    assert_host_equal(batch, 1, single, 0, mb, ms, "reset host 1 vs fresh single host")
    for i in (0, 2, 3):
        assert_host_equal(batch, i, untouched, i, mb, mu, f"host {i} untouched by host 1's reset")


def test_state_saved_after_a_host_reset_with_a_new_seed_restores_identically():
    """A checkpoint taken after reset_hosts(..., host_seeds) continues identically when restored into
    a freshly built simulator of the same scenario, batch size and seed."""
    scenario = busy_scenario()
    sim = Simulator(scenario, num_hosts=2, seed=30)
    for step in range(5):
        sim.step(*batch_actions(sim, step))
    sim.reset_hosts(np.array([True, False]), host_seeds=[4242, None])
    for step in range(5, 8):
        sim.step(*batch_actions(sim, step))
    saved = sim.get_state()
    ref = [sim.step(*batch_actions(sim, step)) for step in range(8, 16)]
    restored = Simulator(scenario, num_hosts=2, seed=30)
    restored.set_state(saved)
    again = [restored.step(*batch_actions(restored, step)) for step in range(8, 16)]
    assert_metrics_equal(ref, again, "restore after reset_hosts with a new seed")
    assert_states_equal(sim.get_state(), restored.get_state(), "restore after reset_hosts with a new seed")
