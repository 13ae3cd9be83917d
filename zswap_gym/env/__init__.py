"""Gymnasium environments over the simulator: one host, or a native batch of hosts."""

from .actions import ActionConfig, ActionError
from .core import OffloadCore
from .host_env import HostOffloadEnv
from .registration import ENV_IDS, register_envs
from .reward import RewardConfig
from .vector_env import HostOffloadVectorEnv

__all__ = [
    "ENV_IDS",
    "ActionConfig",
    "ActionError",
    "HostOffloadEnv",
    "HostOffloadVectorEnv",
    "OffloadCore",
    "RewardConfig",
    "register_envs",
]
