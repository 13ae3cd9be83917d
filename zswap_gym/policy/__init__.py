"""Policies: the protocol the runner and benchmark drive, the registry they are found in, and
running one episode (:func:`run_episode`) with its summary (:class:`EpisodeSummary`)."""

from .base import ActionPolicy, CgroupController
from .registry import (
    ENTRY_POINT_GROUP,
    PolicyLoadError,
    PolicySpec,
    UnknownPolicyError,
    list_policies,
    make_policy,
    policy_spec,
    register_policy,
)
from .runner import EpisodeResult, plot_episode, run_episode
from .summary import SUMMARY_COLUMNS, EpisodeSummary, SummaryAccumulator

__all__ = [
    "ENTRY_POINT_GROUP",
    "SUMMARY_COLUMNS",
    "ActionPolicy",
    "CgroupController",
    "EpisodeResult",
    "EpisodeSummary",
    "PolicyLoadError",
    "PolicySpec",
    "SummaryAccumulator",
    "UnknownPolicyError",
    "list_policies",
    "make_policy",
    "plot_episode",
    "policy_spec",
    "register_policy",
    "run_episode",
]
