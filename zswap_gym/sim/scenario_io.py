"""Load scenarios from YAML (``configs/scenarios/<name>.yaml``) into validated dataclasses.

Sizes may be written as the kernel writes them (``16G``, ``512M``) or in bytes; limits accept
``max``. Unknown keys are rejected with the list of allowed ones, so a typo never passes silently.
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from typing import Any

import yaml

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
from .units import SizeError, parse_limit, parse_size

SCENARIO_DIR_ENV = "ZSWAP_GYM_SCENARIO_DIR"


def scenario_dir() -> Path:
    """Where named scenarios live: ``$ZSWAP_GYM_SCENARIO_DIR`` or the packaged ``configs/scenarios``."""
    override = os.environ.get(SCENARIO_DIR_ENV)
    if override:
        return Path(override)
    packaged = Path(__file__).resolve().parent.parent / "configs" / "scenarios"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "configs" / "scenarios"


def list_scenarios() -> list[str]:
    """Names of the scenarios shipped with the package."""
    return sorted(p.stem for p in scenario_dir().glob("*.yaml"))


def load_scenario(name_or_path: str | os.PathLike[str]) -> ScenarioConfig:
    """Load a scenario by name (``"default"``) or from a YAML file path; validated."""
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = scenario_dir() / f"{name_or_path}.yaml"
        if not path.exists():
            raise ConfigError(f"unknown scenario {str(name_or_path)!r}; known: {list_scenarios()}")
    data = _read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a scenario file must be a mapping")
    data.setdefault("name", path.stem)
    return scenario_from_dict(data, where=f"{path}: scenario")


def _read_yaml(path: Path) -> Any:
    """The parsed YAML of ``path``; a ``ConfigError`` naming the file (and the line) otherwise."""
    try:
        with open(path, encoding="utf-8") as fh:
            return yaml.safe_load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such scenario file") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not a UTF-8 text file ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML{_yaml_error_detail(exc)}") from None


def _yaml_error_detail(exc: yaml.YAMLError) -> str:
    """``", line 3, column 5: <problem> (<context>)"`` from a PyYAML error, on one line."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    at = f", line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"{at}: {problem}" + (f" ({context})" if context else "")


def _is_size_field(name: str) -> bool:
    return name.endswith("_bytes")


def _is_size_rate_field(name: str) -> bool:
    """Bytes per unit of time (``write_budget_bytes_per_day``, ``*_bandwidth_bytes_per_s``): sizes too."""
    return "_bytes_per_" in name


_NUMBER_RE = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def _number_from_text(value: str, field_type: str, where: str) -> Any:
    """A float field written as text YAML 1.1 does not read as a number (``3.0e8``, ``1e-6``)."""
    if field_type.startswith("float") and _NUMBER_RE.match(value.strip()):
        return float(value)
    raise ConfigError(f"{where}: expected a number, got the text {value!r}")


def _build(cls: type, data: Any, where: str, nested: dict[str, Any]) -> Any:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    allowed = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted((k for k in data if k not in allowed), key=str)
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {unknown}; allowed: {sorted(allowed)}")
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key in nested:
            kwargs[key] = nested[key](value, f"{where}.{key}")
        elif _is_size_field(key) and (isinstance(value, str) or value is None):
            try:
                kwargs[key] = parse_limit(value, what=f"{where}.{key}")
            except SizeError as exc:
                raise ConfigError(str(exc)) from None
        elif _is_size_field(key) and isinstance(value, float):
            try:
                kwargs[key] = parse_size(value, what=f"{where}.{key}")
            except SizeError as exc:
                raise ConfigError(str(exc)) from None
        elif _is_size_rate_field(key) and isinstance(value, str) and not _NUMBER_RE.match(value.strip()):
            try:
                kwargs[key] = float(parse_size(value.strip(), what=f"{where}.{key}"))
            except SizeError as exc:
                raise ConfigError(str(exc)) from None
        elif isinstance(value, str) and str(allowed[key].type).startswith("float"):
            kwargs[key] = _number_from_text(value, str(allowed[key].type), f"{where}.{key}")
        else:
            kwargs[key] = value
    missing = [
        f.name
        for f in dataclasses.fields(cls)
        if f.name not in kwargs and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ConfigError(f"{where}: missing field {missing[0]!r}")
    return cls(**kwargs)


def _compressor(value: Any, where: str) -> CompressorConfig:
    if isinstance(value, str):
        return CompressorConfig.preset(value)
    if isinstance(value, dict) and set(value) == {"name"}:
        return CompressorConfig.preset(value["name"])
    return _build(CompressorConfig, value, where, {})


def _host(value: Any, where: str) -> HostConfig:
    return _build(
        HostConfig,
        value,
        where,
        {
            "swap": lambda v, w: _build(SwapDeviceConfig, v, w, {}),
            "zswap": lambda v, w: _build(ZswapConfig, v, w, {}),
            "compressor": _compressor,
        },
    )


def _seq(builder: Any) -> Any:
    def build_all(value: Any, where: str) -> tuple[Any, ...]:
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list")
        return tuple(builder(item, f"{where}[{i}]") for i, item in enumerate(value))

    return build_all


def _workload(value: Any, where: str) -> WorkloadConfig:
    return _build(
        WorkloadConfig,
        value,
        where,
        {
            "rate_bands": _seq(lambda v, w: _build(RateBand, v, w, {})),
            "phases": _seq(lambda v, w: _build(Phase, v, w, {})),
        },
    )


def _tenant(value: Any, where: str) -> TenantConfig:
    return _build(TenantConfig, value, where, {"workload": _workload})


def scenario_from_dict(data: dict[str, Any], *, where: str | None = None) -> ScenarioConfig:
    """Build and validate a scenario from a plain mapping (as read from YAML).

    ``where`` prefixes error messages (default ``scenario[<name>]``; :func:`load_scenario` names the file).
    """
    if where is None:
        where = f"scenario[{data.get('name', 'scenario')}]"
    scenario = _build(ScenarioConfig, data, where, {"host": _host, "tenants": _seq(_tenant)})
    return scenario.validate(where)
