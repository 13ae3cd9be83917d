"""Stable-Baselines3 adapter: the native vector env presented as an SB3 ``VecEnv``.

:class:`HostOffloadSB3VecEnv` wraps one :class:`~zswap_gym.env.vector_env.HostOffloadVectorEnv`
(``num_envs`` hosts in one batched simulator) and speaks SB3's ``VecEnv`` API, so SB3 algorithms
train on it directly, without a ``DummyVecEnv`` over single envs:

* ``step_async``/``step_wait`` return ``(obs, rewards, dones, infos)``: ``obs`` float32
  ``(num_envs, D)``, ``rewards`` float32 ``(num_envs,)``, ``dones`` bool, ``infos`` a list of one
  dict per host. The vector env runs in ``AutoresetMode.SAME_STEP``: a host whose episode ends is
  reset within the same step (as SB3 expects); its info then holds ``"terminal_observation"`` (the
  last observation of the episode) and ``"TimeLimit.truncated"`` is ``True``. ``"TimeLimit.truncated"``
  is in every info (``False`` while the episode runs), as in SB3's ``DummyVecEnv``. Episodes end by
  truncation only (the fixed horizon ``max_episode_steps``); there is no termination.
* Per-host infos are light: the per-host scalars of the vector env's info dict (host ``i``'s slice,
  as Python numbers: ``dram_saved_bytes``, ``stall_s``, ``reward.dram``, ...). Per-memcg arrays stay
  in the vector env's info (``info_keys`` restricts the keys further, e.g. for speed).
* Seeding as ``DummyVecEnv``: ``seed(s)`` (what ``PPO(..., seed=s)`` calls) stores ``s + i`` for host
  ``i``, used by the next ``reset()`` only; ``set_options(...)`` likewise (one options dict for all
  hosts). ``reset_infos`` holds each host's reset info (``episode_seed``, ...).
* ``get_attr``/``env_method`` act on the one underlying vector env and repeat the result for each
  index asked for (``get_attr("render_mode")`` gives ``[mode] * num_envs``); ``set_attr`` sets the
  shared attribute, so only for all hosts at once. ``env_is_wrapped`` is ``False`` for every host
  (hosts are not separate ``gymnasium.Env`` objects and carry no wrappers).
* ``render()`` with ``render_mode="ansi"`` returns the vector env's text table of every host.
* ``workers=2`` (an argument of the vector env) steps the hosts in two processes at once, for
  machines with an idle core: PPO's rollout and update run in this process on one core, and the
  env's step is split between it and a worker on the other. Bit for bit the same training data.
* Episode statistics: wrap with SB3's ``VecMonitor`` (``make_sb3_vec_env(..., monitor=True)``) and
  ``info["episode"]`` (``r``, ``l``, ``t``) appears at each episode end, which ``PPO``'s logger
  (``rollout/ep_rew_mean``) and ``evaluate_policy`` use.

Example (PPO on 8 hosts of the default scenario)::

    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.evaluation import evaluate_policy
    from zswap_gym.env.sb3 import make_sb3_vec_env

    torch.set_num_threads(1)
    env = make_sb3_vec_env(num_envs=8, scenario="default", monitor=True)
    model = PPO("MlpPolicy", env, seed=0, device="cpu", verbose=1)
    model.learn(total_timesteps=200_000)
    mean_return, std_return = evaluate_policy(model, env, n_eval_episodes=8)
    model.save("ppo_zswap")

An existing vector env works too: ``HostOffloadSB3VecEnv(gymnasium.make_vec("zswap_gym/HostOffload-v0",
num_envs=8))`` (a ``HostOffloadVectorEnv`` in another autoreset mode is switched to ``SAME_STEP``; it
must be reset, which SB3 does before its first step).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from stable_baselines3.common.vec_env import VecEnv, VecMonitor
from stable_baselines3.common.vec_env.base_vec_env import VecEnvIndices, VecEnvStepReturn

from .vector_env import HostOffloadVectorEnv

__all__ = ["HostOffloadSB3VecEnv", "make_sb3_vec_env"]

_VECTOR_ONLY_KEYS = frozenset({"final_obs", "final_info"})


def _split_info(info: dict[str, Any], num_envs: int, keys: frozenset[str] | None = None) -> list[dict[str, Any]]:
    """Gymnasium's vector info (dict of arrays, host axis first, ``_key`` masks) as one dict per host.

    Only per-host scalars are kept (1-D arrays of length ``num_envs``, as Python numbers); nested
    dicts are split the same way; per-memcg arrays and the autoreset keys are left out.
    """
    full_keys: list[str] = []
    full_columns: list[list[Any]] = []
    partial: list[tuple[str, list[int], list[Any]]] = []
    for key, value in info.items():
        if key[0] == "_" or key in _VECTOR_ONLY_KEYS or (keys is not None and key not in keys):
            continue
        if isinstance(value, dict):
            values: list[Any] = _split_info(value, num_envs)
        elif isinstance(value, np.ndarray) and value.ndim == 1 and value.shape[0] == num_envs:
            values = value.tolist()
        else:
            continue
        mask = info.get(f"_{key}")
        if mask is None or mask.all():
            full_keys.append(key)
            full_columns.append(values)
        else:
            partial.append((key, np.flatnonzero(mask).tolist(), values))
    out = [dict(zip(full_keys, row, strict=True)) for row in zip(*full_columns, strict=True)] if full_keys else None
    if out is None:
        out = [{} for _ in range(num_envs)]
    for key, hosts, values in partial:
        for i in hosts:
            out[i][key] = values[i]
    return out


class HostOffloadSB3VecEnv(VecEnv):
    """A :class:`HostOffloadVectorEnv` (or another Gymnasium ``VectorEnv`` in ``SAME_STEP`` autoreset
    mode) as a Stable-Baselines3 ``VecEnv``; see the module docstring.

    Args:
        venv: the vector env to wrap; ``None`` builds a ``HostOffloadVectorEnv(**env_kwargs)``
            (``num_envs``, ``scenario``, ``reward``, ``actions``, ``observation``,
            ``max_episode_steps``, ``render_mode``, ``workers``) in ``SAME_STEP`` autoreset mode.
        info_keys: if given, only these info keys go into the per-host info dicts.
        **env_kwargs: arguments of ``HostOffloadVectorEnv`` when ``venv`` is ``None``.
    """

    def __init__(
        self,
        venv: VectorEnv | None = None,
        *,
        info_keys: Iterable[str] | None = None,
        **env_kwargs: Any,
    ) -> None:
        if venv is None:
            mode = AutoresetMode(env_kwargs.get("autoreset_mode", AutoresetMode.SAME_STEP))
            if mode != AutoresetMode.SAME_STEP:
                raise ValueError("the SB3 adapter steps the vector env in AutoresetMode.SAME_STEP only")
            env_kwargs["autoreset_mode"] = AutoresetMode.SAME_STEP
            venv = HostOffloadVectorEnv(**env_kwargs)
        elif env_kwargs:
            raise TypeError(f"got an existing vector env and env arguments {sorted(env_kwargs)}: give one or the other")
        if not isinstance(venv, VectorEnv):
            raise TypeError(f"venv must be a gymnasium VectorEnv, got {type(venv).__name__}")
        mode = venv.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
        if AutoresetMode(mode) != AutoresetMode.SAME_STEP:
            if venv is not venv.unwrapped or not isinstance(venv, HostOffloadVectorEnv):
                raise ValueError(
                    f"the vector env's autoreset mode is {AutoresetMode(mode)}; the SB3 adapter needs "
                    "AutoresetMode.SAME_STEP (make the env with autoreset_mode='SameStep')"
                )
            venv.autoreset_mode = AutoresetMode.SAME_STEP  # safe: SB3 resets every host before stepping
            venv.metadata = {**venv.metadata, "autoreset_mode": AutoresetMode.SAME_STEP}
        self.venv = venv
        self.info_keys = None if info_keys is None else frozenset(info_keys)
        # The env's own step (not a subclass's override) can hand over the per-host scalars directly.
        self._lean = isinstance(venv, HostOffloadVectorEnv) and type(venv).step is HostOffloadVectorEnv.step
        self._actions: np.ndarray | None = None
        super().__init__(venv.num_envs, venv.single_observation_space, venv.single_action_space)
        self._action_shape = (self.num_envs, *self.action_space.shape)

    # -- the SB3 VecEnv API ------------------------------------------------------------------

    def reset(self) -> np.ndarray:
        seeds: int | list[int | None] | None = None
        if any(s is not None for s in self._seeds):
            seeds = list(self._seeds)
            if seeds[0] is not None and seeds == [int(seeds[0]) + i for i in range(self.num_envs)]:
                seeds = int(seeds[0])  # what seed() sets: host i gets seed + i, as reset(seed=s) gives
        options = self._common_options()
        obs, info = self.venv.reset(seed=seeds, options=options)
        self.reset_infos = _split_info(info, self.num_envs)
        # Seeds and options are used once (as DummyVecEnv does).
        self._reset_seeds()
        self._reset_options()
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        actions = np.asarray(actions)
        if actions.shape != self._action_shape and actions.size == int(np.prod(self._action_shape)):
            actions = actions.reshape(self._action_shape)  # e.g. flattened (num_envs, M * 2) actions
        self._actions = actions

    def step_wait(self) -> VecEnvStepReturn:
        if self._actions is None:
            raise RuntimeError("step_wait() without a pending step_async()")
        actions, self._actions = self._actions, None
        # An instance whose ``step`` was replaced (patched or wrapped) is stepped through that ``step``.
        if self._lean and "step" not in vars(self.venv) and self.venv.autoreset_mode == AutoresetMode.SAME_STEP:
            # The per-host scalars straight from the env: no vector info to build and split.
            obs, rewards, terminated, truncated, infos, final_obs = self.venv.step_host_scalars(actions, self.info_keys)
        else:
            obs, rewards, terminated, truncated, vinfo = self.venv.step(actions)
            infos = self._host_infos(vinfo)
            final_obs = vinfo.get("final_obs")
        dones = np.logical_or(terminated, truncated)
        time_limit = np.logical_and(truncated, np.logical_not(terminated)).tolist()
        for info, flag in zip(infos, time_limit, strict=True):
            info["TimeLimit.truncated"] = flag
        ended = dones.tolist()
        if True in ended:
            seeds = getattr(getattr(self.venv.unwrapped, "core", None), "episode_seeds", None)
            for i, done in enumerate(ended):
                if done:
                    infos[i]["terminal_observation"] = np.array(final_obs[i], dtype=np.float32)
                    # The vector env resets the host in this step; its reset info is the new episode's seed.
                    self.reset_infos[i] = {} if seeds is None else {"episode_seed": int(seeds[i])}
        return obs, np.asarray(rewards, dtype=np.float32), dones, infos

    def _host_infos(self, vinfo: dict[str, Any]) -> list[dict[str, Any]]:
        """The per-host info dicts of a step: straight from the vector env's block of per-host
        scalars when it is a :class:`HostOffloadVectorEnv` (no wrapper in between), else by
        splitting the vector info key by key (the same dicts)."""
        if isinstance(self.venv, HostOffloadVectorEnv):
            infos = self.venv.host_scalar_infos(vinfo, self.info_keys)
            if infos is not None:
                return infos
        return _split_info(vinfo, self.num_envs, self.info_keys)

    def close(self) -> None:
        self.venv.close()

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        """The vector env's attribute, once per index (all hosts share one env)."""
        return [self._env_attr(attr_name)] * len(self._index_list(indices))

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        """Set an attribute of the vector env; hosts share it, so ``indices`` must cover all hosts."""
        if sorted(set(self._index_list(indices))) != list(range(self.num_envs)):
            raise ValueError(
                f"set_attr({attr_name!r}) for a subset of hosts: the {self.num_envs} hosts share one vector env, "
                "so attributes can only be set for all of them (indices=None)"
            )
        setattr(self.venv, attr_name, value)

    def env_method(self, method_name: str, *method_args, indices: VecEnvIndices = None, **method_kwargs) -> list[Any]:
        """Call a method of the vector env once; its result is repeated per index."""
        result = self._env_attr(method_name)(*method_args, **method_kwargs)
        return [result] * len(self._index_list(indices))

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None) -> list[bool]:
        """Hosts are not ``gymnasium.Env`` objects, so no host is wrapped (by ``Monitor`` or else)."""
        return [False] * len(self._index_list(indices))

    def get_images(self) -> Sequence[np.ndarray | None]:
        raise NotImplementedError(
            "rgb_array rendering is per host: use the single env zswap_gym/HostOffload-v0 with render_mode='rgb_array'"
        )

    def render(self, mode: str | None = None) -> Any:
        """With ``render_mode="ansi"``: the vector env's text table of every host (a string)."""
        if (mode or self.render_mode) == "ansi" and self.render_mode == "ansi":
            return self.venv.render()
        return super().render(mode=mode)

    # -- extras ------------------------------------------------------------------------------

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Names of the observation's features (see ``HostOffloadEnv``)."""
        return self._env_attr("feature_names")

    def _env_attr(self, name: str) -> Any:
        try:
            return getattr(self.venv, name)
        except AttributeError:
            return getattr(self.venv.unwrapped, name)

    def _index_list(self, indices: VecEnvIndices) -> list[int]:
        out = [int(i) for i in self._get_indices(indices)]
        bad = [i for i in out if not 0 <= i < self.num_envs]
        if bad:
            raise IndexError(f"env indices {bad} out of range for {self.num_envs} envs")
        return out

    def _common_options(self) -> dict[str, Any] | None:
        options = [o for o in self._options if o]
        if not options:
            return None
        if len(options) != self.num_envs or any(o is not options[0] and o != options[0] for o in options[1:]):
            raise ValueError("reset options differ between hosts: the vector env takes one options dict for all hosts")
        return dict(options[0])


def make_sb3_vec_env(
    num_envs: int = 8,
    scenario: Any = "default",
    *,
    monitor: bool = False,
    monitor_kwargs: dict[str, Any] | None = None,
    info_keys: Iterable[str] | None = None,
    **kwargs: Any,
) -> VecEnv:
    """An SB3 ``VecEnv`` of ``num_envs`` hosts of ``scenario`` (one batched simulator).

    ``kwargs`` go to :class:`HostOffloadVectorEnv` (``reward``, ``actions``, ``observation``,
    ``max_episode_steps``, ``render_mode``, ``workers``). ``monitor=True`` wraps the result in SB3's
    ``VecMonitor(**monitor_kwargs)`` for episode statistics (``info["episode"]``).
    """
    env: VecEnv = HostOffloadSB3VecEnv(num_envs=num_envs, scenario=scenario, info_keys=info_keys, **kwargs)
    if monitor:
        env = VecMonitor(env, **(monitor_kwargs or {}))
    return env
