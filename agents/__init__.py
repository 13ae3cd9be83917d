"""Policies for zswap-gym: the heuristic baselines of the field and the clairvoyant oracle.

Each baseline is a :class:`~zswap_gym.policy.CgroupController` that acts only through cgroup files
(the reads and writes it would make on a real host) and is declared in the ``zswap_gym.agents``
entry-point group of ``pyproject.toml``, so ``zswap-gym run --agent NAME`` and the benchmark find it
by name without importing this package. The oracle is the one exception: it reads the simulator's
hidden per-chunk state (see :mod:`agents.oracle`).
"""
