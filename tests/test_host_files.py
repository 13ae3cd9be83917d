"""Host-wide files of the simulated interface: ``/sys/kernel/debug/lru_gen``, ``/proc/meminfo``,
``/proc/swaps`` and the zswap module parameter ``shrinker_enabled``."""

from __future__ import annotations

import numpy as np
import pytest

from zswap_gym.cgroup import (
    LRU_GEN_PATH,
    MEMINFO_PATH,
    SWAPS_PATH,
    CgroupFS,
    CgroupWriteError,
    idle_pages_at_least,
    parse_lru_gen,
    parse_meminfo,
    parse_swaps,
)
from zswap_gym.cgroup.errors import CgroupAccessError, CgroupNotFoundError
from zswap_gym.sim import Loc, Simulator, load_scenario
from zswap_gym.sim.units import PAGE_SIZE

SHRINKER = "/sys/module/zswap/parameters/shrinker_enabled"


@pytest.fixture(scope="module")
def stepped() -> Simulator:
    sim = Simulator(load_scenario("default"), num_hosts=2, seed=5)
    zeros = np.zeros((2, sim.num_memcgs))
    for _ in range(15):
        sim.step(reclaim_bytes=0.005 * sim.gauges().memory_current, writeback_bytes=zeros)
    return sim


def true_idle_pages(sim: Simulator, host: int, memcg: int, age_s: float) -> float:
    st = sim.state
    idle = sim.now_f32[host, 0] - st.last_access_s[host]
    chosen = (st.loc[host] == Loc.RESIDENT) & (sim.layout.owner == memcg) & (idle >= age_s)
    return float(np.count_nonzero(chosen)) * sim.cfg.host.chunk_pages


def test_lru_gen_prints_the_kernels_format_oldest_generation_first(stepped):
    """Documentation/admin-guide/mm/multigen_lru.rst: ``memcg <id> <path>``, ``node <id>``, then one
    line per generation ``<gen_nr> <age_in_ms> <nr_anon_pages> <nr_file_pages>`` from min_gen_nr
    (oldest, largest age) to max_gen_nr (youngest); the anon pages add up to the resident pages."""
    fs = CgroupFS(stepped, 1)
    text = fs.read(LRU_GEN_PATH)
    lines = text.splitlines()
    assert lines[0].split() == ["memcg", "1", "/web"] and lines[1].split() == ["node", "0"]
    gens = parse_lru_gen(text)
    assert set(gens) == {"/web", "/sidecar"}
    g = stepped.gauges()
    for slot, name in enumerate(("/web", "/sidecar")):
        numbers = [n for n, _, _ in gens[name]]
        ages = [a for _, a, _ in gens[name]]
        assert numbers == list(range(len(numbers)))
        assert ages == sorted(ages, reverse=True)
        assert sum(p for _, _, p in gens[name]) == pytest.approx(g.resident_pages[1, slot])


