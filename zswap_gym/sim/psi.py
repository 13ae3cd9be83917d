"""Pressure stall information (``kernel/sched/psi.c``) for memory, per memcg.

The kernel samples stall time every 2 s (``PSI_FREQ``) and folds each sample into exponentially
decaying averages: ``avg = avg * e + sample% * (1 - e)`` with ``e = exp(-2/10)``, ``exp(-2/60)``,
``exp(-2/300)`` for avg10, avg60 and avg300. ``total`` is the cumulative stall time in microseconds.

``some`` is the share of wall time in which at least one task of the group was stalled on memory;
``full`` the share in which all its non-idle tasks were. From the stall time ``S`` (task-seconds) of a
group of ``n`` tasks in a window ``W``, each task is stalled a share ``f = min(1, S / (n W))`` of the
window; taking stalls of different tasks as independent, ``some = 1 - (1 - f)^n`` and ``full = f^n``.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from .state import SimState

PSI_PERIOD_S = 2.0
"""The kernel's averaging period (PSI_FREQ = 2 s)."""
PSI_WINDOWS_S = (10.0, 60.0, 300.0)
PSI_DECAY = np.array([math.exp(-PSI_PERIOD_S / w) for w in PSI_WINDOWS_S])
"""Per-sample decay factors of avg10, avg60, avg300."""


def stall_shares(stall_task_s: np.ndarray, nr_tasks: np.ndarray, window_s: float) -> tuple[np.ndarray, np.ndarray]:
    """``some`` and ``full`` shares (0..1) of a window from stall task-seconds, any leading shape.

    ``nr_tasks`` broadcasts against ``stall_task_s``.
    """
    per_task = np.minimum(stall_task_s / (nr_tasks * window_s), 1.0)
    some = 1.0 - (1.0 - per_task) ** nr_tasks
    full = per_task**nr_tasks
    return some, full


def decay_factors(period_s: float = PSI_PERIOD_S) -> np.ndarray:
    """Per-sample decay of avg10/avg60/avg300 for samples ``period_s`` apart (2 s in the kernel)."""
    return np.array([math.exp(-period_s / w) for w in PSI_WINDOWS_S])


@functools.lru_cache(maxsize=16)
def _folding(period_s: float, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``(decay**k, W)`` such that folding k samples one by one equals ``avg * decay**k + s @ W``."""
    decay = decay_factors(period_s)
    weights = (1.0 - decay)[None, :] * decay[None, :] ** np.arange(k - 1, -1, -1)[:, None]
    return decay**k, weights


def update_averages(avgs: np.ndarray, sample_pct: np.ndarray, period_s: float = PSI_PERIOD_S) -> np.ndarray:
    """Fold samples into the running averages, one period at a time.

    ``avgs`` (..., 3) percent; ``sample_pct`` (..., K) one percentage per period, in time order.
    Returns the new averages (the kernel's ``calc_avgs()``, without its fixed-point rounding),
    folded in closed form: ``avg * e**K + sum_k sample_k * (1 - e) * e**(K-1-k)``.
    """
    carry, weights = _folding(float(period_s), sample_pct.shape[-1])
    return avgs * carry + sample_pct @ weights


def psi_step(st: SimState, nr_tasks: np.ndarray, step_s: float, windows: int) -> np.ndarray:
    """Fold the step's stall (``st.tallies``) into each memcg's PSI, one 2 s window at a time
    (``psi_group_change()`` and ``calc_avgs()``): stall from faults in the window it happened in,
    reclaim and throttling spread evenly. ``nr_tasks`` (M,). Returns the step's ``some`` seconds
    (H, M)."""
    acc = st.tallies
    window_s = step_s / windows
    stall = acc.window_stall_s + (acc.spread_stall_s / windows)[..., None]
    some, full = stall_shares(stall, nr_tasks[None, :, None], window_s)
    st.psi_some_avg = update_averages(st.psi_some_avg, some * 100.0, window_s)
    st.psi_full_avg = update_averages(st.psi_full_avg, full * 100.0, window_s)
    some_s = np.add.reduce(some, axis=-1) * window_s
    st.psi_some_total_us += some_s * 1e6
    st.psi_full_total_us += np.add.reduce(full, axis=-1) * window_s * 1e6
    return some_s
