"""The batched environment logic shared by the single env and the native vector env.

``OffloadCore`` owns one :class:`~zswap_gym.sim.Simulator` of ``num_envs`` hosts, turns actions into
cgroup requests, and observations, rewards and info out of each step. Episode bookkeeping (seeds,
truncation) is per host, so any subset of hosts can be reset.
"""

from __future__ import annotations

from collections.abc import Mapping
from operator import itemgetter
from typing import Any, NamedTuple

import numpy as np

from ..sim import ScenarioConfig, Simulator, StepMetrics, load_scenario
from ..sim.metrics import REFAULT_TIERS, STALL_SOURCES
from ..sim.simulator import PreparedStep
from .actions import ACTION_COLUMNS, ActionConfig, decode_actions, validate_actions
from .features import ObservationBuilder
from .reward import REWARD_TERMS, RewardConfig, term_weights, total_reward, weighted_terms

SEED_BOUND = 2**63 - 1

_PER_MEMCG_INFO = (
    "refault_latency_mean_us",
    "refault_latency_p99_us",
    "psi_some_avg10",
    "psi_some_avg60",
    "psi_full_avg10",
    "promotion_rate_per_min",
    "reclaim_requested_bytes",
    "writeback_requested_bytes",
    "reclaimed_pages",
    "written_back_pages",
)
"""The (H, M) entries of a step's info, in the order of ``InfoBlocks.memcg``."""


class InfoBlocks(NamedTuple):
    """Where the arrays of a step's info dict live: each is a row of one of two blocks made for
    that step (not shared with the simulator), so a caller can take the rows as they are. Without
    the dict (``info`` None), only the per-host scalars."""

    host_keys: list[str]
    """The keys of the per-host scalars (float64 (H,)), in info order."""
    host: np.ndarray
    """(len(host_keys), H) float64: the per-host scalars."""
    info: dict[str, Any] | None = None
    """The info dict."""
    host_rows: list[np.ndarray] | None = None
    """``list(host)``: the per-host arrays in the info."""
    memcg: np.ndarray | None = None
    """(K, H, M) float64: the per-memcg entries."""


class _InfoLayout(NamedTuple):
    """The info keys in order, and where their values live, for one set of refault tiers."""

    keys: list[str]
    host_keys: list[str]
    pick: itemgetter
    """Picks the info's values, in key order, from ``[*host rows, *memcg rows]``."""


def resolve_scenario(scenario: str | ScenarioConfig) -> ScenarioConfig:
    """A scenario by name (``configs/scenarios/<name>.yaml``), YAML path, or config object."""
    if isinstance(scenario, ScenarioConfig):
        return scenario.validate()
    if not isinstance(scenario, str):
        raise TypeError(f"scenario must be a name, a YAML path or a ScenarioConfig, got {type(scenario).__name__}")
    return load_scenario(scenario)


def check_reset_options(options: object, known: tuple[str, ...]) -> Mapping[str, Any]:
    """``reset(options=...)`` as a mapping (``None``: empty); a value that is not a mapping, or a
    key not in ``known``, is an error rather than something silently ignored."""
    if options is None:
        return {}
    if not isinstance(options, Mapping):
        raise TypeError(f"reset options must be a dict (or None), got {type(options).__name__}: {options!r}")
    unknown = [key for key in options if key not in known]
    if unknown:
        raise ValueError(
            f"reset options: unknown option {', '.join(map(repr, unknown))} (known: {', '.join(map(repr, known))})"
        )
    return options


