"""The Gymnasium environments (issue 3, "Tests"): API conformance, registration, vector env ≡ single env,
observation bounds, action validation, save/restore, episodes and autoreset, episode statistics, info.

Trajectories are compared bit for bit (``assert_array_equal``, exact rewards): the single env and the
vector env are driven by the same batched simulator code, so any difference is a bug, not noise.
Episodes are kept short (``max_episode_steps`` of the env itself) so the file runs in seconds.
"""

from __future__ import annotations

import copy
import dataclasses
import pickle
import shutil
import time
import warnings

import gymnasium as gym
import numpy as np
import pytest
import yaml
from gymnasium.utils.env_checker import check_env
from gymnasium.vector import AutoresetMode, SyncVectorEnv

import zswap_gym  # noqa: F401  (registers the environments)
from zswap_gym.env import ENV_IDS, ActionError, HostOffloadEnv, HostOffloadVectorEnv
from zswap_gym.sim import list_scenarios, load_scenario
from zswap_gym.sim.metrics import STALL_SOURCES
from zswap_gym.sim.scenario_io import SCENARIO_DIR_ENV, scenario_dir

ENV_ID = ENV_IDS[0]
SCENARIOS = list_scenarios()
SEED = 1234
GiB = 1 << 30

PER_STEP_METRICS = (
    "dram_saved_bytes",
    "stall_s",
    *(f"stall_s.{source}" for source in STALL_SOURCES),
    "refault_pages",
    "cpu_s",
    "swap_bytes_written",
    "psi_some_avg10",
    "promotion_rate_per_min",
)


# ------------------------------------------------------------------------------------------------
# Helpers
# ------------------------------------------------------------------------------------------------


def single_env(scenario: str = "default", max_episode_steps: int | None = None, **kwargs) -> HostOffloadEnv:
    """The single env with its own horizon (``gym.make``'s ``max_episode_steps`` adds a TimeLimit instead)."""
    return HostOffloadEnv(scenario=scenario, max_episode_steps=max_episode_steps, **kwargs)


def vector_env(num_envs: int, max_episode_steps: int | None = None, **kwargs) -> HostOffloadVectorEnv:
    env = gym.make_vec(
        ENV_ID,
        num_envs=num_envs,
        vectorization_mode="vector_entry_point",
        max_episode_steps=max_episode_steps,
        **kwargs,
    )
    assert isinstance(env, HostOffloadVectorEnv)
    return env


def random_actions(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Uniform in [-1, 1], so about half the values act (> 0) and half do nothing."""
    return rng.uniform(-1.0, 1.0, size=shape).astype(np.float32)


def progress_index(env) -> int:
    return env.unwrapped.feature_names.index("host.episode_progress")


def host_info(vector_info: dict, i: int) -> dict:
    """Host ``i``'s slice of a vector info (``_mask`` keys dropped)."""
    out = {}
    for key, value in vector_info.items():
        if key.startswith("_"):
            continue
        if isinstance(value, dict):
            out[key] = host_info(value, i)
        else:
            out[key] = np.asarray(value)[i]
    return out


def assert_info_equal(actual: dict, expected: dict, ignore: tuple[str, ...] = ()) -> None:
    keys_a = set(actual) - set(ignore)
    keys_e = set(expected) - set(ignore)
    assert keys_a == keys_e, f"info keys differ: only in actual {keys_a - keys_e}, only in expected {keys_e - keys_a}"
    for key in sorted(keys_e):
        a, e = actual[key], expected[key]
        if isinstance(e, dict):
            assert isinstance(a, dict), key
            assert_info_equal(a, e)
        else:
            np.testing.assert_array_equal(a, e, err_msg=f"info[{key!r}]")


def assert_single_step_equal(a: tuple, b: tuple) -> None:
    """Two single-env step results (obs, reward, terminated, truncated, info), bit for bit."""
    np.testing.assert_array_equal(a[0], b[0], err_msg="obs")
    assert a[1] == b[1], f"reward {a[1]!r} != {b[1]!r}"
    assert a[2] == b[2] and a[3] == b[3], "terminated/truncated"
    assert_info_equal(a[4], b[4])


def assert_vector_step_equal(a: tuple, b: tuple) -> None:
    for j, name in enumerate(("obs", "reward", "terminated", "truncated")):
        np.testing.assert_array_equal(a[j], b[j], err_msg=name)
    assert_info_equal(a[4], b[4])


def check_info_key_sets(single: dict, vector: dict) -> None:
    """The vector info has every per-step key the single env has (the single env adds the weights)."""
    vector_keys = {k for k in vector if not k.startswith("_")}
    assert set(single) - {"reward_weights"} <= vector_keys, set(single) - vector_keys


@pytest.fixture
def variant_scenario_dir(tmp_path, monkeypatch):
    """A scenario directory holding the shipped scenarios plus ``variant``: the default scenario with a
    smaller web tenant (6 GiB instead of 10 GiB) and a 7-step episode, selectable by name."""
    for path in scenario_dir().glob("*.yaml"):
        shutil.copy(path, tmp_path / path.name)
    data = yaml.safe_load((scenario_dir() / "default.yaml").read_text(encoding="utf-8"))
    data["name"] = "variant"
    data["episode_steps"] = 7
    data["tenants"][0]["workload"]["size_bytes"] = "6G"
    (tmp_path / "variant.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    monkeypatch.setenv(SCENARIO_DIR_ENV, str(tmp_path))
    assert "variant" in list_scenarios()
    return tmp_path


# ------------------------------------------------------------------------------------------------
# Gymnasium's checker and registration
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("env_id", ENV_IDS)
def test_check_env_passes_on_every_registered_id_and_scenario(env_id, scenario):
    env = gym.make(env_id, scenario=scenario).unwrapped
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env)
    assert not caught, [f"{w.filename}: {w.message}" for w in caught]
    env.close()


@pytest.mark.parametrize("observation", ["full", "kernel"])
def test_check_env_passes_in_both_observation_modes(observation):
    env = gym.make(ENV_ID, observation=observation).unwrapped
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env)
    assert not caught, [f"{w.filename}: {w.message}" for w in caught]


def test_gymnasium_make_builds_the_single_env_for_a_named_scenario():
    for scenario in SCENARIOS:
        env = gym.make(ENV_ID, scenario=scenario)
        assert isinstance(env.unwrapped, HostOffloadEnv)
        assert env.unwrapped.core.scenario.name == scenario
        obs, info = env.reset(seed=SEED)
        assert env.observation_space.contains(obs)
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        assert env.observation_space.contains(obs)
        assert isinstance(reward, float) and np.isfinite(reward)


