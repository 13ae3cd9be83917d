"""``zswap_gym/HostOffload-v0``: one host, one policy deciding proactive reclaim and writeback."""

from __future__ import annotations

import textwrap
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.envs.registration import EnvSpec

from ..sim import ScenarioConfig
from .actions import ACTION_LAYOUT, FLAT_ACTION_LAYOUT, ActionConfig, validate_actions
from .core import OffloadCore, check_reset_options
from .features import feature_table, observation_size
from .registration import spec_with_horizon
from .reward import RewardConfig

RESET_OPTIONS = ("scenario",)
"""The keys ``HostOffloadEnv.reset(options=...)`` knows."""


class HostOffloadEnv(gym.Env[np.ndarray, np.ndarray]):
    """Memory offloading on one Linux host with zswap.

    ## Description
    A host runs up to ``max_memcgs`` (default 8) memory cgroups with their workloads (see the
    scenario YAML in ``configs/scenarios/``). Every step is one control interval (10 s by default).
    The policy decides, per memcg, how much cold memory to proactively reclaim into zswap
    (``memory.reclaim``) and how much compressed memory to write back from zswap to the swap device
    (``memory.reclaim "N source=zswap"``). The kernel's own mechanisms run underneath: reactive reclaim
    at ``memory.high``/``memory.max``, kswapd, the zswap pool limit and its worker, the shrinker if
    enabled, second-chance writeback, refaults, the swap device's queue, PSI.

    ## Action Space
    ``Box(-1, 1, (max_memcgs, 2), float32)``; row = memcg slot, column:

    | column | meaning | mapping of a value ``a`` (``a <= 0``: nothing) |
    |---|---|---|
    | 0 | proactive reclaim (``memory.reclaim``) | ``a**2 * max_reclaim_fraction`` (2 %) of memory.current |
    | 1 | proactive writeback (``source=zswap``) | ``a**2 * max_writeback_fraction`` (10 %) of zswapped |

    0 is exactly "do nothing". Values outside [-1, 1] are clipped; NaN, infinity, a wrong shape or a
    dtype that is not a real number (complex, string, object) raise ``ActionError``. Rows of unused
    slots are ignored.

    ``flat_action=True`` gives the same actions flattened, ``Box(-1, 1, (2 * max_memcgs,), float32)``
    with index ``2 * slot + column`` (``action.reshape(max_memcgs, 2)`` is the matrix above), for
    agents that emit flat vectors (CleanRL's continuous-action scripts). It is a constructor argument,
    so ``gymnasium.make(..., flat_action=True)`` and ``gymnasium.make_vec(..., flat_action=True)``
    (native vector env, no wrapper needed) both take it and ``env.spec`` records it.

    ## Observation Space
    ``Box(0, 1, (D,), float32)``: for each memcg slot its features, then the host features; names in
    ``env.unwrapped.feature_names``. With ``observation="full"`` (default) D = {size_full};
    ``observation="kernel"`` drops what no kernel exposes (zswap entry ages): D = {size_kernel}.
    The table (``max_memcgs`` = {max_memcgs}, the default) is made from :mod:`zswap_gym.env.features` on import:

    {feature_table}

    Unused slots are all zeros (``slot_used`` = 0 is the mask).

    ## Rewards
    ``w_dram * GiB_saved * hours - w_stall * stall_s - w_cpu * cpu_s - w_ssd * GiB_written
    - w_oom * oom_kills - w_psi * seconds_over_psi_target`` (:class:`~zswap_gym.env.reward.RewardConfig`,
    defaults and reasoning there); ``info["reward.<term>"]`` gives each term, the reset info the weights.

    ## Starting State
    Every tenant's workload at time 0: its initial footprint resident, access rates and compressed
    sizes drawn from the scenario's distributions (per-host random stream from the seed).

    ## Episode End
    Truncation after ``max_episode_steps`` (the scenario's ``episode_steps``, 360 = 1 hour by
    default). There is no termination: an OOM kill is penalised and the tenant restarts. The env
    truncates itself, so the registry asks ``gymnasium.make`` for no ``TimeLimit``;
    ``env.spec.max_episode_steps`` is the env's own horizon all the same (set when ``gymnasium.make``
    gives the env its spec; ``None`` for an env constructed directly, as in Gymnasium).

    ## Arguments
    ``gymnasium.make("zswap_gym/HostOffload-v0", scenario="default", reward=RewardConfig(...),
    actions=ActionConfig(...), observation="full", episode_steps=None, render_mode=None,
    flat_action=False)``;
    ``episode_steps`` (alias ``max_episode_steps`` when constructing the class or with ``make_vec``)
    sets the env's own horizon; ``gymnasium.make(..., max_episode_steps=N)`` only adds Gymnasium's
    ``TimeLimit`` (``episode_progress`` then still counts against the env's horizon).
    ``reset(options={"scenario": name})`` switches scenario (same ``max_memcgs``); another key, or
    options that are not a dict, raise an error.

    ## Vectorized environment
    ``gymnasium.make_vec("zswap_gym/HostOffload-v0", num_envs=N)`` builds the native
    :class:`~zswap_gym.env.vector_env.HostOffloadVectorEnv` over one batched simulator; host ``i``
    with ``reset(seed=s)`` follows the single env reset with ``seed=s + i``, step for step.
    ``make_vec(..., workers=k)`` steps the hosts in ``k`` processes at once, with the same
    trajectories (:mod:`zswap_gym.env.shards`).

    ## Version History
    * v0: initial release.
    """

    metadata = {"render_modes": ["ansi", "rgb_array"], "render_fps": 4}

    def __init__(
        self,
        scenario: str | ScenarioConfig = "default",
        reward: RewardConfig | None = None,
        actions: ActionConfig | None = None,
        observation: str = "full",
        max_episode_steps: int | None = None,
        render_mode: str | None = None,
        episode_steps: int | None = None,
        flat_action: bool = False,
    ) -> None:
        # gymnasium.make() keeps its own max_episode_steps argument for a TimeLimit wrapper, so the
        # env's horizon can also be given as episode_steps (the name the scenario uses).
        max_episode_steps = episode_steps if episode_steps is not None else max_episode_steps
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode {render_mode!r}: must be one of {self.metadata['render_modes']}")
        self.render_mode = render_mode
        self._core_args = dict(
            reward=reward, actions=actions, observation=observation, max_episode_steps=max_episode_steps
        )
        self.core = OffloadCore(scenario, num_envs=1, **self._core_args)
        self.observation_space = spaces.Box(0.0, 1.0, (self.core.observer.size,), np.float32)
        self.flat_action = bool(flat_action)
        shape = (int(np.prod(self.core.action_shape)),) if self.flat_action else self.core.action_shape
        self.action_space = spaces.Box(-1.0, 1.0, shape, np.float32)
        self._action_layout = FLAT_ACTION_LAYOUT if self.flat_action else ACTION_LAYOUT
        self._history = None

    _spec: EnvSpec | None = None

    @property
    def spec(self) -> EnvSpec | None:
        """The ``EnvSpec`` ``gymnasium.make`` made this env from, with ``max_episode_steps`` this
        env's horizon (where it truncates); ``None`` if it was constructed directly."""
        return self._spec

    @spec.setter
    def spec(self, spec: EnvSpec | None) -> None:
        self._spec = spec_with_horizon(spec, self.core.max_episode_steps)

    @property
    def feature_names(self) -> tuple[str, ...]:
        return self.core.feature_names

    @property
    def sim(self):
        """The underlying one-host :class:`~zswap_gym.sim.Simulator`."""
        return self.core.sim

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        options = check_reset_options(options, RESET_OPTIONS)
        super().reset(seed=seed)
        if "scenario" in options:
            self._switch_scenario(options["scenario"])
        if seed is None and not hasattr(self, "_seeded"):
            seed = int(self.np_random.integers(2**63 - 1))
        self._seeded = True
        obs, info = self.core.reset([seed])
        self._record(None)
        return obs[0], OffloadCore.host_info(info, 0)

    def _switch_scenario(self, scenario: str | ScenarioConfig) -> None:
        core = OffloadCore(scenario, num_envs=1, **self._core_args)
        if core.observer.size != self.observation_space.shape[0] or core.action_shape != self.core.action_shape:
            raise ValueError(
                f"scenario {core.scenario.name!r} has max_memcgs = {core.scenario.max_memcgs}; this env's spaces "
                f"need {self.core.action_shape[0]} (make a new env instead)"
            )
        self.core = core
        self.spec = self._spec  # the new scenario's horizon

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        valid = validate_actions(action, self.action_space.shape, self._action_layout)
        obs, reward, terminated, truncated, blocks = self.core.step_blocks(
            valid.reshape(1, *self.core.action_shape), checked=True
        )
        host_info = OffloadCore.host_info(blocks.info, 0)
        host_info["reward_weights"] = self.core.reward_config.as_dict()
        self._record(host_info)
        return obs[0], float(reward[0]), bool(terminated[0]), bool(truncated[0]), host_info

    def _record(self, info: dict[str, Any] | None) -> None:
        """Keep the episode's memory breakdown for ``rgb_array`` rendering (``None``: at reset)."""
        if self.render_mode != "rgb_array":
            return
        from .render import EpisodeHistory

        if info is None or self._history is None:
            self._history = EpisodeHistory(self.core.sim.memcg_names)
        self._history.append(self.core.sim, None if info is None else self.core.last_metrics, 0)

    def render(self):
        if self.render_mode is None:
            return None
        from .render import render_ansi, render_rgb_array

        if self.render_mode == "ansi":
            return render_ansi(self.core.sim, self.core.last_metrics, 0)
        return render_rgb_array(self._history, self.core.sim.memcg_names)


def _fill_docstring(doc: str | None, num_memcgs: int = ScenarioConfig.max_memcgs) -> str | None:
    """The class docstring with its observation sizes and feature table made from the features, so the
    manual cannot drift from the observation (``None`` stays ``None``: ``python -OO`` drops docstrings)."""
    if doc is None:
        return None
    fields = {
        "{max_memcgs}": str(num_memcgs),
        "{size_full}": observation_size("full", num_memcgs),
        "{size_kernel}": observation_size("kernel", num_memcgs),
        "{feature_table}": textwrap.indent(feature_table("full", num_memcgs), "    ").lstrip(),
    }
    for field, text in fields.items():
        doc = doc.replace(field, text)
    return doc


HostOffloadEnv.__doc__ = _fill_docstring(HostOffloadEnv.__doc__)
