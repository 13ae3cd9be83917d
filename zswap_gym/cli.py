"""The ``zswap-gym`` command line.

Subcommands so far: ``scenarios`` (list the shipped scenarios), ``show`` (print a scenario with every
default filled in), ``agents`` (list the registered policies), ``run`` (one episode of a policy on a
scenario: summary and plot), ``compare`` (every policy on every scenario, saved as it goes),
``simulate`` (the simulator alone with a fixed proactive-reclaim rate). Training, benchmark and
leaderboard commands arrive with their issues.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
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


def _cmd_agents(_: argparse.Namespace) -> int:
    from .policy import list_policies, policy_spec

    for name in list_policies():
        spec = policy_spec(name)
        print(f"{name:24s} {spec.summary[:90]}")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .policy import plot_episode, policy_spec, run_episode
    from .policy.report import format_summary

    scenario = load_scenario(args.scenario)
    policy_spec(args.agent)  # an unknown name fails here, before the episode starts
    steps = args.steps or scenario.episode_steps
    with tqdm(total=steps, desc=f"{args.agent} on {scenario.name}", unit="step", disable=args.quiet) as bar:
        result = run_episode(
            scenario,
            args.agent,
            seed=args.seed,
            episode_steps=steps,
            record_history=args.plot is not None,
            on_step=lambda _: bar.update(1),
            policy_kwargs=_policy_params(args.param),
        )
    print(format_summary(result))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(result_record(result), f, indent=2)
        print(f"summary written to {args.json}")
    if args.plot:
        plot_episode(result, args.plot)
        print(f"plot written to {args.plot}")
    return 0


def _policy_params(items: Sequence[str]) -> dict[str, object]:
    """``["share=0.8", "memcgs=[web]"]`` -> ``{"share": 0.8, "memcgs": ["web"]}`` (values read as YAML)."""
    import yaml

    params: dict[str, object] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--param {item!r}: expected NAME=VALUE")
        params[key.strip()] = yaml.safe_load(value)
    return params


def result_record(result) -> dict:
    """One episode as a JSON-able record (scenario, policy, seed, config, reward weights, summary)."""
    from . import __version__

    return {
        "version": __version__,
        "scenario": result.scenario,
        "policy": result.policy,
        "seed": result.seed,
        "policy_config": result.policy_config,
        "reward_weights": result.reward_weights,
        "summary": result.summary.as_dict(),
    }


def _cmd_compare(args: argparse.Namespace) -> int:
    from .policy import list_policies
    from .policy.compare import run_comparison

    scenarios = list_scenarios() if args.scenarios == ["all"] else args.scenarios
    agents = list_policies() if args.agents == ["all"] else args.agents
    for name in scenarios:
        load_scenario(name)  # fail early on a bad name
    table = run_comparison(
        scenarios,
        agents,
        seeds=args.seeds,
        results_path=args.out,
        episode_steps=args.steps or None,
        jobs=args.jobs,
        progress=not args.quiet,
    )
    print(table)
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as f:
            f.write(table + "\n")
        print(f"table written to {args.markdown}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zswap-gym", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("scenarios", help="list the shipped scenarios")
    p.set_defaults(func=_cmd_scenarios)
    p = sub.add_parser("show", help="print a scenario with all defaults")
    p.add_argument("scenario")
    p.set_defaults(func=_cmd_show)
    p = sub.add_parser("agents", help="list the registered policies (baselines and plug-ins)")
    p.set_defaults(func=_cmd_agents)
    p = sub.add_parser("run", help="run one episode of a policy on a scenario; print its summary, plot it")
    p.add_argument("--scenario", default="default", help="scenario name or YAML path (default: default)")
    p.add_argument("--agent", required=True, help="policy name (see `zswap-gym agents`)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=0, help="steps (default: the scenario's episode length)")
    p.add_argument("--plot", metavar="FILE.png", help="write a plot of the episode")
    p.add_argument("--json", metavar="FILE.json", help="write the summary as JSON")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="a policy parameter (repeatable)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_run)
    p = sub.add_parser("compare", help="every policy on every scenario: a summary table, saved as it goes")
    p.add_argument("--scenarios", nargs="+", default=["all"], help="scenario names (default: all)")
    p.add_argument("--agents", nargs="+", default=["all"], help="policy names (default: all)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds (default: 0)")
    p.add_argument("--steps", type=int, default=0, help="steps (default: each scenario's episode length)")
    p.add_argument("--out", default="results/compare.jsonl", help="results file (JSON lines); reruns resume it")
    p.add_argument("--markdown", metavar="FILE.md", help="also write the table to this file")
    p.add_argument("--jobs", type=int, default=0, help="worker processes (default: one per CPU)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_compare)
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
    except BrokenPipeError:  # the reader went away (`zswap-gym agents | head`): stop quietly, as Unix tools do
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except (ConfigError, FileNotFoundError) as exc:
        print(f"zswap-gym: {exc}", file=sys.stderr)
        return 2
    except (ImportError, ValueError, TypeError) as exc:  # a policy that does not load, a bad parameter
        print(f"zswap-gym: {exc}", file=sys.stderr)
        return 2
    except KeyError as exc:  # an unknown policy or scenario name
        print(f"zswap-gym: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