@pytest.mark.parametrize("num_envs", [1, 3])
def test_make_vec_vector_entry_point_returns_native_vector_env(num_envs):
    env = gym.make_vec(ENV_ID, num_envs=num_envs, vectorization_mode="vector_entry_point")
    assert isinstance(env, HostOffloadVectorEnv)
    assert not isinstance(env, SyncVectorEnv)
    assert env.num_envs == num_envs
    obs, info = env.reset(seed=SEED)
    assert obs.shape == (num_envs, *env.single_observation_space.shape)
    assert env.observation_space.contains(obs)
    obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
    assert env.observation_space.contains(obs)
    assert reward.shape == terminated.shape == truncated.shape == (num_envs,)


def test_make_vec_defaults_to_the_vector_entry_point():
    env = gym.make_vec(ENV_ID, num_envs=2)
    assert isinstance(env, HostOffloadVectorEnv)


def test_make_vec_passes_the_scenario_by_name(variant_scenario_dir):
    env = vector_env(2, scenario="variant")
    assert env.core.scenario.name == "variant"
    assert env.core.max_episode_steps == 7


def test_scenario_chosen_by_make_kwarg(variant_scenario_dir):
    default = gym.make(ENV_ID, scenario="default")
    variant = gym.make(ENV_ID, scenario="variant")
    assert variant.unwrapped.core.scenario.name == "variant"
    obs_default, _ = default.reset(seed=SEED)
    obs_variant, _ = variant.reset(seed=SEED)
    web_current = variant.unwrapped.feature_names.index("web.memory_current")
    assert obs_variant[web_current] < obs_default[web_current]  # 6 GiB tenant instead of 10 GiB


def test_scenario_chosen_by_reset_option_on_single_env(variant_scenario_dir):
    env = gym.make(ENV_ID, scenario="default")
    fresh_variant = gym.make(ENV_ID, scenario="variant")
    obs, _ = env.reset(seed=SEED, options={"scenario": "variant"})
    assert env.unwrapped.core.scenario.name == "variant"
    expected, _ = fresh_variant.reset(seed=SEED)
    np.testing.assert_array_equal(obs, expected)
    # the variant's own horizon (7 steps) applies after the switch
    for step in range(1, 8):
        *_, truncated, _ = env.step(np.zeros(env.action_space.shape, np.float32))
        assert truncated == (step == 7)
    obs, _ = env.reset(seed=SEED, options={"scenario": "default"})
    assert env.unwrapped.core.scenario.name == "default"
    expected, _ = gym.make(ENV_ID, scenario="default").reset(seed=SEED)
    np.testing.assert_array_equal(obs, expected)


def test_scenario_chosen_by_reset_option_on_vector_env(variant_scenario_dir):
    env = vector_env(2, scenario="default")
    obs, _ = env.reset(seed=SEED, options={"scenario": "variant"})
    assert env.core.scenario.name == "variant", "reset(options={'scenario': ...}) was ignored by the vector env"
    expected, _ = vector_env(2, scenario="variant").reset(seed=SEED)
    np.testing.assert_array_equal(obs, expected)


def test_reset_option_scenario_accepts_a_scenario_config():
    base = load_scenario("default")
    web = base.tenants[0]
    small_web = dataclasses.replace(web, workload=dataclasses.replace(web.workload, size_bytes=6 * GiB))
    variant = dataclasses.replace(base, name="variant_cfg", tenants=(small_web, *base.tenants[1:]))
    env = gym.make(ENV_ID)
    env.reset(seed=SEED, options={"scenario": variant})
    assert env.unwrapped.core.scenario.name == "variant_cfg"


def test_make_episode_steps_sets_the_env_horizon():
    """``gymnasium.make(id, episode_steps=N)`` truncates at N, and the observation's
    ``episode_progress`` agrees with that horizon (reaches 1 at the truncating step).
    (``max_episode_steps`` is consumed by ``gymnasium.make`` for its TimeLimit wrapper.)"""
    n = 5
    env = gym.make(ENV_ID, episode_steps=n)
    env.reset(seed=SEED)
    idx = progress_index(env)
    for step in range(1, n + 1):
        obs, _, terminated, truncated, _ = env.step(np.zeros(env.action_space.shape, np.float32))
        assert truncated == (step == n) and not terminated
    assert obs[idx] == pytest.approx(1.0), (
        f"episode_progress = {obs[idx]} at truncation after {n} steps: the env's horizon is "
        f"{env.unwrapped.core.max_episode_steps}, not gymnasium.make's max_episode_steps = {n}"
    )


# ------------------------------------------------------------------------------------------------
# Vector env ≡ single env
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed_form", ["int", "list"])
def test_vector_host_i_reproduces_single_env_with_seed_plus_i(seed_form):
    n, steps = 4, 20
    venv = vector_env(n)
    seeds = [SEED + i for i in range(n)] if seed_form == "list" else SEED
    vobs, vinfo = venv.reset(seed=seeds)
    singles = [gym.make(ENV_ID) for _ in range(n)]
    resets = [env.reset(seed=SEED + i) for i, env in enumerate(singles)]
    for i, (obs, info) in enumerate(resets):
        np.testing.assert_array_equal(vobs[i], obs, err_msg=f"reset obs of host {i}")
        assert_info_equal(host_info(vinfo, i), info)
    rng = np.random.default_rng(7)
    for step in range(steps):
        actions = random_actions(rng, venv.action_space.shape)
        vobs, vrew, vterm, vtrunc, vinfo = venv.step(actions)
        for i, env in enumerate(singles):
            obs, rew, term, trunc, info = env.step(actions[i])
            where = f"host {i}, step {step}"
            np.testing.assert_array_equal(vobs[i], obs, err_msg=f"obs, {where}")
            assert vrew[i] == rew, f"reward {vrew[i]!r} != {rew!r}, {where}"
            assert (vterm[i], vtrunc[i]) == (term, trunc), where
            check_info_key_sets(info, vinfo)
            assert_info_equal(host_info(vinfo, i), info, ignore=("reward_weights",))


