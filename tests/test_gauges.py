"""The incrementally kept gauges always equal a recount from the chunk arrays."""

from __future__ import annotations

import dataclasses

import numpy as np

from zswap_gym.sim import Simulator, load_scenario


def test_incremental_gauges_equal_a_full_recount_after_every_step() -> None:
    """Every location change goes through ``ChunkStore.set_loc``; the kept sums must match."""
    scenario = load_scenario("default")
    host = dataclasses.replace(
        scenario.host, chunk_pages=256, zswap=dataclasses.replace(scenario.host.zswap, shrinker_enabled=True)
    )
    sim = Simulator(dataclasses.replace(scenario, host=host), num_hosts=3, seed=7)
    sim.set_knob("memory.zswap.max", 1, 0, 64 << 20)
    sim.set_knob("memory.high", 2, 0, 9 << 30)
    rng = np.random.default_rng(0)
    for _ in range(40):
        g = sim.gauges()
        reclaim = g.memory_current * rng.uniform(0, 0.03, size=g.memory_current.shape)
        writeback = g.zswap_pages * 4096 * rng.uniform(0, 0.2, size=g.memory_current.shape)
        sim.step(reclaim_bytes=reclaim, writeback_bytes=writeback)
        kept = sim.gauges().as_dict()
        sim.invalidate_gauges()
        recount = sim.gauges().as_dict()
        for name, value in kept.items():
            np.testing.assert_allclose(value, recount[name], rtol=1e-12, atol=1e-6, err_msg=name)
