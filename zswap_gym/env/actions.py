"""Actions: per memcg slot, how much to proactively reclaim and to write back this step.

An action is a float32 array (M, 2) in [-1, 1]: column 0 drives ``memory.reclaim``, column 1
proactive zswap writeback (``memory.reclaim "N source=zswap"``). For a value ``a``:

* ``a <= 0``: do nothing (so 0, the centre of the box, is exactly "do nothing");
* ``a > 0``: request ``a**2 * max_fraction`` of the base amount — ``memory.current`` for reclaim,
  the memcg's zswapped bytes for writeback — so small amounts get fine control.

Values outside [-1, 1] are clipped to it (documented, as Stable-Baselines3 clips Box actions); NaN,
infinity and a wrong shape raise :class:`ActionError`. Unused memcg slots are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..sim import Simulator
from ..sim.units import PAGE_SIZE

RECLAIM, WRITEBACK = 0, 1
ACTION_COLUMNS = ("reclaim", "writeback")


class ActionError(ValueError):
    """An action the env cannot apply (wrong shape, NaN or infinite values)."""


@dataclass(frozen=True)
class ActionConfig:
    """How actions map to amounts. Fractions are per step."""

    max_reclaim_fraction: float = 0.02
    """Largest ``memory.reclaim`` per step, as a share of the memcg's ``memory.current``."""
    max_writeback_fraction: float = 0.10
    """Largest proactive writeback per step, as a share of the memcg's zswapped bytes."""

    def __post_init__(self) -> None:
        for name in ("max_reclaim_fraction", "max_writeback_fraction"):
            value = getattr(self, name)
            if not (0.0 < value <= 1.0):
                raise ValueError(f"ActionConfig.{name} = {value!r}: must be in (0, 1]")


def validate_actions(actions: object, shape: tuple[int, ...]) -> np.ndarray:
    """The actions as float64 of ``shape``, clipped to [-1, 1]; raises :class:`ActionError`."""
    try:
        array = np.asarray(actions, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ActionError(f"action must be a numeric array of shape {shape}: {exc}") from None
    if array.shape != shape:
        raise ActionError(f"action has shape {array.shape}, expected {shape} (memcg slots x [reclaim, writeback])")
    if not np.isfinite(array).all():
        where = tuple(int(i) for i in np.argwhere(~np.isfinite(array))[0])
        raise ActionError(f"action contains {array[where]!r} at index {where}: every value must be finite")
    # What np.clip gives for finite values, in two plain ufunc calls (np.clip's wrapper costs more).
    clipped = np.maximum(array, -1.0)
    return np.minimum(clipped, 1.0, out=clipped)


def decode_actions(actions: np.ndarray, sim: Simulator, config: ActionConfig) -> tuple[np.ndarray, np.ndarray]:
    """Requested bytes (H, M) for reclaim and writeback from validated actions (H, M, 2)."""
    level = np.maximum(actions, 0.0)
    np.square(level, out=level)
    g = sim.gauges()
    active = sim.memcg_active
    reclaim = level[..., RECLAIM] * config.max_reclaim_fraction
    np.multiply(reclaim, g.memory_current, out=reclaim)
    np.multiply(reclaim, active, out=reclaim)
    writeback = level[..., WRITEBACK] * config.max_writeback_fraction
    np.multiply(writeback, g.zswap_pages, out=writeback)
    np.multiply(writeback, PAGE_SIZE, out=writeback)
    np.multiply(writeback, active, out=writeback)
    return reclaim, writeback
