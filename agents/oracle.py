"""``oracle``: a clairvoyant reference that places every chunk in its cheapest tier.

The leaderboard normalises scores so ``noop`` is 0 and this policy is 1 (README.md, Baselines). It is the one
policy allowed to read the simulator's hidden state: each chunk's true Poisson access rate
(``state.rate_hz``), its compressed and zsmalloc sizes (``compressed_bytes``, ``zpool_bytes``), where it
is (``loc``), the host's costs (``cfg.host``) and the scenario's workload phases. It moves chosen
chunks with :mod:`zswap_gym.sim.placement`, which runs the kernel's own reclaim and writeback paths, so
its moves cost the same CPU and I/O and update the same counters as any controller's.

Cost model
----------
Per page (a chunk's pages share rate and size), in the reward's cost units (:class:`RewardConfig`,
before ``scale``), over a planning horizon ``H`` (default: what is left of the scenario's episode).
``r`` is the true rate times the mean rate multiplier of the tenant's phases over the horizon
(diurnal load, bursts), ``T`` the control interval, ``d = w_dram / GiB / 3600`` the price of one byte
of DRAM for one second. A page placed in tier ``Y`` stays there until its next access (Poisson:
memoryless), faults back, stays resident for the rest of that interval and is placed again at the
next control. With ``u`` the first access time within an interval (truncated exponential),

* resident tail after a refault ``L = T - E[u | u < T] = T - 1/r + T e^{-rT} / (1 - e^{-rT})``,
* share of time in ``Y``: ``phi = 1 / (1 + r L)``; expected refaults over ``H``: ``r phi H``
  (accesses arrive at rate ``r`` while the page is out);
* ``cost_R = d * 4096 * H``;
* ``cost_Y = M(cur -> Y) + r phi H (F_Y + M(R -> Y)) + d H (phi B_Y + (1 - phi) 4096)``,

with DRAM held ``B_Y`` (zswap: zsmalloc bytes + entry metadata; zero-filled: 0; swap: 0), refault cost
``F_Y`` (zswap: ``(page_fault_us + decompress_us)`` of stall at ``w_stall`` plus the decompression at
``w_cpu``; zero page: ``page_fault_us`` of stall; swap: ``page_fault_us + read_latency_us / (1 - rho)``
of stall, ``rho`` the device utilisation (M/M/1, as :mod:`zswap_gym.sim.swapdev` computes it) the oracle
expects from its swapped chunks' reads every interval plus the queued and planned writes spread over
the horizon) and move cost ``M`` (into zswap:
``reclaim_us + compress_us`` of CPU, plus the stats flush when ``memory.zswap.max`` is limited; zswap to
swap: the decompression plus ``w_ssd`` per GiB written; resident to swap: both, as the kernel's path
stores before it writes back). Each resident chunk goes to the tier of least cost among those it can
reach (resident -> zswap / zero page / swap; zswap -> swap; nothing leaves swap but a fault), when
that beats staying by more than ``hysteresis`` x ``cost_R``. zswap-bound chunks are admitted best
saving per pool byte first within the pool's accept threshold and each memcg's ``memory.zswap.max``;
the rest take their next-best tier.

SLO guard: the PSI penalty is a cliff, not a per-chunk cost, and offloaded memory cannot be recalled
before it faults. So each memcg's expected refault stall in the worst interval of the horizon
(``sum over offloaded chunks of pages x refault latency x P(touched in one interval)``, at the
largest scheduled rate multiplier and, where a working-set shift is scheduled, with the chance the
chunk draws a fresh rate that touches it) is kept within a budget that holds PSI some avg10 under
``psi_margin`` x the target: ``W x target / (1 - e^{-W/10})`` task-seconds, ``W`` = 2 s (avg10 rises
by at most ``1 - e^{-W/10}`` of the sum of an interval's samples, and a sample's ``some`` share is at
most stall / W). Chunks already out count first; moves are admitted by cost saved per unit of stall
risk, and a chunk refused swap may go to zswap instead.

Why chunk placement, not ``memory.reclaim``
------------------------------------------
The oracle could instead compute, per memcg, how many bytes belong in zswap and swap and write
``memory.reclaim`` and ``"N source=zswap"``. Those take the coldest chunks by idle age and the
oldest unreferenced zswap entries: for Poisson pages idle age is a noisy proxy for rate (a 0.05 Hz
page is idle for a minute 5 % of the time), and neither order sees compressibility, so the right
amounts would move the wrong chunks and the result would measure the kernel's ordering, not an upper
bound. :mod:`zswap_gym.sim.placement` hands the chosen chunks to the same kernel paths instead.

Why it is an upper reference
----------------------------
It knows each chunk's true rate and compressibility: no monitoring (idle ages, PSI, refault counts),
no estimation or learning error, no warm-up. It places per chunk by expected cost, not in idle-age
order (``memory.reclaim``) or store-time order with second chance (writeback), so a hot chunk idle
by chance stays resident, a cold one just touched goes straight back out, incompressible chunks skip
zswap, and writeback takes the coldest entries rather than the oldest. It prices moves with the
reward's own weights, so it offloads exactly when the reward says it pays.

Where it is not optimal
-----------------------
* Myopic and per chunk: each chunk's expected cost is minimised alone, assuming it is placed again
  after every refault; the joint problem is not solved.
* The SLO term (``w_psi`` per second with PSI some avg10 above target) is a non-linear function of all
  refaults together; the guard above only bounds it, conservatively (a linear upper bound on
  ``some``, all events of the horizon at once, expected not realised refaults), and does not trade
  the penalty against DRAM: it may offload less than pays before a shift, and it still pays the
  penalty if refaults it could not foresee (Poisson variance, which chunks a shift redraws) cross the
  target. OOM and ``memory.high`` throttling are not priced.
* Expected values only: Poisson variance (a burst of refaults in one interval) and the refaults'
  timing within PSI windows are not modelled.
* Device queueing is estimated from one plan (two passes), not as a fixed point of its own
  decisions, and its own write burst is spread over the horizon although it slows the swap-ins of
  the interval it is issued in; the DRAM a page holds while its write is in flight is ignored.
* Limits are handled greedily: pool room and ``memory.zswap.max`` by saving per byte; swap
  capacity and ``memory.swap.max`` are left to the kernel path (fewer chunks moved, in slot order).
  The global pool worker and the shrinker's own writeback are not anticipated.
* Phases: the tenant's rate multipliers (diurnal, bursts) are averaged over the horizon; growth is
  handled as it happens; working-set shifts (which chunks redraw their rate) cannot be foreseen, so a
  chunk that turns hot is only noticed by its refaults. No prefetch: nothing is brought back to DRAM
  before it faults (the kernel offers no such move here).
* The horizon is the scenario's ``episode_steps`` unless ``horizon_s`` is given; an env run for a
  different number of steps makes move costs amortise over the wrong time.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from zswap_gym.cgroup import CgroupFiles
from zswap_gym.env.reward import RewardConfig
from zswap_gym.policy import CgroupController
from zswap_gym.sim.placement import place_chunks
from zswap_gym.sim.psi import PSI_DECAY, PSI_PERIOD_S
from zswap_gym.sim.state import Loc
from zswap_gym.sim.swapdev import MAX_UTILISATION, read_seconds_per_page, write_seconds_per_page
from zswap_gym.sim.units import PAGE_SIZE
from zswap_gym.sim.workload import build_schedule

GiB = float(1 << 30)
TIERS = ("resident", "zswap", "swap")
"""Columns of :func:`tier_costs`; "zswap" is the zero page for zero-filled chunks."""
R, Z, S = 0, 1, 2


def _resident_tail_s(rate: np.ndarray, step_s: float) -> np.ndarray:
    """Expected time a page stays resident after a refault until the next control: ``T - E[u|u<T]``
    for ``u`` exponential with rate ``rate`` truncated to the interval."""
    x = rate * step_s
    small = x < 1e-4
    xs = np.clip(x, 1e-4, 700.0)  # 1 / expm1(700) is 0 to double precision
    # E[u | u < T] / T = 1/x - e^{-x} / (1 - e^{-x}) = 1/x - 1/expm1(x)
    mean_u = np.where(small, 0.5 - x / 12.0, 1.0 / xs - 1.0 / np.expm1(xs))
    return step_s * (1.0 - mean_u)


def _current_tier(loc: np.ndarray) -> np.ndarray:
    """Tier column of each chunk's location (-1 for absent); pages under writeback count as swap."""
    current = np.full(loc.shape, -1)
    current[loc == Loc.RESIDENT] = R
    current[(loc == Loc.ZSWAP) | (loc == Loc.SWAP_ZERO)] = Z
    current[(loc == Loc.SWAP) | (loc == Loc.WRITEBACK)] = S
    return current