def test_host0_trajectory_is_identical_for_1_2_and_8_envs():
    steps = 20
    trajectories = {}
    for n in (1, 2, 8):
        env = vector_env(n)
        obs, info = env.reset(seed=SEED)
        host0_actions = np.random.default_rng(11)
        others = np.random.default_rng(100 + n)  # the other hosts act differently in every batch size
        record = [(obs[0].copy(), host_info(info, 0))]
        for _ in range(steps):
            actions = random_actions(others, env.action_space.shape)
            actions[0] = random_actions(host0_actions, env.single_action_space.shape)
            obs, reward, terminated, truncated, info = env.step(actions)
            record.append((obs[0].copy(), reward[0], terminated[0], truncated[0], host_info(info, 0)))
        trajectories[n] = record
    for n in (2, 8):
        for step, (a, b) in enumerate(zip(trajectories[n], trajectories[1], strict=True)):
            np.testing.assert_array_equal(a[0], b[0], err_msg=f"num_envs={n}, step {step}: obs")
            assert a[1:-1] == b[1:-1], f"num_envs={n}, step {step}: reward/flags"
            assert_info_equal(a[-1], b[-1])


# ------------------------------------------------------------------------------------------------
# Observations stay finite and inside the space
# ------------------------------------------------------------------------------------------------


POLICIES = {
    "random": lambda rng, step, shape: random_actions(rng, shape),
    "all_minus_one": lambda rng, step, shape: np.full(shape, -1.0, np.float32),
    "all_plus_one": lambda rng, step, shape: np.full(shape, 1.0, np.float32),
    "alternating": lambda rng, step, shape: np.full(shape, 1.0 if step % 2 == 0 else -1.0, np.float32),
}


@pytest.mark.parametrize("policy", sorted(POLICIES))
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_observations_stay_finite_and_in_space_for_a_full_episode(scenario, policy):
    horizon = 40
    env = single_env(scenario, max_episode_steps=horizon)
    obs, _ = env.reset(seed=SEED)
    assert obs.dtype == np.float32 and np.isfinite(obs).all() and env.observation_space.contains(obs)
    rng = np.random.default_rng(3)
    for step in range(horizon):
        obs, reward, terminated, truncated, info = env.step(POLICIES[policy](rng, step, env.action_space.shape))
        assert obs.dtype == np.float32 and obs.shape == env.observation_space.shape
        assert np.isfinite(obs).all(), f"non-finite features at step {step}: " + str(
            [env.feature_names[j] for j in np.flatnonzero(~np.isfinite(obs))]
        )
        assert env.observation_space.contains(obs), f"step {step}: " + str(
            [(env.feature_names[j], float(obs[j])) for j in np.flatnonzero((obs < 0) | (obs > 1))]
        )
        assert np.isfinite(reward), f"reward {reward} at step {step}"
        assert not terminated
        assert truncated == (step == horizon - 1)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_observations_stay_in_space_over_the_scenario_horizon(scenario):
    """The scenario's own (long) episode, one host per action pattern, in one vector env."""
    env = vector_env(len(POLICIES), scenario=scenario)
    horizon = env.core.max_episode_steps
    obs, _ = env.reset(seed=SEED)
    rng = np.random.default_rng(4)
    shape = env.single_action_space.shape
    for step in range(horizon):
        actions = np.stack([POLICIES[name](rng, step, shape) for name in sorted(POLICIES)])
        obs, reward, terminated, truncated, _ = env.step(actions)
        assert np.isfinite(obs).all() and env.observation_space.contains(obs), f"step {step}"
        assert np.isfinite(reward).all() and not terminated.any()
        assert truncated.all() == (step == horizon - 1)


# ------------------------------------------------------------------------------------------------
# Actions: validation, clipping, "do nothing"
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(), (8,), (16,), (8, 3), (9, 2), (7, 2), (1, 8, 2), (8, 2, 1)])
def test_wrong_action_shape_raises_action_error_naming_the_shape(shape):
    env = gym.make(ENV_ID)
    env.reset(seed=SEED)
    with pytest.raises(ActionError, match="shape") as excinfo:
        env.step(np.zeros(shape, np.float32))
    assert "8, 2)" in str(excinfo.value), f"message does not give the expected shape: {excinfo.value}"


@pytest.mark.parametrize("shape", [(8, 2), (3, 8, 2), (2, 8, 3), (2, 16)])
def test_wrong_action_shape_on_vector_env_raises_action_error(shape):
    env = vector_env(2)
    env.reset(seed=SEED)
    with pytest.raises(ActionError, match="shape"):
        env.step(np.zeros(shape, np.float32))


@pytest.mark.parametrize(("bad", "word"), [(np.nan, "nan"), (np.inf, "inf"), (-np.inf, "inf")])
@pytest.mark.parametrize("kind", ["single", "vector"])
def test_non_finite_action_raises_action_error_naming_the_value(kind, bad, word):
    env = gym.make(ENV_ID) if kind == "single" else vector_env(2)
    env.reset(seed=SEED)
    action = np.zeros(env.action_space.shape, np.float32)
    action[..., 1, 0] = bad
    with pytest.raises(ActionError) as excinfo:
        env.step(action)
    message = str(excinfo.value).lower()
    assert word in message, f"message does not name the bad value: {excinfo.value}"
    assert "finite" in message or "nan" in message


def test_non_numeric_action_raises_action_error():
    env = gym.make(ENV_ID)
    env.reset(seed=SEED)
    with pytest.raises(ActionError):
        env.step([["a", "b"]] * 8)


def test_rejected_action_leaves_the_env_untouched():
    env, twin = gym.make(ENV_ID), gym.make(ENV_ID)
    env.reset(seed=SEED)
    twin.reset(seed=SEED)
    action = np.full(env.action_space.shape, 0.5, np.float32)
    bad = action.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ActionError):
        env.step(bad)
    with pytest.raises(ActionError):
        env.step(action[:4])
    assert_single_step_equal(env.step(action), twin.step(action))


@pytest.mark.parametrize(("outside", "inside"), [(5.0, 1.0), (-3.0, -1.0), (1.0001, 1.0), (-1e9, -1.0)])
def test_out_of_range_actions_are_clipped_to_the_box(outside, inside):
    env, reference = single_env(), single_env()
    env.reset(seed=SEED)
    reference.reset(seed=SEED)
    shape = env.action_space.shape
    for _ in range(6):
        assert_single_step_equal(
            env.step(np.full(shape, outside, np.float32)), reference.step(np.full(shape, inside, np.float32))
        )


def test_out_of_range_values_are_clipped_elementwise():
    env, reference = single_env(), single_env()
    env.reset(seed=SEED)
    reference.reset(seed=SEED)
    rng = np.random.default_rng(5)
    for _ in range(6):
        action = rng.uniform(-4.0, 4.0, size=env.action_space.shape).astype(np.float32)
        assert_single_step_equal(env.step(action), reference.step(np.clip(action, -1.0, 1.0)))


