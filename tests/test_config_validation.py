"""Bad input (issue 2 "Bad input"): invalid configurations are rejected with a ConfigError whose
message names the offending field and what is allowed; YAML scenarios load with kernel-style sizes
("16G", "512M", "max"); every shipped scenario loads; a simulator needs at least one host.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from zswap_gym.sim import (
    ConfigError,
    HostConfig,
    Phase,
    RateBand,
    ScenarioConfig,
    Simulator,
    TenantConfig,
    WorkloadConfig,
    list_scenarios,
    load_scenario,
    scenario_from_dict,
)
from zswap_gym.sim.config import CompressorConfig

GiB = 1 << 30
MiB = 1 << 20
SCENARIO_DIR = Path(__file__).resolve().parent.parent / "configs" / "scenarios"


def tenant(name: str = "a", **workload) -> dict:
    return {"name": name, "workload": workload}


def reject(data: dict, *fragments: str) -> str:
    """Assert ``data`` is rejected with a ConfigError whose message contains every fragment."""
    with pytest.raises(ConfigError) as info:
        scenario_from_dict(data)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in error message {message!r}"
    return message


# --------------------------------------------------------------------------------------------------
# Field values out of range: the message names the field and the allowed range
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "fragments"),
    [
        ({"tenants": [tenant(size_bytes=-5)]}, ["tenants[0].workload.size_bytes", "-5", "[0, inf)"]),
        ({"host": {"dram_bytes": "1M"}}, ["host.dram_bytes", "[67108864, inf)"]),
        ({"host": {"swap": {"capacity_bytes": -1}}}, ["host.swap.capacity_bytes", "[0, inf)"]),
        ({"tenants": [{"name": "a", "memory_high_bytes": -1}]}, ["tenants[0].memory_high_bytes", "[0, inf)"]),
        ({"host": {"other_used_bytes": "32G"}}, ["host.other_used_bytes", "[0, 17179869184]"]),
        ({"host": {"nr_nodes": 0}}, ["host.nr_nodes", "[1, 64]"]),
        ({"host": {"chunk_pages": 0}}, ["host.chunk_pages", "[1, 1048576]"]),
        ({"host": {"step_s": 0.01}}, ["host.step_s", "[0.1, 3600]"]),
        ({"host": {"zswap": {"max_pool_percent": 150}}}, ["host.zswap.max_pool_percent", "[0, 100]"]),
        ({"host": {"zswap": {"accept_threshold_percent": -1}}}, ["accept_threshold_percent", "[0, 100]"]),
        ({"host": {"swap": {"read_iops": 0}}}, ["host.swap.read_iops", "(0, inf)"]),
        ({"max_memcgs": 0}, ["max_memcgs", "[1, 256]"]),
        ({"episode_steps": 0}, ["episode_steps", "[1, inf)"]),
        ({"tenants": [tenant(compress_ratio_median=0.5)]}, ["compress_ratio_median", "[1.0, 100]"]),
        ({"tenants": [tenant(zero_filled_share=1.5)]}, ["zero_filled_share", "[0, 1]"]),
        ({"tenants": [{"name": "a", "nr_tasks": 0}]}, ["tenants[0].nr_tasks", "[1, 4096]"]),
        (
            {"tenants": [tenant(rate_bands=[{"share": 1.0, "lo_hz": 2.0, "hi_hz": 1.0}])]},
            ["rate_bands[0].hi_hz", "[2"],
        ),
        (
            {"tenants": [tenant(rate_bands=[{"share": 1.0, "lo_hz": 0.0, "hi_hz": 1.0}])]},
            ["rate_bands[0].lo_hz", "(0"],
        ),
    ],
)
def test_out_of_range_value_is_rejected_naming_field_and_range(data, fragments):
    """A value outside its range raises ConfigError naming the field and the allowed interval."""
    reject(data, *fragments)


def test_negative_size_string_is_rejected_naming_the_field():
    """A size written "-5G" is not a size: the error names the field and the accepted format."""
    reject({"tenants": [tenant(size_bytes="-5G")]}, "tenants[0].workload.size_bytes", "'-5G'", "512M")


def test_unparseable_limit_is_rejected_naming_the_field():
    """A limit that is neither a size nor "max" is rejected with the field's name."""
    reject({"tenants": [{"name": "a", "memory_high_bytes": "lots"}]}, "tenants[0].memory_high_bytes", "'lots'")


