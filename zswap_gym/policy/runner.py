"""Run one policy for one episode on one host of a scenario, and sum it up.

>>> result = run_episode("default", "senpai-tmo", seed=0)      # doctest: +SKIP
>>> result.summary.dram_saved_percent                           # doctest: +SKIP

A cgroup controller (:class:`~.base.CgroupController`) gets the host's simulated cgroup files
(:class:`~zswap_gym.cgroup.CgroupFS`) and is called before every env step, which then runs with the
"do nothing" action; an action policy (:class:`~.base.ActionPolicy`) chooses the env's action itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from zswap_gym.cgroup import CgroupFS
from zswap_gym.env.host_env import HostOffloadEnv
from zswap_gym.env.render import EpisodeHistory
from zswap_gym.env.reward import RewardConfig
from zswap_gym.sim import ScenarioConfig

from .base import ActionPolicy, CgroupController
from .registry import make_policy
from .summary import EpisodeSummary, SummaryAccumulator


@dataclass
class EpisodeResult:
    """What :func:`run_episode` returns."""

    scenario: str
    policy: str
    seed: int
    summary: EpisodeSummary
    policy_config: dict[str, Any] = field(default_factory=dict)
    reward_weights: dict[str, float] = field(default_factory=dict)
    history: EpisodeHistory | None = None
    """The episode's memory breakdown per step (when ``record_history``), for plotting."""
    memcg_names: tuple[str, ...] = ()


def resolve_policy(policy: str | CgroupController | ActionPolicy, /, **kwargs: Any) -> tuple[str, Any]:
    """(name, instance) of a policy given by name or as an object."""
    if isinstance(policy, str):
        return policy, make_policy(policy, **kwargs)
    if kwargs:
        raise TypeError("policy parameters can only be given with a policy name")
    return getattr(policy, "name", "") or type(policy).__name__, policy


def run_episode(
    scenario: str | ScenarioConfig,
    policy: str | CgroupController | ActionPolicy,
    *,
    seed: int = 0,
    episode_steps: int | None = None,
    reward: RewardConfig | None = None,
    record_history: bool = False,
    on_step: Callable[[int], None] | None = None,
    policy_kwargs: dict[str, Any] | None = None,
) -> EpisodeResult:
    """Run ``policy`` for one episode of ``scenario`` from ``seed``.

    Args:
        scenario: a scenario name, YAML path or config.
        policy: a registered policy name, or a controller / action policy object.
        seed: the episode's seed (same seed, same trajectory).
        episode_steps: horizon in steps (default: the scenario's ``episode_steps``).
        reward: reward weights (default :class:`RewardConfig`).
        record_history: keep the per-step memory breakdown for :func:`plot_episode`.
        on_step: called with the step number after every step (progress bars).
        policy_kwargs: parameters for a policy given by name.
    """
    name, agent = resolve_policy(policy, **(policy_kwargs or {}))
    env = HostOffloadEnv(scenario, reward=reward, episode_steps=episode_steps)
    obs, info = env.reset(seed=seed)
    sim = env.sim
    cfg = sim.cfg
    nr_tasks = sum(t.nr_tasks for t in cfg.tenants)
    acc = SummaryAccumulator(0, nr_tasks, cfg.host.step_s)
    history = EpisodeHistory(sim.memcg_names) if record_history else None
    if history is not None:
        history.append(sim, None, 0)
    noop = np.zeros(env.action_space.shape, dtype=np.float32)
    fs: CgroupFS | None = None
    if isinstance(agent, CgroupController):
        fs = CgroupFS(sim, 0)
        agent.reset(fs, cfg.host.step_s)
    elif isinstance(agent, ActionPolicy):
        agent.reset(obs, info)
    else:
        raise TypeError(f"policy {name!r} is neither a CgroupController nor an ActionPolicy (reset/act)")
    step = 0
    truncated = terminated = False
    while not (truncated or terminated):
        if fs is not None:
            agent.control(fs, float(sim.now_s[0]))
            action = noop
        else:
            action = agent.act(obs)
        obs, reward_value, terminated, truncated, info = env.step(action)
        metrics = env.core.last_metrics
        acc.add(metrics, reward_value)
        if history is not None:
            history.append(sim, metrics, 0)
        step += 1
        if on_step is not None:
            on_step(step)
    config = agent.config() if hasattr(agent, "config") else {}
    return EpisodeResult(
        scenario=cfg.name,
        policy=name,
        seed=seed,
        summary=acc.summary(),
        policy_config=config,
        reward_weights=env.core.reward_config.as_dict(),
        history=history,
        memcg_names=tuple(sim.memcg_names),
    )


def plot_episode(result: EpisodeResult, path: str) -> None:
    """Write the episode's plot (memory per memcg by tier, PSI, refaults, device utilisation) to ``path``."""
    import matplotlib.image

    from zswap_gym.env.render import render_rgb_array

    if result.history is None:
        raise ValueError("the episode was run without record_history=True: nothing to plot")
    label = f"{result.policy} on {result.scenario} (seed {result.seed})"
    image = render_rgb_array(result.history, result.memcg_names, label)
    matplotlib.image.imsave(path, image)