def test_zero_action_does_nothing():
    env = gym.make(ENV_ID)
    env.reset(seed=SEED)
    zeros = np.zeros(env.action_space.shape, np.float32)
    for step in range(10):
        *_, info = env.step(zeros)
        for key in ("reclaimed_pages", "written_back_pages", "reclaim_requested_bytes", "writeback_requested_bytes"):
            assert np.all(np.asarray(info[key]) == 0), f"step {step}: info[{key!r}] = {info[key]}"
    # the check is not vacuous: full actions do reclaim
    reclaimed = 0
    for _ in range(3):
        *_, info = env.step(np.ones(env.action_space.shape, np.float32))
        reclaimed += np.sum(info["reclaimed_pages"])
    assert reclaimed > 0


def test_negative_actions_equal_zero_action():
    env, reference = single_env(), single_env()
    env.reset(seed=SEED)
    reference.reset(seed=SEED)
    rng = np.random.default_rng(9)
    for _ in range(6):
        negative = -rng.uniform(0.0, 1.0, size=env.action_space.shape).astype(np.float32)
        assert_single_step_equal(env.step(negative), reference.step(np.zeros_like(negative)))


def test_actions_of_unused_slots_are_ignored():
    env, reference = single_env(), single_env()
    env.reset(seed=SEED)
    reference.reset(seed=SEED)
    used = len(env.core.scenario.tenants)
    rng = np.random.default_rng(13)
    for _ in range(6):
        action = random_actions(rng, env.action_space.shape)
        masked = action.copy()
        masked[used:] = rng.uniform(-1.0, 1.0, size=masked[used:].shape)
        assert_single_step_equal(env.step(masked), reference.step(action))


# ------------------------------------------------------------------------------------------------
# Save/restore mid-episode
# ------------------------------------------------------------------------------------------------


COPIERS = {"pickle": lambda env: pickle.loads(pickle.dumps(env)), "deepcopy": copy.deepcopy}


@pytest.mark.parametrize("copier", sorted(COPIERS))
def test_single_env_restored_mid_episode_continues_bit_for_bit(copier):
    env = gym.make(ENV_ID)
    env.reset(seed=SEED)
    rng = np.random.default_rng(21)
    for _ in range(7):
        env.step(random_actions(rng, env.action_space.shape))
    clone = COPIERS[copier](env)
    for _ in range(10):
        action = random_actions(rng, env.action_space.shape)
        assert_single_step_equal(env.step(action), clone.step(action))
    # the seed stream is restored too: the next unseeded episode is the same
    a, b = env.reset(), clone.reset()
    np.testing.assert_array_equal(a[0], b[0])
    assert_info_equal(a[1], b[1])
    for _ in range(3):
        action = random_actions(rng, env.action_space.shape)
        assert_single_step_equal(env.step(action), clone.step(action))


@pytest.mark.parametrize("copier", sorted(COPIERS))
def test_vector_env_restored_mid_episode_continues_bit_for_bit(copier):
    env = vector_env(3, max_episode_steps=12)
    env.reset(seed=SEED)
    rng = np.random.default_rng(22)
    for _ in range(7):
        env.step(random_actions(rng, env.action_space.shape))
    clone = COPIERS[copier](env)
    assert isinstance(clone, HostOffloadVectorEnv)
    for _ in range(10):  # crosses the end of the episode and the autoreset
        action = random_actions(rng, env.action_space.shape)
        assert_vector_step_equal(env.step(action), clone.step(action))


# ------------------------------------------------------------------------------------------------
# Episodes: truncation and autoreset
# ------------------------------------------------------------------------------------------------


def test_single_env_truncates_exactly_at_max_episode_steps_and_never_terminates():
    horizon = 6
    env = single_env(max_episode_steps=horizon)
    env.reset(seed=SEED)
    idx = progress_index(env)
    rng = np.random.default_rng(1)
    for step in range(1, horizon + 1):
        obs, _, terminated, truncated, _ = env.step(random_actions(rng, env.action_space.shape))
        assert terminated is False
        assert truncated is (step == horizon)
        assert obs[idx] == pytest.approx(step / horizon)


def test_default_horizon_is_the_scenario_episode_steps():
    for scenario in SCENARIOS:
        env = single_env(scenario)
        assert env.core.max_episode_steps == load_scenario(scenario).episode_steps


def test_vector_env_truncates_exactly_at_max_episode_steps_and_never_terminates():
    horizon, n = 5, 3
    env = vector_env(n, max_episode_steps=horizon)
    env.reset(seed=SEED)
    rng = np.random.default_rng(2)
    for step in range(1, horizon + 1):
        _, _, terminated, truncated, _ = env.step(random_actions(rng, env.action_space.shape))
        assert not terminated.any()
        assert (truncated == (step == horizon)).all(), f"step {step}: truncated = {truncated}"


def test_next_step_autoreset_returns_reset_obs_with_zero_reward_then_continues_like_a_reset_single_env():
    horizon, n = 4, 3
    env = vector_env(n, max_episode_steps=horizon)
    assert env.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    env.reset(seed=SEED)
    singles = [single_env(max_episode_steps=horizon) for _ in range(n)]
    for i, single in enumerate(singles):
        single.reset(seed=SEED + i)
    rng = np.random.default_rng(4)
    for _ in range(horizon):
        action = random_actions(rng, env.action_space.shape)
        _, _, _, truncated, _ = env.step(action)
        for i, single in enumerate(singles):
            single.step(action[i])
    assert truncated.all()
    # the step after truncation: reset obs, reward 0, flags False; the action is ignored
    obs, reward, terminated, truncated, _ = env.step(np.ones(env.action_space.shape, np.float32))
    np.testing.assert_array_equal(reward, 0.0)
    assert not terminated.any() and not truncated.any()
    np.testing.assert_array_equal(obs[:, progress_index(env)], 0.0)
    for i, single in enumerate(singles):
        reset_obs, _ = single.reset()  # next episode: seed drawn from the host's stream
        np.testing.assert_array_equal(obs[i], reset_obs, err_msg=f"host {i}: autoreset obs")
    # and the new episode continues step for step like the single env's
    for step in range(horizon):
        action = random_actions(rng, env.action_space.shape)
        obs, reward, terminated, truncated, info = env.step(action)
        for i, single in enumerate(singles):
            s_obs, s_rew, s_term, s_trunc, s_info = single.step(action[i])
            np.testing.assert_array_equal(obs[i], s_obs, err_msg=f"host {i}, step {step} of episode 2")
            assert reward[i] == s_rew and truncated[i] == s_trunc and terminated[i] == s_term
            assert_info_equal(host_info(info, i), s_info, ignore=("reward_weights",))


