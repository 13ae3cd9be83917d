"""zswap-gym: a reinforcement-learning environment and benchmark for memory offloading with zswap."""

__version__ = "0.1.0"

from .env.registration import register_envs  # noqa: E402

register_envs()
