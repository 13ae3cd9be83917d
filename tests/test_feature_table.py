"""The env's manual states its observation: the docstring's feature table and sizes are the features'."""

from __future__ import annotations

import inspect
import re

import gymnasium as gym
import pytest

import zswap_gym  # noqa: F401  (registers the environments)
from zswap_gym.env import ENV_IDS, HostOffloadEnv
from zswap_gym.env.features import feature_table

ENV_ID = ENV_IDS[0]


def table_rows(doc: str) -> list[list[str]]:
    """The cells of the docstring's feature table (the rows after its header)."""
    lines = [line.strip() for line in doc.splitlines()]
    start = lines.index("| index | feature | meaning | normalisation | kernel source |") + 2
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def test_the_docstring_table_is_the_features_table():
    doc = inspect.getdoc(HostOffloadEnv)
    assert feature_table("full", 8) in doc
    assert "{" + "feature_table}" not in doc and "{" + "size_full}" not in doc


def test_the_docstring_table_names_the_default_envs_features_in_order():
    """Slot 0's rows and the host rows, in table order, are the observation's first slot and host
    features, and the host rows' indices are their positions in the observation."""
    names = gym.make(ENV_ID).unwrapped.feature_names
    rows = table_rows(inspect.getdoc(HostOffloadEnv))
    slot_rows = [row for row in rows if row[0].startswith("slot*")]
    host_rows = [row for row in rows if row[1].startswith("host.")]
    assert len(slot_rows) + len(host_rows) == len(rows)
    slot_names = [name.split(".", 1)[1] for name in names if not name.startswith("host.")]
    assert [row[1] for row in slot_rows] == slot_names[: len(slot_rows)]
    assert all(row[0] == f"slot*{len(slot_rows)} + {i}" for i, row in enumerate(slot_rows))
    assert [(int(row[0]), row[1]) for row in host_rows] == [
        (i, name) for i, name in enumerate(names) if name.startswith("host.")
    ]


@pytest.mark.parametrize("observation", ["full", "kernel"])
def test_the_docstring_states_the_observation_length(observation):
    doc = " ".join(inspect.getdoc(HostOffloadEnv).split())
    stated = re.search(rf'observation="{observation}"``.*?D = (\d+) x (\d+) \+ (\d+) = (\d+)', doc)
    assert stated is not None
    slots, per_slot, host, total = map(int, stated.groups())
    env = gym.make(ENV_ID, observation=observation)
    assert slots * per_slot + host == total == env.observation_space.shape[0]
