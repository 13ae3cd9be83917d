"""The Stable-Baselines3 adapter (zswap_gym.env.sb3) and SB3's own env checker on the single env."""

from __future__ import annotations

import math
import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.env_checker import check_env
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import VecMonitor

import zswap_gym  # noqa: F401  (registers the env ids)
from zswap_gym.env import HostOffloadEnv, HostOffloadVectorEnv
from zswap_gym.env.sb3 import HostOffloadSB3VecEnv, make_sb3_vec_env

ENV_ID = "zswap_gym/HostOffload-v0"
HORIZON = 5


def _zero_actions(env) -> np.ndarray:
    return np.zeros((env.num_envs, *env.action_space.shape), dtype=np.float32)


def _random_actions(env, rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(-1.0, 1.0, (env.num_envs, *env.action_space.shape)).astype(np.float32)


def test_sb3_check_env_single_env():
    env = gym.make(ENV_ID, scenario="default").unwrapped
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # SB3's checker reports problems as warnings
        check_env(env, warn=True, skip_render_check=True)
    env.close()


def test_adapter_spaces_and_shapes():
    env = make_sb3_vec_env(num_envs=3, max_episode_steps=HORIZON)
    assert isinstance(env, HostOffloadSB3VecEnv)
    assert env.num_envs == 3
    single = gym.make(ENV_ID).unwrapped
    assert env.observation_space == single.observation_space
    assert env.action_space == single.action_space
    assert len(env.feature_names) == env.observation_space.shape[0]
    obs = env.reset()
    assert obs.shape == (3, *env.observation_space.shape) and obs.dtype == np.float32
    assert len(env.reset_infos) == 3 and all("episode_seed" in info for info in env.reset_infos)
    obs, rewards, dones, infos = env.step(_zero_actions(env))
    assert obs.shape == (3, *env.observation_space.shape) and obs.dtype == np.float32
    assert rewards.shape == (3,) and rewards.dtype == np.float32
    assert dones.shape == (3,) and dones.dtype == bool and not dones.any()
    assert isinstance(infos, list) and len(infos) == 3
    for info in infos:
        assert info["TimeLimit.truncated"] is False
        assert "terminal_observation" not in info
        assert all(np.isscalar(v) for v in info.values()), "per-host infos hold scalars only"
        assert {"dram_saved_bytes", "stall_s", "reward.dram"} <= info.keys()
    # Flattened actions (num_envs, M * 2) are accepted too.
    env.step(_zero_actions(env).reshape(3, -1))
    env.close()


def test_adapter_attributes():
    env = make_sb3_vec_env(num_envs=4, max_episode_steps=HORIZON, render_mode="ansi")
    assert env.render_mode == "ansi"
    assert env.get_attr("render_mode") == ["ansi"] * 4
    assert env.get_attr("num_envs", indices=[1, 3]) == [4, 4]
    assert env.has_attr("feature_names") and not env.has_attr("no_such_attribute")
    assert env.env_is_wrapped(Monitor) == [False] * 4
    assert env.env_is_wrapped(Monitor, indices=2) == [False]
    env.set_attr("some_flag", 7)
    assert env.get_attr("some_flag", indices=0) == [7]
    with pytest.raises(ValueError, match="subset"):
        env.set_attr("some_flag", 8, indices=[0])
    env.reset()
    env.step(_zero_actions(env))
    text = env.render()
    assert isinstance(text, str) and text
    assert env.env_method("render", indices=[0, 2]) == [text, text]
    env.close()


def test_adapter_wraps_existing_vector_env():
    venv = gym.make_vec(ENV_ID, num_envs=2, max_episode_steps=HORIZON)  # NEXT_STEP by default
    env = HostOffloadSB3VecEnv(venv)
    assert env.venv.autoreset_mode == gym.vector.AutoresetMode.SAME_STEP
    env.reset()
    for _ in range(HORIZON):
        _, _, dones, infos = env.step(_zero_actions(env))
    assert dones.all() and all("terminal_observation" in info for info in infos)
    with pytest.raises(TypeError):
        HostOffloadSB3VecEnv(HostOffloadVectorEnv(2), num_envs=2)
    with pytest.raises(ValueError, match="SAME_STEP"):
        HostOffloadSB3VecEnv(num_envs=2, autoreset_mode="NextStep")


def test_terminal_observation_at_horizon():
    """Episode end: done, TimeLimit.truncated, terminal_observation = the single env's last observation,
    and the returned observation is the next episode's first (as the single env's next reset gives)."""
    n, seed = 3, 11
    env = make_sb3_vec_env(num_envs=n, max_episode_steps=HORIZON)
    env.seed(seed)
    env.reset()
    rng = np.random.default_rng(0)
    actions = [_random_actions(env, rng) for _ in range(HORIZON)]
    for t, action in enumerate(actions):
        obs, rewards, dones, infos = env.step(action)
        assert dones.all() == (t == HORIZON - 1) and dones.any() == dones.all()
    for i, info in enumerate(infos):
        assert info["TimeLimit.truncated"] is True
        terminal = info["terminal_observation"]
        assert terminal.shape == env.observation_space.shape and terminal.dtype == np.float32
        assert env.observation_space.contains(terminal)
        # (gym.make(..., max_episode_steps=...) would add a TimeLimit wrapper instead of passing it on.)
        single = HostOffloadEnv(max_episode_steps=HORIZON)
        single.reset(seed=seed + i)
        for t, action in enumerate(actions):
            last, reward, terminated, truncated, _ = single.step(action[i])
            assert terminated is False and truncated == (t == HORIZON - 1)
        np.testing.assert_array_equal(terminal, last)
        assert reward == pytest.approx(float(rewards[i]), rel=1e-6, abs=1e-6)
        first, _ = single.reset()
        np.testing.assert_array_equal(obs[i], first)
        assert not np.array_equal(obs[i], terminal)
    # The next step continues the new episode.
    _, _, dones, infos = env.step(_zero_actions(env))
    assert not dones.any() and all("terminal_observation" not in info for info in infos)
    env.close()


def test_seeding_reproducible():
    def first_obs_and_rollout(seed: int) -> tuple[np.ndarray, np.ndarray]:
        env = make_sb3_vec_env(num_envs=2, max_episode_steps=HORIZON)
        assert env.seed(seed) == [seed, seed + 1]
        obs = env.reset()
        assert env._seeds == [None, None], "seeds are consumed by the reset"
        rng = np.random.default_rng(1)
        rewards = [env.step(_random_actions(env, rng))[1] for _ in range(HORIZON + 2)]
        env.close()
        return obs, np.stack(rewards)

    obs_a, rew_a = first_obs_and_rollout(5)
    obs_b, rew_b = first_obs_and_rollout(5)
    np.testing.assert_array_equal(obs_a, obs_b)
    np.testing.assert_array_equal(rew_a, rew_b)
    # Host i gets seed + i, as the single env reset with that seed.
    for i in range(2):
        single_obs, _ = gym.make(ENV_ID).unwrapped.reset(seed=5 + i)
        np.testing.assert_array_equal(obs_a[i], single_obs)
    obs_c, _ = first_obs_and_rollout(6)
    assert not np.array_equal(obs_a, obs_c)
    np.testing.assert_array_equal(obs_a[1], obs_c[0])  # 5 + 1 == 6 + 0


def test_vec_monitor_episode_statistics():
    env = VecMonitor(make_sb3_vec_env(num_envs=2, max_episode_steps=HORIZON))
    env.reset()
    total = np.zeros(2)
    for t in range(HORIZON):
        _, rewards, dones, infos = env.step(_zero_actions(env))
        total += rewards
        if t < HORIZON - 1:
            assert all("episode" not in info for info in infos)
    assert dones.all()
    for i, info in enumerate(infos):
        episode = info["episode"]
        assert episode["l"] == HORIZON
        assert episode["r"] == pytest.approx(total[i], rel=1e-5, abs=1e-5)
        assert "terminal_observation" in info and info["TimeLimit.truncated"]
    monitored = make_sb3_vec_env(num_envs=2, max_episode_steps=HORIZON, monitor=True)
    assert isinstance(monitored, VecMonitor)
    env.close()


def test_ppo_trains_on_the_adapter_with_finite_returns_and_parameters():
    """SB3 PPO runs 2,000 timesteps on the adapter under ``VecMonitor`` (4 hosts, 32-step episodes),
    its evaluation returns are finite and so are its parameters. Its speed is measured by
    ``benchmarks/env_speed.py``, not here."""
    torch.set_num_threads(1)
    env = make_sb3_vec_env(num_envs=4, max_episode_steps=32, monitor=True)
    model = PPO("MlpPolicy", env, n_steps=64, batch_size=64, seed=0, device="cpu")
    model.learn(total_timesteps=2_000)
    assert model.num_timesteps >= 2_000
    mean_return, std_return = evaluate_policy(model, env, n_eval_episodes=2)
    assert math.isfinite(mean_return) and math.isfinite(std_return)
    assert all(math.isfinite(p.detach().abs().sum().item()) for p in model.policy.parameters())
    env.close()
