#!/usr/bin/env python
"""Simulator speed: env steps per second and nanoseconds per chunk per step, on one core.

Runs the default scenario for 1 and 64 hosts (``--hosts``) with every mechanism busy: each step a
fixed policy asks every memcg for proactive reclaim of ~0.5 % of its ``memory.current`` (stores,
zero pages, the flush) and proactive writeback of 2 % of its zswapped bytes (writeback walk, second
chance, swap device); the ``web`` memcg has ``memory.zswap.max`` set below where its pool settles, so
the per-store stats flush and the over-limit writeback path run; the zswap shrinker is on. Refaults
(zswap loads, swap-ins), the device and PSI run as part of every step. (The global pool-limit worker
stays idle: the default scenario's pool never nears 20 % of DRAM; the script prints per-path
activity so you can see what ran.) One "env step" here is one ``Simulator.step`` plus the policy;
a gymnasium wrapper would add its own observation cost.

Each repeat builds a fresh simulator (same seed), runs ``--warmup`` steps untimed, then times
``--steps`` steps (the policy's two multiplies included, garbage collector paused). Reported figures
are medians over ``--repeats`` repeats. Beside them: numpy's own cost of one float32 multiply-add
``out = a * b + c`` (``np.multiply`` then ``np.add``, in place) over an array of the same number of
elements (hosts x chunks), measured in the same run: the floor for one pass over the chunk arrays.
The ratio says how many such passes one step costs.

Targets (issue 2): <= 200 ns per chunk per step with 64 hosts; >= 1,000 steps/s with 1 host.

Usage::

    python benchmarks/sim_speed.py                       # 1 and 64 hosts, 100 steps, 5 repeats
    taskset -c 0 python benchmarks/sim_speed.py          # pinned to one core (or: --cpu 0)
    python benchmarks/sim_speed.py --hosts 1 8 64 --steps 200 --json speed.json
    python benchmarks/sim_speed.py --profile 25           # then cProfile's top 25 per batch size
"""

import os

# One core: no BLAS/OpenMP thread pools (set before numpy is imported).
os.environ["OMP_NUM_THREADS"] = "1"
os.environ["OPENBLAS_NUM_THREADS"] = "1"
os.environ["MKL_NUM_THREADS"] = "1"
os.environ["NUMEXPR_NUM_THREADS"] = "1"
os.environ["VECLIB_MAXIMUM_THREADS"] = "1"

import argparse
import cProfile
import dataclasses
import gc
import io
import json
import platform
import pstats
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from zswap_gym.sim import ScenarioConfig, Simulator, load_scenario  # noqa: E402

MiB = 1 << 20
RECLAIM_SHARE = 0.005
"""Proactive reclaim per step, share of each memcg's memory.current."""
WRITEBACK_SHARE = 0.02
"""Proactive zswap writeback per step, share of each memcg's zswapped (original-size) bytes."""
TARGET_NS_PER_CHUNK = 200.0
TARGET_NS_HOSTS = 64
TARGET_STEPS_PER_S = 1000.0
TARGET_STEPS_HOSTS = 1


def build_scenario(name: str, shrinker: bool) -> ScenarioConfig:
    scenario = load_scenario(name)
    if shrinker:
        zswap = dataclasses.replace(scenario.host.zswap, shrinker_enabled=True)
        scenario = dataclasses.replace(scenario, host=dataclasses.replace(scenario.host, zswap=zswap))
    return scenario


def make_sim(scenario: ScenarioConfig, hosts: int, seed: int, zswap_max_bytes: float | None) -> Simulator:
    sim = Simulator(scenario, hosts, seed=seed)
    if zswap_max_bytes is not None:
        for h in range(hosts):  # set-up only, not timed
            sim.set_knob("memory.zswap.max", h, 0, zswap_max_bytes)
    return sim


def run_once(sim: Simulator, warmup: int, steps: int) -> tuple[float, list]:
    """Warm up, then time ``steps`` steps of the fixed policy. Returns (seconds, metrics per step)."""
    g = sim.gauges()
    memory_current = g.memory_current
    zswapped = g.zswap_pages * 4096.0
    for _ in range(warmup):
        m = sim.step(reclaim_bytes=RECLAIM_SHARE * memory_current, writeback_bytes=WRITEBACK_SHARE * zswapped)
        memory_current, zswapped = m.memory_current_bytes, m.zswapped_bytes
    history = []
    gc.collect()
    gc.disable()
    try:
        t0 = time.perf_counter()
        for _ in range(steps):
            m = sim.step(reclaim_bytes=RECLAIM_SHARE * memory_current, writeback_bytes=WRITEBACK_SHARE * zswapped)
            memory_current, zswapped = m.memory_current_bytes, m.zswapped_bytes
            history.append(m)
        elapsed = time.perf_counter() - t0
    finally:
        gc.enable()
    return elapsed, history