def test_next_step_autoreset_step_reports_no_phantom_step_in_info():
    """The autoreset step ignores the action and returns the reset observation with reward 0; its info
    must not report metrics of a step that did not count (e.g. pages reclaimed by the ignored action),
    or sums of info metrics over a run include a phantom step per episode. Either the restarted hosts'
    entries are masked out (``info["_<key>"]`` False, as Gymnasium's vector envs mark absent values)
    or they describe no step at all."""
    horizon, n = 3, 2
    env = vector_env(n, max_episode_steps=horizon)
    env.reset(seed=SEED)
    ones = np.ones(env.action_space.shape, np.float32)
    for _ in range(horizon):
        env.step(ones)
    _, reward, _, _, info = env.step(ones)  # the autoreset step
    np.testing.assert_array_equal(reward, 0.0)
    reported = {}
    for key in ("sim_time_s", "reclaimed_pages", *(k for k in info if k.startswith("reward."))):
        if key in info and np.any(info.get(f"_{key}", True)):
            reported[key] = np.asarray(info[key])[np.asarray(info.get(f"_{key}", np.ones(n, bool)))]
    phantom = {k: v.tolist() for k, v in reported.items() if np.any(v != 0)}
    assert not phantom, f"info of the autoreset step reports a step that did not count: {phantom}"


def test_same_step_autoreset_mode_passes_through_make_vec():
    env = vector_env(2, autoreset_mode=AutoresetMode.SAME_STEP)
    assert env.autoreset_mode == AutoresetMode.SAME_STEP
    assert env.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP


def test_same_step_autoreset_gives_final_obs_and_final_info_on_the_ending_step():
    horizon, n = 4, 3
    env = vector_env(n, max_episode_steps=horizon, autoreset_mode=AutoresetMode.SAME_STEP)
    env.reset(seed=SEED)
    singles = [single_env(max_episode_steps=horizon) for _ in range(n)]
    for i, single in enumerate(singles):
        single.reset(seed=SEED + i)
    rng = np.random.default_rng(6)
    for step in range(1, horizon + 1):
        action = random_actions(rng, env.action_space.shape)
        obs, reward, terminated, truncated, info = env.step(action)
        expected = [single.step(action[i]) for i, single in enumerate(singles)]
        if step < horizon:
            assert "final_obs" not in info and "final_info" not in info
    assert truncated.all() and not terminated.any()
    assert info["_final_obs"].all() and info["_final_info"].all()
    for i, (s_obs, s_rew, _, s_trunc, s_info) in enumerate(expected):
        np.testing.assert_array_equal(info["final_obs"][i], s_obs, err_msg=f"host {i}: final_obs")
        assert reward[i] == s_rew and truncated[i] == s_trunc
        final_info = host_info(info["final_info"], i)
        assert_info_equal(final_info, s_info, ignore=("reward_weights", "final_obs"))
        reset_obs, _ = singles[i].reset()
        np.testing.assert_array_equal(obs[i], reset_obs, err_msg=f"host {i}: obs after the same-step reset")
    # no zero-reward step: the next step is the new episode's first
    action = random_actions(rng, env.action_space.shape)
    obs, reward, terminated, truncated, info = env.step(action)
    assert "final_obs" not in info
    for i, single in enumerate(singles):
        s_obs, s_rew, _, _, s_info = single.step(action[i])
        np.testing.assert_array_equal(obs[i], s_obs)
        assert reward[i] == s_rew
        assert_info_equal(host_info(info, i), s_info, ignore=("reward_weights",))


def test_same_step_final_info_is_the_ending_step_info_only():
    """``final_info`` is the info the ending step would have returned: the per-step metrics, not the
    autoreset bookkeeping (``final_obs``) added beside them."""
    env = vector_env(2, max_episode_steps=2, autoreset_mode=AutoresetMode.SAME_STEP)
    env.reset(seed=SEED)
    zeros = np.zeros(env.action_space.shape, np.float32)
    *_, first_info = env.step(zeros)
    *_, info = env.step(zeros)
    assert set(info["final_info"]) == {k for k in first_info if not k.startswith("_")}


def test_same_step_autoreset_vector_env_built_directly():
    env = HostOffloadVectorEnv(num_envs=2, max_episode_steps=2, autoreset_mode=AutoresetMode.SAME_STEP)
    env.reset(seed=SEED)
    env.step(np.zeros(env.action_space.shape, np.float32))
    obs, _, _, truncated, info = env.step(np.zeros(env.action_space.shape, np.float32))
    assert truncated.all() and "final_obs" in info and "final_info" in info
    np.testing.assert_array_equal(info["final_obs"][:, progress_index(env)], 1.0)
    np.testing.assert_array_equal(obs[:, progress_index(env)], 0.0)


def _partially_reset_vector_env(mask: np.ndarray, horizon: int = 50, before: int = 5):
    """A DISABLED-autoreset vector env stepped ``before`` steps, then reset where ``mask``; beside it
    an untouched twin and single envs that follow each host (the masked ones reset() too)."""
    n = len(mask)
    env = vector_env(n, max_episode_steps=horizon, autoreset_mode=AutoresetMode.DISABLED)
    twin = vector_env(n, max_episode_steps=horizon, autoreset_mode=AutoresetMode.DISABLED)
    env.reset(seed=SEED)
    twin.reset(seed=SEED)
    singles = [single_env(max_episode_steps=horizon) for _ in range(n)]
    for i, single in enumerate(singles):
        single.reset(seed=SEED + i)
    rng = np.random.default_rng(8)
    for _ in range(before):
        action = random_actions(rng, env.action_space.shape)
        last_obs, *_ = env.step(action)
        twin.step(action)
        for i, single in enumerate(singles):
            single.step(action[i])
    obs, info = env.reset(options={"reset_mask": mask})
    single_resets = {int(i): singles[i].reset() for i in np.flatnonzero(mask)}
    return env, twin, singles, last_obs, obs, info, single_resets, rng


MASK = np.array([True, False, True])