def test_non_number_and_non_finite_values_are_rejected():
    """Booleans, NaN and infinity are not numbers a field accepts."""
    reject({"host": {"step_s": True}}, "host.step_s", "must be a number")
    reject({"host": {"step_s": float("nan")}}, "host.step_s", "finite")
    reject({"host": {"dram_bytes": float("inf")}}, "host.dram_bytes")
    reject({"tenants": [{"name": "a", "zswap_writeback": "yes"}]}, "zswap_writeback", "true or false")


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"host": {"chunk_pages": 1.5}}, "host.chunk_pages"),
        ({"host": {"nr_nodes": 1.5}}, "host.nr_nodes"),
        ({"tenants": [{"name": "a", "nr_tasks": 2.5}]}, "tenants[0].nr_tasks"),
        ({"max_memcgs": 2.5}, "max_memcgs"),
        ({"episode_steps": 10.5}, "episode_steps"),
    ],
)
def test_fractional_count_is_rejected(data, field):
    """Counts (chunk pages, NUMA nodes, tasks, memcg slots, steps) must be whole numbers."""
    reject(data, field)


def test_rate_band_shares_must_sum_to_one():
    """Rate band shares that do not sum to 1 are rejected, saying what they sum to."""
    bands = [{"share": 0.5, "lo_hz": 1.0, "hi_hz": 2.0}, {"share": 0.3, "lo_hz": 1e-3, "hi_hz": 1e-2}]
    reject({"tenants": [tenant(rate_bands=bands)]}, "tenants[0].workload.rate_bands", "0.8", "must sum to 1")


def test_empty_rate_bands_are_rejected():
    """A workload needs at least one rate band."""
    reject({"tenants": [tenant(rate_bands=[])]}, "rate_bands", "at least one")


def test_more_rate_bands_than_supported_are_rejected_at_validation():
    """More rate bands than the simulator supports is a ConfigError at load time, not a later crash."""
    bands = [{"share": 1.0 / 7, "lo_hz": 1.0, "hi_hz": 2.0}] * 7
    reject({"tenants": [tenant(rate_bands=bands)]}, "tenants[0].workload.rate_bands")


def test_zero_and_incompressible_shares_cannot_exceed_one():
    """zero_filled_share + incompressible_share > 1 is rejected naming both fields."""
    reject(
        {"tenants": [tenant(zero_filled_share=0.6, incompressible_share=0.6)]},
        "zero_filled_share + incompressible_share",
        "<= 1",
    )


def test_unknown_yaml_keys_are_rejected_listing_the_allowed_ones():
    """A typo in any section is an error that lists the allowed keys."""
    msg = reject({"host": {"dram_byte": "1G"}}, "host", "unknown field(s) ['dram_byte']", "allowed")
    assert "dram_bytes" in msg
    reject({"hosts": {}}, "unknown field(s) ['hosts']")
    reject({"tenants": [{"name": "a", "memory_hgih_bytes": "1G"}]}, "tenants[0]", "memory_hgih_bytes")
    reject({"tenants": [tenant(sizebytes="1G")]}, "tenants[0].workload", "sizebytes")
    reject({"host": {"zswap": {"shrinker": True}}}, "host.zswap", "shrinker")
    reject({"host": {"swap": {"capacity": "1G"}}}, "host.swap", "capacity")
    reject({"tenants": [tenant(phases=[{"kind": "growth", "duration_s": 1, "delta": 5}])]}, "phases[0]", "delta")


def test_bad_phase_kind_is_rejected_listing_the_kinds():
    """An unknown phase kind is rejected with the list of kinds."""
    reject(
        {"tenants": [tenant(phases=[{"kind": "grow"}])]},
        "tenants[0].workload.phases[0].kind",
        "'grow'",
        "growth",
        "burst",
    )


def test_growth_phase_without_duration_is_rejected():
    """growth, shrink and burst phases need a positive duration."""
    for kind in ("growth", "shrink", "burst"):
        reject({"tenants": [tenant(phases=[{"kind": kind, "size_delta_bytes": "1G"}])]}, "phases[0].duration_s", kind)


def test_more_tenants_than_memcg_slots_is_rejected():
    """More tenants than max_memcgs is rejected, naming both numbers."""
    data = {"max_memcgs": 1, "tenants": [tenant("a", size_bytes="1G"), tenant("b", size_bytes="1G")]}
    reject(data, "tenants", "2 tenants", "max_memcgs = 1")


def test_duplicate_tenant_names_are_rejected():
    """Tenant (memcg) names must be unique."""
    reject({"tenants": [tenant("a", size_bytes="1G"), tenant("a", size_bytes="1G")]}, "tenants", "unique")


def test_bad_tenant_names_are_rejected():
    """A tenant name must be non-empty, without '/', and present."""
    reject({"tenants": [{"name": "a/b"}]}, "tenants[0].name", "'/'")
    reject({"tenants": [{"name": ""}]}, "tenants[0].name")
    reject({"tenants": [{"workload": {}}]}, "tenants[0]", "name")


