"""What cgroup files print, in the kernel's exact text formats. Pure: numbers in, text out.

Every file ends with a newline, as the kernel's ``seq_file`` output does. Values the simulator keeps
as floats (counters accrue fractional pages when host reclaim is split between kswapd and direct
reclaim) are printed as the nearest integer, which keeps them monotone.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from zswap_gym.sim.units import PAGE_SIZE

FSHIFT = 11
"""Bits of fraction in the kernel's fixed-point load averages (``FIXED_1 = 1 << FSHIFT``)."""
FIXED_1 = 1 << FSHIFT


def as_count(value: float) -> int:
    """A counter or size as the integer the kernel would print (nearest; never negative)."""
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"cannot print a non-finite value {value!r} in a cgroup file")
    return max(0, int(round(v)))


def render_value(value: float) -> str:
    """A single-value file (``memory.current``, ``memory.zswap.current``...): ``"<bytes>\\n"``."""
    return f"{as_count(value)}\n"


def render_limit(value_bytes: float | None) -> str:
    """A limit as ``seq_puts_memcg_tunable()`` prints it: whole pages in bytes, or ``max``."""
    if value_bytes is None or not math.isfinite(float(value_bytes)):
        return "max\n"
    return f"{(as_count(value_bytes) // PAGE_SIZE) * PAGE_SIZE}\n"


def render_flag(value: bool) -> str:
    """A 0/1 file (``memory.zswap.writeback``)."""
    return f"{int(bool(value))}\n"


def render_module_bool(value: bool) -> str:
    """A boolean module parameter, as ``param_get_bool`` prints it: ``Y`` or ``N``."""
    return "Y\n" if value else "N\n"


def render_flat_keyed(items: Iterable[tuple[str, float]]) -> str:
    """A flat-keyed file (``memory.stat``, ``memory.events``): one ``"<key> <integer>"`` per line."""
    return "".join(f"{key} {as_count(value)}\n" for key, value in items)


def _psi_avg(percent: float) -> str:
    """One PSI average as ``psi_show()`` prints it: ``LOAD_INT.LOAD_FRAC`` of a fixed-point value,
    the fraction truncated (not rounded) to two digits."""
    fixed = int(round(min(max(float(percent), 0.0), 100.0) * FIXED_1))
    whole = fixed >> FSHIFT
    frac = ((fixed & (FIXED_1 - 1)) * 100) >> FSHIFT
    return f"{whole}.{frac:02d}"


def render_pressure(
    some_avg_percent: Sequence[float],
    full_avg_percent: Sequence[float],
    some_total_us: float,
    full_total_us: float,
) -> str:
    """``memory.pressure``: ``some`` and ``full`` lines with avg10/avg60/avg300 (percent of wall
    time) and ``total`` (cumulative stall, microseconds)."""
    lines = []
    for kind, avgs, total in (("some", some_avg_percent, some_total_us), ("full", full_avg_percent, full_total_us)):
        avg10, avg60, avg300 = (_psi_avg(a) for a in avgs)
        lines.append(f"{kind} avg10={avg10} avg60={avg60} avg300={avg300} total={int(max(float(total), 0.0))}\n")
    return "".join(lines)
