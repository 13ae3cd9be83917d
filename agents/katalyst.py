"""``katalyst``: ByteDance katalyst-core's transparent memory offloading (TMO) plugin.

Source: kubewharf/katalyst-core,
pkg/agent/sysadvisor/plugin/qosaware/resource/memory/plugin/memory_offloading.go (the policies and the
engine) and pkg/config/agent/dynamic/tmo/tmo_base.go (the defaults); the offload itself is
pkg/util/cgroup/manager/cgroup.go ``MemoryOffloadingWithAbsolutePath`` (``echo <bytes> >
memory.reclaim``). docs/calibration.md, Controllers.

Per memcg, every ``interval_s`` = 30 s (``DefaultTMOInterval``), an offloading target size (bytes):

* **PSI policy** (``psiPolicyFunc``): ``max(0, 1 - psi_avg60 / psi_avg60_threshold) * max_probe *
  usage`` with ``psi_avg60`` the memcg's memory PSI ``some`` avg60 (%), ``psi_avg60_threshold`` = 0.1,
  ``max_probe`` = 0.01 (1 %) and ``usage`` = ``memory.current``;
* **refault policy** (``refaultPolicyFunc``): over the last interval, reclaim accuracy
  ``1 - refaults / pgsteal`` and scan efficiency ``pgsteal / pgscan`` (both 1 when nothing was
  scanned). Below ``reclaim_accuracy_target`` = 0.99 or ``reclaim_scan_efficiency_target`` = 0.6 it
  backs off to ``last_target * accuracy``; otherwise it grows: ``min(max(last_target * 1.05,
  inactive * 0.1), usage * max_probe)``;
* **integrated policy** (``integratedPolicyFunc``): the smaller of the two.

The target is written to ``memory.reclaim``. The counters of the first round are compared with zero
(the engine's ``lastStats`` starts as a zero struct), as in the source.

Choices where the source does not carry over:

* ``policy`` defaults to ``"integrated"`` (katalyst's own default is ``"psi"``), so both rules act;
* ``workingset_activate`` (what katalyst counts as refaults) is not simulated:
  ``workingset_refault_anon`` is used — the simulator refaults only pages of the working set;
* ``inactive_anon`` is not in the simulated ``memory.stat``: the inactive memory is read from lru_gen
  as pages idle >= ``inactive_age_s`` (120 s);
* since Aug 2024 katalyst caps the target by the page cache not mapped (``min(max(2 * (cache -
  mapped), 1 MiB), target)``, 2025 form). The simulator models no page cache, so with that cap this
  controller would offload 1 MiB per 30 s; it is off by default (``cache_clamp``), which is the
  plugin as first published (Feb–Aug 2024) — the TMO rule on anonymous memory;
* ``enable_swap`` (katalyst default off, which sets ``memory.swap.max`` = 0 and so forbids zswap too)
  defaults to on here: ``memory.swap.max`` is set to ``max`` once at reset, as
  ``SetSwapMaxWithAbsolutePathRecursive`` does.
"""

from __future__ import annotations

from zswap_gym.cgroup import LRU_GEN_PATH, PAGE_SIZE, CgroupFiles, idle_pages_at_least, parse_lru_gen
from zswap_gym.policy import CgroupController

from .cgroup_io import memory_current, memory_pressure, memory_stat, write_reclaim

INACTIVE_PROBE = 0.1
"""``InactiveProbe``: the refault policy may grow to 10 % of inactive memory."""
OFFLOADING_SIZE_SCALE_COEFF = 1.05
"""``OffloadingSizeScaleCoeff``: the refault policy's growth per round."""
CACHE_EXCEPT_MAPPED_COEFF = 2
MIN_SIZE_CACHE_EXCEPT_MAP = 1 << 20
POLICIES = ("psi", "refault", "integrated")


class _TmoStats:
    """``TmoStats``: what one round read (counters in pages, sizes in bytes) and the target it set."""

    def __init__(self) -> None:
        self.usage = 0.0
        self.inactive = 0.0
        self.psi_avg60 = 0.0
        self.pgscan = 0.0
        self.pgsteal = 0.0
        self.refault = 0.0
        self.cache = 0.0
        self.mapped = 0.0
        self.target = 0.0


