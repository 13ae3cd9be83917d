"""The reward: DRAM saved against the stall, CPU, SSD wear and SLO violations it cost.

Per step and host (DESIGN.md §3.5)::

    reward = w_dram  * GiB_saved * hours
           - w_stall * stall_seconds
           - w_cpu   * cpu_seconds
           - w_ssd   * GiB_written
           - w_oom   * oom_kills
           - w_psi   * seconds with PSI some avg10 above psi_target_percent

times ``scale``. GiB saved is the footprint of all tenants minus the DRAM they occupy (resident pages, pages under
writeback, the zswap pool and its metadata), i.e. against an all-resident host. Stall seconds are
memory stall task-seconds (refaults, direct reclaim, ``memory.high`` sleeps). The weights are in
"cost units"; the defaults value one GiB-hour of DRAM at 1 unit and price the rest against it
(see :class:`RewardConfig`). Every result records the weights it used.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ..sim import StepMetrics

GiB = float(1 << 30)


@dataclass(frozen=True)
class RewardConfig:
    """Weights of the reward terms (units per unit of the term).

    Defaults, and why:

    * ``w_dram = 1.0`` per GiB-hour saved: the unit of account.
    * ``w_stall = 0.05`` per task-second of memory stall: a 16-task service stalled for 1 % of the
      time (0.16 task-s per second) costs 576 units an hour, far more than the ~10 GiB-hours a
      host could save, so heavy thrashing never pays; a few hundred zswap refaults per second
      (~15 us each) cost a few units an hour, so offloading genuinely cold memory does pay.
    * ``w_cpu = 0.02`` per CPU-second (compression, decompression, flushes, reclaim): cheaper than
      stall, since it does not block the workload.
    * ``w_ssd = 0.2`` per GiB written to the swap device: at TMO's ~1 MB/s endurance budget
      (3.4 GiB an hour) writes cost ~0.7 units an hour, so writeback must free real DRAM to pay.
    * ``w_oom = 50`` per OOM kill, ``w_psi = 0.5`` per second with PSI some avg10 above 10 %:
      SLO violations.

    On the default scenario (1 hour, seeds 0-1) these make the trade-off real: never offloading
    returns 0, offloading the maximum every step about -30,000 (thrashing, PSI far over target), a
    moderate constant rate (action 0.3 on reclaim) about +100.
    """

    w_dram: float = 1.0
    w_stall: float = 0.05
    w_cpu: float = 0.02
    w_ssd: float = 0.2
    w_oom: float = 50.0
    w_psi: float = 0.5
    psi_target_percent: float = 10.0
    scale: float = 100.0
    """Multiplies every term. In cost units a 10 s step earns ~0.003 (one GiB saved for 10 s); x100
    puts per-step rewards near 0.1-1, where value functions learn comfortably. 1 = cost units."""

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not np.isfinite(value) or value < 0:
                raise ValueError(f"RewardConfig.{name} = {value!r}: must be finite and >= 0")

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def reward_terms(metrics: StepMetrics, config: RewardConfig, step_s: float) -> dict[str, np.ndarray]:
    """Each weighted term per host (H,), signed as it enters the reward."""
    hours = step_s / 3600.0
    saved_gib = metrics.host_dram_saved_bytes / GiB
    stall = metrics.stall_total_s.sum(axis=1)
    cpu = metrics.cpu_total_s.sum(axis=1)
    written_gib = metrics.host_device_bytes_written / GiB
    ooms = metrics.oom_kills.sum(axis=1)
    psi_over = (metrics.psi_some_avg10 > config.psi_target_percent).any(axis=1) * step_s
    k = config.scale
    return {
        "dram": k * config.w_dram * saved_gib * hours,
        "stall": -k * config.w_stall * stall,
        "cpu": -k * config.w_cpu * cpu,
        "ssd": -k * config.w_ssd * written_gib,
        "oom": -k * config.w_oom * ooms,
        "psi": -k * config.w_psi * psi_over,
    }


def compute_reward(
    metrics: StepMetrics, config: RewardConfig, step_s: float
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Reward per host (H,) float64 and its terms."""
    terms = reward_terms(metrics, config, step_s)
    return sum(terms.values()), terms  # type: ignore[return-value]