def _admit(group: np.ndarray, priority: np.ndarray, weight: np.ndarray, room: np.ndarray) -> np.ndarray:
    """Greedy admission within budgets: per ``group`` (index into ``room``), items in descending
    ``priority`` while the running sum of ``weight`` stays within ``room[group]``. Returns a mask."""
    keep = np.zeros(group.size, dtype=bool)
    if not group.size:
        return keep
    order = np.lexsort((-priority, group))
    g, w = group[order], weight[order]
    run = np.cumsum(w)
    start = g.searchsorted(g, side="left")
    run -= run[start] - w[start]
    keep[order] = run <= room[g]
    return keep


class Oracle(CgroupController):
    """Clairvoyant reference: each chunk in its least-cost tier by true rate and compressibility.

    Args:
        w_dram, w_stall, w_cpu, w_ssd: reward weights to price the tiers with (default the env's
            :class:`RewardConfig`; give the run's weights when it uses others).
        horizon_s: planning horizon (s) over which move costs are amortised; default what is left of
            the scenario's episode (at least one interval).
        hysteresis: a chunk moves only when its best tier beats its current one by this share of the
            cost of keeping it resident over the horizon (against model error and ping-pong).
        use_phases: scale rates by the tenants' scheduled rate multipliers over the horizon and guard
            against scheduled bursts, diurnal peaks and working-set shifts.
        psi_guard: keep each memcg's expected refault stall in the worst interval within the PSI budget.
        psi_target_percent: the PSI some avg10 target (default the env's ``RewardConfig``).
        psi_margin: share of the target the budget aims at (the bound is already conservative).
    """

    name = "oracle"
    source = "clairvoyant expected-cost placement over the simulator's hidden per-chunk state (README.md, Baselines)"

    def __init__(
        self,
        w_dram: float | None = None,
        w_stall: float | None = None,
        w_cpu: float | None = None,
        w_ssd: float | None = None,
        horizon_s: float | None = None,
        hysteresis: float = 0.02,
        use_phases: bool = True,
        psi_guard: bool = True,
        psi_target_percent: float | None = None,
        psi_margin: float = 1.0,
    ) -> None:
        default = RewardConfig()
        self.w_dram = float(default.w_dram if w_dram is None else w_dram)
        self.w_stall = float(default.w_stall if w_stall is None else w_stall)
        self.w_cpu = float(default.w_cpu if w_cpu is None else w_cpu)
        self.w_ssd = float(default.w_ssd if w_ssd is None else w_ssd)
        if horizon_s is not None and not horizon_s > 0:
            raise ValueError(f"horizon_s = {horizon_s!r}: must be > 0")
        self.horizon_s = None if horizon_s is None else float(horizon_s)
        if not hysteresis >= 0:
            raise ValueError(f"hysteresis = {hysteresis!r}: must be >= 0")
        self.hysteresis = float(hysteresis)
        self.use_phases = bool(use_phases)
        self.psi_guard = bool(psi_guard)
        target = default.psi_target_percent if psi_target_percent is None else psi_target_percent
        if not target > 0:
            raise ValueError(f"psi_target_percent = {psi_target_percent!r}: must be > 0")
        self.psi_target_percent = float(target)
        if not psi_margin > 0:
            raise ValueError(f"psi_margin = {psi_margin!r}: must be > 0")
        self.psi_margin = float(psi_margin)
        self._last_plan: dict[str, Any] = {}

    def reset(self, fs: CgroupFiles, step_s: float) -> None:
        super().reset(fs, step_s)
        self._last_plan = {}

    # ------------------------------------------------------------------------------------------

    def _horizon(self, sim, h: int) -> float:
        step_s = sim.cfg.host.step_s
        if self.horizon_s is not None:
            return self.horizon_s
        left = sim.cfg.episode_steps * step_s - float(sim.now_s[h])
        return max(left, step_s)

    def _rate_multiplier(self, sim, h: int, horizon_s: float) -> np.ndarray:
        """Mean scheduled rate multiplier per memcg over the horizon (M,)."""
        if not self.use_phases or not any(t.workload.phases for t in sim.cfg.tenants):
            return np.ones(sim.num_memcgs)
        n = max(1, int(np.ceil(horizon_s / sim.cfg.host.step_s)))
        table = build_schedule(sim.cfg, n, int(sim.state.step_index[h]))
        return table.rate_multiplier.astype(np.float64).mean(axis=0)

    def tier_costs(self, sim, h: int, swap_rho: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Expected cost over the horizon of each chunk of host ``h`` in each tier (C, 3), columns
        :data:`TIERS`, and which tiers it may move to from where it is (C, 3) bool (its current tier
        always counts as allowed). ``swap_rho``: device utilisation for the swap-in latency (default:
        from the chunks now in swap and the write backlog)."""
        st, host, lay = sim.state, sim.cfg.host, sim.layout
        owner = lay.owner
        horizon = self._horizon(sim, h)
        rate = st.rate_hz[h].astype(np.float64) * self._rate_multiplier(sim, h, horizon)[owner]
        loc = st.loc[h]
        compressed = st.compressed_bytes[h]
        zero = compressed == 0
        d = self.w_dram / GiB / 3600.0  # per byte-second
        step_s = host.step_s
        if swap_rho is None:
            swap_rho = self._device_rho(sim, h, (loc == Loc.SWAP) | (loc == Loc.WRITEBACK), 0.0)
        us = 1e-6
        comp = host.compressor
        zswap_on = host.zswap.enabled
        # Refault costs per page.
        f_zswap = self.w_stall * (host.page_fault_us + comp.decompress_us_per_page) * us
        f_zswap += self.w_cpu * comp.decompress_us_per_page * us
        f_zero = self.w_stall * host.page_fault_us * us
        swapin_us = host.page_fault_us + host.swap.read_latency_us / (1.0 - swap_rho)
        f_swap = self.w_stall * swapin_us * us
        # Move costs per page.
        zmax = st.zswap_max[h][owner]
        flush = np.where(np.isfinite(zmax) & (zmax > 0), host.zswap.stats_flush_us, 0.0)
        m_rz = self.w_cpu * (host.reclaim_us_per_page + comp.compress_us_per_page + flush) * us
        m_zero = self.w_cpu * host.reclaim_us_per_page * us
        write = self.w_ssd * PAGE_SIZE / GiB
        m_zs = self.w_cpu * comp.decompress_us_per_page * us + write
        m_rs = m_rz + m_zs if zswap_on else self.w_cpu * host.reclaim_us_per_page * us + write
        # DRAM held per page in each tier.
        b_zswap = st.zpool_bytes[h].astype(np.float64) + host.zswap.entry_metadata_bytes
        tail = _resident_tail_s(rate, step_s)
        phi = 1.0 / (1.0 + rate * tail)
        refaults = rate * phi * horizon
        resident_hold = d * PAGE_SIZE * horizon

        def cost(b_out, f_out, m_again):
            return refaults * (f_out + m_again) + d * horizon * (phi * b_out + (1.0 - phi) * PAGE_SIZE)

        costs = np.empty((loc.size, 3))
        costs[:, R] = resident_hold
        costs[:, Z] = np.where(zero, cost(0.0, f_zero, m_zero), cost(b_zswap, f_zswap, m_rz))
        costs[:, S] = cost(0.0, f_swap, m_rs)
        resident = loc == Loc.RESIDENT
        in_zswap = loc == Loc.ZSWAP
        costs[:, Z] += np.where(resident, np.where(zero, m_zero, m_rz), 0.0)
        costs[:, S] += np.where(resident, m_rs, np.where(in_zswap, m_zs, 0.0))
        may_write = st.zswap_writeback[h][owner]
        allowed = np.zeros((loc.size, 3), dtype=bool)
        allowed[:, R] = resident
        allowed[:, Z] = (resident & (zero | zswap_on)) | in_zswap | (loc == Loc.SWAP_ZERO)
        allowed[:, S] = ((resident & ~zero) | in_zswap) & may_write | (loc == Loc.SWAP)
        return costs, allowed

    def _device_rho(self, sim, h: int, in_swap: np.ndarray, new_write_pages: float) -> float:
        """Device utilisation the swap-ins of the horizon see (:func:`zswap_gym.sim.swapdev.serve_step`):
        the expected reads of ``in_swap`` chunks every interval, plus the queued and ``new_write_pages``
        writes spread over the horizon (they load the device once, not every interval)."""
        st, host = sim.state, sim.cfg.host
        rate = st.rate_hz[h][in_swap].astype(np.float64)
        reads = float((-np.expm1(-rate * host.step_s)).sum()) * host.chunk_pages
        read_busy = reads * read_seconds_per_page(host.swap) / host.step_s
        writes = float(st.device_backlog_pages[h]) + new_write_pages
        write_busy = writes * write_seconds_per_page(host.swap) / self._horizon(sim, h)
        return min(read_busy + write_busy, MAX_UTILISATION)

    def plan(self, sim, h: int) -> tuple[np.ndarray, np.ndarray]:
        """The chunks of host ``h`` to move: (to_zswap, to_swap), each (C,) bool."""
        st, host, lay = sim.state, sim.cfg.host, sim.layout
        pages = host.chunk_pages
        loc = st.loc[h]
        costs, allowed = self.tier_costs(sim, h)
        best = self._choose(costs, allowed, loc)
        # Second pass: swap-in latency with the device load this plan implies.
        to_swap = (best == S) & (loc != Loc.SWAP)
        new_writes = float(np.count_nonzero(to_swap)) * pages
        rho = self._device_rho(sim, h, (loc == Loc.SWAP) | (loc == Loc.WRITEBACK) | to_swap, new_writes)
        costs, allowed = self.tier_costs(sim, h, swap_rho=rho)
        best = self._choose(costs, allowed, loc)
        best = self._fit_zswap(sim, h, costs, allowed, best)
        if self.psi_guard:
            best = self._psi_guard(sim, h, costs, allowed, best, rho)
        to_zswap = (best == Z) & (loc == Loc.RESIDENT)
        to_swap = (best == S) & ((loc == Loc.RESIDENT) | (loc == Loc.ZSWAP))
        self._last_plan = {"costs": costs, "best": best, "swap_rho": rho, "owner": lay.owner}
        return to_zswap, to_swap

    def _choose(self, costs: np.ndarray, allowed: np.ndarray, loc: np.ndarray) -> np.ndarray:
        """Least-cost allowed tier per chunk, kept where it is unless the gain passes the hysteresis."""
        masked = np.where(allowed, costs, np.inf)
        best = np.argmin(masked, axis=1)
        current = _current_tier(loc)
        current[loc == Loc.WRITEBACK] = -1  # in flight: nothing to decide
        rows = np.arange(loc.size)
        movable = current >= 0
        here = masked[rows, np.maximum(current, 0)]
        gain = np.where(movable, here, 0.0) - np.where(movable, masked[rows, best], 0.0)
        stay = movable & (gain <= self.hysteresis * costs[:, R])
        return np.where(stay, current, np.where(current >= 0, best, -1))

    def _fit_zswap(self, sim, h: int, costs: np.ndarray, allowed: np.ndarray, best: np.ndarray) -> np.ndarray:
        """Admit new zswap-bound chunks within the pool's accept threshold and each memcg's
        ``memory.zswap.max``, best saving per byte first; the rest take their next-best tier."""
        st, host, lay = sim.state, sim.cfg.host, sim.layout
        pages = host.chunk_pages
        loc = st.loc[h]
        owner = lay.owner
        new = (best == Z) & (loc == Loc.RESIDENT) & (st.compressed_bytes[h] > 0)
        if not np.count_nonzero(new):
            return best
        g = sim.gauges()
        pool_after = g.pool_bytes_host[h] - float(st.zpool_bytes[h][(best == S) & (loc == Loc.ZSWAP)].sum()) * pages
        room = sim.max_pool_bytes * host.zswap.accept_threshold_percent / 100.0 - pool_after
        idx = np.flatnonzero(new)
        pool_cost = st.zpool_bytes[h][idx].astype(np.float64) * pages
        saving = (costs[idx, R] - costs[idx, Z]) / np.maximum(pool_cost, 1.0)
        keep = _admit(np.zeros(idx.size, dtype=np.int64), saving, pool_cost, np.array([room]))
        zmax = st.zswap_max[h]
        if np.isfinite(zmax).any():
            charge = st.compressed_bytes[h][idx].astype(np.float64) * pages
            keep &= _admit(owner[idx], saving, charge, zmax - g.zswap_bytes[h])
        dropped = idx[~keep]
        if dropped.size:
            allowed = allowed.copy()
            allowed[dropped, Z] = False
            masked = np.where(allowed[dropped], costs[dropped], np.inf)
            best = best.copy()
            best[dropped] = np.argmin(masked, axis=1)
        return best

    def _fresh_touch_prob(self, sim, multiplier: np.ndarray) -> np.ndarray:
        """Per memcg (M,): the probability that a chunk drawing a fresh rate from the tenant's rate
        bands (a working-set shift) is touched within one interval, at rate multiplier ``multiplier``."""
        tables, step_s = sim.tables, sim.cfg.host.step_s
        share = np.diff(tables.band_cum_share, axis=1, prepend=0.0)  # (M, B)
        u = (np.arange(64) + 0.5) / 64.0
        rate = np.exp(tables.band_log_lo[..., None] + tables.band_log_span[..., None] * u)  # (M, B, G)
        touch = -np.expm1(-rate * multiplier[:, None, None] * step_s)
        return (share * touch.mean(axis=-1)).sum(axis=1)

    def event_touch_prob(self, sim, h: int) -> np.ndarray:
        """Per chunk of host ``h`` (C,): an upper bound, over the intervals of the horizon, on the
        probability that the chunk is touched within one interval — at the largest scheduled rate
        multiplier, and, where a working-set shift is scheduled, with the chance that it draws a
        fresh rate that touches it (which chunks a shift picks is not foreseen)."""
        st, host, owner = sim.state, sim.cfg.host, sim.layout.owner
        m = sim.num_memcgs
        mult, shift = np.ones(m), np.zeros(m)
        if self.use_phases and any(t.workload.phases for t in sim.cfg.tenants):
            n = max(1, int(np.ceil(self._horizon(sim, h) / host.step_s)))
            table = build_schedule(sim.cfg, n, int(st.step_index[h]))
            mult = np.maximum(table.rate_multiplier.astype(np.float64).max(axis=0), 1.0)
            shift = table.shift_fraction.max(axis=0)
        p = -np.expm1(-st.rate_hz[h].astype(np.float64) * mult[owner] * host.step_s)
        if np.count_nonzero(shift):
            q = self._fresh_touch_prob(sim, mult)
            p = p + shift[owner] * np.maximum(q[owner] - p, 0.0)
        return p

    def psi_budget_s(self) -> float:
        """Expected stall (task-seconds) one memcg may take in one interval with its PSI some avg10
        kept under ``psi_margin`` x the target: avg10 rises by at most ``(1 - e^{-2/10})`` x the
        sum of the interval's 2 s samples, and a sample's ``some`` share is at most stall / 2 s."""
        return self.psi_margin * self.psi_target_percent / 100.0 * PSI_PERIOD_S / (1.0 - PSI_DECAY[0])

    def _psi_guard(
        self, sim, h: int, costs: np.ndarray, allowed: np.ndarray, best: np.ndarray, rho: float
    ) -> np.ndarray:
        """Keep each memcg's expected refault stall in the worst interval of the horizon (bursts,
        diurnal peaks, working-set shifts) within :meth:`psi_budget_s`: what is already offloaded
        counts first (nothing can be recalled before it faults); moves are admitted by cost saved per
        unit of stall risk; a chunk refused swap may still go to zswap, whose refaults stall less."""
        st, host, owner = sim.state, sim.cfg.host, sim.layout.owner
        loc, comp = st.loc[h], host.compressor
        m = sim.num_memcgs
        zero = st.compressed_bytes[h] == 0
        lat_us = np.zeros((loc.size, 3))
        lat_us[:, Z] = host.page_fault_us + np.where(zero, 0.0, comp.decompress_us_per_page)
        lat_us[:, S] = host.page_fault_us + host.swap.read_latency_us / (1.0 - rho)
        risk = lat_us * 1e-6 * host.chunk_pages * self.event_touch_prob(sim, h)[:, None]  # task-s
        current = _current_tier(loc)
        rows = np.arange(loc.size)
        here = np.maximum(current, 0)
        staying = (current > R) & (best == current)
        committed = np.bincount(owner[staying], weights=risk[rows, here][staying], minlength=m)
        moving = np.flatnonzero((current >= 0) & (best != current))
        if not moving.size:
            return best
        room = self.psi_budget_s() - committed
        delta = np.maximum(risk[moving, best[moving]] - risk[moving, here[moving]], 0.0)
        gain = costs[moving, here[moving]] - costs[moving, best[moving]]
        keep = _admit(owner[moving], gain / np.maximum(delta, 1e-12), delta, room)
        best = best.copy()
        dropped = moving[~keep]
        best[dropped] = current[dropped]
        # Refused swap from DRAM: zswap instead, if it pays and fits the stall budget and the pool.
        used = np.bincount(owner[moving[keep]], weights=delta[keep], minlength=m)
        alt = dropped[(current[dropped] == R) & allowed[dropped, Z]]
        alt = alt[costs[alt, R] - costs[alt, Z] > self.hysteresis * costs[alt, R]]
        if alt.size:
            gain_z = costs[alt, R] - costs[alt, Z]
            ok = _admit(owner[alt], gain_z / np.maximum(risk[alt, Z], 1e-12), risk[alt, Z], room - used)
            pool_cost = st.zpool_bytes[h][alt].astype(np.float64) * host.chunk_pages
            ok &= _admit(
                np.zeros(alt.size, dtype=np.int64), gain_z, pool_cost, np.array([self._pool_room(sim, h, best)])
            )
            best[alt[ok]] = Z
        return best

    def _pool_room(self, sim, h: int, best: np.ndarray) -> float:
        """Pool bytes left under the accept threshold once the plan ``best`` is carried out."""
        st, host = sim.state, sim.cfg.host
        loc, zpool = st.loc[h], st.zpool_bytes[h].astype(np.float64) * host.chunk_pages
        after = sim.gauges().pool_bytes_host[h] - zpool[(best == S) & (loc == Loc.ZSWAP)].sum()
        after += zpool[(best == Z) & (loc == Loc.RESIDENT)].sum()
        return sim.max_pool_bytes * host.zswap.accept_threshold_percent / 100.0 - after

    def control(self, fs: CgroupFiles, now_s: float) -> None:
        """Place every chunk of the host in its least-cost tier (privileged: reads hidden state)."""
        sim, h = fs.sim, fs.host
        to_zswap, to_swap = self.plan(sim, h)
        if not (np.count_nonzero(to_zswap) or np.count_nonzero(to_swap)):
            return
        shape = sim.state.loc.shape
        z = np.zeros(shape, dtype=bool)
        s = np.zeros(shape, dtype=bool)
        z[h], s[h] = to_zswap, to_swap
        place_chunks(sim, z, s)

    def config(self) -> dict[str, Any]:
        return {
            "w_dram": self.w_dram,
            "w_stall": self.w_stall,
            "w_cpu": self.w_cpu,
            "w_ssd": self.w_ssd,
            "horizon_s": self.horizon_s,
            "hysteresis": self.hysteresis,
            "use_phases": self.use_phases,
            "psi_guard": self.psi_guard,
            "psi_target_percent": self.psi_target_percent,
            "psi_margin": self.psi_margin,
        }
