"""Registers the environments with Gymnasium on ``import zswap_gym``."""

from __future__ import annotations

import dataclasses

import gymnasium as gym
from gymnasium.envs.registration import EnvSpec

ENV_IDS = ("zswap_gym/HostOffload-v0",)


def register_envs() -> None:
    """Register ``zswap_gym/HostOffload-v0`` (single env and native vector env).

    No ``max_episode_steps`` is registered: the env truncates itself at its scenario's
    ``episode_steps``, which differs between scenarios, so a fixed ``TimeLimit`` from the registry
    would cut some episodes short and outlast others. ``env.spec.max_episode_steps`` is set to the
    env's own horizon when ``gymnasium.make``/``make_vec`` give the env its spec (:func:`spec_with_horizon`).
    """
    if "zswap_gym/HostOffload-v0" in gym.registry:
        return
    gym.register(
        id="zswap_gym/HostOffload-v0",
        entry_point="zswap_gym.env.host_env:HostOffloadEnv",
        vector_entry_point="zswap_gym.env.vector_env:HostOffloadVectorEnv",
        disable_env_checker=False,
    )


def spec_with_horizon(spec: EnvSpec | None, max_episode_steps: int) -> EnvSpec | None:
    """``spec`` with ``max_episode_steps`` the env's own horizon (where the env truncates).

    ``gymnasium.make`` gives the env a spec with ``max_episode_steps=None`` (it keeps the value for
    its ``TimeLimit`` wrapper, which the registry does not ask for here); the env's spec says where
    its episodes end instead. A ``TimeLimit`` that ``make(..., max_episode_steps=N)`` adds shows
    ``N`` in the outer ``env.spec``, as in Gymnasium; ``gymnasium.make(env.spec)`` adds one at the
    env's own horizon, which ends each episode on the same step as the env does."""
    if spec is None or spec.max_episode_steps == max_episode_steps:
        return spec
    return dataclasses.replace(spec, max_episode_steps=max_episode_steps)
