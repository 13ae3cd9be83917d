"""zswap-gym: a reinforcement-learning environment and benchmark for memory offloading with zswap."""

__version__ = "0.1.0"
