"""What a policy is: the protocol the runner and the benchmark drive.

Two kinds of policy run on the same env:

* an **action policy** (:class:`ActionPolicy`) maps observations to the env's actions, as an RL agent
  does: ``reset(obs, info)`` at the start of an episode, ``act(obs) -> action`` every step;
* a **cgroup controller** (:class:`CgroupController`) acts on the host the way production controllers
  do, by reading and writing cgroup files (:class:`~zswap_gym.cgroup.CgroupFiles`); the runner calls
  ``reset(fs, step_s)`` at the start and ``control(fs, now_s)`` before every env step, and steps the
  env with the "do nothing" action. The same controller code runs on a real ``/sys/fs/cgroup``
  (:class:`~zswap_gym.cgroup.RealCgroupFS`) by calling ``control`` on a timer.

A controller's writes act at once, at the start of the interval the env is about to simulate, exactly
where the env applies an action; so a controller and an action policy that ask for the same bytes
produce the same trajectory.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from zswap_gym.cgroup import CgroupFiles


@runtime_checkable
class ActionPolicy(Protocol):
    """A policy over env observations and actions (what RL agents implement)."""

    def reset(self, obs: np.ndarray, info: dict[str, Any]) -> None:
        """Start of an episode: the first observation and the reset ``info``."""
        ...

    def act(self, obs: np.ndarray) -> np.ndarray:
        """The action for this observation: float32 (max_memcgs, 2) in [-1, 1]."""
        ...


class CgroupController(ABC):
    """A controller that acts only through cgroup files, once per control interval of the env.

    Subclasses set :attr:`name` (the registry name), :attr:`source` (where the rule comes from) and
    implement :meth:`control`. Controllers whose own period differs from the env's step use
    :meth:`periods_due` to act on their own clock.
    """

    name: ClassVar[str] = ""
    source: ClassVar[str] = ""

    def reset(self, fs: CgroupFiles, step_s: float) -> None:
        """Start of an episode on host ``fs``; ``step_s`` is how often :meth:`control` will be called (s).

        The base class records ``step_s`` and clears the period clocks; subclasses that override this
        call ``super().reset(fs, step_s)``."""
        self.step_s = float(step_s)
        self._next_due: dict[str, float] = {}

    @abstractmethod
    def control(self, fs: CgroupFiles, now_s: float) -> None:
        """Read the host's files and write what the controller decides, at simulated time ``now_s`` (s)."""

    def periods_due(self, key: str, now_s: float, period_s: float) -> int:
        """How many of this controller's ``period_s`` periods (clock ``key``) have started since the last
        call, counting the one at ``now_s``; 0 if none. The first call returns 1."""
        due = self._next_due.get(key)
        if due is None:
            self._next_due[key] = now_s + period_s
            return 1
        if now_s + 1e-9 < due:
            return 0
        n = int(math.floor((now_s - due) / period_s + 1e-9)) + 1
        self._next_due[key] = due + n * period_s
        return n

    def config(self) -> dict[str, Any]:
        """The controller's parameters (recorded with every result)."""
        return {k: v for k, v in vars(self).items() if not k.startswith("_") and k != "step_s"}
