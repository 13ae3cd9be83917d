"""The native vector env: N hosts in one batched simulator (no loop over sub-envs)."""

from __future__ import annotations

from operator import is_
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.envs.registration import EnvSpec
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from ..sim import ScenarioConfig
from .actions import ACTION_LAYOUT, FLAT_ACTION_LAYOUT, ActionConfig, validate_actions
from .core import InfoBlocks, OffloadCore, check_reset_options
from .registration import spec_with_horizon
from .reward import RewardConfig
from .shards import ShardedCore, shard_sizes

RESET_OPTIONS = ("reset_mask", "scenario")
"""The keys ``HostOffloadVectorEnv.reset(options=...)`` knows."""


class HostOffloadVectorEnv(VectorEnv):
    """``num_envs`` hosts of ``zswap_gym/HostOffload-v0`` stepped together (see
    :class:`~zswap_gym.env.host_env.HostOffloadEnv` for spaces, reward and episodes).

    ``reset(seed=s)`` gives host ``i`` the seed ``s + i`` (a list gives one seed per host), so host
    ``i`` follows the single env reset with that seed, step for step. Autoreset modes:
    ``NEXT_STEP`` (default: the step after a host's episode ends resets it, ignoring its action,
    with reward 0), ``SAME_STEP`` (reset within the ending step; ``info["final_obs"]`` and
    ``info["final_info"]`` hold the last observation and info), ``DISABLED`` (reset hosts yourself
    with ``reset(options={"reset_mask": mask})``). Infos are dicts of arrays, host axis first, with
    ``_name`` masks as Gymnasium's vector envs give them. ``reset`` knows the options
    ``"reset_mask"`` and ``"scenario"``; another key, or options that are not a dict, raise an error.

    ``flat_action=True``: each host's action flattened, an action of shape
    ``(num_envs, 2 * max_memcgs)`` (see the single env's Action Space).
    ``max_episode_steps`` (alias ``episode_steps``, as for the single env) sets the hosts' horizon,
    default the scenario's ``episode_steps``; ``env.spec.max_episode_steps`` (set by
    ``gymnasium.make_vec``) is that horizon.

    ``workers=k`` (default 1) steps the hosts in ``k`` processes at once: this one and ``k - 1``
    worker processes, each over a contiguous shard of the hosts (:mod:`~zswap_gym.env.shards`).
    Trajectories are bit for bit those of ``workers=1``. It pays where cores are idle: a step's
    cost is mostly a fixed part per process, so each process should get several hosts. The
    simulators then live in their processes (``env.core.sim`` is for ``workers=1``); ``close()``
    stops the workers. Scripts that make a sharded env need the ``if __name__ == "__main__":``
    guard, as for any ``multiprocessing`` program that does not fork. The workers spin between
    steps: leave them their CPUs (with PyTorch on 2 CPUs and ``workers=2``,
    ``torch.set_num_threads(1)``; the env warns otherwise).
    """

    metadata = {"render_modes": ["ansi", "rgb_array"], "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(
        self,
        num_envs: int = 1,
        scenario: str | ScenarioConfig = "default",
        reward: RewardConfig | None = None,
        actions: ActionConfig | None = None,
        observation: str = "full",
        max_episode_steps: int | None = None,
        render_mode: str | None = None,
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        workers: int = 1,
        flat_action: bool = False,
        episode_steps: int | None = None,
    ) -> None:
        # episode_steps: the single env's name for the horizon (gymnasium.make keeps max_episode_steps).
        max_episode_steps = episode_steps if episode_steps is not None else max_episode_steps
        if not isinstance(num_envs, int) or num_envs < 1:
            raise ValueError(f"num_envs = {num_envs!r}: must be a positive integer")
        shard_sizes(num_envs, workers)  # a clear error for a bad worker count, before anything starts
        self.workers = workers
        self.num_envs = num_envs
        self.render_mode = render_mode
        self.autoreset_mode = AutoresetMode(autoreset_mode)
        self.metadata = {**self.metadata, "autoreset_mode": self.autoreset_mode}
        self._max_episode_steps = max_episode_steps
        self.core = self._make_core(scenario, reward, actions, observation)
        self.single_observation_space = spaces.Box(0.0, 1.0, (self.core.observer.size,), np.float32)
        self.flat_action = bool(flat_action)
        single_shape = (int(np.prod(self.core.action_shape)),) if self.flat_action else self.core.action_shape
        self.single_action_space = spaces.Box(-1.0, 1.0, single_shape, np.float32)
        self._action_layout = f"envs x {FLAT_ACTION_LAYOUT if self.flat_action else ACTION_LAYOUT}"
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self._done = np.zeros(num_envs, dtype=bool)
        self._host_scalars: tuple[list[str], np.ndarray, list[np.ndarray]] | None = None
        self._host_scalars_of: dict[str, Any] | None = None
        # The vector info's keys (each key, then its "_key" mask), for the info keys they were made from.
        self._vector_keys: tuple[list[str], list[str]] | None = None
        # host_scalar_infos(keys=...): (keys, the names picked from, the picked names, their rows).
        self._pick: tuple[frozenset[str], list[str], list[str], list[int]] | None = None

    _spec: EnvSpec | None = None

    @property
    def spec(self) -> EnvSpec | None:
        """The ``EnvSpec`` ``gymnasium.make_vec`` made this env from, with ``max_episode_steps`` the
        hosts' horizon (where they truncate); ``None`` if it was constructed directly."""
        return self._spec

    @spec.setter
    def spec(self, spec: EnvSpec | None) -> None:
        self._spec = spec_with_horizon(spec, self.core.max_episode_steps)

    @property
    def feature_names(self) -> tuple[str, ...]:
        return self.core.feature_names

    def reset(self, *, seed: int | list[int | None] | None = None, options: dict[str, Any] | None = None):
        options = check_reset_options(options, RESET_OPTIONS)
        super().reset(seed=seed if isinstance(seed, int) else None)
        if "scenario" in options:
            self._switch_scenario(options["scenario"])
        mask = options.get("reset_mask")
        if mask is not None:
            mask = np.asarray(mask, dtype=bool)
            if mask.shape != (self.num_envs,):
                raise ValueError(f"reset_mask has shape {mask.shape}, expected ({self.num_envs},)")
        if isinstance(seed, (list, tuple, np.ndarray)):
            if len(seed) != self.num_envs:
                raise ValueError(f"got {len(seed)} seeds for {self.num_envs} envs")
            seeds = [None if s is None else int(s) for s in seed]
        elif seed is not None:
            seeds = [int(seed) + i for i in range(self.num_envs)]
        elif not hasattr(self, "_seeded"):
            seeds = [int(s) for s in self.np_random.integers(2**63 - 1, size=self.num_envs)]
        else:
            seeds = [None] * self.num_envs
        self._seeded = True
        obs, info = self.core.reset(seeds, mask)
        if mask is None:
            self._done[:] = False
        else:
            self._done[mask] = False
        return obs, self._vector_info(info, np.ones(self.num_envs, dtype=bool) if mask is None else mask)

    def _make_core(
        self,
        scenario: str | ScenarioConfig,
        reward: RewardConfig | None,
        actions: ActionConfig | None,
        observation: str,
    ) -> OffloadCore | ShardedCore:
        """The hosts' core: one batched simulator here, or ``workers`` shards stepping at once."""
        if self.workers == 1:
            return OffloadCore(scenario, self.num_envs, reward, actions, observation, self._max_episode_steps)
        return ShardedCore(
            scenario, self.num_envs, reward, actions, observation, self._max_episode_steps, workers=self.workers
        )

    def _switch_scenario(self, scenario: str | ScenarioConfig) -> None:
        old = self.core
        core = self._make_core(scenario, old.reward_config, old.action_config, old.observation_mode)
        if core.observer.size != self.single_observation_space.shape[0]:
            if isinstance(core, ShardedCore):
                core.close()
            raise ValueError(
                f"scenario {core.scenario.name!r} has max_memcgs = {core.scenario.max_memcgs}; this env's spaces "
                f"need {old.action_shape[0]} (make a new env instead)"
            )
        self.core = core
        self.spec = self._spec  # the new scenario's horizon
        if isinstance(old, ShardedCore):
            old.close()

    def close_extras(self, **kwargs: Any) -> None:
        """Stop the worker processes of a sharded env (``workers > 1``)."""
        if isinstance(self.core, ShardedCore):
            self.core.close()

    def step(self, actions: np.ndarray):
        restart = self._done.copy() if self.autoreset_mode == AutoresetMode.NEXT_STEP else None
        obs, reward, terminated, truncated, blocks = self.core.step_blocks(self._checked(actions), checked=True)
        info = blocks.info
        if restart is not None and restart.any():
            # NEXT_STEP: hosts whose episode ended last step start over now, ignoring this action.
            reset_obs, _ = self.core.reset([None] * self.num_envs, restart)
            obs[restart] = reset_obs[restart]
            reward[restart] = 0.0
            terminated[restart] = False
            truncated[restart] = False
            stepped = ~restart
        else:
            stepped = None
        done = terminated | truncated
        infos = self._vector_info(info, stepped, blocks)
        if self.autoreset_mode == AutoresetMode.SAME_STEP and done.any():
            final_info = {k: v for k, v in infos.items() if not k.startswith("_")}
            infos["final_obs"] = np.where(done[:, None], obs, 0.0).astype(np.float32)
            infos["_final_obs"] = done.copy()
            infos["final_info"] = final_info
            infos["_final_info"] = done.copy()
            reset_obs, _ = self.core.reset([None] * self.num_envs, done)
            obs[done] = reset_obs[done]
        self._done = done
        return obs, reward, terminated, truncated, infos

    def _checked(self, actions: object) -> np.ndarray:
        """The validated actions (float64, clipped) in the core's (num_envs, M, 2) layout."""
        valid = validate_actions(actions, self.action_space.shape, self._action_layout)
        return valid.reshape(self.num_envs, *self.core.action_shape)

    def step_host_scalars(
        self, actions: np.ndarray, keys: frozenset[str] | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[dict[str, float]], np.ndarray | None]:
        """:meth:`step` in ``SAME_STEP`` autoreset mode for a caller that wants only the per-host
        scalars of the info, as :meth:`host_scalar_infos` gives them (``keys`` restricts the keys),
        and ``info["final_obs"]`` (None if no episode ended), without building the vector info:
        ``(obs, reward, terminated, truncated, host_infos, final_obs)``. (The SB3 adapter's step.)"""
        if self.autoreset_mode != AutoresetMode.SAME_STEP:
            raise ValueError(f"step_host_scalars steps in AutoresetMode.SAME_STEP only, not {self.autoreset_mode}")
        obs, reward, terminated, truncated, blocks = self.core.step_blocks(
            self._checked(actions), with_info=False, checked=True
        )
        self._host_scalars = self._host_scalars_of = None  # no vector info made this step
        host_infos = self._host_dicts(blocks.host_keys, blocks.host, keys)
        done = terminated | truncated
        final_obs = None
        if done.any():
            final_obs = np.where(done[:, None], obs, 0.0).astype(np.float32)
            reset_obs, _ = self.core.reset([None] * self.num_envs, done)
            obs[done] = reset_obs[done]
        self._done = done
        return obs, reward, terminated, truncated, host_infos, final_obs

    def _vector_info(
        self, info: dict[str, Any], mask: np.ndarray | None, blocks: InfoBlocks | None = None
    ) -> dict[str, Any]:
        """Gymnasium's vector info layout; hosts outside ``mask`` (restarted this step, their
        action ignored; None: every host stepped) get zeros and a False ``_key`` mask.

        If ``blocks`` describes ``info`` (the core's step info: every array a row of a block made
        for this step), the rows are taken as they are. Otherwise arrays of one shape and dtype are
        copied together, as rows of one block (one copy per group instead of one per key); each
        ``info[key]`` is its row. When every host stepped, the block of per-host scalars (float64,
        shape (H,)) is kept for :meth:`host_scalar_infos`."""
        every = mask is None or bool(mask.all())
        if blocks is not None and blocks.info is info:
            if not every:
                off = ~mask
                blocks.host[:, off] = 0.0
                blocks.memcg[:, off] = 0.0
            self._host_scalars = (blocks.host_keys, blocks.host, blocks.host_rows) if every else None
            values: list[Any] = list(info.values())
        else:
            values = self._grouped_copies(info, mask, every)
        n = len(values)
        # One copy of the mask per key, as rows of one block.
        masks = np.ones((n, self.num_envs), dtype=bool) if every else np.repeat(mask[None, :], n, axis=0)
        keys = self._vector_keys
        if keys is None or keys[0] != list(info):
            names = list(info)
            keys = self._vector_keys = (names, [name for key in names for name in (key, f"_{key}")])
        flat: list[Any] = [None] * (2 * n)
        flat[0::2] = values
        flat[1::2] = masks
        out = dict(zip(keys[1], flat, strict=True))
        self._host_scalars_of = out if self._host_scalars is not None else None
        return out

    def _grouped_copies(self, info: dict[str, Any], mask: np.ndarray | None, every: bool) -> list[Any]:
        """The values of a vector info built from ``info`` (see :meth:`_vector_info`), in key
        order; sets ``_host_scalars``."""
        groups: dict[tuple[tuple[int, ...], np.dtype], list[str]] = {}
        for key, value in info.items():
            if isinstance(value, np.ndarray):
                groups.setdefault((value.shape, value.dtype), []).append(key)
        rows: dict[str, np.ndarray] = {}
        self._host_scalars = None
        for (shape, _dtype), keys in groups.items():
            block = np.array([info[k] for k in keys])
            if not every:
                block[:, ~mask] = 0
            views = list(block)
            rows.update(zip(keys, views, strict=True))
            if every and shape == (self.num_envs,) and block.dtype == np.float64:
                self._host_scalars = (keys, block, views)
        values: list[Any] = []
        for key, value in info.items():
            if isinstance(value, dict):
                values.append({k: np.full(self.num_envs, v) for k, v in value.items()})
            else:
                values.append(rows[key] if key in rows else np.array(value))
        return values

    def host_scalar_infos(
        self, info: dict[str, Any], keys: frozenset[str] | None = None
    ) -> list[dict[str, float]] | None:
        """One dict per host of the per-host scalars (float64 (H,) entries, as Python floats) of
        ``info``, if ``info`` is the dict this env's last ``step``/``reset`` returned and every
        host stepped; else ``None``. ``keys`` restricts the keys. (What the SB3 adapter hands to SB3,
        built from the block the info's arrays are rows of, without a pass per key.)"""
        if self._host_scalars is None or info is not self._host_scalars_of:
            return None
        names, block, views = self._host_scalars
        if not all(map(is_, map(info.get, names), views)):
            return None  # an entry was replaced after the step
        return self._host_dicts(names, block, keys)

    def _host_dicts(self, names: list[str], block: np.ndarray, keys: frozenset[str] | None) -> list[dict[str, float]]:
        """One dict per host of the rows of ``block`` (named ``names``), restricted to ``keys``."""
        if keys is not None:
            if self._pick is None or self._pick[0] is not keys or self._pick[1] is not names:
                pick = [i for i, k in enumerate(names) if k in keys]
                self._pick = (keys, names, [names[i] for i in pick], pick)
            names, block = self._pick[2], block[self._pick[3]]
        return [dict(zip(names, row, strict=True)) for row in block.T.tolist()]

    def render(self):
        if self.render_mode == "ansi":
            return "\n".join(self.core.ansi())
        if self.render_mode == "rgb_array":
            raise gym.error.Error("rgb_array rendering is per host: use the single env HostOffload-v0")
        return None
