#!/usr/bin/env python
"""Environment speed: env steps per second beside Gymnasium's CartPole-v1, and the env's share of SB3 PPO training.

Three measurements, all in one run, on one thread (the script sets the BLAS/OpenMP thread variables
before numpy is imported and ``torch.set_num_threads(1)``, and prints what it set), except the rows
and runs with ``workers`` > 1, whose env uses worker processes:

1. **Single env**: ``gymnasium.make("zswap_gym/HostOffload-v0")`` (with Gymnasium's default wrappers),
   ``reset(seed=0)``, then ``--steps`` steps of a fixed moderate action (every memcg: reclaim
   ``a = 0.5``, i.e. 0.5 % of ``memory.current`` per step; writeback ``a = 0.45``, ~2 % of its zswapped
   bytes), resetting at episode end. Beside it: ``gymnasium.make("CartPole-v1")`` with alternating
   actions.
2. **Vector env** at ``--hosts`` (default 1, 16, 64) hosts: ``gymnasium.make_vec(..., num_envs=N)``
   (the native ``HostOffloadVectorEnv``, one batched simulator, NEXT_STEP autoreset) with the same
   action for every host. Beside it: ``gymnasium.make_vec("CartPole-v1", num_envs=N,
   vectorization_mode="vector_entry_point")`` (Gymnasium's numpy-vectorised CartPole) at the same N.
   "env steps/s" counts host steps (vector steps x N). With ``--vector-workers`` (default 1 2), each
   batch size is measured again with its hosts split over that many processes (``workers=k``: this
   one and ``k - 1`` workers, :mod:`zswap_gym.env.shards`); the script itself stays on one thread.
3. **SB3 PPO**: ``PPO("MlpPolicy", env)`` with default hyperparameters (``n_steps=2048``,
   ``batch_size=64``, ``n_epochs=10``; ``--ppo-n-steps`` overrides ``n_steps``) on the SB3 adapter
   (``HostOffloadSB3VecEnv``, ``--ppo-hosts`` hosts, default 8, under ``VecMonitor``), learning for
   ``--ppo-iterations`` rollout+update iterations. "Env stepping" is everything PPO calls on the env
   object it holds, timed inside the same ``learn`` call: ``VecMonitor``'s ``step_async``,
   ``step_wait`` and ``reset`` (simulator, observations, reward, per-host info dicts, the adapter
   and the monitor's episode bookkeeping); within it the adapter's ``step_wait``/``reset`` and the
   vector env's own step (``step_host_scalars``, its ``step`` without the vector info) are timed
   too, as is PPO's ``train`` (the gradient updates); the rest is rollout overhead (policy
   inference, rollout buffer, callbacks). Target (issue 3): env stepping <= 25 % of the training
   wall time. Measured once per ``--ppo-workers`` value (default 1 2): the env's hosts stepped in
   this process alone, then split with a worker process on the machine's other core.

Each figure is the median over ``--repeats`` repeats (fresh envs per repeat; the garbage collector
is paused while env steps are timed, for both envs alike; ``--warmup`` untimed steps first).

Usage::

    python benchmarks/env_speed.py                          # all three, 3 repeats
    python benchmarks/env_speed.py --repeats 5 --steps 500 --json env_speed.json
    python benchmarks/env_speed.py --skip-ppo --hosts 1 8 64
    taskset -c 0 python benchmarks/env_speed.py             # pinned to one core
"""

import os

THREAD_VARS = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
    "VECLIB_MAXIMUM_THREADS": "1",
}
os.environ.update(THREAD_VARS)  # before numpy / torch are imported

import argparse  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import zswap_gym  # noqa: E402,F401  (registers the env ids)
from zswap_gym.env.sb3 import HostOffloadSB3VecEnv  # noqa: E402

ENV_ID = "zswap_gym/HostOffload-v0"
RECLAIM_ACTION = 0.5  # a**2 * 2 % = 0.5 % of memory.current per step
WRITEBACK_ACTION = 0.45  # a**2 * 10 % ~= 2 % of zswapped bytes per step
TARGET_ENV_SHARE = 0.25


def zswap_action(shape: tuple[int, ...]) -> np.ndarray:
    action = np.zeros(shape, dtype=np.float32)
    action[..., 0] = RECLAIM_ACTION
    action[..., 1] = WRITEBACK_ACTION
    return action