def test_disabled_autoreset_reset_mask_resets_only_the_masked_hosts():
    horizon, before = 50, 5
    env, _, _, _, obs, info, single_resets, _ = _partially_reset_vector_env(MASK, horizon, before)
    np.testing.assert_array_equal(env.core.episode_steps, np.where(MASK, 0, before))
    np.testing.assert_array_equal(obs[:, progress_index(env)], np.where(MASK, 0.0, np.float32(before / horizon)))
    for i, (reset_obs, reset_info) in single_resets.items():
        np.testing.assert_array_equal(obs[i], reset_obs, err_msg=f"masked host {i}: reset obs")
        assert info["episode_seed"][i] == reset_info["episode_seed"]
    np.testing.assert_array_equal(info["_episode_seed"], MASK)


def test_disabled_autoreset_partial_reset_returns_the_current_obs_of_unmasked_hosts():
    """As Gymnasium's own vector envs do, a partial reset leaves the observation of the hosts it
    does not reset as their last step returned it."""
    _, _, _, last_obs, obs, _, _, _ = _partially_reset_vector_env(MASK)
    for i in np.flatnonzero(~MASK):
        np.testing.assert_array_equal(obs[i], last_obs[i], err_msg=f"unmasked host {i}: obs changed by the reset")


def test_disabled_autoreset_partial_reset_lets_the_other_hosts_continue_unchanged():
    before, after = 5, 6
    env, twin, singles, _, _, _, _, rng = _partially_reset_vector_env(MASK, 50, before)
    for step in range(after):
        action = random_actions(rng, env.action_space.shape)
        obs, reward, terminated, truncated, info = env.step(action)
        t_obs, t_reward, _, _, t_info = twin.step(action)
        for i in range(len(MASK)):
            if MASK[i]:  # a new episode, as the single env after reset()
                e_obs, e_reward, _, _, e_info = singles[i].step(action[i])
            else:  # continues as if nothing happened
                e_obs, e_reward, e_info = t_obs[i], t_reward[i], host_info(t_info, i)
            where = f"host {i} ({'reset' if MASK[i] else 'continuing'}), step {step} after the partial reset"
            np.testing.assert_array_equal(obs[i], e_obs, err_msg=where)
            assert reward[i] == e_reward, where
            assert_info_equal(host_info(info, i), e_info, ignore=("reward_weights",))
    np.testing.assert_array_equal(env.core.episode_steps, np.where(MASK, after, before + after))


def test_disabled_autoreset_does_not_reset_by_itself():
    env = vector_env(2, max_episode_steps=2, autoreset_mode=AutoresetMode.DISABLED)
    env.reset(seed=SEED)
    zeros = np.zeros(env.action_space.shape, np.float32)
    env.step(zeros)
    _, _, _, truncated, _ = env.step(zeros)
    assert truncated.all()
    obs, _, _, _, info = env.step(zeros)  # past the horizon, still the same episode
    assert (env.core.episode_steps == 3).all()
    np.testing.assert_array_equal(info["sim_time_s"], 3 * env.core.scenario.host.step_s)
    np.testing.assert_array_equal(obs[:, progress_index(env)], 1.0)


# ------------------------------------------------------------------------------------------------
# Episode statistics
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP])
def test_vector_record_episode_statistics_reports_return_and_length(mode):
    horizon, n = 5, 2
    env = gym.wrappers.vector.RecordEpisodeStatistics(vector_env(n, max_episode_steps=horizon, autoreset_mode=mode))
    env.reset(seed=SEED)
    rng = np.random.default_rng(10)
    for episode in range(2):
        returns = np.zeros(n)
        if episode == 1 and mode == AutoresetMode.NEXT_STEP:
            *_, info = env.step(np.zeros(env.action_space.shape, np.float32))  # the autoreset step
            assert "episode" not in info
        for step in range(1, horizon + 1):
            _, reward, _, truncated, info = env.step(random_actions(rng, env.action_space.shape))
            returns += reward
            if step < horizon:
                assert "episode" not in info
        assert truncated.all()
        assert info["_episode"].all()
        np.testing.assert_array_equal(info["episode"]["l"], horizon)
        np.testing.assert_allclose(info["episode"]["r"], returns, rtol=1e-12)


def test_single_record_episode_statistics_reports_return_and_length():
    horizon = 5
    env = gym.wrappers.RecordEpisodeStatistics(single_env(max_episode_steps=horizon))
    env.reset(seed=SEED)
    rng = np.random.default_rng(12)
    total = 0.0
    for step in range(1, horizon + 1):
        _, reward, _, truncated, info = env.step(random_actions(rng, env.action_space.shape))
        total += reward
        assert ("episode" in info) == (step == horizon)
    assert truncated
    assert info["episode"]["l"] == horizon
    assert info["episode"]["r"] == pytest.approx(total, rel=1e-12)


# ------------------------------------------------------------------------------------------------
# info
# ------------------------------------------------------------------------------------------------


def test_info_holds_the_per_step_metrics_on_single_and_vector_env():
    env = gym.make(ENV_ID)
    env.reset(seed=SEED)
    venv = vector_env(2)
    venv.reset(seed=SEED)
    rng = np.random.default_rng(14)
    for _ in range(3):
        *_, info = env.step(random_actions(rng, env.action_space.shape))
        *_, vinfo = venv.step(random_actions(rng, venv.action_space.shape))
    for key in PER_STEP_METRICS:
        assert key in info, f"single env info lacks {key!r}"
        assert key in vinfo, f"vector env info lacks {key!r}"
        value = np.asarray(info[key], dtype=np.float64)
        assert np.isfinite(value).all() and (value >= 0).all(), f"info[{key!r}] = {value}"
        assert np.asarray(vinfo[key]).shape[0] == 2, f"vector info[{key!r}] has no host axis"
        assert vinfo[f"_{key}"].all()
    stall_parts = sum(float(info[f"stall_s.{s}"]) for s in STALL_SOURCES)
    assert float(info["stall_s"]) == pytest.approx(stall_parts, rel=1e-9, abs=1e-12)


def test_info_reward_terms_sum_to_the_reward_and_weights_are_recorded():
    env = gym.make(ENV_ID)
    _, reset_info = env.reset(seed=SEED)
    assert set(reset_info["reward_weights"]) >= {"w_dram", "w_stall", "w_cpu", "w_ssd", "w_oom", "w_psi"}
    rng = np.random.default_rng(15)
    for _ in range(5):
        _, reward, _, _, info = env.step(random_actions(rng, env.action_space.shape))
        terms = [float(v) for k, v in info.items() if k.startswith("reward.")]
        assert terms and sum(terms) == pytest.approx(reward, rel=1e-12, abs=1e-12)
        assert info["reward_weights"] == reset_info["reward_weights"]


