"""Policies by name: the registry the CLI and the benchmark find policies in.

Policies register themselves with :func:`register_policy` (the baselines in ``agents/`` do), or
are declared by a third-party package in the ``zswap_gym.agents`` entry-point group::

    [project.entry-points."zswap_gym.agents"]
    my-policy = "my_package.policies:MyController"

The harness never imports a policy module itself: :func:`make_policy` looks the name up in what is
registered, then in the entry points (this distribution declares its own baselines there).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

ENTRY_POINT_GROUP = "zswap_gym.agents"


class UnknownPolicyError(KeyError):
    """No policy is registered or declared under this name."""

    def __str__(self) -> str:
        return str(self.args[0])


class PolicyLoadError(ImportError):
    """A policy's entry point names a module or object that cannot be imported."""


@dataclass(frozen=True)
class PolicySpec:
    """A registered policy: its name, how to build it, and what it is."""

    name: str
    factory: Callable[..., Any]
    summary: str = ""
    source: str = ""


_REGISTRY: dict[str, PolicySpec] = {}


def register_policy(name: str, factory: Callable[..., Any], summary: str = "", source: str = "") -> None:
    """Register ``factory`` (a class or a function returning a policy) under ``name``."""
    if not name or name != name.strip():
        raise ValueError(f"policy name {name!r}: must be a non-empty word")
    existing = _REGISTRY.get(name)
    if existing is not None and existing.factory is not factory:
        raise ValueError(f"policy {name!r} is already registered to {existing.factory!r}")
    _REGISTRY[name] = PolicySpec(name, factory, summary, source)


def doc_summary(obj: Any) -> str:
    """The first paragraph of ``obj``'s docstring on one line (a summary may wrap over several lines)."""
    doc = inspect.cleandoc(getattr(obj, "__doc__", "") or "")
    return " ".join(re.split(r"\n\s*\n", doc, maxsplit=1)[0].split())


def _entry_points() -> dict[str, Any]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def _load(name: str) -> PolicySpec | None:
    if name in _REGISTRY:
        return _REGISTRY[name]
    ep = _entry_points().get(name)
    if ep is None:
        return None
    try:
        factory = ep.load()  # importing the module may register the policy itself
    except (ImportError, AttributeError) as exc:
        raise PolicyLoadError(f"policy {name!r} is declared as {ep.value!r} but does not load: {exc}") from exc
    if name not in _REGISTRY:
        register_policy(name, factory, doc_summary(factory), getattr(factory, "source", ""))
    return _REGISTRY[name]


def policy_spec(name: str) -> PolicySpec:
    """The spec of policy ``name``; :class:`UnknownPolicyError` naming the known ones otherwise."""
    spec = _load(name)
    if spec is None:
        raise UnknownPolicyError(f"unknown policy {name!r}; known: {', '.join(list_policies())}")
    return spec


def make_policy(name: str, /, **kwargs: Any) -> Any:
    """A new instance of policy ``name`` with ``kwargs`` for its parameters."""
    return policy_spec(name).factory(**kwargs)


def list_policies() -> list[str]:
    """Every policy name registered or declared, sorted."""
    return sorted(set(_REGISTRY) | set(_entry_points()))