def timed_loop(step: Callable[[int], None], steps: int, warmup: int) -> float:
    """Seconds for ``steps`` calls of ``step(t)`` after ``warmup`` untimed ones (gc paused)."""
    for t in range(warmup):
        step(t)
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        for t in range(steps):
            step(t)
        return time.perf_counter() - start
    finally:
        gc.enable()


def bench_single_zswap(scenario: str, steps: int, warmup: int) -> float:
    env = gym.make(ENV_ID, scenario=scenario)
    env.reset(seed=0)
    action = zswap_action(env.action_space.shape)

    def step(_t: int) -> None:
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            env.reset()

    seconds = timed_loop(step, steps, warmup)
    env.close()
    return steps / seconds


def bench_single_cartpole(steps: int, warmup: int) -> float:
    env = gym.make("CartPole-v1")
    env.reset(seed=0)

    def step(t: int) -> None:
        _, _, terminated, truncated, _ = env.step(t % 2)
        if terminated or truncated:
            env.reset()

    seconds = timed_loop(step, steps, warmup)
    env.close()
    return steps / seconds


def bench_vector(
    make: Callable[[], gym.vector.VectorEnv], actions: Callable[[int], np.ndarray], steps: int, warmup: int
) -> float:
    """Host steps per second of a vector env (autoreset inside ``step``)."""
    env = make()
    env.reset(seed=0)
    n = env.num_envs

    def step(t: int) -> None:
        env.step(actions(t))

    seconds = timed_loop(step, steps, warmup)
    env.close()
    return steps * n / seconds


