"""Policy parameters given as text (``zswap-gym run --param NAME=VALUE``), checked against the policy.

A value is read as YAML (``0.8``, ``true``, ``[web, sidecar]``, ``{web: 1G}``), then checked against
the type the policy's constructor declares for that parameter, so ``reclaim_ratio=abc`` or
``memcgs=web`` is refused with a message saying what the parameter takes, instead of failing deep
inside the policy (or iterating a string letter by letter).
"""

from __future__ import annotations

import inspect
import re
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import yaml

from .registry import policy_spec

_NUMBER_RE = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


class PolicyParamError(ValueError):
    """A policy parameter that does not exist or has a value of the wrong type."""


class _Mismatch(Exception):
    """A value does not fit a type; ``args[0]`` says what the type takes."""


def declared_parameters(factory: Callable[..., Any]) -> tuple[dict[str, Any], bool]:
    """(type hint of every keyword parameter ``factory`` declares, whether it also takes undeclared ones).

    A class's ``__init__`` that forwards ``**kwargs`` to its base is followed up the MRO, so a variant's
    inherited parameters (Senpai's ``reclaim_ratio`` in ``senpai-age-writeback``) are typed too."""
    if inspect.isclass(factory):
        functions = [c.__dict__["__init__"] for c in factory.__mro__ if c is not object and "__init__" in c.__dict__]
        skip_first = True
    else:
        functions, skip_first = [factory], False
    params: dict[str, Any] = {}
    for function in functions:
        try:
            signature = inspect.signature(function)
        except (TypeError, ValueError):
            return params, True
        try:
            hints = typing.get_type_hints(function)
        except Exception:  # an annotation that does not resolve: check nothing for it
            hints = {}
        open_ended = False
        for i, p in enumerate(signature.parameters.values()):
            if skip_first and i == 0 or p.kind is p.VAR_POSITIONAL:
                continue
            if p.kind is p.VAR_KEYWORD:
                open_ended = True
                continue
            params.setdefault(p.name, hints.get(p.name, Any))
        if not open_ended:
            return params, False
    return params, not inspect.isclass(factory)  # a class's chain ends at object.__init__: no more names


def _describe(hint: Any) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in args)
    if hint is type(None):
        return "null"
    if origin is typing.Literal:
        return "one of " + ", ".join(map(repr, args))
    if hint is bool:
        return "true or false"
    if hint in (int, float):
        return "a whole number" if hint is int else "a number"
    if hint is str:
        return "a text"
    if origin is not None and isinstance(origin, type) and issubclass(origin, Mapping):
        return "a mapping (e.g. {web: 1.0})"
    if origin is not None and isinstance(origin, type) and issubclass(origin, Sequence):
        return "a list (e.g. [a, b])"
    return getattr(hint, "__name__", str(hint))


def _coerce(value: Any, hint: Any) -> Any:
    """``value`` as ``hint`` declares it; :class:`_Mismatch` if it does not fit."""
    if hint is Any or hint is inspect.Parameter.empty:
        return value
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        for arg in args:
            try:
                return _coerce(value, arg)
            except _Mismatch:
                continue
        raise _Mismatch(_describe(hint))
    if hint is type(None):
        if value is None:
            return None
    elif origin is typing.Literal:
        if value in args:
            return value
    elif hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str) and _NUMBER_RE.match(value.strip()):  # YAML 1.1 reads 1e-6 as text
            return float(value)
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif hint is str:
        if isinstance(value, str):
            return value
    elif origin is not None and isinstance(origin, type) and issubclass(origin, Mapping):
        if isinstance(value, dict):
            key_hint, value_hint = args if len(args) == 2 else (Any, Any)
            return {_coerce(k, key_hint): _coerce(v, value_hint) for k, v in value.items()}
    elif origin is not None and isinstance(origin, type) and issubclass(origin, Sequence):
        if isinstance(value, (list, tuple)):
            item_hint = args[0] if args else Any
            items = [_coerce(v, item_hint) for v in value]
            return tuple(items) if origin is tuple else items
    elif isinstance(hint, type):
        if isinstance(value, hint):
            return value
    else:
        return value  # a hint this checker does not know: the policy checks it
    raise _Mismatch(_describe(hint))


def _shown(value: Any) -> str:
    return f"the text {value!r}" if isinstance(value, str) else f"{value!r}"


def coerce_policy_params(policy: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` checked against, and converted to, the types policy ``policy`` declares.

    Raises:
        PolicyParamError: an unknown parameter name, or a value of the wrong type (the message names both).
    """
    declared, open_ended = declared_parameters(policy_spec(policy).factory)
    out: dict[str, Any] = {}
    for name, value in params.items():
        if name not in declared:
            if open_ended:
                out[name] = value
                continue
            known = ", ".join(sorted(declared)) if declared else "none"
            raise PolicyParamError(f"policy {policy!r} has no parameter {name!r} (its parameters: {known})")
        try:
            out[name] = _coerce(value, declared[name])
        except _Mismatch as exc:
            raise PolicyParamError(
                f"{policy}'s {name} takes {exc.args[0]}, got {_shown(value)}"
                + (f" (a list of one: {name}=[{value}])" if isinstance(value, str) and "a list" in exc.args[0] else "")
            ) from None
    return out


def parse_policy_params(policy: str, items: Sequence[str]) -> dict[str, Any]:
    """``["share=0.8", "memcgs=[web]"]`` -> ``{"share": 0.8, "memcgs": ["web"]}``, typed for ``policy``.

    Raises:
        PolicyParamError: naming the ``NAME=VALUE`` item that is malformed, unknown or of the wrong type.
    """
    params: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise PolicyParamError(f"--param {item!r}: expected NAME=VALUE")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise PolicyParamError(f"--param {item}: the value is not valid YAML ({problem})") from None
        try:
            params.update(coerce_policy_params(policy, {key.strip(): value}))
        except PolicyParamError as exc:
            raise PolicyParamError(f"--param {item}: {exc}") from None
    return params
