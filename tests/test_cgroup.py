"""The cgroup v2 file interface (zswap_gym.cgroup): kernel file names, write and read formats, errors."""

from __future__ import annotations

import dataclasses
import errno
import pickle
import re

import numpy as np
import pytest

from zswap_gym.cgroup import (
    FILES,
    STAT_EVENT_KEYS,
    STAT_SIZE_KEYS,
    SWAPPINESS_ANON_ONLY,
    CgroupFiles,
    CgroupFS,
    CgroupWriteError,
    ProactiveWritebackRequest,
    RealCgroupFS,
    ReclaimRequest,
    ReclaimShortError,
    parse_flat_keyed,
    parse_limit_value,
    parse_pressure,
    parse_proactive_writeback,
    parse_reclaim,
    parse_value,
    parse_writeback_flag,
)
from zswap_gym.cgroup.errors import CgroupAccessError, CgroupNotFoundError
from zswap_gym.sim import HostConfig, ScenarioConfig, Simulator, TenantConfig, WorkloadConfig
from zswap_gym.sim.state import COUNTER_NAMES, SimState

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
PAGE = 4096
CHUNK_PAGES = 256
CHUNK = CHUNK_PAGES * PAGE  # 1 MiB
LIMIT_FILES = ("memory.high", "memory.max", "memory.zswap.max", "memory.swap.max")

PSI_RE = re.compile(
    r"some avg10=(\d+\.\d\d) avg60=(\d+\.\d\d) avg300=(\d+\.\d\d) total=(\d+)\n"
    r"full avg10=(\d+\.\d\d) avg60=(\d+\.\d\d) avg300=(\d+\.\d\d) total=(\d+)\n"
)
STAT_LINE_RE = re.compile(r"([a-z_]+) (\d+)")


def small_scenario(**host_changes) -> ScenarioConfig:
    """A 4 GiB host, 1 MiB chunks: a 1 GiB service and a 256 MiB sidecar."""
    host = HostConfig(dram_bytes=4 * GiB, chunk_pages=CHUNK_PAGES, **host_changes)
    tenants = (
        TenantConfig(name="web", workload=WorkloadConfig(size_bytes=1 * GiB, zero_filled_share=0.1)),
        TenantConfig(name="sidecar", nr_tasks=2, workload=WorkloadConfig(size_bytes=256 * MiB)),
    )
    return ScenarioConfig(name="small", host=host, tenants=tenants, max_memcgs=4).validate()


@pytest.fixture
def sim() -> Simulator:
    return Simulator(small_scenario(), num_hosts=1, seed=3)


@pytest.fixture
def fs(sim: Simulator) -> CgroupFS:
    return CgroupFS(sim)


def stat(fs: CgroupFS, memcg: str = "web") -> dict[str, int]:
    return parse_flat_keyed(fs.read(f"{memcg}/memory.stat"))


def value(fs: CgroupFS, path: str) -> int | None:
    return parse_value(fs.read(path))


def assert_states_equal(a: SimState, b: SimState) -> None:
    for f in dataclasses.fields(SimState):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, dict):
            assert x.keys() == y.keys(), f.name
            for key in x:
                assert np.array_equal(x[key], y[key]), f"{f.name}[{key}] changed"
        elif isinstance(x, np.ndarray):
            assert np.array_equal(x, y), f"{f.name} changed"
        else:
            assert x == y, f"{f.name} changed"