def test_no_tenants_is_rejected():
    """A scenario needs at least one tenant; tenants must be a list."""
    reject({"tenants": []}, "tenants", "at least one")
    reject({"tenants": {"name": "a"}}, "tenants", "list")


@pytest.mark.parametrize(
    ("host", "field", "lower_bound"),
    [
        ({"watermark_low_percent": 0.5}, "host.watermark_low_percent", "[1.0"),
        ({"watermark_high_percent": 1.2}, "host.watermark_high_percent", "[1.5"),
        ({"watermark_min_percent": 3.0}, "host.watermark_low_percent", "[3.0"),
    ],
)
def test_watermarks_out_of_order_are_rejected(host, field, lower_bound):
    """Host watermarks must satisfy min <= low <= high; the error names the watermark out of order."""
    reject({"host": host}, field, lower_bound)


def test_bad_compressor_name_is_rejected_listing_the_presets():
    """An unknown compressor is rejected with the list of known ones."""
    for spec in ("gzip", {"name": "gzip"}):
        reject({"host": {"compressor": spec}}, "compressor.name", "'gzip'", "lzo", "zstd")
    with pytest.raises(ConfigError, match="compressor.name"):
        CompressorConfig.preset("brotli")


def test_initial_sizes_exceeding_dram_are_rejected():
    """Tenants' initial footprints plus the host's other memory must fit in DRAM at time 0."""
    data = {"host": {"dram_bytes": "4G", "other_used_bytes": "1G"}, "tenants": [tenant(size_bytes="3584M")]}
    reject(data, "size_bytes", "other_used_bytes", "host.dram_bytes = 4294967296")


def test_dataclass_configs_validate_like_yaml():
    """Building the dataclasses directly and validating raises the same ConfigError."""
    with pytest.raises(ConfigError, match=r"host\.dram_bytes = 1024: must be in \[67108864"):
        ScenarioConfig(host=HostConfig(dram_bytes=1024)).validate()
    with pytest.raises(ConfigError, match=r"rate_bands\[0\]\.share"):
        ScenarioConfig(
            tenants=(TenantConfig(name="a", workload=WorkloadConfig(rate_bands=(RateBand(1.5, 1.0, 2.0),))),)
        ).validate()
    with pytest.raises(ConfigError, match=r"phases\[0\]\.fraction"):
        ScenarioConfig(
            tenants=(TenantConfig(name="a", workload=WorkloadConfig(phases=(Phase(kind="shift", fraction=2.0),))),)
        ).validate()
    with pytest.raises(ConfigError, match=r"chunk_pages"):
        ScenarioConfig().with_chunk_pages(0)


def test_simulator_rejects_an_invalid_scenario():
    """Simulator() validates the scenario it is given."""
    bad = ScenarioConfig(tenants=(TenantConfig(name="a", workload=WorkloadConfig(size_bytes=-1)),))
    with pytest.raises(ConfigError, match="size_bytes"):
        Simulator(bad)


@pytest.mark.parametrize("num_hosts", [0, -1, 1.5, "2"])
def test_simulator_needs_a_positive_whole_number_of_hosts(num_hosts):
    """Simulator(num_hosts=...) below 1 or not a whole number raises, naming num_hosts."""
    with pytest.raises(ValueError, match="num_hosts"):
        Simulator(ScenarioConfig(), num_hosts=num_hosts)


# --------------------------------------------------------------------------------------------------
# YAML loading
# --------------------------------------------------------------------------------------------------

YAML_TEXT = """
name: tiny
description: a test host
episode_steps: 12
max_memcgs: 3
host:
  dram_bytes: 16G
  chunk_pages: 256
  other_used_bytes: 512M
  compressor: zstd
  swap:
    capacity_bytes: 8G
  zswap:
    max_pool_percent: 25
    shrinker_enabled: true
tenants:
  - name: web
    memory_high_bytes: 10G
    memory_max_bytes: max
    zswap_max_bytes: 1G
    swap_max_bytes: 4096
    workload:
      size_bytes: 8G
      rate_bands:
        - {share: 0.6, lo_hz: 0.05, hi_hz: 5.0}
        - {share: 0.4, lo_hz: 1.0e-6, hi_hz: 1.0e-2}
      phases:
        - {kind: growth, start_s: 60, duration_s: 600, size_delta_bytes: 1G}
  - name: sidecar
    zswap_writeback: false
    workload:
      size_bytes: 256M
"""


