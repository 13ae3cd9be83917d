"""Rendering (issue 3, point 8): ``render_mode="rgb_array"`` draws the episode's memory breakdown per
memcg, PSI, refaults and device utilisation; ``"ansi"`` prints a compact table per host.

Episodes are a few steps long so the file runs in seconds.
"""

from __future__ import annotations

import dataclasses
import pickle

import gymnasium as gym
import numpy as np
import pytest

import zswap_gym  # noqa: F401  (registers the environments)
from zswap_gym.env.render import (
    FIGURE_SIZE_PX,
    MEMORY_BANDS,
    EpisodeHistory,
    close_figures,
    episode_figure,
    memory_bands,
    render_ansi,
    render_rgb_array,
)
from zswap_gym.policy.runner import run_episode
from zswap_gym.sim import load_scenario

ENV_ID = "zswap_gym/HostOffload-v0"
IMAGE_SHAPE = (FIGURE_SIZE_PX[1], FIGURE_SIZE_PX[0], 3)
TENANTS = ("web", "sidecar")


def stepped_env(render_mode: str, steps: int, seed: int = 0):
    env = gym.make(ENV_ID, render_mode=render_mode)
    env.reset(seed=seed)
    env.action_space.seed(seed)
    for _ in range(steps):
        env.step(env.action_space.sample())
    return env


def assert_valid_image(image: np.ndarray) -> None:
    assert isinstance(image, np.ndarray)
    assert image.dtype == np.uint8
    assert image.shape == IMAGE_SHAPE
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 1, "image is a single colour"


def test_rgb_array_render_returns_uint8_image_of_fixed_size_after_steps():
    env = stepped_env("rgb_array", steps=5)
    image = env.render()
    assert_valid_image(image)
    env.close()


def test_rgb_array_render_before_any_step_returns_valid_image():
    env = gym.make(ENV_ID, render_mode="rgb_array")
    env.reset(seed=0)
    assert_valid_image(env.render())
    env.close()


def test_rgb_array_plot_shows_the_recorded_data():
    """The stacked areas use the tier colours: an image with data has far more coloured pixels than
    the empty layout."""
    blank = render_rgb_array(None, TENANTS)
    env = stepped_env("rgb_array", steps=6)
    drawn = env.render()

    def coloured(img: np.ndarray) -> int:
        rgb = img.astype(int)
        return int(((rgb.max(axis=2) - rgb.min(axis=2)) > 60).sum())

    assert coloured(drawn) > coloured(blank) + 10_000
    env.close()


def test_rgb_array_history_resets_with_the_episode():
    """The plotted history is the episode's: the reset state and one entry per step, started over
    by ``reset``."""
    env = stepped_env("rgb_array", steps=4)
    assert len(env.unwrapped._history) == 5
    env.reset(seed=1)
    assert len(env.unwrapped._history) == 1  # the reset state
    assert_valid_image(env.render())
    env.close()


def test_rgb_array_render_handles_many_memcgs_and_empty_names():
    """More than four memcgs use two rows of memory panels; no memcgs still draws the layout."""
    assert_valid_image(render_rgb_array(None, tuple(f"tenant{i}" for i in range(7))))
    assert_valid_image(render_rgb_array(EpisodeHistory(()), ()))


def test_episode_history_records_one_row_per_step_for_active_memcgs_only():
    env = stepped_env("rgb_array", steps=3)
    sim = env.unwrapped.sim
    history = env.unwrapped._history
    assert history.memcg_names == TENANTS
    assert len(history) in (3, 4)  # one row per step, perhaps after one for the reset state
    assert history.memcg("resident_bytes").shape == (len(history), len(TENANTS))
    assert history.memcg("resident_bytes").dtype == np.float32
    np.testing.assert_allclose(history.host("time_s")[-3:], [10.0, 20.0, 30.0])
    gauges = sim.gauges()
    np.testing.assert_allclose(history.memcg("resident_bytes")[-1], gauges.resident_pages[0, :2] * 4096, rtol=1e-6)
    np.testing.assert_allclose(history.memcg("zswap_bytes")[-1], gauges.zswap_bytes[0, :2], rtol=1e-6)
    np.testing.assert_allclose(history.memcg("psi_some_avg10")[-1], sim.state.psi_some_avg[0, :2, 0], rtol=1e-6)
    metrics = env.unwrapped.core.last_metrics
    np.testing.assert_allclose(history.memcg("refault_zswap")[-1], metrics.refault_pages["zswap"][0, :2], rtol=1e-6)
    assert history.host("device_utilisation")[-1] == pytest.approx(float(metrics.host_device_utilisation[0]))
    env.close()


def test_episode_history_stays_bounded_and_keeps_the_latest_steps():
    env = gym.make(ENV_ID)
    env.reset(seed=0)
    sim = env.unwrapped.sim
    history = EpisodeHistory(sim.memcg_names, max_steps=8)
    history.append(sim, None, 0)  # the reset state: no metrics yet
    assert history.memcg("refault_swap")[0].sum() == 0
    assert np.isnan(history.host("device_utilisation")[0])
    for _ in range(20):
        env.step(np.zeros(env.action_space.shape, np.float32))
        history.append(sim, env.unwrapped.core.last_metrics, 0)
    assert 4 <= len(history) <= 8
    times = history.host("time_s")
    assert times[-1] == pytest.approx(200.0)
    assert np.all(np.diff(times) == 10.0)
    assert_valid_image(render_rgb_array(history, sim.memcg_names))
    env.close()


