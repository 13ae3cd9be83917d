"""The ``zswap-gym`` command line.

Subcommands so far: ``scenarios`` (list the shipped scenarios), ``show`` (print a scenario with every
default filled in), ``agents`` (list the registered policies), ``run`` (one episode of a policy on a
scenario: summary and plot), ``compare`` (every policy on every scenario, saved as it goes),
``simulate`` (the simulator alone with a fixed proactive-reclaim rate). Training, benchmark and
leaderboard commands arrive with their issues.

Every error is one line on stderr naming the flag or file at fault, with exit status 2 (130 after
Ctrl-C); output files are checked before anything runs and are written whole or not at all.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import re
import shutil
import sys
import textwrap
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

import numpy as np

from . import __version__
from .outputs import check_output_file, check_plot_file, replaced_atomically, write_text_atomically
from .sim import ConfigError, Simulator, list_scenarios, load_scenario
from .sim.units import format_size


class UsageError(Exception):
    """A command line argparse refuses; ``message`` is its reason, ``prog`` the (sub)command."""

    def __init__(self, message: str, prog: str) -> None:
        super().__init__(message)
        self.message, self.prog = message, prog


class _Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors reach :func:`main` as :class:`UsageError` (one line, rc 2)
    instead of a usage block and ``SystemExit``."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message, self.prog)


def _usage_line(exc: UsageError) -> str:
    """``argument --seed: must be >= 0 (got -1)`` -> ``--seed: must be >= 0 (got -1)``; a hint to
    ``--help`` for what is not about one argument's value."""
    message = re.sub(r"^argument ([^:]+): ", r"\1: ", exc.message)
    if message == exc.message or "invalid choice" in message:
        message += f" (see '{exc.prog} --help')"
    return message


def _int_at_least(lo: int) -> Callable[[str], int]:
    """An argparse type: a whole number >= ``lo``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number (got {text!r})") from None
        if value < lo:
            raise argparse.ArgumentTypeError(f"must be >= {lo} (got {value})")
        return value

    parse.__name__ = f"int>={lo}"
    return parse


def _percent(text: str) -> float:
    """An argparse type: a percentage in [0, 100]."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number (got {text!r})") from None
    if not (math.isfinite(value) and 0.0 <= value <= 100.0):
        raise argparse.ArgumentTypeError(f"must be a percentage in [0, 100] (got {text})")
    return value


def _listing(name: str, text: str, name_width: int) -> str:
    """``name`` then ``text`` in full, wrapped to the terminal with a hanging indent."""
    width = max(shutil.get_terminal_size((100, 24)).columns, name_width + 40)
    return textwrap.fill(
        " ".join(text.split()) or "-",
        width=width,
        initial_indent=f"{name:{name_width}s} ",
        subsequent_indent=" " * (name_width + 1),
        break_on_hyphens=False,
    )


def _cmd_scenarios(_: argparse.Namespace) -> int:
    for name in list_scenarios():
        print(_listing(name, load_scenario(name).description, 28))
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    scenario = load_scenario(args.scenario)
    print(json.dumps(dataclasses.asdict(scenario), indent=2, default=str))
    return 0