# ------------------------------------------------------------------------------------------------
# Write formats
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1G", GiB),
        ("512M", 512 * MiB),
        ("512m\n", 512 * MiB),
        ("  4096  \n", 4096),
        ("8K", 8 * KiB),
        ("2T", 2 << 40),
        ("0", 0),
        ("max", None),
        ("max\n", None),
        ("5000", 4096),  # the kernel keeps limits in whole pages
        ("8E", None),  # at or above PAGE_COUNTER_MAX reads back as max
    ],
)
def test_limit_value_parses_sizes_and_max(text, expected):
    assert parse_limit_value("memory.high", text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1G", ReclaimRequest(GiB)),
        ("64M\n", ReclaimRequest(64 * MiB)),
        ("1G swappiness=60", ReclaimRequest(GiB, swappiness=60)),
        ("1G swappiness=0", ReclaimRequest(GiB, swappiness=0)),
        ("1G swappiness=200", ReclaimRequest(GiB, swappiness=200)),
        ("512M swappiness=max", ReclaimRequest(512 * MiB, swappiness=SWAPPINESS_ANON_ONLY)),
        ("  1G   swappiness=10  swappiness=20 \n", ReclaimRequest(GiB, swappiness=20)),  # last one counts
        ("10M source=zswap", ReclaimRequest(10 * MiB, source="zswap")),
        ("10M source=zswap\n", ReclaimRequest(10 * MiB, source="zswap")),
        ("5000", ReclaimRequest(4096)),  # whole pages
        ("0", ReclaimRequest(0)),
    ],
)
def test_reclaim_value_parses_size_swappiness_and_source(text, expected):
    assert parse_reclaim(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3600", ProactiveWritebackRequest(min_age_s=3600)),
        ("0\n", ProactiveWritebackRequest(min_age_s=0)),
        ("max=10M 3600", ProactiveWritebackRequest(min_age_s=3600, max_bytes=10 * MiB)),
        (" max=1G  120 \n", ProactiveWritebackRequest(min_age_s=120, max_bytes=GiB)),
        ("max=5000 60", ProactiveWritebackRequest(min_age_s=60, max_bytes=4096)),
    ],
)
def test_proactive_writeback_value_parses_optional_max_and_age(text, expected):
    assert parse_proactive_writeback(text) == expected


@pytest.mark.parametrize(("text", "expected"), [("0", False), ("1", True), ("1\n", True), (" 0 \n", False)])
def test_zswap_writeback_flag_parses_0_and_1(text, expected):
    assert parse_writeback_flag("memory.zswap.writeback", text) is expected


BAD_WRITES = [
    *(
        ("memory.reclaim", bad)
        for bad in (
            "12Q",
            "-1",
            "1G swappiness=300",
            "1G source=disk",
            "",
            "\n",
            "max",
            "1G swappiness=-1",
            "1G swappiness=",
            "1G swappiness=high",
            "1G foo=bar",
            "1G 2G",
            "1GB",
            "1.5G",
            "0x10",
            "1G swappiness=10 source=zswap",
            "source=zswap",
        )
    ),
    *((name, bad) for name in LIMIT_FILES for bad in ("12Q", "-1", "", "1G 2G", "MAX", "1.5G", "none")),
    *(("memory.zswap.writeback", bad) for bad in ("2", "-1", "", "yes", "true", "0 1")),
    *(
        ("memory.zswap.proactive_writeback", bad)
        for bad in (
            "",
            "max=10M",
            "abc",
            "max=12Q 60",
            "-5",
            "60 70",
            "max=1M max=2M 60",
            "1.5",
            "max= 60",
        )
    ),
]


@pytest.mark.parametrize(("name", "bad"), BAD_WRITES)
def test_malformed_write_is_rejected_with_einval_naming_file_and_value(fs, name, bad):
    with pytest.raises(CgroupWriteError) as info:
        fs.write(f"web/{name}", bad)
    err = info.value
    assert isinstance(err, OSError)
    assert err.errno == errno.EINVAL
    assert name in str(err)
    assert repr(bad) in str(err)
    assert err.filename == f"web/{name}"
    assert err.value == bad


def test_rejected_writes_leave_the_simulation_state_unchanged(sim, fs):
    fs.write("web/memory.reclaim", "64M")  # a state with zswap entries, counters, referenced bits
    sim.step()
    before = sim.get_state()
    gauges_before = sim.gauges().as_dict()
    for name, bad in BAD_WRITES:
        with pytest.raises(CgroupWriteError):
            fs.write(f"web/{name}", bad)
    for path in ("web/memory.current", "web/memory.stat", "memory.stat", "web/memory.swap.current"):
        with pytest.raises(PermissionError):
            fs.write(path, "0")
    for path in ("web/memory.min", "nosuch/memory.reclaim", "web/sub/memory.reclaim"):
        with pytest.raises(FileNotFoundError):
            fs.write(path, "1G")
    assert_states_equal(before, sim.get_state())
    after = sim.gauges().as_dict()
    assert all(np.array_equal(gauges_before[k], after[k]) for k in gauges_before)


