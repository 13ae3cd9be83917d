"""Every policy on every scenario: run the episodes, save each result as it finishes, resume.

Results go to a JSON-lines file, one record per (scenario, policy, seed, steps) episode. A rerun with the
same file skips what is already there, so an interrupted comparison loses at most the episodes that
were running. Episodes are independent and deterministic, so they run in parallel worker processes
and the table is the same whatever the order they finish in.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any

from .report import format_table
from .runner import run_episode


def _key(scenario: str, policy: str, seed: int, steps: int | None) -> tuple[str, str, int, int | None]:
    return (scenario, policy, int(seed), steps)


def _record_key(record: dict[str, Any]) -> tuple[str, str, int, int | None]:
    return _key(record["scenario_arg"], record["policy"], record["seed"], record.get("episode_steps_arg"))


def load_results(path: str) -> list[dict[str, Any]]:
    """The records saved in ``path`` (none if it does not exist); a torn last line is ignored."""
    if not os.path.exists(path):
        return []
    records = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # an interrupted write: that episode runs again
    return records


def run_one(scenario: str, policy: str, seed: int, episode_steps: int | None) -> dict[str, Any]:
    """One episode as a JSON-able record."""
    from zswap_gym import __version__

    result = run_episode(scenario, policy, seed=seed, episode_steps=episode_steps)
    return {
        "version": __version__,
        "scenario_arg": scenario,
        "scenario": result.scenario,
        "policy": result.policy,
        "seed": seed,
        "episode_steps_arg": episode_steps,
        "policy_config": result.policy_config,
        "reward_weights": result.reward_weights,
        "summary": result.summary.as_dict(),
    }


def run_comparison(
    scenarios: Sequence[str],
    policies: Sequence[str],
    *,
    seeds: Sequence[int] = (0,),
    results_path: str = "results/compare.jsonl",
    episode_steps: int | None = None,
    jobs: int | None = None,
    progress: bool = True,
) -> str:
    """Run what is missing from ``results_path`` and return the Markdown table of the requested cells.

    Args:
        scenarios, policies, seeds: the grid.
        results_path: JSON-lines file results are appended to (created with its directory).
        episode_steps: horizon (default each scenario's own).
        jobs: worker processes (default: the machine's CPU count; 1 runs in this process).
        progress: show a progress bar.
    """
    from tqdm import tqdm

    wanted = [_key(s, p, seed, episode_steps) for s in scenarios for p in policies for seed in seeds]
    done = {_record_key(r): r for r in load_results(results_path)}
    todo = [k for k in wanted if k not in done]
    os.makedirs(os.path.dirname(os.path.abspath(results_path)), exist_ok=True)
    jobs = jobs or os.cpu_count() or 1
    with (
        open(results_path, "a", encoding="utf-8") as out,
        tqdm(
            total=len(wanted), initial=len(wanted) - len(todo), desc="compare", unit="episode", disable=not progress
        ) as bar,
    ):

        def save(record: dict[str, Any]) -> None:
            out.write(json.dumps(record) + "\n")
            out.flush()
            done[_record_key(record)] = record
            bar.update(1)

        if jobs == 1 or len(todo) <= 1:
            for key in todo:
                save(run_one(*key))
        else:
            with ProcessPoolExecutor(max_workers=jobs) as pool:
                futures = [pool.submit(run_one, *key) for key in todo]
                for future in as_completed(futures):
                    save(future.result())
    return format_table(done[k] for k in wanted)
