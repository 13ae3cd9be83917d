"""The default reward makes the offloading trade-off real (issue 3, point 4)."""

from __future__ import annotations

import numpy as np
import pytest

from zswap_gym.env.core import OffloadCore
from zswap_gym.env.reward import RewardConfig


def _episode_return(reclaim: float, writeback: float, seeds: tuple[int, ...] = (0, 1)) -> float:
    """Mean return of a constant action over one default-scenario episode."""
    core = OffloadCore("default", num_envs=len(seeds))
    core.reset(list(seeds))
    action = np.zeros((len(seeds), *core.action_shape))
    action[..., 0], action[..., 1] = reclaim, writeback
    total = np.zeros(len(seeds))
    for _ in range(core.max_episode_steps):
        _, reward, _, _, _ = core.step(action)
        total += reward
    return float(total.mean())


@pytest.fixture(scope="module")
def returns() -> dict[str, float]:
    return {
        "never": _episode_return(0.0, 0.0),
        "everything": _episode_return(1.0, 1.0),
        "moderate": _episode_return(0.3, 0.0),
    }


def test_never_offloading_is_not_near_the_best_return(returns: dict[str, float]) -> None:
    """Doing nothing saves no DRAM: a moderate reclaim rate must beat it clearly."""
    assert returns["never"] == pytest.approx(0.0, abs=1e-9)
    assert returns["moderate"] > returns["never"] + 50.0


def test_offloading_everything_every_step_is_not_near_the_best_return(returns: dict[str, float]) -> None:
    """Reclaiming and writing back the maximum every step thrashes: far below a moderate rate."""
    assert returns["everything"] < returns["moderate"] - 1000.0
    assert returns["everything"] < returns["never"]


def test_reward_terms_sum_to_the_reward_and_weights_are_recorded() -> None:
    """info carries each weighted term; they add up to the reward; reset info holds the weights."""
    core = OffloadCore("default", num_envs=2, reward=RewardConfig(w_stall=0.1))
    _, reset_info = core.reset([3, 4])
    assert reset_info["reward_weights"]["w_stall"] == 0.1
    action = np.full((2, *core.action_shape), 0.5)
    for _ in range(5):
        _, reward, _, _, info = core.step(action)
        terms = sum(v for k, v in info.items() if k.startswith("reward."))
        np.testing.assert_allclose(terms, reward, rtol=1e-12)


def test_invalid_reward_weight_is_rejected_by_name() -> None:
    with pytest.raises(ValueError, match="w_ssd"):
        RewardConfig(w_ssd=-1.0)
