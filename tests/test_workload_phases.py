"""Workload phases: the inverting working-set shift (cold memory turns hot)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers_sim import COLD, HOT, GiB, band, req, tenant, workload
from helpers_sim import scenario as make_scenario

from zswap_gym.sim import ConfigError, Loc, Phase, Simulator, load_scenario
from zswap_gym.sim.workload import invert_rates_by_rank


def test_invert_trades_rates_by_rank_within_each_host_and_memcg():
    """The k-th coldest chosen chunk takes the k-th hottest chosen chunk's rate, per (host, memcg);
    unchosen chunks keep theirs, and the chosen rates' multiset is unchanged."""
    rng = np.random.default_rng(0)
    rate = rng.random((3, 40)).astype(np.float32)
    owner = np.repeat(np.arange(4), 10)
    chosen = rng.random((3, 40)) < 0.6
    before = rate.copy()
    invert_rates_by_rank(rate, chosen, owner)
    assert np.array_equal(rate[~chosen], before[~chosen])
    for h in range(3):
        for m in range(4):
            mine = chosen[h] & (owner == m)
            old, new = before[h, mine], rate[h, mine]
            assert np.array_equal(np.sort(old), np.sort(new))
            assert np.array_equal(np.argsort(old, kind="stable"), np.argsort(-new, kind="stable"))


def test_inverting_shift_turns_the_cold_set_hot():
    """An inverting shift of all memory at t = 30 s: memory offloaded as cold before it is touched
    right after it (it refaults), and the memory that was hot goes cold."""
    hot, cold = band(0.5, HOT), band(0.5, COLD)
    shift = Phase(kind="shift", start_s=30.0, fraction=1.0, invert=True)
    sc = make_scenario(tenant("t0", wl=workload(1 * GiB, (hot, cold), phases=(shift,))))
    sim = Simulator(sc, num_hosts=1, seed=4)
    zeros = np.zeros((1, sim.num_memcgs))
    sim.step(reclaim_bytes=zeros, writeback_bytes=zeros)
    cold_before = sim.state.rate_hz[0] < 1e-6
    sim.memory_reclaim(req(sim, 0.5 * GiB))
    offloaded = sim.state.loc[0] == Loc.ZSWAP
    assert offloaded.sum() > 0 and np.all(cold_before[offloaded])
    refaults = []
    for _ in range(5):
        m = sim.step(reclaim_bytes=zeros, writeback_bytes=zeros)
        refaults.append(float(m.refault_pages["zswap"].sum()))
    assert refaults[0] == 0 and refaults[1] == 0  # before the shift the cold set stays cold
    assert sum(refaults[2:]) > 0.9 * offloaded.sum() * sim.cfg.host.chunk_pages  # after it, nearly all refault
    was_cold = sim.state.rate_hz[0][cold_before & (sim.state.loc[0] != Loc.ABSENT)]
    assert np.mean(was_cold >= 2.0) > 0.9  # all but the surplus of cold over hot chunks took hot rates


def test_invert_is_only_for_shift_phases():
    with pytest.raises(ConfigError, match="only a shift phase can invert"):
        Phase(kind="burst", duration_s=10.0, invert=True).validate("phase")


def test_working_set_shift_scenario_inverts_half_its_memory():
    """The shipped ``working-set-shift`` scenario inverts: at its shift the service's memory idle
    for many minutes turns hot (about a fifth of it) while its cold share stays about the same."""
    sc = load_scenario("working-set-shift")
    (phase,) = sc.tenants[0].workload.phases
    assert phase.kind == "shift" and phase.invert and phase.fraction == 0.5
