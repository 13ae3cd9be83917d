"""Actions: per memcg slot, how much to proactively reclaim and to write back this step.

An action is a float32 array (M, 2) in [-1, 1]: column 0 drives ``memory.reclaim``, column 1
proactive zswap writeback (``memory.reclaim "N source=zswap"``). For a value ``a``:

* ``a <= 0``: do nothing (so 0, the centre of the box, is exactly "do nothing");
* ``a > 0``: request ``a**2 * max_fraction`` of the base amount — ``memory.current`` for reclaim,
  the memcg's zswapped bytes for writeback — so small amounts get fine control.

Values outside [-1, 1] are clipped to it (documented, as Stable-Baselines3 clips Box actions); NaN,
infinity, a wrong shape and a dtype that is not a real number (complex, string, object, date) raise
:class:`ActionError`. Unused memcg slots are ignored. With ``flat_action=True`` the envs take the
same values flattened, ``(2 * M,)``: index ``2 * slot + column``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..sim import Simulator
from ..sim.units import PAGE_SIZE

RECLAIM, WRITEBACK = 0, 1
ACTION_COLUMNS = ("reclaim", "writeback")


class ActionError(ValueError):
    """An action the env cannot apply (wrong shape or dtype, NaN or infinite values)."""


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


ACTION_LAYOUT = "memcg slots x [reclaim, writeback]"
"""What the axes of a ``(max_memcgs, 2)`` action mean (for error messages)."""
FLAT_ACTION_LAYOUT = "[reclaim, writeback] per memcg slot, flattened: index 2 * slot + column"
"""What the axis of a flat ``(2 * max_memcgs,)`` action means (``flat_action=True``)."""
_REAL_KINDS = frozenset("biuf")  # bool, signed and unsigned integers, floats


def validate_actions(actions: object, shape: tuple[int, ...], layout: str = ACTION_LAYOUT) -> np.ndarray:
    """The actions as float64 of ``shape``, clipped to [-1, 1]; raises :class:`ActionError`.

    ``layout`` says what the axes of ``shape`` are (shown when the shape is wrong). Only real
    numbers are actions: complex values (numpy would drop the imaginary part with a warning),
    strings, objects, dates and times are rejected, naming the dtype."""
    try:
        array = np.asarray(actions)
    except (TypeError, ValueError) as exc:
        raise ActionError(f"action must be a numeric array of shape {shape}: {exc}") from None
    if array.dtype.kind not in _REAL_KINDS:
        raise ActionError(
            f"action has dtype {array.dtype}, expected real numbers (a float32 array of shape {shape}, {layout})"
        )
    if array.shape != shape:
        raise ActionError(f"action has shape {array.shape}, expected {shape} ({layout})")
    array = array.astype(np.float64, copy=False)
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