def test_episode_history_survives_pickling():
    env = stepped_env("rgb_array", steps=3)
    history = pickle.loads(pickle.dumps(env.unwrapped._history))
    recorded = len(env.unwrapped._history)
    assert len(history) == recorded
    np.testing.assert_array_equal(history.host("time_s"), env.unwrapped._history.host("time_s"))
    env.step(np.zeros(env.action_space.shape, np.float32))
    history.append(env.unwrapped.sim, env.unwrapped.core.last_metrics, 0)  # keeps recording after unpickling
    assert len(history) == recorded + 1
    empty = pickle.loads(pickle.dumps(EpisodeHistory(TENANTS)))
    for _ in range(3):
        empty.append(env.unwrapped.sim, None, 0)
    assert len(empty) == 3
    env.close()


def test_long_histories_are_averaged_into_buckets_before_plotting():
    env = gym.make(ENV_ID)
    env.reset(seed=0)
    sim = env.unwrapped.sim
    history = EpisodeHistory(sim.memcg_names)
    env.step(np.zeros(env.action_space.shape, np.float32))
    for _ in range(3100):  # cheap: the same state recorded many times
        history.append(sim, env.unwrapped.core.last_metrics, 0)
    assert_valid_image(render_rgb_array(history, sim.memcg_names))
    env.close()


def test_rgb_array_render_builds_one_figure_and_redraws_it_every_frame(monkeypatch):
    """Building a figure (axes, ticks, titles) is most of a frame's cost, so ``render_rgb_array``
    builds one per set of memcg names and updates it in place: one ``Figure`` over an episode's
    frames, each frame drawn from the episode so far (not a kept image)."""
    import matplotlib.figure

    made = []

    class CountedFigure(matplotlib.figure.Figure):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(matplotlib.figure, "Figure", CountedFigure)
    close_figures()  # none kept from other tests
    env = stepped_env("rgb_array", steps=30)
    frames = [env.render()]
    assert len(made) == 1
    for _ in range(3):
        env.step(env.action_space.sample())
        frames.append(env.render())
    assert len(made) == 1, f"{len(made)} figures built for {len(frames)} frames"
    for frame in frames:
        assert_valid_image(frame)
    assert not np.array_equal(frames[-1], frames[0]), "the last frame shows three more steps"
    env.close()
    close_figures()


def test_close_figures_frees_the_cache_and_rendering_still_works():
    render_rgb_array(None, TENANTS)
    close_figures()
    assert_valid_image(render_rgb_array(None, TENANTS))


def test_ansi_render_lists_every_tenant_and_the_host_line():
    env = stepped_env("ansi", steps=3)
    text = env.render()
    assert isinstance(text, str)
    assert "memory.current" in text
    for name in TENANTS:
        assert any(line.startswith(name) for line in text.splitlines())
    assert "DRAM used" in text and "zswap pool" in text and "device util" in text
    assert "host 0" in text and "step 3" in text
    env.close()


def test_ansi_render_right_after_reset_marks_per_step_figures_unknown():
    env = gym.make(ENV_ID, render_mode="ansi")
    env.reset(seed=0)
    text = env.render()
    assert "step 0" in text
    assert "web" in text and "sidecar" in text
    assert "device util -" in text
    env.close()


def test_ansi_render_reports_the_simulator_gauges():
    env = stepped_env("ansi", steps=5)
    sim = env.unwrapped.sim
    text = render_ansi(sim, env.unwrapped.core.last_metrics, 0)
    web_row = next(line for line in text.splitlines() if line.startswith("web"))
    current_mib = float(sim.gauges().memory_current[0, 0]) / (1 << 20)
    assert web_row.split()[1] == f"{current_mib:.1f}"
    env.close()


def test_ansi_render_truncates_long_memcg_names():
    scenario = load_scenario("default")
    long_name = "a-very-long-tenant-name"
    tenants = (dataclasses.replace(scenario.tenants[0], name=long_name), *scenario.tenants[1:])
    env = gym.make(ENV_ID, scenario=dataclasses.replace(scenario, tenants=tenants), render_mode="ansi")
    env.reset(seed=0)
    text = env.render()
    assert long_name[:11] + "~" in text
    env.close()


def test_vector_env_ansi_render_covers_every_host():
    env = gym.make_vec(ENV_ID, num_envs=2, vectorization_mode="vector_entry_point", render_mode="ansi")
    env.reset(seed=0)
    env.step(np.zeros(env.action_space.shape, np.float32))
    text = env.render()
    assert isinstance(text, str)
    assert "host 0" in text and "host 1" in text
    assert text.count("memory.current") == 2
    for name in TENANTS:
        assert sum(line.startswith(name) for line in text.splitlines()) == 2
    env.close()