def test_lru_gen_idle_pages_match_the_true_idle_ages(stepped):
    """A generation printed with age ``a`` holds pages idle less than ``a`` and at least the next
    younger generation's age, so "pages idle >= T" read from lru_gen is exact at generation edges
    and within one generation of the truth in between."""
    fs = CgroupFS(stepped, 0)
    gens = parse_lru_gen(fs.read(LRU_GEN_PATH))["/web"]
    edges = [a for _, a, _ in gens[1:]]
    for edge in edges[:: max(len(edges) // 6, 1)]:
        assert idle_pages_at_least(gens, edge) == pytest.approx(true_idle_pages(stepped, 0, 0, edge), rel=0.02)
    for age in (120.0, 600.0):
        estimate, truth = idle_pages_at_least(gens, age), true_idle_pages(stepped, 0, 0, age)
        lower = max(a for a in edges if a <= age)
        upper = min(a for _, a, _ in gens if a > age)
        assert true_idle_pages(stepped, 0, 0, upper) - 1 <= estimate <= true_idle_pages(stepped, 0, 0, lower) + 1
        assert truth > 0


def test_meminfo_and_swaps_account_dram_zswap_and_swap_slots(stepped):
    """fs/proc/meminfo.c: ``MemTotal``/``MemFree``/``SwapTotal``/``SwapFree``/``Zswap``/``Zswapped``
    in kB; mm/swapfile.c ``swap_show``: Size and Used in KiB. Every zswap entry holds a swap slot,
    so swap in use includes zswapped pages."""
    fs = CgroupFS(stepped, 0)
    info = parse_meminfo(fs.read(MEMINFO_PATH))
    g = stepped.gauges()
    cfg = stepped.cfg.host
    assert info["MemTotal"] == cfg.dram_bytes
    assert info["MemFree"] == pytest.approx(cfg.dram_bytes - g.dram_used_host[0], abs=1024)
    assert info["Zswap"] == pytest.approx(g.pool_bytes_host[0], abs=1024)
    assert info["Zswapped"] == pytest.approx(g.zswap_pages[0].sum() * PAGE_SIZE, abs=1024)
    used = g.swap_slot_pages[0].sum() * PAGE_SIZE
    assert info["SwapTotal"] - info["SwapFree"] == pytest.approx(used, abs=1024)
    assert used >= g.zswap_pages[0].sum() * PAGE_SIZE > 0
    (swap,) = parse_swaps(fs.read(SWAPS_PATH))
    assert swap["size_bytes"] == cfg.swap.capacity_bytes and swap["used_bytes"] == pytest.approx(used, abs=1024)
    for path in (MEMINFO_PATH, SWAPS_PATH, LRU_GEN_PATH):
        with pytest.raises(CgroupAccessError):
            fs.write(path, "1")


def test_shrinker_enabled_is_a_per_host_module_parameter_read_as_y_or_n():
    """mm/zswap.c ``zswap_shrinker_enabled`` (module parameter, default N unless
    CONFIG_ZSWAP_SHRINKER_DEFAULT_ON): ``param_get_bool`` prints Y/N and ``kstrtobool`` accepts
    Y/N/1/0/on/off; writing it turns the shrinker on for later reclaims of that host only."""
    sim = Simulator(load_scenario("default"), num_hosts=2, seed=0)
    fs0, fs1 = CgroupFS(sim, 0), CgroupFS(sim, 1)
    assert fs0.read(SHRINKER) == "N\n"
    fs1.write(SHRINKER, "Y")
    assert fs1.read(SHRINKER) == "Y\n" and fs0.read(SHRINKER) == "N\n"
    for text, value in (("n", False), ("1", True), ("off", False), ("on\n", True)):
        fs0.write(SHRINKER, text)
        assert fs0.read(SHRINKER) == ("Y\n" if value else "N\n")
    with pytest.raises(CgroupWriteError, match="shrinker_enabled"):
        fs0.write(SHRINKER, "maybe")
    with pytest.raises(CgroupNotFoundError):
        fs0.read("/sys/module/zswap/parameters/max_pool_percent")


def test_enabling_the_shrinker_makes_reclaim_write_back_on_that_host_only():
    """With ``shrinker_enabled=Y`` reclaim invokes the zswap shrinker (``shrink_slab`` from
    ``shrink_node_memcgs``), which writes back some zswap entries (``zswpwb``); with N it never does."""
    sim = Simulator(load_scenario("default"), num_hosts=2, seed=1)
    CgroupFS(sim, 1).write(SHRINKER, "Y")
    zeros = np.zeros((2, sim.num_memcgs))
    for _ in range(30):
        sim.step(reclaim_bytes=0.01 * sim.gauges().memory_current, writeback_bytes=zeros)
    zswpwb = sim.state.counters["zswpwb"].sum(axis=1)
    assert zswpwb[0] == 0 and zswpwb[1] > 0
