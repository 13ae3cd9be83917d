"""The batched environment logic shared by the single env and the native vector env.

``OffloadCore`` owns one :class:`~zswap_gym.sim.Simulator` of ``num_envs`` hosts, turns actions into
cgroup requests, and observations, rewards and info out of each step. Episode bookkeeping (seeds,
truncation) is per host, so any subset of hosts can be reset.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..sim import ScenarioConfig, Simulator, StepMetrics, load_scenario
from ..sim.metrics import STALL_SOURCES
from .actions import ACTION_COLUMNS, ActionConfig, decode_actions, validate_actions
from .features import ObservationBuilder
from .reward import RewardConfig, compute_reward

SEED_BOUND = 2**63 - 1


def resolve_scenario(scenario: str | ScenarioConfig) -> ScenarioConfig:
    """A scenario by name (``configs/scenarios/<name>.yaml``), YAML path, or config object."""
    if isinstance(scenario, ScenarioConfig):
        return scenario.validate()
    if not isinstance(scenario, str):
        raise TypeError(f"scenario must be a name, a YAML path or a ScenarioConfig, got {type(scenario).__name__}")
    return load_scenario(scenario)


class OffloadCore:
    """``num_envs`` hosts of one scenario with per-host episodes.

    Args:
        scenario: name, YAML path or :class:`ScenarioConfig`.
        num_envs: hosts stepped together.
        reward: reward weights.
        actions: action-to-amount mapping.
        observation: ``"full"`` or ``"kernel"`` (only features a real kernel exposes).
        max_episode_steps: truncation horizon; default the scenario's ``episode_steps``.
    """

    def __init__(
        self,
        scenario: str | ScenarioConfig = "default",
        num_envs: int = 1,
        reward: RewardConfig | None = None,
        actions: ActionConfig | None = None,
        observation: str = "full",
        max_episode_steps: int | None = None,
    ) -> None:
        self.scenario = resolve_scenario(scenario)
        self.num_envs = num_envs
        self.reward_config = reward or RewardConfig()
        self.action_config = actions or ActionConfig()
        self.observation_mode = observation
        self.max_episode_steps = int(max_episode_steps or self.scenario.episode_steps)
        if self.max_episode_steps < 1:
            raise ValueError(f"max_episode_steps = {max_episode_steps!r}: must be >= 1")
        self.sim = Simulator(self.scenario, num_hosts=num_envs, seed=0)
        self.observer = ObservationBuilder(self.sim, observation)
        self.action_shape = (self.scenario.max_memcgs, len(ACTION_COLUMNS))
        self.episode_seeds = np.zeros(num_envs, dtype=np.int64)
        self._seed_streams: list[np.random.Generator] = [np.random.default_rng(i) for i in range(num_envs)]
        self.last_metrics: StepMetrics | None = None
        self.last_obs: np.ndarray | None = None

    @property
    def feature_names(self) -> tuple[str, ...]:
        return self.observer.feature_names

    @property
    def episode_steps(self) -> np.ndarray:
        return self.sim.state.step_index

    def reset(self, seeds: list[int | None], mask: np.ndarray | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        """Reset the hosts in ``mask`` (default all). A host given a seed starts a new seed stream
        (its later resets without a seed draw from it, as a Gymnasium env does); without one it
        draws its next episode's seed from its stream."""
        mask = np.ones(self.num_envs, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
        episode_seeds: list[int | None] = [None] * self.num_envs
        for i in np.flatnonzero(mask):  # reset time only: one seed per host
            if seeds[i] is not None:
                self._seed_streams[i] = np.random.default_rng(int(seeds[i]))
            episode_seeds[i] = int(self._seed_streams[i].integers(SEED_BOUND))
            self.episode_seeds[i] = episode_seeds[i]
        if mask.all():
            self.sim.reset(host_seeds=episode_seeds)
            obs = self.observe(None)
        else:
            self.sim.reset_hosts(mask, host_seeds=episode_seeds)
            obs = self.observe(self.last_metrics)  # the other hosts keep their last observation
            obs[mask] = self.observe(None)[mask]
        self.last_obs = obs.copy()
        return obs, {"episode_seed": self.episode_seeds.copy(), "reward_weights": self.reward_config.as_dict()}

    def observe(self, metrics: StepMetrics | None) -> np.ndarray:
        progress = self.sim.state.step_index / self.max_episode_steps
        return self.observer.build(self.sim, metrics, progress)

    def step(self, actions: object) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """One control interval for every host. ``actions`` (num_envs, M, 2)."""
        valid = validate_actions(actions, (self.num_envs, *self.action_shape))
        reclaim, writeback = decode_actions(valid, self.sim, self.action_config)
        metrics = self.sim.step(reclaim_bytes=reclaim, writeback_bytes=writeback)
        self.last_metrics = metrics
        reward, terms = compute_reward(metrics, self.reward_config, self.scenario.host.step_s)
        obs = self.observe(metrics)
        self.last_obs = obs.copy()
        terminated = np.zeros(self.num_envs, dtype=bool)  # no genuine end: OOM kills restart the tenant
        truncated = self.sim.state.step_index >= self.max_episode_steps
        info = self.step_info(metrics, terms, reclaim, writeback)
        return obs, reward.astype(np.float64), terminated, truncated, info

    def step_info(
        self, m: StepMetrics, terms: dict[str, np.ndarray], reclaim: np.ndarray, writeback: np.ndarray
    ) -> dict[str, Any]:
        """Per-host metrics of the step (arrays with the host axis first); no wall-clock values."""
        refaults = m.refault_pages
        # The per-memcg figures summed over memcgs, in one reduction over a stacked block.
        per_memcg = [
            m.footprint_bytes,
            m.stall_total_s,
            *(m.stall_s[k] for k in STALL_SOURCES),
            sum(refaults.values()),
            *refaults.values(),
            m.cpu_total_s,
            m.oom_kills,
        ]
        footprint, stall, *per_host = np.array(per_memcg).sum(axis=2)
        n = len(STALL_SOURCES)
        stall_by_source, refault, refault_by_tier = per_host[:n], per_host[n], per_host[n + 1 : n + 1 + len(refaults)]
        cpu, oom_kills = per_host[-2:]
        return {
            "dram_saved_bytes": m.host_dram_saved_bytes,
            "dram_saved_share": m.host_dram_saved_bytes / np.maximum(footprint, 1.0),
            "dram_used_bytes": m.host_dram_used_bytes,
            "stall_s": stall,
            **{f"stall_s.{k}": v for k, v in zip(STALL_SOURCES, stall_by_source, strict=True)},
            "refault_pages": refault,
            **{f"refault_pages.{k}": v for k, v in zip(refaults, refault_by_tier, strict=True)},
            "refault_latency_mean_us": m.refault_latency_mean_us,
            "refault_latency_p99_us": m.refault_latency_p99_us,
            "cpu_s": cpu,
            "swap_bytes_written": m.host_device_bytes_written,
            "swap_bytes_read": m.host_device_bytes_read,
            "device_utilisation": m.host_device_utilisation,
            "zswap_pool_bytes": m.host_zswap_pool_bytes,
            "psi_some_avg10": m.psi_some_avg10,
            "psi_some_avg60": m.psi_some_avg60,
            "psi_full_avg10": m.psi_full_avg10,
            "promotion_rate_per_min": m.promotion_rate_per_min,
            "oom_kills": oom_kills,
            "reclaim_requested_bytes": reclaim,
            "writeback_requested_bytes": writeback,
            "reclaimed_pages": m.events["pgsteal_proactive"],
            "written_back_pages": m.writeback_pages["proactive"],
            **{f"reward.{k}": v for k, v in terms.items()},
            "sim_time_s": self.sim.state.now_s.copy(),
        }

    @staticmethod
    def host_info(info: dict[str, Any], i: int) -> dict[str, Any]:
        """One host's slice of a batched info dict."""
        return {k: (v[i] if isinstance(v, np.ndarray) and v.ndim >= 1 else v) for k, v in info.items()}