def test_yaml_scenario_loads_with_kernel_style_sizes(tmp_path):
    """A YAML file with "16G"/"512M"/"max"/plain-byte sizes loads into the right numbers."""
    path = tmp_path / "tiny.yaml"
    path.write_text(YAML_TEXT)
    sc = load_scenario(path)
    assert sc.name == "tiny"
    assert sc.host.dram_bytes == 16 * GiB
    assert sc.host.other_used_bytes == 512 * MiB
    assert sc.host.swap.capacity_bytes == 8 * GiB
    assert sc.host.compressor.name == "zstd"
    assert sc.host.zswap.max_pool_percent == 25
    assert sc.host.zswap.shrinker_enabled is True
    web, side = sc.tenants
    assert web.memory_high_bytes == 10 * GiB
    assert web.memory_max_bytes is None  # "max"
    assert web.zswap_max_bytes == 1 * GiB
    assert web.swap_max_bytes == 4096
    assert web.workload.size_bytes == 8 * GiB
    assert web.workload.phases[0].size_delta_bytes == 1 * GiB
    assert side.zswap_writeback is False
    assert side.workload.size_bytes == 256 * MiB
    sim = Simulator(sc, num_hosts=1, seed=0)
    assert sim.get_knob("memory.max", 0, 0) is None
    assert sim.get_knob("memory.high", 0, 0) == 10 * GiB


def test_yaml_file_name_is_the_default_scenario_name(tmp_path):
    """Without a name: key, a scenario file is named after its file."""
    path = tmp_path / "unnamed.yml"
    path.write_text(YAML_TEXT.replace("name: tiny\n", "", 1))
    assert load_scenario(path).name == "unnamed"


def test_scenario_from_dict_matches_yaml_loading(tmp_path):
    """scenario_from_dict on the parsed YAML gives the same scenario as load_scenario."""
    import yaml

    path = tmp_path / "tiny.yaml"
    path.write_text(YAML_TEXT)
    assert scenario_from_dict(yaml.safe_load(YAML_TEXT)) == load_scenario(path)


def test_invalid_yaml_file_is_rejected_naming_the_field(tmp_path):
    """A YAML file with an invalid field fails to load with the field named."""
    path = tmp_path / "bad.yaml"
    path.write_text(YAML_TEXT.replace("max_pool_percent: 25", "max_pool_percent: 250"))
    with pytest.raises(ConfigError, match=re.escape("host.zswap.max_pool_percent = 250: must be in [0, 100]")):
        load_scenario(path)


def test_yaml_that_is_not_a_mapping_is_rejected(tmp_path):
    """A scenario file must hold a mapping."""
    path = tmp_path / "list.yaml"
    path.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_scenario(path)


def test_unknown_scenario_name_lists_the_known_ones():
    """Loading a scenario by an unknown name says which names exist."""
    with pytest.raises(ConfigError, match="no-such-scenario") as info:
        load_scenario("no-such-scenario")
    assert "default" in str(info.value)


SHIPPED = sorted(SCENARIO_DIR.glob("*.yaml"))


def test_scenarios_are_shipped():
    """configs/scenarios/ holds scenarios, and list_scenarios() names every one of them."""
    assert SHIPPED, f"no scenarios in {SCENARIO_DIR}"
    assert {p.stem for p in SHIPPED} <= set(list_scenarios())


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_every_shipped_scenario_loads_and_steps(path):
    """Every YAML under configs/scenarios/ loads, by path and by name, and a simulator steps it."""
    sc = load_scenario(path)
    assert sc == load_scenario(path.stem)
    assert sc.description, f"{path.name}: a scenario should say what it is"
    sim = Simulator(sc, num_hosts=1, seed=0)
    m = sim.step()
    assert m.footprint_bytes.sum() > 0


def test_rate_sizes_and_exponent_numbers_are_read_from_text():
    """``*_bytes_per_day`` / ``*_bytes_per_s`` take sizes with memparse suffixes ("400M"), and a float field
    written as text YAML 1.1 does not read as a number ("3.0e8") is read as that number."""
    sc = scenario_from_dict(
        {
            "name": "x",
            "host": {"swap": {"write_budget_bytes_per_day": "400M", "read_bandwidth_bytes_per_s": "3.0e8"}},
        }
    )
    assert sc.host.swap.write_budget_bytes_per_day == 400 * 2**20
    assert sc.host.swap.read_bandwidth_bytes_per_s == 3.0e8
    with pytest.raises(ConfigError, match=r"read_latency_us: expected a number, got the text 'fast'"):
        scenario_from_dict({"name": "x", "host": {"swap": {"read_latency_us": "fast"}}})
    with pytest.raises(ConfigError, match=r"write_budget_bytes_per_day: '400X' is not a size"):
        scenario_from_dict({"name": "x", "host": {"swap": {"write_budget_bytes_per_day": "400X"}}})
