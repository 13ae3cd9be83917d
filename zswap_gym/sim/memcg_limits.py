"""``memory.high`` throttling arithmetic (``mm/memcontrol.c``).

Over ``memory.high`` the allocating task reclaims the overage itself and then sleeps by a penalty
quadratic in the overage (``calculate_overage()`` / ``calculate_high_delay()``), capped at 2 s
(``MEMCG_MAX_HIGH_DELAY_JIFFIES``) and skipped when no more than 10 ms (``HZ / 100``).
"""

from __future__ import annotations

import numpy as np

MEMCG_DELAY_PRECISION_SHIFT = 20
MEMCG_DELAY_SCALING_SHIFT = 14
MEMCG_CHARGE_BATCH = 64
"""Pages charged per batch; the penalty is scaled by pages charged over high / this batch."""
MAX_HIGH_DELAY_S = 2.0
MIN_HIGH_DELAY_S = 0.010
HZ = 1000


def high_delay_s(usage_bytes: np.ndarray, high_bytes: np.ndarray, nr_pages: float = MEMCG_CHARGE_BATCH) -> np.ndarray:
    """The kernel's penalty for one return to user space while over ``memory.high``, in seconds,
    before the 10 ms skip (capped at 2 s). Vectorised over any shape.

    overage = (usage - high) << 20 / high; penalty_jiffies = overage^2 * HZ >> 20 >> 14, scaled by
    ``nr_pages / MEMCG_CHARGE_BATCH``. For high = 100M: 101M -> ~6 ms, 105M -> ~160 ms, 110M -> ~640 ms,
    118M and above -> 2 s.
    """
    usage = np.asarray(usage_bytes, dtype=np.float64)
    high = np.maximum(np.asarray(high_bytes, dtype=np.float64), 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):  # high = max (inf) means no overage
        ratio = np.where(usage > high, (usage - high) / high, 0.0)
    overage_fp = np.floor(np.nan_to_num(ratio, nan=0.0, posinf=0.0) * (1 << MEMCG_DELAY_PRECISION_SHIFT))
    jiffies = np.floor(
        overage_fp * overage_fp * HZ / float(1 << (MEMCG_DELAY_PRECISION_SHIFT + MEMCG_DELAY_SCALING_SHIFT))
    )
    jiffies = jiffies * nr_pages / MEMCG_CHARGE_BATCH
    return np.minimum(jiffies / HZ, MAX_HIGH_DELAY_S)


def high_throttle_sleep_s(
    usage_bytes: np.ndarray, high_bytes: np.ndarray, pages_charged_over_high: np.ndarray
) -> np.ndarray:
    """Sleep (task-seconds) that charging ``pages_charged_over_high`` in batches of 64 pages costs
    at this overage: one penalty per batch, each skipped when <= 10 ms (``mem_cgroup_handle_over_high``)."""
    per_batch = high_delay_s(usage_bytes, high_bytes)
    per_batch = np.where(per_batch > MIN_HIGH_DELAY_S, per_batch, 0.0)
    return per_batch * np.ceil(np.asarray(pages_charged_over_high) / MEMCG_CHARGE_BATCH)