def _cmd_simulate(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    scenario = load_scenario(args.scenario)
    steps = args.steps if args.steps is not None else scenario.episode_steps
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
        print(_listing(name, policy_spec(name).summary, 24))
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .policy import make_policy, plot_episode, policy_spec, run_episode
    from .policy.params import parse_policy_params
    from .policy.report import format_summary

    scenario = load_scenario(args.scenario)
    policy_spec(args.agent)  # an unknown name fails here, before the episode starts
    params = parse_policy_params(args.agent, args.param)
    if params:
        try:
            make_policy(args.agent, **params)  # a value the policy refuses fails here too
        except (TypeError, ValueError) as exc:
            raise ValueError(f"--param: {exc}") from None
    if args.json:
        check_output_file("--json", args.json)
    if args.plot:
        check_plot_file("--plot", args.plot)
    steps = args.steps if args.steps is not None else scenario.episode_steps
    with tqdm(total=steps, desc=f"{args.agent} on {scenario.name}", unit="step", disable=args.quiet) as bar:
        result = run_episode(
            scenario,
            args.agent,
            seed=args.seed,
            episode_steps=steps,
            record_history=args.plot is not None,
            on_step=lambda _: bar.update(1),
            policy_kwargs=params,
        )
    print(format_summary(result))
    if args.json:
        record = result_record(result, scenario)
        write_text_atomically(args.json, json.dumps(record, indent=2) + "\n")
        print(f"summary written to {args.json}")
    if args.plot:
        with replaced_atomically(args.plot) as partial:
            plot_episode(result, partial)
        print(f"plot written to {args.plot}")
    return 0


def result_record(result: Any, scenario: Any = None) -> dict[str, Any]:
    """One episode as a JSON-able record (scenario and its content digest, policy, seed, config,
    reward weights, summary)."""
    from .policy.compare import scenario_digest

    record: dict[str, Any] = {"version": __version__, "scenario": result.scenario}
    if scenario is not None:
        record["scenario_digest"] = scenario_digest(scenario)
    record.update(
        policy=result.policy,
        seed=result.seed,
        policy_config=result.policy_config,
        reward_weights=result.reward_weights,
        summary=result.summary.as_dict(),
    )
    return record


def _cmd_compare(args: argparse.Namespace) -> int:
    from .policy import list_policies
    from .policy.compare import ResultsFileError, run_comparison

    scenarios = list_scenarios() if args.scenarios == ["all"] else args.scenarios
    agents = list_policies() if args.agents == ["all"] else args.agents
    if args.markdown:
        check_output_file("--markdown", args.markdown)
    try:
        table = run_comparison(
            scenarios,
            agents,
            seeds=args.seeds,
            results_path=args.out,
            episode_steps=args.steps,
            jobs=args.jobs,
            progress=not args.quiet,
        )
    except ResultsFileError as exc:  # (its message starts with the path)
        raise ResultsFileError(f"--out {exc}") from None
    print(table)
    if args.markdown:
        write_text_atomically(args.markdown, table + "\n")
        print(f"table written to {args.markdown}")
    return 0


_STEPS_HELP = "steps to simulate, >= 1 (default: the scenario's episode_steps)"
_SEED_HELP = "the episode's seed, >= 0; the same seed gives the same trajectory (default: 0)"
_QUIET_HELP = "no progress bar"


def build_parser() -> argparse.ArgumentParser:
    """The ``zswap-gym`` argument parser, with help text for every argument."""
    parser = _Parser(prog="zswap-gym", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("scenarios", help="list the shipped scenarios with their descriptions")
    p.set_defaults(func=_cmd_scenarios)
    p = sub.add_parser("show", help="print a scenario with all defaults")
    p.add_argument("scenario", help="scenario name (see `zswap-gym scenarios`) or path of a YAML file")
    p.set_defaults(func=_cmd_show)
    p = sub.add_parser("agents", help="list the registered policies (baselines and plug-ins)")
    p.set_defaults(func=_cmd_agents)

    p = sub.add_parser("run", help="run one episode of a policy on a scenario; print its summary, plot it")
    p.add_argument("--scenario", default="default", help="scenario name or YAML path (default: default)")
    p.add_argument("--agent", required=True, help="policy name (see `zswap-gym agents`)")
    p.add_argument("--seed", type=_int_at_least(0), default=0, help=_SEED_HELP)
    p.add_argument("--steps", type=_int_at_least(1), default=None, help=_STEPS_HELP)
    p.add_argument(
        "--plot", metavar="FILE.png", help="write a plot of the episode (the extension picks the format: png, svg, pdf)"
    )
    p.add_argument("--json", metavar="FILE.json", help="write the summary as JSON")
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a policy parameter, the value read as YAML and checked against the policy's type "
        "(e.g. reclaim_ratio=0.001, memcgs=[web]); repeatable",
    )
    p.add_argument("--quiet", action="store_true", help=_QUIET_HELP)
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("compare", help="every policy on every scenario: a summary table, saved as it goes")
    p.add_argument(
        "--scenarios",
        nargs="+",
        default=["all"],
        metavar="SCENARIO",
        help="scenario names or YAML paths (default: all shipped)",
    )
    p.add_argument(
        "--agents", nargs="+", default=["all"], metavar="AGENT", help="policy names (default: all registered)"
    )
    p.add_argument(
        "--seeds",
        type=_int_at_least(0),
        nargs="+",
        default=[0],
        metavar="SEED",
        help="seeds, each >= 0; repeats dropped (default: 0)",
    )
    p.add_argument("--steps", type=_int_at_least(1), default=None, help=_STEPS_HELP)
    p.add_argument(
        "--out",
        default="results/compare.jsonl",
        metavar="FILE.jsonl",
        help="results file (JSON lines), keyed by scenario content; a rerun reuses what it holds "
        "(default: results/compare.jsonl)",
    )
    p.add_argument("--markdown", metavar="FILE.md", help="also write the table to this file")
    p.add_argument(
        "--jobs", type=_int_at_least(1), default=None, help="worker processes, >= 1 (default: one per usable CPU)"
    )
    p.add_argument("--quiet", action="store_true", help=_QUIET_HELP)
    p.set_defaults(func=_cmd_compare)

    p = sub.add_parser("simulate", help="run the simulator with a fixed proactive reclaim rate")
    p.add_argument("--scenario", default="default", help="scenario name or YAML path (default: default)")
    p.add_argument("--steps", type=_int_at_least(1), default=None, help=_STEPS_HELP)
    p.add_argument("--seed", type=_int_at_least(0), default=0, help=_SEED_HELP)
    p.add_argument(
        "--reclaim-percent",
        type=_percent,
        default=0.5,
        help="memory.reclaim per step, %% of memory.current, in [0, 100] (default: 0.5)",
    )
    p.add_argument(
        "--writeback-percent",
        type=_percent,
        default=0.0,
        help="proactive writeback per step, %% of the zswapped bytes, in [0, 100] (default: 0)",
    )
    p.add_argument("--quiet", action="store_true", help=_QUIET_HELP)
    p.set_defaults(func=_cmd_simulate)
    return parser


def _error(message: object) -> int:
    print(f"zswap-gym: {message}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    try:
        args = build_parser().parse_args(argv)
    except UsageError as exc:
        return _error(_usage_line(exc))
    try:
        return int(args.func(args))
    except KeyboardInterrupt:  # Ctrl-C: what was saved stays saved; nothing half-written is left
        print("zswap-gym: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`zswap-gym agents | head`): stop quietly, as Unix tools do
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except ConfigError as exc:
        return _error(exc)
    except OSError as exc:  # a file that cannot be read or written
        where = f"{exc.filename}: " if exc.filename else ""
        return _error(f"{where}{exc.strerror or exc}")
    except (ImportError, ValueError, TypeError) as exc:  # a policy that does not load, a bad parameter
        return _error(exc)
    except KeyError as exc:  # an unknown policy or scenario name
        return _error(exc.args[0] if exc.args else exc)


if __name__ == "__main__":
    sys.exit(main())