def test_writing_a_read_only_file_is_refused_with_eacces_naming_it(fs):
    with pytest.raises(PermissionError) as info:
        fs.write("web/memory.current", "0")
    assert info.value.errno == errno.EACCES
    assert "web/memory.current" in str(info.value)
    assert isinstance(info.value, CgroupAccessError)


def test_reading_a_write_only_file_is_refused_with_eacces(fs):
    for name in ("memory.reclaim", "memory.zswap.proactive_writeback"):
        with pytest.raises(PermissionError) as info:
            fs.read(f"web/{name}")
        assert name in str(info.value)


def test_unknown_file_or_memcg_is_file_not_found_naming_it(fs):
    for path in ("web/memory.bogus", "nosuch/memory.stat", "memory.current", "web"):
        with pytest.raises(FileNotFoundError) as info:
            fs.read(path)
        assert info.value.errno == errno.ENOENT
        assert path in str(info.value)
    with pytest.raises(CgroupNotFoundError, match="nosuch"):
        fs.memcg("nosuch")


# ------------------------------------------------------------------------------------------------
# What writes do
# ------------------------------------------------------------------------------------------------


def test_memory_reclaim_stores_cold_pages_in_zswap_and_lowers_memory_current(fs):
    n_bytes = 64 * MiB
    before, current_before = stat(fs), value(fs, "web/memory.current")
    assert fs.write("web/memory.reclaim", "64M\n") == len("64M\n")
    after, current_after = stat(fs), value(fs, "web/memory.current")
    d = {k: after[k] - before[k] for k in after}
    # Every reclaimed page went to zswap, or (zero-filled) only into the swap map.
    assert d["zswpout"] + d["swpout_zero"] + d["pswpout"] == n_bytes // PAGE
    assert d["swpout_zero"] > 0 and d["zswpout"] > 0.8 * n_bytes / PAGE
    assert d["pgsteal_proactive"] == d["pgscan_proactive"] == n_bytes // PAGE
    assert d["zswapped"] == d["zswpout"] * PAGE
    assert 0 < d["zswap"] < d["zswapped"]  # compressed
    assert current_before - current_after == pytest.approx(n_bytes - d["zswap"], abs=1)
    assert value(fs, "web/memory.zswap.current") == after["zswap"]
    assert value(fs, "web/memory.swap.current") == (d["zswpout"] + d["swpout_zero"]) * PAGE


def test_short_memory_reclaim_raises_eagain_with_requested_and_done_bytes(fs):
    current_before = value(fs, "web/memory.current")
    with pytest.raises(BlockingIOError) as info:
        fs.write("web/memory.reclaim", "2G")  # web holds 1 GiB
    err = info.value
    assert isinstance(err, ReclaimShortError)
    assert err.errno == errno.EAGAIN
    assert err.requested_bytes == 2 * GiB
    assert 0 < err.done_bytes <= GiB
    assert str(2 * GiB) in str(err) and str(err.done_bytes) in str(err)
    assert "memory.reclaim" in str(err)
    # What was reclaimed stays reclaimed, as in the kernel.
    assert value(fs, "web/memory.current") < current_before


def test_memory_reclaim_with_swappiness_zero_reclaims_nothing_and_says_so(fs):
    before = stat(fs)
    with pytest.raises(ReclaimShortError) as info:
        fs.write("web/memory.reclaim", "16M swappiness=0")
    assert info.value.done_bytes == 0
    assert stat(fs)["pgsteal"] == before["pgsteal"]
    fs.write("web/memory.reclaim", "16M swappiness=max")
    assert stat(fs)["pgsteal"] == before["pgsteal"] + 16 * MiB // PAGE


def test_partial_chunk_reclaims_are_honoured_on_average_without_spurious_eagain(fs):
    writes, size = 60, 1536 * KiB  # 1.5 chunks each
    before = stat(fs)["pgsteal"]
    for _ in range(writes):
        fs.write("web/memory.reclaim", "1536K")  # plenty of memory: never short
    pages = stat(fs)["pgsteal"] - before
    assert pages == pytest.approx(writes * size / PAGE, rel=0.15)


