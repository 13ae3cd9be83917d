"""Registers the environments with Gymnasium on ``import zswap_gym``."""

from __future__ import annotations

import gymnasium as gym

ENV_IDS = ("zswap_gym/HostOffload-v0",)


def register_envs() -> None:
    """Register ``zswap_gym/HostOffload-v0`` (single env and native vector env)."""
    if "zswap_gym/HostOffload-v0" in gym.registry:
        return
    gym.register(
        id="zswap_gym/HostOffload-v0",
        entry_point="zswap_gym.env.host_env:HostOffloadEnv",
        vector_entry_point="zswap_gym.env.vector_env:HostOffloadVectorEnv",
        disable_env_checker=False,
    )