def _run_infos(steps: int = 8) -> list:
    """Every info of a single env and a 2-host vector env from ``SEED``, under fixed random actions."""
    env = gym.make(ENV_ID)
    venv = vector_env(2)
    out = [env.reset(seed=SEED)[1], venv.reset(seed=SEED)[1]]
    rng = np.random.default_rng(16)
    for _ in range(steps):
        out.append(env.step(random_actions(rng, env.action_space.shape))[-1])
        out.append(venv.step(random_actions(rng, venv.action_space.shape))[-1])
    return out


def _clock(start_s: float, tick_s: float):
    """A clock reading ``start_s`` + ``tick_s`` at its first read, one more tick at each next read."""
    now = [start_s]

    def read() -> float:
        now[0] += tick_s
        return now[0]

    return read


def test_info_has_no_wall_clock_values(monkeypatch):
    """The env contract: ``info`` holds the metrics, never wall-clock times. The same seed and actions
    run under three clocks — the real one; one from 0 s ticking 1 us per read (a fast machine); one
    from 1e9 s ticking 1000 s per read (a slow or loaded one) — give identical infos, single and
    vector env, reset and step: no value is a time stamp or a duration. (A value read from a clock
    bound before the patch differs between the runs too: they run at different times.)"""
    runs = [_run_infos()]
    time.sleep(0.01)  # the real clock moves on between the runs
    for start_s, tick_s in ((0.0, 1e-6), (1e9, 1e3)):
        clock = _clock(start_s, tick_s)
        for name in ("time", "perf_counter", "monotonic", "process_time"):
            monkeypatch.setattr(time, name, clock)
            monkeypatch.setattr(time, f"{name}_ns", lambda clock=clock: int(clock() * 1e9))
        runs.append(_run_infos())
        monkeypatch.undo()
    reference = runs[0]
    assert any("sim_time_s" in info for info in reference), "the infos carry the simulated clock"
    for run in runs[1:]:
        assert len(run) == len(reference)
        for a, b in zip(run, reference, strict=True):
            assert_info_equal(a, b)


# ------------------------------------------------------------------------------------------------
# Feature names and observation modes
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("observation", ["full", "kernel"])
def test_feature_names_cover_the_observation_and_are_unique(observation):
    env = gym.make(ENV_ID, observation=observation)
    names = env.unwrapped.feature_names
    assert len(names) == env.observation_space.shape[0]
    assert len(set(names)) == len(names)
    assert all(isinstance(n, str) and n for n in names)
    obs, _ = env.reset(seed=SEED)
    assert obs.shape == (len(names),)
    venv = vector_env(2, observation=observation)
    assert venv.feature_names == names
    assert venv.single_observation_space.shape == (len(names),)


def test_kernel_observation_mode_drops_simulator_only_features():
    full = gym.make(ENV_ID, observation="full").unwrapped.feature_names
    kernel = gym.make(ENV_ID, observation="kernel").unwrapped.feature_names
    assert len(kernel) < len(full)
    assert set(kernel) < set(full)
    assert any("zswap_age" in name for name in full)
    assert not [name for name in kernel if "zswap_age" in name]


def test_kernel_observation_equals_the_full_observation_restricted_to_its_features():
    full_env = gym.make(ENV_ID, observation="full")
    kernel_env = gym.make(ENV_ID, observation="kernel")
    columns = [full_env.unwrapped.feature_names.index(n) for n in kernel_env.unwrapped.feature_names]
    full_obs, _ = full_env.reset(seed=SEED)
    kernel_obs, _ = kernel_env.reset(seed=SEED)
    np.testing.assert_array_equal(kernel_obs, full_obs[columns])
    rng = np.random.default_rng(17)
    for _ in range(5):
        action = random_actions(rng, full_env.action_space.shape)
        full_obs, *_ = full_env.step(action)
        kernel_obs, *_ = kernel_env.step(action)
        np.testing.assert_array_equal(kernel_obs, full_obs[columns])


# ------------------------------------------------------------------------------------------------
# Bad input is a clear error (issue 11, point 9)
# ------------------------------------------------------------------------------------------------


def test_single_env_wrong_shape_error_names_its_own_action_shape_not_the_batch():
    env = gym.make(ENV_ID)
    env.reset(seed=SEED)
    with pytest.raises(ActionError) as excinfo:
        env.step(np.zeros(16))
    message = str(excinfo.value)
    assert "action has shape (16,), expected (8, 2)" in message, message
    assert "(1, " not in message, f"the single env's message shows the internal batch axis: {message}"


def test_single_env_non_finite_error_gives_the_index_in_its_own_action():
    env = gym.make(ENV_ID)
    env.reset(seed=SEED)
    action = np.zeros((8, 2))
    action[3, 1] = np.nan
    with pytest.raises(ActionError, match=r"at index \(3, 1\)"):
        env.step(action)


def test_vector_env_wrong_shape_error_names_the_batch_shape():
    env = vector_env(2)
    env.reset(seed=SEED)
    with pytest.raises(ActionError, match=r"action has shape \(2, 16\), expected \(2, 8, 2\)"):
        env.step(np.zeros((2, 16)))


NON_REAL_ACTIONS = {
    "complex128": np.zeros((8, 2), np.complex128),
    "complex64": np.full((8, 2), 0.5 + 0.5j, np.complex64),
    "object": np.zeros((8, 2), dtype=object),
    "<U3": np.full((8, 2), "0.5"),
    "|S3": np.full((8, 2), b"0.5"),
    "datetime64[s]": np.zeros((8, 2), "datetime64[s]"),
    "timedelta64[s]": np.zeros((8, 2), "timedelta64[s]"),
}


@pytest.mark.parametrize("dtype", list(NON_REAL_ACTIONS))
@pytest.mark.parametrize("kind", ["single", "vector"])
def test_non_real_actions_are_rejected_naming_the_dtype(kind, dtype):
    """Complex values are not silently cut to their real part (numpy's ComplexWarning), strings
    and objects are not parsed: each is an ActionError naming the dtype, with no warning."""
    env = gym.make(ENV_ID) if kind == "single" else vector_env(2)
    env.reset(seed=SEED)
    action = NON_REAL_ACTIONS[dtype]
    if kind == "vector":
        action = np.stack([action, action])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ActionError) as excinfo:
            env.step(action)
    assert f"dtype {np.dtype(dtype)}" in str(excinfo.value), str(excinfo.value)