def test_zswap_writeback_right_after_reclaim_is_short_then_succeeds(fs):
    fs.write("web/memory.reclaim", "64M")
    before = stat(fs)
    # Every new entry is referenced: the first pass only rotates them (second chance).
    with pytest.raises(ReclaimShortError) as info:
        fs.write("web/memory.reclaim", "16M source=zswap")
    assert info.value.requested_bytes == 16 * MiB
    assert info.value.done_bytes == 0
    assert stat(fs)["zswpwb"] == before["zswpwb"]
    fs.write("web/memory.reclaim", "16M source=zswap\n")
    after = stat(fs)
    assert after["zswpwb"] - before["zswpwb"] == 16 * MiB // PAGE
    assert before["zswapped"] - after["zswapped"] == 16 * MiB
    assert after["zswap"] < before["zswap"]


def test_zswap_writeback_of_more_than_is_stored_is_short(fs):
    fs.write("web/memory.reclaim", "8M")
    with pytest.raises(ReclaimShortError):
        fs.write("web/memory.reclaim", "1M source=zswap")  # rotates everything
    stored = stat(fs)["zswapped"]
    with pytest.raises(ReclaimShortError) as info:
        fs.write("web/memory.reclaim", "1G source=zswap")
    assert info.value.done_bytes == stored
    assert stat(fs)["zswapped"] == 0


def test_proactive_writeback_by_age_writes_back_only_old_entries(sim, fs):
    fs.write("web/memory.reclaim", "32M")  # entries stored at t = 0
    for _ in range(3):
        sim.step()  # t = 30 s
    fs.write("web/memory.reclaim", "32M")  # entries stored at t = 30 s
    before = stat(fs)
    # Nothing has been in zswap for an hour: nothing asked, nothing to do.
    assert fs.write("web/memory.zswap.proactive_writeback", "3600") == 4
    assert stat(fs)["zswpwb"] == before["zswpwb"]
    # The old entries are still referenced: the first pass is short.
    with pytest.raises(ReclaimShortError) as info:
        fs.write("web/memory.zswap.proactive_writeback", "max=8M 20\n")
    assert info.value.requested_bytes == 8 * MiB and info.value.done_bytes == 0
    fs.write("web/memory.zswap.proactive_writeback", "max=8M 20\n")
    mid = stat(fs)
    assert mid["zswpwb"] - before["zswpwb"] == 8 * MiB // PAGE
    # Without max= every entry old enough goes; the young ones (stored at 30 s) stay.
    fs.write("web/memory.zswap.proactive_writeback", "20")
    after = stat(fs)
    young_zswapped = after["zswapped"]
    assert young_zswapped > 0
    assert after["zswpwb"] > mid["zswpwb"]
    assert fs.memcg("web").zswap_bytes_older_than(20) == 0


def test_writeback_disabled_makes_zswap_writeback_short(fs):
    fs.write("web/memory.reclaim", "16M")
    fs.write("web/memory.zswap.writeback", "0")
    for _ in range(2):
        with pytest.raises(ReclaimShortError) as info:
            fs.write("web/memory.reclaim", "4M source=zswap")
        assert info.value.done_bytes == 0
    assert stat(fs)["zswpwb"] == 0


def test_writes_act_on_one_host_and_one_memcg_only():
    sim = Simulator(small_scenario(), num_hosts=2, seed=3)
    before = sim.get_state()
    CgroupFS(sim, host=1).write("web/memory.reclaim", "64M")
    CgroupFS(sim, host=1).write("web/memory.high", "512M")
    after = sim.get_state()
    for name in COUNTER_NAMES:
        assert np.array_equal(after.counters[name][0], before.counters[name][0]), name
        assert np.array_equal(after.counters[name][1, 1:], before.counters[name][1, 1:]), name
    assert after.counters["pgsteal"][1, 0] == 64 * MiB // PAGE
    assert np.array_equal(after.loc[0], before.loc[0])
    assert after.memory_high[1, 0] == 512 * MiB and np.isinf(after.memory_high[0, 0])
    assert np.isinf(after.memory_high[1, 1])


