"""The ``zswap-gym`` command line.

Subcommands so far: ``scenarios`` (list the shipped scenarios), ``show`` (print a scenario with every
default filled in), ``simulate`` (run the simulator with a fixed proactive-reclaim rate and print a
metrics summary). Training, benchmark and leaderboard commands arrive with their issues.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Sequence

import numpy as np

from .sim import ConfigError, Simulator, list_scenarios, load_scenario
from .sim.units import format_size


def _cmd_scenarios(_: argparse.Namespace) -> int:
    for name in list_scenarios():
        scenario = load_scenario(name)
        first_line = " ".join(scenario.description.split())[:100]
        print(f"{name:28s} {first_line}")
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    scenario = load_scenario(args.scenario)
    print(json.dumps(dataclasses.asdict(scenario), indent=2, default=str))
    return 0


def _cmd_simulate(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    scenario = load_scenario(args.scenario)
    steps = args.steps or scenario.episode_steps
    sim = Simulator(scenario, num_hosts=1, seed=args.seed)
    totals: dict[str, float] = {"stall_s": 0.0, "cpu_s": 0.0, "written": 0.0, "refaults": 0.0}
    saved = []
    for _ in tqdm(range(steps), desc=f"simulate {scenario.name}", unit="step", disable=args.quiet):
        current = sim.gauges().memory_current
        reclaim = current * args.reclaim_percent / 100.0
        writeback = sim.gauges().zswap_pages * 4096 * args.writeback_percent / 100.0
        m = sim.step(reclaim_bytes=reclaim, writeback_bytes=writeback)
        totals["stall_s"] += float(m.stall_total_s.sum())
        totals["cpu_s"] += float(m.cpu_total_s.sum())
        totals["written"] += float(m.host_device_bytes_written.sum())
        totals["refaults"] += float(sum(v.sum() for v in m.refault_pages.values()))
        saved.append(float(m.host_dram_saved_bytes[0]) / float(m.footprint_bytes.sum()))
    minutes = steps * scenario.host.step_s / 60.0
    print(f"scenario {scenario.name}: {steps} steps ({minutes:.1f} simulated minutes), seed {args.seed}")
    print(f"  DRAM saved (mean share of footprint): {100 * np.mean(saved):.1f} %")
    print(f"  memory stall: {totals['stall_s']:.2f} task-s; CPU: {totals['cpu_s']:.2f} s")
    print(f"  refaults: {totals['refaults']:.0f} pages; swap writes: {format_size(totals['written'])}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zswap-gym", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("scenarios", help="list the shipped scenarios")
    p.set_defaults(func=_cmd_scenarios)
    p = sub.add_parser("show", help="print a scenario with all defaults")
    p.add_argument("scenario")
    p.set_defaults(func=_cmd_show)
    p = sub.add_parser("simulate", help="run the simulator with a fixed proactive reclaim rate")
    p.add_argument("--scenario", default="default")
    p.add_argument("--steps", type=int, default=0, help="steps (default: the scenario's episode length)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--reclaim-percent", type=float, default=0.5, help="memory.reclaim per step, %% of memory.current")
    p.add_argument("--writeback-percent", type=float, default=0.0, help="proactive writeback per step, %% of zswapped")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_simulate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"zswap-gym: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