class KatalystTMO(CgroupController):
    """katalyst-core TMO: every 30 s, min(PSI policy, refault policy) bytes to memory.reclaim.

    Args:
        interval_s: rounds apart, s (``DefaultTMOInterval``, 30 s).
        policy: ``"psi"``, ``"refault"`` or ``"integrated"`` (the min of both; default).
        max_probe: largest offload per round, share of usage (``DefaultTMOMaxProbe``, 0.01).
        psi_avg60_threshold: memory PSI some avg60 (%) at which offloading stops (0.1).
        reclaim_accuracy_target: ``1 - refaults / pgsteal`` below this backs off (0.99).
        reclaim_scan_efficiency_target: ``pgsteal / pgscan`` below this backs off (0.6).
        inactive_age_s: idle age (s) counted as inactive memory (see the module doc; 120 s).
        cache_clamp: apply katalyst's page-cache cap on the target (default off).
        enable_swap: let anonymous memory go to zswap/swap (``memory.swap.max`` = max; default on).
    """

    name = "katalyst"
    source = "kubewharf/katalyst-core sysadvisor memory plugin memory_offloading.go (TMO)"

    def __init__(
        self,
        interval_s: float = 30.0,
        policy: str = "integrated",
        max_probe: float = 0.01,
        psi_avg60_threshold: float = 0.1,
        reclaim_accuracy_target: float = 0.99,
        reclaim_scan_efficiency_target: float = 0.6,
        inactive_age_s: float = 120.0,
        cache_clamp: bool = False,
        enable_swap: bool = True,
    ) -> None:
        if policy not in POLICIES:
            raise ValueError(f"policy = {policy!r}: one of {POLICIES}")
        self.interval_s = float(interval_s)
        self.policy = policy
        self.max_probe = float(max_probe)
        self.psi_avg60_threshold = float(psi_avg60_threshold)
        self.reclaim_accuracy_target = float(reclaim_accuracy_target)
        self.reclaim_scan_efficiency_target = float(reclaim_scan_efficiency_target)
        self.inactive_age_s = float(inactive_age_s)
        self.cache_clamp = bool(cache_clamp)
        self.enable_swap = bool(enable_swap)
        self._last: dict[str, _TmoStats] = {}
        self._targets: dict[str, float] = {}

    @property
    def last_targets(self) -> dict[str, float]:
        """The offloading target of each memcg at its last round, bytes."""
        return dict(self._targets)

    def reset(self, fs: CgroupFiles, step_s: float) -> None:
        super().reset(fs, step_s)
        self._last = {memcg: _TmoStats() for memcg in fs.memcgs()}
        self._targets = {}
        for memcg in fs.memcgs():
            fs.write(f"{memcg}/memory.swap.max", "max" if self.enable_swap else "0")

    # The policies (memory_offloading.go), on one memcg's last and current stats; bytes.
    def psi_policy(self, last: _TmoStats, curr: _TmoStats) -> float:
        """``psiPolicyFunc``: ``max(0, 1 - psi_avg60 / threshold) * max_probe * usage``."""
        return max(0.0, 1.0 - curr.psi_avg60 / self.psi_avg60_threshold) * self.max_probe * curr.usage

    def refault_policy(self, last: _TmoStats, curr: _TmoStats) -> float:
        """``refaultPolicyFunc``: back off on poor reclaim accuracy or scan efficiency, else grow."""
        scanned = curr.pgscan - last.pgscan
        stolen = curr.pgsteal - last.pgsteal
        refaulted = curr.refault - last.refault
        accuracy = efficiency = 1.0
        if stolen > 0 and scanned > 0:
            accuracy = 1.0 - refaulted / stolen
            efficiency = stolen / scanned
        if accuracy < self.reclaim_accuracy_target or efficiency < self.reclaim_scan_efficiency_target:
            return max(0.0, last.target * accuracy)
        grown = max(last.target * OFFLOADING_SIZE_SCALE_COEFF, curr.inactive * INACTIVE_PROBE)
        return min(grown, curr.usage * self.max_probe)

    def target_size(self, last: _TmoStats, curr: _TmoStats) -> float:
        """The round's offloading target (bytes): the policy, then the optional page-cache cap."""
        if self.policy == "psi":
            target = self.psi_policy(last, curr)
        elif self.policy == "refault":
            target = self.refault_policy(last, curr)
        else:
            target = min(self.psi_policy(last, curr), self.refault_policy(last, curr))
        if self.cache_clamp:
            cap = max(CACHE_EXCEPT_MAPPED_COEFF * (curr.cache - curr.mapped), MIN_SIZE_CACHE_EXCEPT_MAP)
            target = min(cap, target)
        return max(0.0, target)

    def control(self, fs: CgroupFiles, now_s: float) -> None:
        """Every ``interval_s``: per memcg, read its stats, compute the target, write memory.reclaim."""
        if not self.periods_due("tmo", now_s, self.interval_s):
            return
        generations = parse_lru_gen(fs.read(LRU_GEN_PATH))
        for memcg in fs.memcgs():
            curr = self._stats(fs, memcg, generations.get("/" + memcg, []))
            last = self._last.setdefault(memcg, _TmoStats())
            if not self.enable_swap and curr.cache < 2 * curr.mapped:
                self._targets[memcg] = 0.0  # "cache is close to mapped, skip reclaim": lastStats kept
                continue
            curr.target = self.target_size(last, curr)
            self._last[memcg] = curr
            self._targets[memcg] = curr.target
            write_reclaim(fs, memcg, curr.target)

    def _stats(self, fs: CgroupFiles, memcg: str, generations: list[tuple[int, float, int]]) -> _TmoStats:
        stat = memory_stat(fs, memcg)
        s = _TmoStats()
        s.usage = float(memory_current(fs, memcg))
        s.inactive = idle_pages_at_least(generations, self.inactive_age_s) * PAGE_SIZE
        s.psi_avg60 = memory_pressure(fs, memcg)["some"]["avg60"]
        s.pgscan = float(stat.get("pgscan", 0))
        s.pgsteal = float(stat.get("pgsteal", 0))
        s.refault = float(stat.get("workingset_refault_anon", 0))
        s.cache = float(stat.get("file", 0))
        s.mapped = float(stat.get("file_mapped", 0))
        return s