def test_a_string_action_is_rejected_naming_its_dtype():
    env = gym.make(ENV_ID)
    env.reset(seed=SEED)
    with pytest.raises(ActionError, match="dtype <U"):
        env.step("0")


@pytest.mark.parametrize("dtype", [np.bool_, np.int8, np.int64, np.uint16, np.float16, np.float32, np.float64])
def test_real_action_dtypes_are_accepted_as_their_float_values(dtype):
    env, reference = single_env(), single_env()
    env.reset(seed=SEED)
    reference.reset(seed=SEED)
    action = np.zeros((8, 2), dtype)
    action[0, 0] = 1
    assert_single_step_equal(env.step(action), reference.step(action.astype(np.float32)))


@pytest.mark.parametrize(("kind", "known"), [("single", ["scenario"]), ("vector", ["reset_mask", "scenario"])])
def test_unknown_reset_option_is_rejected_naming_it_and_the_known_ones(kind, known):
    env = gym.make(ENV_ID) if kind == "single" else vector_env(2)
    env.reset(seed=SEED)
    with pytest.raises(ValueError) as excinfo:
        env.reset(seed=SEED, options={"scenari": "default"})
    message = str(excinfo.value)
    assert "'scenari'" in message, message
    for name in known:
        assert f"'{name}'" in message, message


@pytest.mark.parametrize("options", [[("scenario", "default")], "scenario", 5, {"scenario"}])
@pytest.mark.parametrize("kind", ["single", "vector"])
def test_reset_options_that_are_not_a_dict_are_rejected(kind, options):
    env = gym.make(ENV_ID) if kind == "single" else vector_env(2)
    with pytest.raises(TypeError, match=f"options must be a dict.*{type(options).__name__}"):
        env.reset(seed=SEED, options=options)


def test_a_rejected_reset_leaves_the_episode_running():
    env, twin = single_env(), single_env()
    env.reset(seed=SEED)
    twin.reset(seed=SEED)
    action = np.full((8, 2), 0.5, np.float32)
    env.step(action)
    twin.step(action)
    with pytest.raises(ValueError):
        env.reset(seed=SEED + 1, options={"bogus": 1})
    assert_single_step_equal(env.step(action), twin.step(action))


# ------------------------------------------------------------------------------------------------
# Flat actions and the spec's horizon (issue 11, point 10)
# ------------------------------------------------------------------------------------------------


def test_flat_action_env_has_a_flat_box_and_passes_check_env():
    env = gym.make(ENV_ID, flat_action=True)
    assert env.action_space == gym.spaces.Box(-1.0, 1.0, (16,), np.float32)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env.unwrapped)
    assert not caught, [f"{w.filename}: {w.message}" for w in caught]
    assert env.spec.kwargs["flat_action"] is True  # gymnasium.make(env.spec) makes it flat again


def test_flat_action_steps_exactly_as_the_matrix_action_it_flattens():
    flat, matrix = gym.make(ENV_ID, flat_action=True), gym.make(ENV_ID)
    flat.reset(seed=SEED)
    matrix.reset(seed=SEED)
    rng = np.random.default_rng(3)
    for _ in range(4):
        action = random_actions(rng, (8, 2))
        assert_single_step_equal(flat.step(action.reshape(-1)), matrix.step(action))


def test_flat_action_vector_env_steps_exactly_as_the_matrix_vector_env():
    flat, matrix = vector_env(3, flat_action=True), vector_env(3)
    assert flat.single_action_space.shape == (16,) and flat.action_space.shape == (3, 16)
    flat.reset(seed=SEED)
    matrix.reset(seed=SEED)
    rng = np.random.default_rng(4)
    for _ in range(4):
        action = random_actions(rng, (3, 8, 2))
        assert_vector_step_equal(flat.step(action.reshape(3, 16)), matrix.step(action))


def test_flat_action_env_rejects_a_matrix_action_naming_the_flat_shape():
    env = gym.make(ENV_ID, flat_action=True)
    env.reset(seed=SEED)
    with pytest.raises(ActionError, match=r"action has shape \(8, 2\), expected \(16,\)"):
        env.step(np.zeros((8, 2)))
    venv = vector_env(2, flat_action=True)
    venv.reset(seed=SEED)
    with pytest.raises(ActionError, match=r"action has shape \(2, 8, 2\), expected \(2, 16\)"):
        venv.step(np.zeros((2, 8, 2)))


def test_spec_max_episode_steps_is_the_env_horizon_without_a_time_limit(variant_scenario_dir):
    """``env.spec.max_episode_steps`` says where episodes end (the scenario's ``episode_steps``, or
    ``episode_steps=``), and ``gymnasium.make`` adds no TimeLimit: the env truncates itself."""
    for kwargs, horizon in (({}, 360), ({"episode_steps": 5}, 5), ({"scenario": "variant"}, 7)):
        env = gym.make(ENV_ID, **kwargs)
        assert env.spec.max_episode_steps == horizon, kwargs
        assert env.unwrapped.spec.max_episode_steps == horizon, kwargs
        wrapper = env
        while isinstance(wrapper, gym.Wrapper):
            assert not isinstance(wrapper, gym.wrappers.TimeLimit), f"a TimeLimit over the env's own horizon: {kwargs}"
            wrapper = wrapper.env
        venv = gym.make_vec(ENV_ID, num_envs=2, **kwargs)
        assert venv.spec.max_episode_steps == horizon, kwargs


def test_spec_horizon_follows_a_scenario_switch(variant_scenario_dir):
    env = gym.make(ENV_ID)
    env.reset(seed=SEED, options={"scenario": "variant"})
    assert env.unwrapped.spec.max_episode_steps == 7
    venv = gym.make_vec(ENV_ID, num_envs=2)
    venv.reset(seed=SEED, options={"scenario": "variant"})
    assert venv.spec.max_episode_steps == 7


def test_env_remade_from_its_spec_truncates_on_the_same_step():
    env = gym.make(ENV_ID, episode_steps=4)
    remade = gym.make(env.spec)
    for e in (env, remade):
        e.reset(seed=SEED)
        flags = [e.step(np.zeros((8, 2), np.float32))[3] for _ in range(4)]
        assert flags == [False, False, False, True]
    assert remade.spec.max_episode_steps == 4


def test_make_max_episode_steps_still_gives_gymnasiums_time_limit():
    env = gym.make(ENV_ID, max_episode_steps=3)
    assert env.spec.max_episode_steps == 3
    env.reset(seed=SEED)
    flags = [env.step(np.zeros((8, 2), np.float32))[3] for _ in range(3)]
    assert flags == [False, False, True]
