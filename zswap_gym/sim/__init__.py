"""The batched numpy model of memcgs, zswap, the swap device and PSI (numpy only; no gymnasium)."""

from .config import (
    CompressorConfig,
    ConfigError,
    HostConfig,
    Phase,
    RateBand,
    ScenarioConfig,
    SwapDeviceConfig,
    TenantConfig,
    WorkloadConfig,
    ZswapConfig,
)
from .metrics import StepMetrics
from .scenario_io import list_scenarios, load_scenario, scenario_from_dict
from .simulator import KNOBS, ZSWAP_PARAMETERS, Simulator
from .state import Loc, SimState

__all__ = [
    "KNOBS",
    "ZSWAP_PARAMETERS",
    "CompressorConfig",
    "ConfigError",
    "HostConfig",
    "Loc",
    "Phase",
    "RateBand",
    "ScenarioConfig",
    "SimState",
    "Simulator",
    "StepMetrics",
    "SwapDeviceConfig",
    "TenantConfig",
    "WorkloadConfig",
    "ZswapConfig",
    "list_scenarios",
    "load_scenario",
    "scenario_from_dict",
]
