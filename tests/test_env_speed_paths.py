"""The env layer's shortcuts for speed give exactly what the plain computation gives, bit for bit.

* The observation (features stacked and computed together, age histograms from one block sum over
  every memcg's block, padding chunk and all) equals the plain per-feature computation, in both
  observation modes, right after a reset, and with host clocks apart.
* The step info (rows of per-step blocks), the vector info built from them, the reward (a sum along
  the first axis from ``initial=0.0``) and the SB3 adapter's per-host dicts taken straight from the
  block equal the plain dict of arrays, grouped copies, ``sum()`` and key-by-key split.
* ``validate_actions``' clip by ``maximum``/``minimum`` equals ``np.clip``.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from zswap_gym.env.actions import ActionError, decode_actions, validate_actions
from zswap_gym.env.core import OffloadCore
from zswap_gym.env.features import ObservationBuilder, _Scratch
from zswap_gym.env.reference import (
    reference_histograms,
    reference_observation,
    reference_step_info,
    reference_terms,
)
from zswap_gym.env.reward import compute_reward, total_reward
from zswap_gym.env.sb3 import HostOffloadSB3VecEnv
from zswap_gym.env.vector_env import HostOffloadVectorEnv
from zswap_gym.sim.lru import ChunkLayout
from zswap_gym.sim.state import Loc


def reference_vector_info(info: dict, mask: np.ndarray) -> dict:
    out = {}
    for key, value in info.items():
        value = np.array(value)
        value[~mask] = 0
        out[key] = value
        out[f"_{key}"] = mask.copy()
    return out


def assert_same(actual, expected, what: str) -> None:
    """Equal values, dtype and shape, bit for bit (the sign of a zero and NaNs included)."""
    a, e = np.asarray(actual), np.asarray(expected)
    assert a.dtype == e.dtype and a.shape == e.shape, f"{what}: {a.dtype}{a.shape} != {e.dtype}{e.shape}"
    assert a.tobytes() == e.tobytes(), f"{what}: {a} != {e}"


# -- the observation -------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["full", "kernel"])
@pytest.mark.parametrize("num_envs", [1, 3])
def test_observation_equals_the_plain_computation(mode: str, num_envs: int) -> None:
    core = OffloadCore("default", num_envs=num_envs, observation=mode, max_episode_steps=500)
    obs, _ = core.reset(list(range(num_envs)))
    reference = reference_observation(core.sim, None, core.sim.state.step_index / core.max_episode_steps, mode)
    assert_same(obs, reference, "obs at reset")
    rng = np.random.default_rng(1)
    for step in range(40):
        obs, *_ = core.step(rng.uniform(-0.5, 1.0, size=(num_envs, *core.action_shape)))
        progress = core.sim.state.step_index / core.max_episode_steps
        assert_same(obs, reference_observation(core.sim, core.last_metrics, progress, mode), f"obs at step {step}")
        if step % 9 == 4 and num_envs > 1:  # hosts' clocks apart from here on
            mask = np.arange(num_envs) == step % num_envs
            obs, _ = core.reset([None] * num_envs, mask)
            expected = reference_observation(core.sim, core.last_metrics, core.sim.state.step_index / 500, mode)
            expected[mask] = reference_observation(core.sim, None, core.sim.state.step_index / 500, mode)[mask]
            assert_same(obs, expected, f"obs after a partial reset at step {step}")


@pytest.mark.parametrize("seed", range(6))
def test_age_histograms_with_empty_blocks_anywhere_equal_the_plain_count(seed: int) -> None:
    """Empty memcg blocks first, between others and last; one clock for all hosts or not; chunks in
    every location at ages on and around each edge, so a chunk outside a location that were counted
    in one of its buckets (the masks zero the ages outside the location, which is right only while
    every edge is above 0 s) would show."""
    rng = np.random.default_rng(seed)
    m = 6
    lens = rng.integers(1, 40, size=m) * (rng.random(m) < 0.6)
    lens[rng.integers(m)] = max(lens.max(), 1)  # at least one chunk
    layout = ChunkLayout.from_capacities([int(x) for x in lens], m)
    h, c, pages = 3, layout.num_chunks, 4
    clock = np.full(h, 1e4) if seed % 2 else rng.uniform(0.0, 1e4, size=h)
    state = SimpleNamespace(
        loc=rng.integers(0, 5, size=(h, c)).astype(np.int8),
        last_access_s=(clock[:, None] - rng.choice([0.0, 59.0, 60.0, 299.5, 300.0, 2000.0], size=(h, c))).astype(
            np.float32
        ),
        zswap_store_s=(clock[:, None] - rng.uniform(0.0, 4000.0, size=(h, c))).astype(np.float32),
        now_s=clock,
    )
    owner = np.repeat(np.arange(m), lens)
    per_memcg = np.zeros((h, m, 5))
    for loc in range(5):
        for memcg in range(m):
            per_memcg[:, memcg, loc] = (state.loc[:, owner == memcg] == loc).sum(axis=1) * pages
    gauges = SimpleNamespace(resident_pages=per_memcg[..., Loc.RESIDENT], zswap_pages=per_memcg[..., Loc.ZSWAP])
    sim = SimpleNamespace(
        state=state,
        layout=layout,
        num_hosts=h,
        num_memcgs=m,
        cfg=SimpleNamespace(host=SimpleNamespace(chunk_pages=pages)),
        memcg_active=lens > 0,
        memcg_names=[f"t{i}" for i in range(m)],
    )
    builder = ObservationBuilder(sim)
    footprint = np.maximum(per_memcg.sum(axis=-1), 1.0)
    resident, zswap = np.empty((4, h, m)), np.empty((3, h, m))
    builder._age_histograms(sim, _Scratch(sim, "full"), gauges, footprint, resident, zswap)
    ref_resident, ref_zswap = reference_histograms(state, layout, with_zswap=True)
    assert_same(resident, np.moveaxis(ref_resident / (footprint[..., None] / pages), -1, 0), "resident")
    zswap_chunks = np.maximum(gauges.zswap_pages / pages, 1.0)[..., None]
    assert_same(zswap, np.moveaxis(ref_zswap / zswap_chunks, -1, 0), "zswap")


# -- info, reward, the SB3 adapter -----------------------------------------------------------


@pytest.mark.parametrize("autoreset", ["NextStep", "SameStep"])
def test_vector_info_and_reward_equal_the_plain_computation(autoreset: str) -> None:
    env = HostOffloadVectorEnv(num_envs=3, max_episode_steps=7, autoreset_mode=autoreset)
    env.reset(seed=2)
    core, rng = env.core, np.random.default_rng(3)
    final_steps = 0
    for step in range(20):
        actions = rng.uniform(-1.2, 1.2, size=env.action_space.shape).astype(np.float32)
        stepped = ~env._done if autoreset == "NextStep" else np.ones(3, dtype=bool)
        reclaim, writeback = decode_actions(validate_actions(actions, actions.shape), core.sim, core.action_config)
        now_s = core.sim.state.now_s + core.scenario.host.step_s  # before an autoreset of this step
        _, reward, _, _, info = env.step(actions)
        m = core.last_metrics
        terms = reference_terms(m, core.reward_config, core.scenario.host.step_s)
        expected = reference_vector_info(reference_step_info(now_s, m, terms, reclaim, writeback), stepped)
        if autoreset == "SameStep" and "final_info" in info:
            final_steps += 1
            assert set(info["final_info"]) == {k for k in expected if not k.startswith("_")}
            info = {k: v for k, v in info.items() if not k.startswith(("final_", "_final_"))}
        assert list(info) == list(expected), f"keys at step {step}"
        for key, value in expected.items():
            assert_same(info[key], value, f"info[{key!r}] at step {step}")
        assert_same(reward, np.where(stepped, sum(terms.values()), 0.0), f"reward at step {step}")
        assert_same(compute_reward(m, core.reward_config, core.scenario.host.step_s)[0], sum(terms.values()), "reward")
    assert final_steps == (2 if autoreset == "SameStep" else 0), "episodes of 7 steps end at steps 7 and 14"


def test_step_info_keeps_its_contract() -> None:
    core = OffloadCore("default", num_envs=2)
    core.reset([0, 1])
    actions = np.full((2, *core.action_shape), 0.4)
    reclaim, writeback = decode_actions(validate_actions(actions, actions.shape), core.sim, core.action_config)
    core.step(actions)
    m = core.last_metrics
    terms = {"dram": np.ones(2), "other": np.zeros(2)}
    info = core.step_info(m, terms, reclaim, writeback)
    expected = reference_step_info(core.sim.state.now_s, m, terms, reclaim, writeback)
    assert list(info) == list(expected)
    assert info["reward.dram"] is terms["dram"]
    for key, value in expected.items():
        assert_same(info[key], value, key)


def test_total_reward_is_sum_bit_for_bit() -> None:
    """In order (not pairwise: 1e16 + 1 + ... is 1e16), from +0.0 (all -0.0 terms give +0.0)."""
    rng = np.random.default_rng(0)
    values = [-0.0, 0.0, 1e-300, -1e-300, 1.0, -1.0, 1e16, -1e16, 3.3, np.inf, -np.inf]
    in_order = np.array([1e16, 1.0, 1.0, 1.0, 1.0, -1e16])
    for num_hosts in (1, 2, 3, 8):
        cases = [rng.choice(values, size=(6, num_hosts)) for _ in range(300)]
        cases += [np.full((6, num_hosts), -0.0), np.repeat(in_order[:, None], num_hosts, axis=1)]
        for terms in cases:
            with np.errstate(invalid="ignore"):
                assert_same(total_reward(terms), sum(terms), f"{terms}")


def test_sb3_adapter_fast_path_equals_the_split_vector_info() -> None:
    class Plain(HostOffloadVectorEnv):  # its own step: the adapter splits the vector info
        def step(self, actions):
            return super().step(actions)

    envs = [
        HostOffloadSB3VecEnv(venv, info_keys=keys)
        for keys in (None, ["stall_s", "reward.dram", "psi_some_avg10", "no_such_key"])
        for venv in (HostOffloadVectorEnv(3, max_episode_steps=5), Plain(3, max_episode_steps=5))
    ]
    assert [env._lean for env in envs] == [True, False, True, False]
    for env in envs:
        env.seed(4)
        env.reset()
    rng = np.random.default_rng(5)
    for _ in range(12):
        actions = rng.uniform(-1, 1, size=(3, *envs[0].action_space.shape)).astype(np.float32)
        for pair in (envs[:2], envs[2:]):
            (obs_a, rew_a, done_a, infos_a), (obs_b, rew_b, done_b, infos_b) = (e.step(actions) for e in pair)
            assert_same(obs_a, obs_b, "obs")
            assert_same(rew_a, rew_b, "rewards")
            assert_same(done_a, done_b, "dones")
            assert [list(i) for i in infos_a] == [list(i) for i in infos_b]
            for a, b in zip(infos_a, infos_b, strict=True):
                for key in a:
                    assert_same(a[key], b[key], key)
            assert pair[0].reset_infos == pair[1].reset_infos


# -- actions ---------------------------------------------------------------------------------


@pytest.mark.filterwarnings("error")
def test_validate_actions_equals_the_elementwise_check_and_clip() -> None:
    rng = np.random.default_rng(6)
    shape = (2, 3, 2)
    for _ in range(50):
        actions = rng.choice([-0.0, 0.0, -1.0, 1.0, 0.5, -3.0, 7.0, 1e308, -1e308], size=shape)
        assert_same(validate_actions(actions, shape), np.clip(actions, -1.0, 1.0), f"{actions}")
    for bad in (np.nan, np.inf, -np.inf):
        actions = np.zeros(shape)
        actions[1, 2, 0] = bad
        with pytest.raises(ActionError, match=r"at index \(1, 2, 0\)"):
            validate_actions(actions, shape)
    actions = np.full(shape, 0.25, dtype=np.float32)
    validate_actions(actions, shape)
    assert (actions == 0.25).all(), "the caller's array is left alone"