class TimedSB3VecEnv(HostOffloadSB3VecEnv):
    """The SB3 adapter with clocks on its ``step_wait``/``reset`` and on the vector env's step:
    ``step_host_scalars``, the vector env's ``step`` without the vector info, which is what the
    adapter calls (a clock on ``step`` itself would send the adapter down its generic path)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.adapter_s = 0.0
        self.vector_step_s = 0.0
        self.vector_steps = 0
        inner_step = self.venv.step_host_scalars

        def timed_step(*args):
            start = time.perf_counter()
            try:
                return inner_step(*args)
            finally:
                self.vector_step_s += time.perf_counter() - start
                self.vector_steps += 1

        self.venv.step_host_scalars = timed_step  # instance attribute shadows the method

    def reset(self):
        start = time.perf_counter()
        try:
            return super().reset()
        finally:
            self.adapter_s += time.perf_counter() - start

    def step_wait(self):
        start = time.perf_counter()
        try:
            return super().step_wait()
        finally:
            self.adapter_s += time.perf_counter() - start


def _timed_vec_monitor():
    """SB3's ``VecMonitor`` with a clock on everything PPO calls on its env: ``step_async``,
    ``step_wait`` (through ``step``) and ``reset``. This is "env stepping" as the algorithm sees it."""
    from stable_baselines3.common.vec_env import VecMonitor

    class TimedVecMonitor(VecMonitor):
        env_s = 0.0

        def _clocked(self, method, *args):
            start = time.perf_counter()
            try:
                return method(*args)
            finally:
                self.env_s += time.perf_counter() - start

        def reset(self):
            return self._clocked(super().reset)

        def step_async(self, actions):
            return self._clocked(super().step_async, actions)

        def step_wait(self):
            return self._clocked(super().step_wait)

    return TimedVecMonitor


def bench_ppo(scenario: str, hosts: int, n_steps: int, iterations: int, seed: int, workers: int) -> dict[str, float]:
    from stable_baselines3 import PPO

    env = TimedSB3VecEnv(num_envs=hosts, scenario=scenario, workers=workers)
    monitor = _timed_vec_monitor()(env)
    model = PPO("MlpPolicy", monitor, n_steps=n_steps, seed=seed, device="cpu", verbose=0)
    train_s = 0.0
    inner_train = model.train

    def timed_train() -> None:
        nonlocal train_s
        start = time.perf_counter()
        try:
            inner_train()
        finally:
            train_s += time.perf_counter() - start

    model.train = timed_train
    timesteps = iterations * n_steps * hosts
    start = time.perf_counter()
    model.learn(total_timesteps=timesteps)
    wall_s = time.perf_counter() - start
    env_steps = env.vector_steps * hosts
    env.close()
    env_s = monitor.env_s
    return {
        "wall_s": wall_s,
        "env_steps": env_steps,
        "env_s": env_s,
        "adapter_s": env.adapter_s,
        "vector_step_s": env.vector_step_s,
        "train_s": train_s,
        "rollout_other_s": wall_s - env_s - train_s,
        "env_share": env_s / wall_s,
        "wall_us_per_step": 1e6 * wall_s / env_steps,
        "env_us_per_step": 1e6 * env_s / env_steps,
        "adapter_us_per_step": 1e6 * env.adapter_s / env_steps,
        "vector_step_us_per_step": 1e6 * env.vector_step_s / env_steps,
        "train_us_per_step": 1e6 * train_s / env_steps,
        "rollout_other_us_per_step": 1e6 * (wall_s - env_s - train_s) / env_steps,
    }


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def report_ppo(args: argparse.Namespace, workers: int) -> dict[str, object]:
    """Measure and print PPO training with the env's hosts stepped by ``workers`` processes."""
    runs = [
        bench_ppo(args.scenario, args.ppo_hosts, args.ppo_n_steps, args.ppo_iterations, seed=r, workers=workers)
        for r in range(args.repeats)
    ]
    ppo = {key: median([run[key] for run in runs]) for key in runs[0]}
    ppo_runs = {key: [run[key] for run in runs] for key in runs[0]}
    print(
        f"SB3 PPO('MlpPolicy', default hyperparameters, n_steps={args.ppo_n_steps}) on {args.ppo_hosts} hosts "
        f"stepped by {workers} process{'es' if workers > 1 else ''} (workers={workers}), "
        f"{args.ppo_iterations} iterations = {int(ppo['env_steps']):,} env steps per repeat "
        f"(medians of {args.repeats}):"
    )
    wall = ppo["wall_us_per_step"]
    lines = [
        ("PPO.learn wall time", ppo["wall_us_per_step"], ppo["wall_s"]),
        ("  env stepping (VecMonitor step + reset)", ppo["env_us_per_step"], ppo["env_s"]),
        ("    of which the adapter's step_wait + reset", ppo["adapter_us_per_step"], ppo["adapter_s"]),
        ("    of which the vector env's step", ppo["vector_step_us_per_step"], ppo["vector_step_s"]),
        ("  PPO update (PPO.train: gradient steps)", ppo["train_us_per_step"], ppo["train_s"]),
        (
            "  rollout overhead (policy, buffer, callbacks)",
            ppo["rollout_other_us_per_step"],
            ppo["rollout_other_s"],
        ),
    ]
    print(f"{'':<48} {'us / env step':>14} {'seconds':>9} {'share':>7}")
    for name, per_step, seconds in lines:
        print(f"{name:<48} {per_step:>14,.1f} {seconds:>9.2f} {100 * per_step / wall:>6.1f}%")
    shares = ", ".join(f"{100 * s:.1f} %" for s in ppo_runs["env_share"])
    verdict = "met" if ppo["env_share"] <= TARGET_ENV_SHARE else "NOT met"
    print(
        f"env share of training wall time: {100 * ppo['env_share']:.1f} % (runs: {shares}); "
        f"target <= {100 * TARGET_ENV_SHARE:.0f} %: {verdict}"
    )
    print(
        f"PPO cost per env step excluding the env: {wall - ppo['env_us_per_step']:,.1f} us "
        f"(update {ppo['train_us_per_step']:,.1f} us)"
    )
    print()
    return {
        "workers": workers,
        "median": ppo,
        "runs": ppo_runs,
        "target_env_share": TARGET_ENV_SHARE,
        "target_met": ppo["env_share"] <= TARGET_ENV_SHARE,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="repeats per figure; medians are reported")
    parser.add_argument("--steps", type=int, default=300, help="timed (vector) steps per repeat for the zswap envs")
    parser.add_argument("--cartpole-steps", type=int, default=3000, help="timed (vector) steps per repeat, CartPole")
    parser.add_argument("--warmup", type=int, default=10, help="untimed steps before each timing")
    parser.add_argument("--hosts", type=int, nargs="+", default=[1, 16, 64], help="vector env batch sizes")
    parser.add_argument(
        "--vector-workers",
        type=int,
        nargs="+",
        default=[1, 2],
        help="processes stepping the vector env's hosts (workers=), one row each (at most the hosts)",
    )
    parser.add_argument("--scenario", default="default")
    parser.add_argument("--ppo-hosts", type=int, default=8)
    parser.add_argument("--ppo-n-steps", type=int, default=2048, help="PPO n_steps (SB3's default: 2048)")
    parser.add_argument("--ppo-iterations", type=int, default=2, help="PPO rollout+update iterations per repeat")
    parser.add_argument(
        "--ppo-workers",
        type=int,
        nargs="+",
        default=[1, 2],
        help="processes stepping the PPO env's hosts (the env's workers=), one PPO measurement each",
    )
    parser.add_argument("--skip-ppo", action="store_true")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.steps < 1 or args.cartpole_steps < 1:
        parser.error("--repeats, --steps and --cartpole-steps must be >= 1")

    import torch

    torch.set_num_threads(1)
    versions = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "gymnasium": gym.__version__,
        "torch": torch.__version__,
        "zswap_gym": zswap_gym.__version__,
    }
    try:
        import stable_baselines3

        versions["stable_baselines3"] = stable_baselines3.__version__
    except ImportError:  # pragma: no cover
        pass
    print(
        "threads: " + " ".join(f"{k}={v}" for k, v in THREAD_VARS.items()) + f" torch.set_num_threads(1)"
        f" -> torch.get_num_threads()={torch.get_num_threads()}"
    )
    cpu = platform.processor() or platform.machine()
    print(f"machine: {platform.platform()}, {cpu}, os.cpu_count()={os.cpu_count()}")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    print(
        f"scenario {args.scenario!r}; {args.repeats} repeats, medians; zswap {args.steps} timed steps, "
        f"CartPole {args.cartpole_steps}, {args.warmup} warm-up steps; fixed action reclaim a={RECLAIM_ACTION}, "
        f"writeback a={WRITEBACK_ACTION} for every memcg\n"
    )

    rows: list[dict[str, object]] = []

    # 1. the single env
    zs, cp = [], []
    for _ in range(args.repeats):
        zs.append(bench_single_zswap(args.scenario, args.steps, args.warmup))
        cp.append(bench_single_cartpole(args.cartpole_steps, args.warmup))
    rows.append(
        {
            "env": "single (gymnasium.make)",
            "hosts": 1,
            "workers": 1,
            "zswap": median(zs),
            "cartpole": median(cp),
            "zswap_runs": zs,
            "cartpole_runs": cp,
        }
    )

    # 2. the vector env (also with its hosts split over processes: workers=k)
    single_action_shape = gym.make(ENV_ID, scenario=args.scenario).action_space.shape
    for n in args.hosts:
        action = zswap_action((n, *single_action_shape))
        cart_actions = [np.full(n, k, dtype=np.int64) for k in (0, 1)]
        cp = [
            bench_vector(
                lambda n=n: gym.make_vec("CartPole-v1", num_envs=n, vectorization_mode="vector_entry_point"),
                lambda t, a=cart_actions: a[t % 2],
                args.cartpole_steps,
                args.warmup,
            )
            for _ in range(args.repeats)
        ]
        for workers in args.vector_workers:
            if workers > n:
                continue
            zs = [
                bench_vector(
                    lambda n=n, w=workers: gym.make_vec(ENV_ID, num_envs=n, scenario=args.scenario, workers=w),
                    lambda _t, a=action: a,
                    args.steps,
                    args.warmup,
                )
                for _ in range(args.repeats)
            ]
            label = "vector (gymnasium.make_vec)" if workers == 1 else f"  same, workers={workers}"
            rows.append(
                {
                    "env": label,
                    "hosts": n,
                    "workers": workers,
                    "zswap": median(zs),
                    "cartpole": median(cp),
                    "zswap_runs": zs,
                    "cartpole_runs": cp,
                }
            )

    header = (
        f"{'env':<28} {'hosts':>5} {'zswap env-steps/s':>18} {'CartPole-v1 env-steps/s':>24} {'CartPole/zswap':>15}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        ratio = row["cartpole"] / row["zswap"]
        print(f"{row['env']:<28} {row['hosts']:>5} {row['zswap']:>18,.0f} {row['cartpole']:>24,.0f} {ratio:>14,.0f}x")
    print("(env-steps/s counts host steps: vector steps x hosts; CartPole vector env: vector_entry_point)\n")

    ppo_results: list[dict[str, object]] = []
    if not args.skip_ppo:
        for workers in args.ppo_workers:
            ppo_results.append(report_ppo(args, workers))

    if args.json:
        result = {
            "settings": {
                **vars(args),
                "json": str(args.json),
                "threads": THREAD_VARS,
                "torch_threads": 1,
                "reclaim_action": RECLAIM_ACTION,
                "writeback_action": WRITEBACK_ACTION,
            },
            "versions": versions,
            "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count()},
            "env_steps_per_s": rows,
            "ppo": ppo_results,
        }
        args.json.write_text(json.dumps(result, indent=2))
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
