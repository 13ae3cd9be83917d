"""Digests of whole trajectories: the guard of a restructuring that must not change behaviour.

Runs fixed action sequences on the simulator (default scenario and a stress scenario in which every
mechanism fires, 1 and 8 hosts, prepared and unprepared steps) and on the vector env (observations,
rewards, info), and prints one SHA-256 per run and, with ``--by-field``, one per metric, info key and
state array, so a change that should move only some values shows which ones it moved.

    python benchmarks/trajectory_digest.py                  # one line per run
    python benchmarks/trajectory_digest.py --by-field > a   # per field; diff two such files

Digests are bit-exact for one machine and numpy build; compare runs made on the same one.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from test_determinism import batch_actions, busy_scenario, state_arrays  # noqa: E402

from zswap_gym.env.vector_env import HostOffloadVectorEnv  # noqa: E402
from zswap_gym.sim import Simulator, load_scenario  # noqa: E402

STEPS = 60
"""Steps per run (the stress scenario's phases all start within the first 40)."""


def _feed(h: hashlib._Hash, value: object) -> None:
    if isinstance(value, np.ndarray):
        h.update(str(value.dtype).encode() + str(value.shape).encode())
        h.update(np.ascontiguousarray(value).tobytes())
    elif isinstance(value, dict):
        for key in sorted(value):
            h.update(str(key).encode())
            _feed(h, value[key])
    else:
        h.update(repr(value).encode())


class FieldDigests:
    """One running SHA-256 per field name, and one over everything in order."""

    def __init__(self) -> None:
        self.fields: dict[str, hashlib._Hash] = {}
        self.whole = hashlib.sha256()

    def add(self, name: str, value: object) -> None:
        value = np.asarray(value) if not isinstance(value, dict) else value
        for h in (self.fields.setdefault(name, hashlib.sha256()), self.whole):
            h.update(name.encode())
            _feed(h, value)

    def lines(self, run: str, by_field: bool) -> Iterator[str]:
        yield f"{run}: {self.whole.hexdigest()}"
        if by_field:
            for name in sorted(self.fields):
                yield f"{run} {name}: {self.fields[name].hexdigest()[:16]}"


def sim_run(scenario_name: str, num_hosts: int, prepared: bool) -> FieldDigests:
    scenario = busy_scenario() if scenario_name == "stress" else load_scenario(scenario_name)
    sim = Simulator(scenario, num_hosts=num_hosts, seed=3)
    out = FieldDigests()
    for step in range(STEPS):
        reclaim, writeback = batch_actions(sim, step)
        if scenario_name != "stress":  # the default scenario's memcgs are GiBs: ask for more
            reclaim, writeback = reclaim * 4, writeback * 4
        ahead = sim.prepare_step() if prepared and hasattr(sim, "prepare_step") else None
        kwargs = {"prepared": ahead} if ahead is not None else {}
        metrics = sim.step(reclaim, writeback, 30.0 if step % 7 == 3 else None, **kwargs)
        for name, value in metrics.all_arrays().items():
            out.add(f"metric.{name}", value)
    for name, value in state_arrays(sim.get_state()).items():
        out.add(f"state.{name}", value)
    return out


def env_run(scenario_name: str, num_envs: int) -> FieldDigests:
    scenario = busy_scenario() if scenario_name == "stress" else scenario_name
    env = HostOffloadVectorEnv(num_envs=num_envs, scenario=scenario, max_episode_steps=25)
    rng = np.random.default_rng(11)
    out = FieldDigests()
    obs, _ = env.reset(seed=5)
    out.add("obs", obs)
    for _ in range(STEPS):
        action = rng.uniform(-1.0, 1.0, size=env.action_space.shape).astype(np.float32)
        obs, reward, terminated, truncated, info = env.step(action)
        out.add("obs", obs)
        out.add("reward", reward)
        out.add("done", np.stack([terminated, truncated]))
        for key, value in info.items():
            out.add(f"info.{key}", value)
    env.close()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--by-field", action="store_true", help="also print one digest per field")
    args = parser.parse_args(argv)
    for scenario in ("default", "stress"):
        for hosts in (1, 8):
            for prepared in (False, True):
                run = f"sim {scenario} hosts={hosts} prepared={prepared}"
                print("\n".join(sim_run(scenario, hosts, prepared).lines(run, args.by_field)), flush=True)
        for hosts in (1, 4):
            run = f"env {scenario} hosts={hosts}"
            print("\n".join(env_run(scenario, hosts).lines(run, args.by_field)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