def fma_floor_s(n: int, min_time_s: float = 0.02, rounds: int = 7) -> float:
    """Seconds for one ``out = a * b + c`` over ``n`` float32 elements (median of ``rounds``)."""
    rng = np.random.default_rng(0)
    a, b, c = (rng.random(n, dtype=np.float32) for _ in range(3))
    out = np.empty(n, dtype=np.float32)

    def once() -> None:
        np.multiply(a, b, out=out)
        np.add(out, c, out=out)

    loops = 1
    while True:  # calibrate like timeit: enough loops for min_time_s
        t0 = time.perf_counter()
        for _ in range(loops):
            once()
        if time.perf_counter() - t0 >= min_time_s / 4 or loops >= 1 << 20:
            break
        loops *= 4
    per = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(loops):
            once()
        per.append((time.perf_counter() - t0) / loops)
    return statistics.median(per)


def activity(history: list, hosts: int) -> dict[str, float]:
    """What the mechanisms did over the timed steps: per host per step, pages unless named."""
    n = len(history) * hosts

    def total(get) -> float:
        return float(sum(np.sum(get(m)) for m in history)) / n

    out = {
        name: total(lambda m, k=name: m.events[k])
        for name in ("zswpout", "zswpin", "pswpin", "pswpout", "zswpwb", "swpout_zero")
    }
    for source in history[0].writeback_pages:
        out[f"wb_{source}"] = total(lambda m, k=source: m.writeback_pages[k])
    out["flush_cpu_ms"] = total(lambda m: m.cpu_s["flush"]) * 1e3
    out["device_util_pct"] = total(lambda m: m.host_device_utilisation) * 100.0
    out["psi_some_avg10_web"] = total(lambda m: m.psi_some_avg10[:, 0])
    return out


def profile(scenario: ScenarioConfig, hosts: int, args: argparse.Namespace, top: int) -> str:
    """cProfile of the timed steps of one (separate, untimed) run: top functions by cumulative and
    by own time. Profiling inflates Python-level costs; use it for where, not for how fast."""
    sim = make_sim(scenario, hosts, args.seed, args.zswap_max_mib * MiB if args.zswap_max_mib >= 0 else None)
    _, history = run_once(sim, args.warmup, 1)
    memory_current, zswapped = history[-1].memory_current_bytes, history[-1].zswapped_bytes
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(args.steps):
        m = sim.step(reclaim_bytes=RECLAIM_SHARE * memory_current, writeback_bytes=WRITEBACK_SHARE * zswapped)
        memory_current, zswapped = m.memory_current_bytes, m.zswapped_bytes
    prof.disable()
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)
    stats.strip_dirs()
    for key in ("cumulative", "tottime"):
        stats.sort_stats(key).print_stats(top)
    return out.getvalue()