def test_no_render_mode_renders_nothing():
    env = gym.make(ENV_ID)
    env.reset(seed=0)
    env.step(np.zeros(env.action_space.shape, np.float32))
    assert env.render() is None
    assert env.unwrapped._history is None
    env.close()


# ------------------------------------------------------------------------------------------------
# What the plot says (issue 11, point 16)
# ------------------------------------------------------------------------------------------------


def reclaiming_env(steps: int, writeback_from: int | None = None):
    """The default scenario, proactive reclaim of 2 % of ``memory.current`` per step in every
    memcg (which puts its zero-filled pages in the swap map), and from step ``writeback_from`` on
    proactive writeback too. Returns the env and each step's bytes written to the swap device."""
    env = gym.make(ENV_ID, render_mode="rgb_array")
    env.reset(seed=0)
    written = []
    for step in range(steps):
        action = np.zeros((8, 2), np.float32)
        action[:, 0] = 1.0
        if writeback_from is not None and step >= writeback_from:
            action[:, 1] = 1.0
        written.append(env.step(action)[4]["swap_bytes_written"])
    return env, written


def test_plot_title_counts_the_steps_taken_as_the_episode_summary_does():
    """The history holds one row more than the steps (the reset's): the title counts steps."""
    result = run_episode("default", "noop", seed=0, episode_steps=6, record_history=True)
    assert result.summary.steps == 6 and len(result.history) == 7
    title = episode_figure(result.history, result.memcg_names).get_suptitle()
    assert "6 steps" in title, title
    env = stepped_env("rgb_array", steps=4)
    title = episode_figure(env.unwrapped._history, TENANTS).get_suptitle()
    assert "4 steps" in title, title
    env.close()


def test_swap_device_band_leaves_out_zero_filled_pages():
    """Reclaim without writeback: zero-filled pages pile up in the swap map while nothing is
    written to the device, and the device band stays empty."""
    env, written = reclaiming_env(steps=4)
    history = env.unwrapped._history
    assert sum(written) == 0
    assert history.memcg("zero_bytes")[-1].sum() > 0, "the scenario should have zero-filled pages reclaimed"
    bands = memory_bands(history)
    assert set(bands) == {*MEMORY_BANDS, "footprint"}
    np.testing.assert_array_equal(bands["device"], 0.0)
    env.close()


def test_memory_bands_are_the_bytes_each_tier_holds_and_the_footprint_the_original_size():
    env, written = reclaiming_env(steps=6, writeback_from=3)
    assert sum(written) > 0
    g = env.unwrapped.sim.gauges()
    last = {band: values[-1] for band, values in memory_bands(env.unwrapped._history).items()}
    np.testing.assert_allclose(last["resident"], g.resident_pages[0, :2] * 4096, rtol=1e-6)
    np.testing.assert_allclose(last["zswap"], g.zswap_bytes[0, :2], rtol=1e-6)  # compressed
    np.testing.assert_allclose(last["device"], (g.swap_pages + g.writeback_pages)[0, :2] * 4096, rtol=1e-6)
    np.testing.assert_allclose(last["footprint"], g.footprint_pages[0, :2] * 4096, rtol=1e-6)
    assert (last["device"] > 0).any()
    assert (last["resident"] + last["zswap"] + last["device"] < last["footprint"]).all()  # compression saves
    env.close()


def test_every_plot_axis_has_a_y_label_with_its_unit():
    env = stepped_env("rgb_array", steps=3)
    fig = episode_figure(env.unwrapped._history, TENANTS)
    labels = [ax.get_ylabel() for ax in fig.axes]
    assert len(labels) == len(TENANTS) + 3
    for label in labels:
        assert any(unit in label for unit in ("(GiB)", "(MiB)", "(%)", "pages per step", "%")), labels
    unit = "GiB" if "(GiB)" in fig.get_suptitle() else "MiB"
    assert all(f"({unit})" in label for label in labels[: len(TENANTS)]), labels
    env.close()


def test_plot_legend_says_zswap_is_compressed_and_what_the_original_size_is():
    fig = episode_figure(None, TENANTS)
    texts = [t.get_text() for legend in fig.legends for t in legend.get_texts()]
    assert any("zswap" in t and "compressed" in t for t in texts), texts
    assert any("original size" in t and "zero-filled" in t for t in texts), texts
    assert any("swap device" in t for t in texts), texts


def test_ansi_swap_device_column_leaves_out_zero_filled_pages():
    env, written = reclaiming_env(steps=3)
    assert sum(written) == 0
    sim = env.unwrapped.sim
    text = render_ansi(sim, env.unwrapped.core.last_metrics, 0)
    header = text.splitlines()[1].split()
    assert "dev" in header and "zero-fill" in header, header
    web = next(line for line in text.splitlines() if line.startswith("web")).split()
    assert web[4] == "0.0", web  # swap dev
    assert web[5] == f"{float(sim.gauges().zero_pages[0, 0]) * 4096 / (1 << 20):.1f}" != "0.0", web
    env.close()