# ------------------------------------------------------------------------------------------------
# Knobs
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", LIMIT_FILES)
def test_limit_knob_round_trips_bytes_and_max(sim, fs, name):
    fs.write(f"web/{name}", "512M")
    assert fs.read(f"web/{name}") == "536870912\n"
    assert sim.get_knob(name, 0, sim.memcg_index("web")) == 512 * MiB
    fs.write(f"web/{name}", "max\n")
    assert fs.read(f"web/{name}") == "max\n"
    assert sim.get_knob(name, 0, sim.memcg_index("web")) is None
    fs.write(f"web/{name}", "5000")
    assert fs.read(f"web/{name}") == "4096\n"


def test_zswap_writeback_knob_round_trips_0_and_1(sim, fs):
    assert fs.read("web/memory.zswap.writeback") == "1\n"
    fs.write("web/memory.zswap.writeback", "0\n")
    assert fs.read("web/memory.zswap.writeback") == "0\n"
    assert sim.get_knob("memory.zswap.writeback", 0, 0) is False
    fs.write("web/memory.zswap.writeback", 1)
    assert fs.read("web/memory.zswap.writeback") == "1\n"


def test_writes_accept_bytes_and_int_values(fs):
    fs.write("web/memory.high", b"256M\n")
    assert value(fs, "web/memory.high") == 256 * MiB
    fs.write("web/memory.high", 128 * MiB)
    assert value(fs, "web/memory.high") == 128 * MiB


# ------------------------------------------------------------------------------------------------
# Read formats
# ------------------------------------------------------------------------------------------------


def test_memory_pressure_prints_the_kernels_format(sim, fs):
    assert fs.read("web/memory.pressure") == (
        "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
    )
    st = sim.state
    st.psi_some_avg[0, 0] = [12.3456, 1.009, 0.004]
    st.psi_full_avg[0, 0] = [100.0, 0.5, 0.0]
    st.psi_some_total_us[0, 0] = 1234567.9
    st.psi_full_total_us[0, 0] = 42.0
    text = fs.read("web/memory.pressure")
    match = PSI_RE.fullmatch(text)
    assert match is not None, text
    # Two decimals, truncated like LOAD_FRAC; totals in whole microseconds.
    assert match.groups() == ("12.34", "1.00", "0.00", "1234567", "100.00", "0.50", "0.00", "42")


def test_memory_pressure_reports_stall_after_reclaiming_hot_memory(sim, fs):
    with pytest.raises(ReclaimShortError):
        fs.write("web/memory.reclaim", "4G")  # everything, hot pages included
    for _ in range(3):
        sim.step()
    text = fs.read("web/memory.pressure")
    assert PSI_RE.fullmatch(text), text
    psi = parse_pressure(text)
    assert psi["some"]["avg10"] > 0 and psi["some"]["total"] > 0
    assert psi["some"]["avg10"] == pytest.approx(sim.state.psi_some_avg[0, 0, 0], abs=0.01)
    assert psi["some"]["total"] == int(sim.state.psi_some_total_us[0, 0])
    assert psi["full"]["avg10"] <= psi["some"]["avg10"]
    assert stat(fs)["workingset_refault_anon"] > 0 and stat(fs)["pgmajfault"] > 0


def test_memory_stat_prints_key_value_lines_with_sizes_in_bytes_and_events_in_pages(sim, fs):
    fs.write("web/memory.reclaim", "64M")
    sim.step()
    text = fs.read("web/memory.stat")
    assert text.endswith("\n")
    lines = text.splitlines()
    assert all(STAT_LINE_RE.fullmatch(line) for line in lines), text
    keys = [line.split()[0] for line in lines]
    assert len(keys) == len(set(keys))
    assert keys[: len(STAT_SIZE_KEYS)] == list(STAT_SIZE_KEYS)
    expected_events = {
        "zswpout",
        "zswpin",
        "zswpwb",
        "pswpin",
        "pswpout",
        "swpin_zero",
        "swpout_zero",
        "workingset_refault_anon",
        "pgscan",
        "pgsteal",
        "pgscan_kswapd",
        "pgscan_direct",
        "pgscan_proactive",
        "pgsteal_kswapd",
        "pgsteal_direct",
        "pgsteal_proactive",
        "pgmajfault",
    }
    assert expected_events <= set(keys)
    assert not any(k.startswith(("cpu_", "events_")) for k in keys)
    g, m = sim.gauges(), sim.memcg_index("web")
    values = stat(fs)
    assert values["anon"] == g.resident_pages[0, m] * PAGE
    assert values["zswap"] == round(g.zswap_bytes[0, m])
    assert values["zswapped"] == g.zswap_pages[0, m] * PAGE
    for key, counter in STAT_EVENT_KEYS:
        assert values[key] == round(sim.state.counters[counter][0, m]), key