def machine_info() -> dict[str, object]:
    model = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        affinity = sorted(os.sched_getaffinity(0))
    except AttributeError:
        affinity = None
    return {
        "cpu": model,
        "cpus_allowed": affinity,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "platform": platform.platform(),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--hosts", type=int, nargs="+", default=[1, 64], help="batch sizes to measure (default 1 64)")
    p.add_argument("--steps", type=int, default=100, help="timed steps per repeat (default 100)")
    p.add_argument("--warmup", type=int, default=20, help="untimed steps before timing (default 20)")
    p.add_argument("--repeats", type=int, default=5, help="repeats; figures are medians (default 5)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--scenario", default="default")
    p.add_argument(
        "--zswap-max-mib",
        type=float,
        default=256.0,
        help="memory.zswap.max of the first memcg (web), MiB; 0 < value < max so the flush "
        "and the over-limit writeback run; negative = leave at max (default 256)",
    )
    p.add_argument("--no-shrinker", action="store_true", help="leave the zswap shrinker as the scenario has it")
    p.add_argument("--cpu", type=int, default=None, help="pin this process to one CPU (sched_setaffinity)")
    p.add_argument("--json", type=Path, default=None, help="write the results to this JSON file")
    p.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="after timing, print cProfile's top N functions (cumulative and own time) per batch size",
    )
    args = p.parse_args(argv)
    if args.steps < 1 or args.repeats < 1 or args.warmup < 0 or any(h < 1 for h in args.hosts):
        p.error("--steps, --repeats and --hosts must be positive, --warmup non-negative")

    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    info = machine_info()
    allowed = info["cpus_allowed"]
    if allowed is not None and len(allowed) == 1:
        print(f"note: pinned to CPU {allowed[0]}; BLAS/OpenMP threads = 1")
    else:
        print(
            f"note: not pinned (CPUs allowed: {allowed}); numpy runs on one thread anyway (BLAS/OpenMP = 1), "
            "but for steadier figures pin with `taskset -c 0 ...` or --cpu 0"
        )
    print(f"machine: {info['cpu']}, Python {info['python']}, numpy {info['numpy']}")

    scenario = build_scenario(args.scenario, shrinker=not args.no_shrinker)
    zswap_max = args.zswap_max_mib * MiB if args.zswap_max_mib >= 0 else None
    probe = Simulator(scenario, 1, seed=args.seed)
    chunks = probe.layout.num_chunks
    print(
        f"scenario {scenario.name!r}: {chunks} chunks per host ({scenario.host.chunk_pages} pages each), "
        f"{probe.num_memcgs} memcg slots ({', '.join(probe.memcg_names)}); shrinker "
        f"{'on' if scenario.host.zswap.shrinker_enabled else 'off'}; memory.zswap.max of "
        f"{probe.memcg_names[0]} = {'max' if zswap_max is None else f'{args.zswap_max_mib:g}M'}"
    )
    print(
        f"policy per step: memory.reclaim {RECLAIM_SHARE:.1%} of memory.current, proactive writeback "
        f"{WRITEBACK_SHARE:.0%} of zswapped, every memcg; {args.warmup} warm-up + {args.steps} timed steps, "
        f"median of {args.repeats} repeats"
    )
    del probe

    results = []
    for hosts in args.hosts:
        n = hosts * chunks
        step_s, floor_s, acts = [], [], None
        for r in range(args.repeats):
            sim = make_sim(scenario, hosts, args.seed, zswap_max)
            elapsed, history = run_once(sim, args.warmup, args.steps)
            step_s.append(elapsed / args.steps)
            if r == 0:
                acts = activity(history, hosts)
            del sim, history
            floor_s.append(fma_floor_s(n))  # interleaved with the repeats: same machine conditions
        step = statistics.median(step_s)
        floor = statistics.median(floor_s)
        results.append(
            {
                "hosts": hosts,
                "chunks_per_host": chunks,
                "total_chunks": n,
                "step_ms": step * 1e3,
                "step_ms_min": min(step_s) * 1e3,
                "step_ms_max": max(step_s) * 1e3,
                "steps_per_s": 1.0 / step,
                "ns_per_chunk_step": step / n * 1e9,
                "fma_floor_us": floor * 1e6,
                "fma_floor_ns_per_elem": floor / n * 1e9,
                "ratio_to_fma": step / floor,
                "activity_per_host_step": acts,
            }
        )

    print()
    head = (
        f"{'hosts':>5} {'chunks':>8} {'step ms':>9} {'(min-max)':>15} {'steps/s':>9} {'ns/chunk':>9} "
        f"{'FMA us':>9} {'FMA ns/el':>9} {'ratio':>7}"
    )
    print(head)
    print("-" * len(head))
    for r in results:
        spread = f"({r['step_ms_min']:.2f}-{r['step_ms_max']:.2f})"
        print(
            f"{r['hosts']:>5} {r['total_chunks']:>8} {r['step_ms']:>9.3f} {spread:>15} {r['steps_per_s']:>9.0f} "
            f"{r['ns_per_chunk_step']:>9.1f} {r['fma_floor_us']:>9.2f} {r['fma_floor_ns_per_elem']:>9.2f} "
            f"{r['ratio_to_fma']:>7.0f}"
        )
    print(
        "chunks = hosts x chunks per host; ns/chunk = step time / chunks; FMA = one float32 out = a*b+c over "
        "the same number of elements; ratio = step time / FMA time (passes-over-the-chunks equivalent)"
    )

    print("\nmechanisms over the timed steps (first repeat), per host per step:")
    for r in results:
        a = r["activity_per_host_step"]
        print(f"  {r['hosts']:>3} hosts: " + ", ".join(f"{k} {v:.3g}" for k, v in a.items()))

    checks = []
    for r in results:
        if r["hosts"] == TARGET_NS_HOSTS:
            checks.append(
                (
                    f"{TARGET_NS_HOSTS} hosts: <= {TARGET_NS_PER_CHUNK:.0f} ns/chunk/step",
                    r["ns_per_chunk_step"],
                    r["ns_per_chunk_step"] <= TARGET_NS_PER_CHUNK,
                )
            )
        if r["hosts"] == TARGET_STEPS_HOSTS:
            checks.append(
                (
                    f"{TARGET_STEPS_HOSTS} host: >= {TARGET_STEPS_PER_S:,.0f} steps/s",
                    r["steps_per_s"],
                    r["steps_per_s"] >= TARGET_STEPS_PER_S,
                )
            )
    if checks:
        print("\ntargets:")
        for name, value, ok in checks:
            print(f"  {name:<32} {value:>9.1f}  {'met' if ok else 'NOT met'}")

    for hosts in args.hosts if args.profile > 0 else ():
        print(f"\n===== cProfile, {hosts} host(s), {args.steps} steps =====")
        print(profile(scenario, hosts, args, args.profile))

    if args.json is not None:
        payload = {
            "machine": info,
            "scenario": scenario.name,
            "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "policy": {
                "reclaim_share_of_memory_current": RECLAIM_SHARE,
                "writeback_share_of_zswapped": WRITEBACK_SHARE,
            },
            "results": results,
            "targets": [{"name": n, "value": v, "met": ok} for n, v, ok in checks],
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