class OffloadCore:
    """``num_envs`` hosts of one scenario with per-host episodes.

    Args:
        scenario: name, YAML path or :class:`ScenarioConfig`.
        num_envs: hosts stepped together.
        reward: reward weights.
        actions: action-to-amount mapping.
        observation: ``"full"`` or ``"kernel"`` (only features a real kernel exposes).
        max_episode_steps: truncation horizon; default the scenario's ``episode_steps``.
        first_host: the batch index of this core's host 0 when it holds a slice of a larger batch
            (a shard, :mod:`~zswap_gym.env.shards`): host ``i`` here is host ``first_host + i`` there,
            with that host's random streams.
    """

    def __init__(
        self,
        scenario: str | ScenarioConfig = "default",
        num_envs: int = 1,
        reward: RewardConfig | None = None,
        actions: ActionConfig | None = None,
        observation: str = "full",
        max_episode_steps: int | None = None,
        first_host: int = 0,
    ) -> None:
        self.scenario = resolve_scenario(scenario)
        self.num_envs = num_envs
        self.reward_config = reward or RewardConfig()
        self.action_config = actions or ActionConfig()
        self.observation_mode = observation
        self.max_episode_steps = int(max_episode_steps or self.scenario.episode_steps)
        if self.max_episode_steps < 1:
            raise ValueError(f"max_episode_steps = {max_episode_steps!r}: must be >= 1")
        self.first_host = first_host
        self.sim = Simulator(self.scenario, num_hosts=num_envs, seed=0, first_host=first_host)
        self.observer = ObservationBuilder(self.sim, observation)
        self.action_shape = (self.scenario.max_memcgs, len(ACTION_COLUMNS))
        self.episode_seeds = np.zeros(num_envs, dtype=np.int64)
        self._seed_streams: list[np.random.Generator] = [np.random.default_rng(first_host + i) for i in range(num_envs)]
        self.last_metrics: StepMetrics | None = None
        self._batch_action_shape = (num_envs, *self.action_shape)
        self._term_weights = term_weights(self.reward_config, self.scenario.host.step_s)
        self._info_layouts: dict[tuple[str, ...], _InfoLayout] = {}

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
        return obs, {"episode_seed": self.episode_seeds.copy(), "reward_weights": self.reward_config.as_dict()}

    def observe(self, metrics: StepMetrics | None) -> np.ndarray:
        progress = self.sim.state.step_index / self.max_episode_steps
        return self.observer.build(self.sim, metrics, progress)

    def step(self, actions: object) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """One control interval for every host. ``actions`` (num_envs, M, 2)."""
        obs, reward, terminated, truncated, blocks = self.step_blocks(actions)
        return obs, reward, terminated, truncated, blocks.info

    def step_blocks(
        self,
        actions: object,
        with_info: bool = True,
        checked: bool = False,
        prepared: PreparedStep | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, InfoBlocks]:
        """:meth:`step`, with the info as :class:`InfoBlocks`; ``with_info=False`` makes only the
        per-host scalars (no info dict), for callers that need nothing else. ``checked=True``:
        ``actions`` are already what ``validate_actions`` returns (float64, clipped; a sharded
        core checks the whole batch once). ``prepared``: the simulator's ``prepare_step()`` for
        this step (a shard's worker makes it while it waits)."""
        valid = actions if checked else validate_actions(actions, self._batch_action_shape)
        reclaim, writeback = decode_actions(valid, self.sim, self.action_config)
        metrics = self.sim.step(reclaim_bytes=reclaim, writeback_bytes=writeback, prepared=prepared)
        self.last_metrics = metrics
        blocks, terms = self._step_info(metrics, reclaim, writeback, with_info)
        obs = self.observe(metrics)
        terminated = np.zeros(self.num_envs, dtype=bool)  # no genuine end: OOM kills restart the tenant
        truncated = self.sim.state.step_index >= self.max_episode_steps
        return obs, total_reward(terms), terminated, truncated, blocks

    def step_info(
        self, m: StepMetrics, terms: dict[str, np.ndarray], reclaim: np.ndarray, writeback: np.ndarray
    ) -> dict[str, Any]:
        """Per-host metrics of the step (arrays with the host axis first); no wall-clock values.
        Equals :func:`~.reference.reference_step_info` (rows of two blocks here)."""
        info = self._step_info(m, reclaim, writeback, with_info=True)[0].info
        assert info is not None
        sim_time = info.pop("sim_time_s")
        for k in REWARD_TERMS:
            del info[f"reward.{k}"]
        info.update({f"reward.{k}": v for k, v in terms.items()})
        info["sim_time_s"] = sim_time
        return info

    def _step_info(
        self, m: StepMetrics, reclaim: np.ndarray, writeback: np.ndarray, with_info: bool
    ) -> tuple[InfoBlocks, np.ndarray]:
        """:meth:`step_info` with this core's reward terms, as the blocks its arrays are rows of
        (only the per-host scalars unless ``with_info``); and the terms' rows ((6, H),
        ``REWARD_TERMS`` order) for the reward."""
        refaults = m.refault_pages
        layout = self._info_layout(tuple(refaults))
        # The per-memcg figures stacked in the order of their sums in the info (footprint, stall_s
        # and its sources, refault_pages and its tiers, cpu_s, oom_kills), then the parts of cpu_s.
        # Each total (its row filled in below) is the sum of its parts' rows from 0 in dict order:
        # sum(d.values()), bit for bit (tests/test_env_speed_paths.py).
        refault_row = 2 + len(STALL_SOURCES)
        cpu_row = refault_row + 1 + len(refaults)
        per_memcg = np.array(
            [
                m.footprint_bytes,
                m.footprint_bytes,  # stall_s
                *(m.stall_s[k] for k in STALL_SOURCES),
                m.footprint_bytes,  # refault_pages
                *refaults.values(),
                m.footprint_bytes,  # cpu_s
                m.oom_kills,
                *m.cpu_s.values(),
            ]
        )
        if tuple(m.stall_s) == STALL_SOURCES:
            np.add.reduce(per_memcg[2:refault_row], axis=0, initial=0.0, out=per_memcg[1])
        else:
            per_memcg[1] = m.stall_total_s
        np.add.reduce(per_memcg[refault_row + 1 : cpu_row], axis=0, initial=0.0, out=per_memcg[refault_row])
        np.add.reduce(per_memcg[cpu_row + 2 :], axis=0, initial=0.0, out=per_memcg[cpu_row])
        # Everything but the parts of cpu_s summed over memcgs, in one reduction. A row of it is
        # bit for bit the sum of that (H, M) array alone (each row is summed along its contiguous
        # last axis the same way), so stall, CPU and OOM kills are compute_reward's.
        sums = np.add.reduce(per_memcg[: cpu_row + 2], axis=2)
        footprint, summed, oom_kills = sums[0], sums[1 : cpu_row + 1], sums[cpu_row + 1]  # summed: stall_s ... cpu_s
        n = len(summed)
        host = np.empty((len(layout.host_keys), self.num_envs))  # rows: _info_layout's host keys
        host[0] = m.host_dram_saved_bytes
        np.divide(m.host_dram_saved_bytes, np.maximum(footprint, 1.0), out=host[1])
        host[2] = m.host_dram_used_bytes
        host[3 : 3 + n] = summed
        host[3 + n] = m.host_device_bytes_written
        host[4 + n] = m.host_device_bytes_read
        host[5 + n] = m.host_device_utilisation
        host[6 + n] = m.host_zswap_pool_bytes
        host[7 + n] = oom_kills
        terms = host[8 + n : 8 + n + len(REWARD_TERMS)]
        weighted_terms(
            self.reward_config, self.scenario.host.step_s, m.host_dram_saved_bytes, summed[0], summed[-1],
            m.host_device_bytes_written, oom_kills, m.psi_some_avg10, out=terms, weights=self._term_weights,
        )  # fmt: skip
        host[-1] = self.sim.state.now_s
        if not with_info:
            return InfoBlocks(layout.host_keys, host), terms
        return self.info_blocks(host, self._memcg_info(m, reclaim, writeback), layout), terms

    @staticmethod
    def _memcg_info(m: StepMetrics, reclaim: np.ndarray, writeback: np.ndarray) -> np.ndarray:
        """The per-memcg info entries (``_PER_MEMCG_INFO`` order) as one (K, H, M) block."""
        return np.array(
            [
                m.refault_latency_mean_us,
                m.refault_latency_p99_us,
                m.psi_some_avg10,
                m.psi_some_avg60,
                m.psi_full_avg10,
                m.promotion_rate_per_min,
                reclaim,
                writeback,
                m.event("pgsteal_proactive"),
                m.writeback_pages["proactive"],
            ]
        )

    def info_blocks(self, host: np.ndarray, memcg: np.ndarray, layout: _InfoLayout | None = None) -> InfoBlocks:
        """A step's info dict made of its two blocks: ``host`` (len(host keys), H) per-host scalars
        and ``memcg`` (len(_PER_MEMCG_INFO), H, M); each info array is a row of one of them."""
        layout = layout or self._info_layout(REFAULT_TIERS)
        host_rows = list(host)
        info = dict(zip(layout.keys, layout.pick([*host_rows, *memcg]), strict=True))
        return InfoBlocks(layout.host_keys, host, info, host_rows, memcg)

    @property
    def info_shapes(self) -> tuple[tuple[int, int], tuple[int, int, int]]:
        """The shapes of a step's two info blocks: per-host (K, H) and per-memcg (K, H, M)."""
        rows = len(self._info_layout(REFAULT_TIERS).host_keys)
        return (rows, self.num_envs), (len(_PER_MEMCG_INFO), self.num_envs, self.scenario.max_memcgs)

    def ansi(self) -> list[str]:
        """Each host's text table of its last step (``render_mode="ansi"``)."""
        from .render import render_ansi

        return [render_ansi(self.sim, self.last_metrics, i, self.first_host + i) for i in range(self.num_envs)]

    def _info_layout(self, tiers: tuple[str, ...]) -> _InfoLayout:
        """The info keys (in the order the info has always had) and where each value lives, for
        the refault tiers ``tiers``."""
        layout = self._info_layouts.get(tiers)
        if layout is not None:
            return layout
        host_keys = [
            "dram_saved_bytes",
            "dram_saved_share",
            "dram_used_bytes",
            "stall_s",
            *(f"stall_s.{k}" for k in STALL_SOURCES),
            "refault_pages",
            *(f"refault_pages.{k}" for k in tiers),
            "cpu_s",
            "swap_bytes_written",
            "swap_bytes_read",
            "device_utilisation",
            "zswap_pool_bytes",
            "oom_kills",
            *(f"reward.{k}" for k in REWARD_TERMS),
            "sim_time_s",
        ]
        cpu, oom = host_keys.index("cpu_s"), host_keys.index("oom_kills")
        keys = [
            *host_keys[:cpu],
            *_PER_MEMCG_INFO[:2],  # refault latencies
            *host_keys[cpu:oom],
            *_PER_MEMCG_INFO[2:6],  # PSI, promotion rate
            "oom_kills",
            *_PER_MEMCG_INFO[6:],  # requests and what they did
            *host_keys[oom + 1 :],
        ]
        where = {k: i for i, k in enumerate([*host_keys, *_PER_MEMCG_INFO])}
        layout = self._info_layouts[tiers] = _InfoLayout(keys, host_keys, itemgetter(*(where[k] for k in keys)))
        return layout

    @staticmethod
    def host_info(info: dict[str, Any], i: int) -> dict[str, Any]:
        """One host's slice of a batched info dict."""
        return {k: (v[i] if isinstance(v, np.ndarray) and v.ndim >= 1 else v) for k, v in info.items()}