def test_memory_stat_shows_every_page_counter_of_the_simulator():
    shown = {counter for _key, counter in STAT_EVENT_KEYS}
    page_counters = {n for n in COUNTER_NAMES if not n.startswith(("cpu_", "events_"))}
    assert page_counters == shown


def test_memory_events_prints_the_kernels_keys_and_counts_high_events(sim, fs):
    assert fs.read("web/memory.events") == "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n"
    fs.write("web/memory.swap.max", "0")  # no swap slots: reclaim cannot bring web under high
    fs.write("web/memory.high", "512M")
    sim.step()
    events = parse_flat_keyed(fs.read("web/memory.events"))
    assert list(events) == ["low", "high", "max", "oom", "oom_kill", "oom_group_kill"]
    assert events["high"] > 0 and events["oom_kill"] == 0


def test_current_files_match_the_simulators_sizes(sim, fs):
    fs.write("web/memory.reclaim", "64M")
    fs.write("web/memory.swap.max", "max")
    with pytest.raises(ReclaimShortError):
        fs.write("web/memory.reclaim", "8M source=zswap")
    fs.write("web/memory.reclaim", "8M source=zswap")
    g, m = sim.gauges(), sim.memcg_index("web")
    assert value(fs, "web/memory.current") == round(g.memory_current[0, m])
    assert value(fs, "web/memory.zswap.current") == round(g.zswap_bytes[0, m])
    assert value(fs, "web/memory.swap.current") == g.swap_slot_pages[0, m] * PAGE
    assert stat(fs)["swapcached"] == 8 * MiB  # written back, write I/O not yet complete


def test_root_memory_stat_sums_the_memcgs(fs):
    fs.write("web/memory.reclaim", "32M")
    fs.write("sidecar/memory.reclaim", "16M")
    root = parse_flat_keyed(fs.read("memory.stat"))
    web, sidecar = stat(fs, "web"), stat(fs, "sidecar")
    assert list(root) == list(web)
    for key in root:  # compressed bytes are fractional per memcg: each sum rounds once
        assert root[key] == pytest.approx(web[key] + sidecar[key], abs=1), key


# ------------------------------------------------------------------------------------------------
# Paths and the interface
# ------------------------------------------------------------------------------------------------


def test_paths_may_carry_the_cgroup_mount_prefix(fs):
    expected = fs.read("web/memory.current")
    for path in ("/sys/fs/cgroup/web/memory.current", "/web/memory.current", "web//memory.current"):
        assert fs.read(path) == expected
    assert fs.memcg("web").read("memory.current") == expected
    fs.write("/sys/fs/cgroup/web/memory.high", "1G")
    assert fs.memcg("web").read("memory.high") == f"{GiB}\n"


def test_listing_shows_memcgs_and_their_files(fs):
    assert fs.memcgs() == ["web", "sidecar"]
    assert set(fs.listdir()) == {"web", "sidecar", "memory.stat"}
    assert set(fs.listdir("web")) == set(FILES)
    assert fs.exists("web/memory.reclaim") and fs.exists("/sys/fs/cgroup/sidecar")
    assert not fs.exists("web/memory.min") and not fs.exists("other")


def test_errors_survive_pickling():
    for err in (
        CgroupWriteError("web/memory.reclaim", "12Q", "not a size"),
        ReclaimShortError("web/memory.reclaim", 100, 50),
        CgroupAccessError("web/memory.current", "read-only file"),
        CgroupNotFoundError("web/memory.min"),
    ):
        copy = pickle.loads(pickle.dumps(err))
        assert type(copy) is type(err) and str(copy) == str(err) and copy.errno == err.errno


