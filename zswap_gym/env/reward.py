"""The reward: DRAM saved against the stall, CPU, SSD wear and SLO violations it cost.

Per step and host, from the simulator's metrics (docs/model.md §12)::

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


REWARD_TERMS = ("dram", "stall", "cpu", "ssd", "oom", "psi")
"""The reward's terms, in the order they are summed (``info["reward.<term>"]``)."""


def term_weights(config: RewardConfig, step_s: float) -> np.ndarray:
    """(6, 1) column of the signed weights of the terms' quantities per step, ``REWARD_TERMS``
    order: GiB saved (then times hours), stall task-seconds, CPU seconds, GiB written, OOM kills,
    and PSI over target (0 or 1: the step's seconds enter the weight, exactly)."""
    k = config.scale
    weights = [k * config.w_dram, -k * config.w_stall, -k * config.w_cpu, -k * config.w_ssd, -k * config.w_oom]
    return np.array([*weights, step_s * (-k * config.w_psi)])[:, None]


def weighted_terms(
    config: RewardConfig,
    step_s: float,
    saved_bytes: np.ndarray,
    stall_s: np.ndarray,
    cpu_s: np.ndarray,
    written_bytes: np.ndarray,
    oom_kills: np.ndarray,
    psi_some_avg10: np.ndarray,
    out: np.ndarray | None = None,
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """Each weighted term per host, signed as it enters the reward: a (6, H) block, rows in
    ``REWARD_TERMS`` order (written into ``out`` if given; ``weights`` is ``term_weights``'s
    column, if at hand).

    Per host (H,): DRAM saved (bytes), memory stall (task-seconds), CPU (seconds), bytes written to
    the swap device, OOM kills; ``psi_some_avg10`` (H, M) percent. Each row gets its quantity, then
    one multiplication weighs them all: the arithmetic of the module docstring, term by term."""
    out = np.empty((len(REWARD_TERMS), len(saved_bytes))) if out is None else out
    np.divide(saved_bytes, GiB, out=out[0])
    out[1] = stall_s
    out[2] = cpu_s
    np.divide(written_bytes, GiB, out=out[3])
    out[4] = oom_kills
    out[5] = np.logical_or.reduce(psi_some_avg10 > config.psi_target_percent, axis=1)  # any memcg over
    np.multiply(out, term_weights(config, step_s) if weights is None else weights, out=out)
    np.multiply(out[0], step_s / 3600.0, out=out[0])  # GiB-hours
    return out


def total_reward(terms: np.ndarray) -> np.ndarray:
    """The reward (H,) float64: the rows of a ``weighted_terms`` block added in order, starting
    from 0, as ``sum()`` over the rows does, bit for bit (a total of zero is +0.0); one reduction
    instead of a call per term."""
    return np.add.reduce(terms, axis=0, initial=0.0)


def reward_terms(metrics: StepMetrics, config: RewardConfig, step_s: float) -> dict[str, np.ndarray]:
    """Each weighted term per host (H,), signed as it enters the reward."""
    block = _terms_block(metrics, config, step_s)
    return dict(zip(REWARD_TERMS, block, strict=True))


def compute_reward(
    metrics: StepMetrics, config: RewardConfig, step_s: float
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Reward per host (H,) float64 and its terms."""
    block = _terms_block(metrics, config, step_s)
    return total_reward(block), dict(zip(REWARD_TERMS, block, strict=True))


def _terms_block(metrics: StepMetrics, config: RewardConfig, step_s: float) -> np.ndarray:
    return weighted_terms(
        config,
        step_s,
        metrics.host_dram_saved_bytes,
        metrics.stall_total_s.sum(axis=1),
        metrics.cpu_total_s.sum(axis=1),
        metrics.host_device_bytes_written,
        metrics.oom_kills.sum(axis=1),
        metrics.psi_some_avg10,
    )
