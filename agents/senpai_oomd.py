"""``senpai-oomd``: Senpai as ``facebookincubator/oomd`` implements it (``plugins/Senpai.cpp``), in its
immediate-backoff mode with swappiness modulation.

Source: oomd ``src/oomd/plugins/Senpai.cpp`` ``tick_immediate_backoff()``,
``validatePressure()``, ``getLimitMinBytes()``, ``calculateSwappinessFactor()`` and the defaults in
``Senpai.h``; the swap-out rate is oomd's own (``Oomd.cpp``: ``pswpout`` delta x 4096 / interval,
exponentially averaged with factors ``exp(-dt/60)`` and ``exp(-dt/300)``). docs/calibration.md,
"Controllers": every 6 s, if memory-some and io-some ``max(avg10, avg60)`` are both below 0.1 %,
reclaim 1 % of ``(memory.current - floor)``; swappiness scaled down as swap writes approach
1 MiB/s or swap reaches 80 % full. The rule, per memcg, once per period:

1. **Immediate backoff.** Act only if ``max(avg10, avg60)`` of memory ``some`` is below
   ``mem_pressure_pct`` (0.1 %) and that of I/O ``some`` below ``io_pressure_pct`` (0.1 %); otherwise
   do nothing this period (no limit is left to relax: ``memory.reclaim`` is stateless).
2. **Floor.** ``floor = limit_min_bytes + unreclaimable``, ``unreclaimable = memory.current -
   reclaimable``, ``reclaimable = file + min(effective swap free, anon)`` (file memory is 0 here);
   effective swap free is the smaller of the host's ``SwapFree`` (``/proc/meminfo``) and the memcg's
   ``memory.swap.max - memory.swap.current``.
3. **Probe.** Reclaim ``max_probe`` (1 %) of ``memory.current - floor``, rounded down to 4 KiB.
4. **Swappiness.** ``factor = min(1 - swapout_bps / swapout_bps_threshold, 1 - swap_util /
   swap_threshold)``, 0 once either is reached, where ``swapout_bps = max(ewma60, ewma300)`` of
   the host's swap-out rate (``pswpout``) and ``swap_util`` the effective swap utilisation (the
   larger of the host's used/total swap from ``/proc/swaps`` and the memcg's
   ``memory.swap.current / memory.swap.max``); the reclaim runs at
   ``swappiness = int(base_swappiness * factor)``.

Defaults from ``Senpai.h``: ``interval`` 6 (ticks of 1 s), ``limit_min_bytes`` 100 MiB,
``pressure_pct`` 0.1, ``io_pressure_pct`` 0.1, ``max_probe`` 0.01, ``swap_threshold`` 0.8,
``swapout_bps_threshold`` 1 MiB/s. ``base_swappiness`` 60 is the kernel's ``vm.swappiness`` default.

Choices and differences from the source:

* ``modulate_swappiness`` defaults to ``True`` here (oomd's default is ``false``; docs/calibration.md and
  the issue describe the modulated rule, which is how Meta ran it with swap).
* oomd sets the host-wide ``vm.swappiness`` around its ``memory.reclaim`` write and restores it;
  this port passes it with the write instead (``memory.reclaim "<bytes> swappiness=<N>"``, Linux
  6.8+), which scopes it to that one reclaim. The simulator models anonymous memory only, so any
  swappiness above 0 reclaims the full amount from anon and 0 reclaims nothing: the modulation acts
  as a gate that closes when ``factor < 1 / base_swappiness`` (swap-out within 1/60 of 1 MiB/s, or
  swap within 1/60 of 80 % full). On a host with page cache, a lower swappiness would shift the
  same reclaim towards file pages instead.
* **I/O pressure.** The simulator has no ``io.pressure`` file; swap-in waits are counted in
  ``memory.pressure`` (as the kernel's ``memstall`` does for swap-in and refault waits). The port
  reads ``<memcg>/io.pressure`` when the file exists (a real host) and otherwise uses the memory
  pressure figure for the I/O check too, so on the simulator the I/O condition is the memory one.
* **Timing.** oomd runs every 1 s, waits ``interval`` ticks after a probe and re-checks pressure
  every tick while it is too high. The env calls :meth:`~SenpaiOomd.control` every 10 s, so this
  port checks pressure once per call and, when it may act, probes once, scaled by the number of
  6 s periods since its last call (:meth:`~zswap_gym.policy.CgroupController.periods_due`), as
  :mod:`agents.senpai_tmo` does. The swap-out averages are updated at every call with the elapsed
  time (``exp(-dt/60)``, ``exp(-dt/300)``), from the root cgroup's ``memory.stat`` ``pswpout``
  (the host's swap-outs: zswap writeback and direct swap-outs; zswap stores are ``zswpout``).
* ``swap_validation`` (oomd default off) and ``memory.min`` (not simulated, read as 0) are not
  ported; ``limit_max_bytes`` only matters for the ``memory.high`` mode, which this is not.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from zswap_gym.cgroup import (
    MEMINFO_PATH,
    PAGE_SIZE,
    SWAPS_PATH,
    CgroupFiles,
    parse_flat_keyed,
    parse_meminfo,
    parse_pressure,
    parse_swaps,
    parse_value,
)
from zswap_gym.policy import CgroupController

from .cgroup_io import limit, memory_current, memory_pressure, memory_stat, target_memcgs, write_reclaim

MiB = 1 << 20


class SenpaiOomd(CgroupController):
    """Senpai (oomd, immediate backoff): every 6 s, if memory and I/O pressure ``max(avg10, avg60)``
    are below 0.1 %, reclaim 1 % of ``memory.current - floor`` at a swappiness scaled down as
    swap-outs near 1 MiB/s or swap nears 80 % full.

    Args:
        interval_s: period between probes, s (oomd ``interval`` 6 ticks of 1 s).
        limit_min_bytes: floor above the unreclaimable memory, bytes (oomd 100 MiB).
        mem_pressure_pct: memory ``some`` target, % (oomd ``pressure_pct`` 0.1).
        io_pressure_pct: I/O ``some`` target, % (oomd 0.1); see the module notes on ``io.pressure``.
        max_probe: share of ``memory.current - floor`` reclaimed per probe (oomd 0.01).
        modulate_swappiness: scale swappiness by swap-out rate and swap fill (oomd default false;
            on here, as docs/calibration.md states the rule).
        base_swappiness: the swappiness the factor scales (kernel ``vm.swappiness`` default 60).
        swap_threshold: swap utilisation (0..1) at which swappiness reaches 0 (oomd 0.8).
        swapout_bps_threshold: swap-out rate at which swappiness reaches 0, bytes/s (oomd 1 MiB/s).
        memcgs: names of the memcgs to drive; ``None`` for every memcg of the host.
    """

    name = "senpai-oomd"
    source = (
        "facebookincubator/oomd src/oomd/plugins/Senpai.cpp (tick_immediate_backoff, validatePressure, "
        "getLimitMinBytes, calculateSwappinessFactor; defaults in Senpai.h) and Oomd.cpp (swapout_bps)"
    )

    def __init__(
        self,
        *,
        interval_s: float = 6.0,
        limit_min_bytes: int = 100 * MiB,
        mem_pressure_pct: float = 0.1,
        io_pressure_pct: float = 0.1,
        max_probe: float = 0.01,
        modulate_swappiness: bool = True,
        base_swappiness: int = 60,
        swap_threshold: float = 0.8,
        swapout_bps_threshold: float = float(MiB),
        memcgs: Sequence[str] | None = None,
    ) -> None:
        if interval_s <= 0:
            raise ValueError(f"interval_s = {interval_s!r}: must be > 0 seconds")
        if not 0 <= max_probe <= 1:
            raise ValueError(f"max_probe = {max_probe!r}: must be in [0, 1]")
        if not 0 <= base_swappiness <= 200:
            raise ValueError(f"base_swappiness = {base_swappiness!r}: must be in [0, 200]")
        self.interval_s = float(interval_s)
        self.limit_min_bytes = int(limit_min_bytes)
        self.mem_pressure_pct = float(mem_pressure_pct)
        self.io_pressure_pct = float(io_pressure_pct)
        self.max_probe = float(max_probe)
        self.modulate_swappiness = bool(modulate_swappiness)
        self.base_swappiness = int(base_swappiness)
        self.swap_threshold = float(swap_threshold)
        self.swapout_bps_threshold = float(swapout_bps_threshold)
        self.memcgs = list(memcgs) if memcgs is not None else None
        self._clear_rate()

    def _clear_rate(self) -> None:
        self._last_pswpout: tuple[float, float] | None = None
        self._swapout_bps_60 = 0.0
        self._swapout_bps_300 = 0.0
        self._io_pressure_file: bool | None = None

    @property
    def swapout_bps(self) -> float:
        """oomd's swap-out rate figure: ``max(ewma60, ewma300)``, bytes/s."""
        return max(self._swapout_bps_60, self._swapout_bps_300)

    def reset(self, fs: CgroupFiles, step_s: float) -> None:
        super().reset(fs, step_s)
        self._clear_rate()

    # --------------------------------------------------------------------------------------------
    # What oomd reads
    # --------------------------------------------------------------------------------------------

    def update_swapout_rate(self, fs: CgroupFiles, now_s: float) -> None:
        """oomd's host swap-out rate: ``pswpout`` pages x 4096 / elapsed s, averaged over 60 s and 300 s
        (``ewma = rate + exp(-dt/T) * (ewma - rate)``), bytes/s."""
        pswpout = float(_root_stat(fs).get("pswpout", 0))
        last = self._last_pswpout
        self._last_pswpout = (now_s, pswpout)
        if last is None or now_s <= last[0]:
            return
        dt = now_s - last[0]
        rate = max(pswpout - last[1], 0.0) * PAGE_SIZE / dt
        self._swapout_bps_60 = rate + math.exp(-dt / 60.0) * (self._swapout_bps_60 - rate)
        self._swapout_bps_300 = rate + math.exp(-dt / 300.0) * (self._swapout_bps_300 - rate)

    def pressures_ok(self, fs: CgroupFiles, memcg: str) -> bool:
        """oomd ``validatePressure()``: memory and I/O ``some`` ``max(avg10, avg60)`` below their targets."""
        mem = memory_pressure(fs, memcg)["some"]
        mem_pct = max(mem["avg10"], mem["avg60"])
        io_pct = mem_pct
        if self._io_pressure_file is not False:
            try:
                io = parse_pressure(fs.read(f"{memcg}/io.pressure"))["some"]
            except OSError:
                self._io_pressure_file = False  # simulated host: swap-in waits are memory pressure
            else:
                self._io_pressure_file = True
                io_pct = max(io["avg10"], io["avg60"])
        return mem_pct < self.mem_pressure_pct and io_pct < self.io_pressure_pct

    def swap_state(self, fs: CgroupFiles, memcg: str) -> tuple[float, float, float]:
        """(host swap total, effective swap free, effective swap utilisation 0..1), bytes and share."""
        swaps = parse_swaps(fs.read(SWAPS_PATH))
        total = sum(float(str(row["size_bytes"])) for row in swaps)
        used = sum(float(str(row["used_bytes"])) for row in swaps)
        host_free = float(parse_meminfo(fs.read(MEMINFO_PATH)).get("SwapFree", total - used))
        util = used / total if total > 0 else 0.0
        swap_max = limit(fs, memcg, "memory.swap.max")
        free = host_free
        if swap_max is not None:
            usage = float(parse_value(fs.read(f"{memcg}/memory.swap.current")) or 0)
            free = min(free, swap_max - usage)
            util = max(util, usage / swap_max if swap_max > 0 else 0.0)
        return total, free, util

    def floor_bytes(self, fs: CgroupFiles, memcg: str, current: float, swap_total: float, swap_free: float) -> float:
        """oomd ``getLimitMinBytes()``: ``limit_min_bytes + (memory.current - reclaimable)``, bytes."""
        stat = memory_stat(fs, memcg)
        reclaimable = float(stat.get("file", 0))
        if swap_total > 0 and self.base_swappiness > 0 and swap_free > 0:
            reclaimable += min(swap_free, float(stat.get("anon", 0)))
        return self.limit_min_bytes + current - reclaimable

    def swappiness_factor(self, swap_util: float) -> float:
        """oomd ``calculateSwappinessFactor()``: 0..1, from the swap-out rate and swap utilisation."""
        if self.swap_threshold <= 0:
            return 0.0
        bps = self.swapout_bps
        if bps >= self.swapout_bps_threshold or swap_util >= self.swap_threshold:
            return 0.0
        return min(1.0 - bps / self.swapout_bps_threshold, 1.0 - swap_util / self.swap_threshold)

    # --------------------------------------------------------------------------------------------
    # The rule
    # --------------------------------------------------------------------------------------------

    def control(self, fs: CgroupFiles, now_s: float) -> None:
        """Update the swap-out rate; then, once per due 6 s period and per memcg whose pressures are
        below target, probe 1 % of ``memory.current - floor`` at the modulated swappiness."""
        self.update_swapout_rate(fs, now_s)
        periods = self.periods_due("senpai", now_s, self.interval_s)
        if periods == 0:
            return
        for memcg in target_memcgs(fs, self.memcgs):
            if not self.pressures_ok(fs, memcg):
                continue  # immediate backoff
            current = float(memory_current(fs, memcg))
            swap_total, swap_free, swap_util = self.swap_state(fs, memcg)
            floor = self.floor_bytes(fs, memcg, current, swap_total, swap_free)
            if current <= floor:
                continue
            size = int((current - floor) * self.max_probe * periods) & ~(PAGE_SIZE - 1)
            extra = ""
            if self.modulate_swappiness:
                extra = f"swappiness={int(self.base_swappiness * self.swappiness_factor(swap_util))}"
            write_reclaim(fs, memcg, size, extra)


def _root_stat(fs: CgroupFiles) -> dict[str, int]:
    """The root cgroup's ``memory.stat`` (the host's totals)."""
    return parse_flat_keyed(fs.read("memory.stat"))