def make_real_tree(host_root):
    """A cgroup v2 tree at ``host_root/sys/fs/cgroup`` with memcgs web and sidecar; returns its root."""
    root = host_root / "sys" / "fs" / "cgroup"
    root.mkdir(parents=True)
    (root / "cgroup.controllers").write_text("cpu io memory pids\n")
    for name, files in {
        "web": {"memory.current": "1073741824\n", "memory.high": "max\n", "memory.reclaim": ""},
        "sidecar": {"memory.current": "268435456\n", "memory.reclaim": ""},
    }.items():
        (root / name).mkdir()
        for file, text in files.items():
            (root / name / file).write_text(text)
    (root / "memory.stat").write_text("anon 0\n")
    return root


def test_real_cgroupfs_reads_and_writes_files_under_its_root(tmp_path):
    root = make_real_tree(tmp_path)
    fs = RealCgroupFS(host_root=tmp_path)
    assert fs.root == str(root)
    assert fs.memcgs() == ["sidecar", "web"]
    assert fs.read("web/memory.current") == "1073741824\n"
    assert fs.read("/sys/fs/cgroup/web/memory.current") == "1073741824\n"
    assert fs.read(str(root / "web" / "memory.current")) == "1073741824\n"
    assert fs.memcg("sidecar").read("memory.current") == "268435456\n"
    assert fs.write("web/memory.high", "512M\n") == 5
    assert (root / "web" / "memory.high").read_text() == "512M\n"
    fs.memcg("web").write("memory.reclaim", b"1G")
    assert (root / "web" / "memory.reclaim").read_text() == "1G"
    assert fs.listdir("web") == ["memory.current", "memory.high", "memory.reclaim"]
    with pytest.raises(FileNotFoundError):
        fs.read("web/memory.bogus")
    with pytest.raises(FileNotFoundError):
        fs.write("web/memory.max", "1G")  # cgroup files are never created
    with pytest.raises(FileNotFoundError):
        fs.read("../outside")
    with pytest.raises(FileNotFoundError):
        fs.memcg("nosuch")


@pytest.mark.parametrize(
    ("err_no", "expected", "path", "text"),
    [
        (errno.EINVAL, CgroupWriteError, "web/memory.reclaim", "12Q"),
        (errno.EAGAIN, ReclaimShortError, "web/memory.reclaim", "1G"),
        (errno.EAGAIN, ReclaimShortError, "web/memory.reclaim", "10M source=zswap"),
        (errno.EBUSY, OSError, "web/memory.high", "1G"),
    ],
)
def test_real_cgroupfs_turns_kernel_errors_into_the_interfaces_exceptions(
    tmp_path, monkeypatch, err_no, expected, path, text
):
    make_real_tree(tmp_path)
    fs = RealCgroupFS(host_root=tmp_path)

    def failing_write(fd, data):
        raise OSError(err_no, "kernel says no")

    monkeypatch.setattr("zswap_gym.cgroup.real.os.write", failing_write)
    with pytest.raises(expected) as info:
        fs.write(path, text)
    assert info.value.errno == err_no
    if expected is ReclaimShortError:
        assert info.value.requested_bytes == parse_reclaim(text).nbytes and info.value.done_bytes is None


def proactive_controller(cgroups: CgroupFiles, memcg: str, share: float) -> int:
    """A toy controller: reclaim a share of memory.current; returns bytes asked."""
    current = parse_value(cgroups.read(f"{memcg}/memory.current"))
    asked = int(current * share) // PAGE * PAGE
    try:
        cgroups.write(f"{memcg}/memory.reclaim", f"{asked}")
    except BlockingIOError:
        pass
    return asked


def test_the_same_controller_code_drives_simulated_and_real_cgroups(fs, tmp_path):
    root = make_real_tree(tmp_path)
    real = RealCgroupFS(host_root=tmp_path)
    assert isinstance(fs, CgroupFiles) and isinstance(real, CgroupFiles)
    before = stat(fs)["pgsteal"]
    asked = proactive_controller(fs, "web", 0.01)
    assert stat(fs)["pgsteal"] - before == pytest.approx(asked / PAGE, abs=CHUNK_PAGES)
    asked = proactive_controller(real, "web", 0.01)
    assert (root / "web" / "memory.reclaim").read_text() == str(asked)
