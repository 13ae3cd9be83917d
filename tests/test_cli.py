"""The ``zswap-gym`` command line: every bad input is one line on stderr naming the flag or file at
fault (exit status 2; 130 after Ctrl-C), nothing half-written is left behind, and the help says what
every argument is."""

from __future__ import annotations

import argparse
import json
import sys
import types
import warnings

import pytest
import yaml

from zswap_gym import __version__
from zswap_gym.cli import build_parser, main
from zswap_gym.outputs import replaced_atomically
from zswap_gym.policy import list_policies, policy_spec
from zswap_gym.sim import ConfigError, list_scenarios, load_scenario
from zswap_gym.sim.scenario_io import scenario_dir

STEPS = ["--steps", "2", "--quiet"]
ENTRY_POINT_BASELINES = ("google-coldage", "senpai-oomd", "shrinker", "noop")


def run_cli(capsys, args: list[str]) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of ``zswap-gym ARGS``; a traceback fails the test."""
    try:
        code = main(args)
    except SystemExit as exc:  # argparse's own exits (--help, --version)
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(err: str, *says: str) -> None:
    assert err.startswith("zswap-gym: ") and err.endswith("\n") and err.count("\n") == 1, err
    for text in says:
        assert text in err, err


def default_yaml() -> dict:
    return yaml.safe_load((scenario_dir() / "default.yaml").read_text())


# --------------------------------------------------------------------------------------------------
# 7. Bad values: one line naming the flag or file, exit status 2, no file left behind
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["run", "--agent", "noop", "--seed", "-1"], "zswap-gym: --seed: must be >= 0 (got -1)"),
        (["run", "--agent", "noop", "--steps", "0"], "zswap-gym: --steps: must be >= 1 (got 0)"),
        (["run", "--agent", "noop", "--seed", "x"], "zswap-gym: --seed: expected a whole number (got 'x')"),
        (["simulate", "--seed", "-1"], "zswap-gym: --seed: must be >= 0"),
        (["simulate", "--steps", "0"], "zswap-gym: --steps: must be >= 1"),
        (["compare", "--seeds", "0", "-1"], "zswap-gym: --seeds: must be >= 0 (got -1)"),
        (["compare", "--steps", "0"], "zswap-gym: --steps: must be >= 1 (got 0)"),
        (["compare", "--jobs", "-3"], "zswap-gym: --jobs: must be >= 1 (got -3)"),
        (["compare", "--jobs", "0"], "zswap-gym: --jobs: must be >= 1 (got 0)"),
        (["run", "--agent", "senpai-tmo", "--param", "reclaim_ratio=abc"], "--param reclaim_ratio=abc: "),
        (["run", "--agent", "senpai-tmo", "--param", "memcgs=web"], "--param memcgs=web: "),
        (["run", "--agent", "senpai-tmo", "--param", "reclaim_ratio=5"], "--param: reclaim_ratio = 5.0"),
        (["run", "--agent", "static-high", "--param", "share=[1"], "--param share=[1: the value is not valid YAML"),
        (["run"], "the following arguments are required: --agent (see 'zswap-gym run --help')"),
    ],
)
def test_a_bad_value_is_one_line_naming_its_flag(tmp_path, capsys, args, says):
    out_file = tmp_path / "r.jsonl"
    if args[0] == "compare":
        args = [*args, "--scenarios", "default", "--agents", "noop", "--out", str(out_file)]
    code, _, err = run_cli(capsys, [*args, *STEPS] if "--steps" not in args else [*args, "--quiet"])
    assert code == 2
    assert_one_line_error(err, says)
    assert not out_file.exists()


def test_a_policy_parameter_is_typed_by_the_policy(capsys):
    """``--param`` values are read as YAML, then checked against the policy's declared types: a text
    for a number, or a bare word for a list of names, is refused saying what the parameter takes."""
    code, _, err = run_cli(capsys, ["run", "--agent", "senpai-tmo", "--param", "reclaim_ratio=abc", *STEPS])
    assert code == 2
    assert_one_line_error(err, "senpai-tmo's reclaim_ratio takes a number, got the text 'abc'")
    code, _, err = run_cli(capsys, ["run", "--agent", "senpai-tmo", "--param", "memcgs=web", *STEPS])
    assert code == 2
    assert_one_line_error(err, "memcgs takes a list", "memcgs=[web]")
    # inherited through **kwargs, and the well-formed forms still work
    code, _, err = run_cli(capsys, ["run", "--agent", "senpai-age-writeback", "--param", "reclaim_ratio=x", *STEPS])
    assert code == 2 and "reclaim_ratio takes a number" in err
    ok = ["--param", "memcgs=[web]", "--param", "reclaim_ratio=1e-3", "--param", "psi_window=avg10"]
    code, out, err = run_cli(capsys, ["run", "--agent", "senpai-tmo", *ok, *STEPS])
    assert code == 0, err


def test_a_yaml_syntax_error_names_the_file_and_line(tmp_path, capsys):
    path = tmp_path / "broken.yaml"
    path.write_text("name: broken\nhost:\n  dram_bytes: 16G\n   swap: [\n")
    code, _, err = run_cli(capsys, ["run", "--agent", "noop", "--scenario", str(path), *STEPS])
    assert code == 2
    assert_one_line_error(err, f"{path}: invalid YAML, line 4")


def test_ctrl_c_during_run_is_one_line_with_status_130_and_leaves_no_file(tmp_path, capsys, monkeypatch):
    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("zswap_gym.policy.run_episode", interrupted)
    summary, plot = tmp_path / "s.json", tmp_path / "p.png"
    try:
        code, _, err = run_cli(capsys, ["run", "--agent", "noop", "--json", str(summary), "--plot", str(plot), *STEPS])
    except KeyboardInterrupt:
        pytest.fail("KeyboardInterrupt escaped main()")
    assert code == 130 and err == "zswap-gym: interrupted\n"
    assert list(tmp_path.iterdir()) == []


def test_an_interrupted_write_leaves_the_old_file_as_it_was(tmp_path):
    target = tmp_path / "summary.json"
    target.write_text("old\n")
    with pytest.raises(KeyboardInterrupt), replaced_atomically(str(target)) as partial:
        with open(partial, "w") as f:
            f.write("half of the new")
        raise KeyboardInterrupt
    assert target.read_text() == "old\n" and list(tmp_path.iterdir()) == [target]


# --------------------------------------------------------------------------------------------------
# 8. Messages, --version, help and listings
# --------------------------------------------------------------------------------------------------


def test_a_scenario_file_error_names_the_file_not_its_name_field(tmp_path):
    data = default_yaml()  # still `name: default`
    data["host"]["dram_bytes"] = 1024
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as info:
        load_scenario(path)
    assert str(info.value).startswith(f"{path}: scenario.host.dram_bytes = 1024: must be in [")


@pytest.mark.parametrize("name", [5, "", True, [1]])
def test_a_scenario_name_must_be_a_text(tmp_path, name):
    data = default_yaml()
    data["name"] = name
    path = tmp_path / "named.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=rf"{path}: scenario.name = .*: must be a non-empty text"):
        load_scenario(path)


def test_a_tenant_without_a_name_says_which_field_is_missing(tmp_path):
    data = default_yaml()
    del data["tenants"][1]["name"]
    path = tmp_path / "nameless.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as info:
        load_scenario(path)
    assert str(info.value) == f"{path}: scenario.tenants[1]: missing field 'name'"


def test_a_negative_reclaim_percent_is_refused_readably(capsys):
    code, _, err = run_cli(capsys, ["simulate", "--reclaim-percent", "-5", *STEPS])
    assert code == 2
    assert_one_line_error(err, "zswap-gym: --reclaim-percent: must be a percentage in [0, 100] (got -5)")
    code, _, err = run_cli(capsys, ["simulate", "--writeback-percent", "nan", *STEPS])
    assert code == 2 and "--writeback-percent" in err


def test_version_prints_the_package_version(capsys):
    code, out, _ = run_cli(capsys, ["--version"])
    assert code == 0 and out == f"zswap-gym {__version__}\n"


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def test_every_argument_of_every_command_has_help_text():
    parser = build_parser()
    commands = _subparsers(parser)
    assert set(commands) >= {"scenarios", "show", "agents", "run", "compare", "simulate"}
    undocumented = [
        f"{name} {action.option_strings or action.dest}"
        for name, sub in [("zswap-gym", parser), *commands.items()]
        for action in sub._actions
        if not isinstance(action, argparse._SubParsersAction) and not (action.help or "").strip()
    ]
    assert undocumented == []


def test_listings_print_descriptions_in_full(capsys):
    """``scenarios`` and ``agents`` print each description whole (wrapped, never cut)."""
    _, out, _ = run_cli(capsys, ["scenarios"])
    flat = " ".join(out.split())
    for name in list_scenarios():
        assert f"{name} {' '.join(load_scenario(name).description.split())}" in flat
    _, out, _ = run_cli(capsys, ["agents"])
    flat = " ".join(out.split())
    for name in list_policies():
        assert f"{name} {' '.join(policy_spec(name).summary.split())}" in flat
    for name in ENTRY_POINT_BASELINES:  # a declared policy's summary is its docstring's first paragraph
        doc = policy_spec(name).factory.__doc__.strip().split("\n\n")[0]
        assert policy_spec(name).summary == " ".join(doc.split())


def test_the_pytorch_threads_warning_is_given_once(monkeypatch):
    """A sharded env with PyTorch loaded and too many threads warns once, not at construction and
    again at its first reset."""
    import zswap_gym.env.shards as shards
    from zswap_gym.env import HostOffloadVectorEnv

    monkeypatch.setitem(sys.modules, "torch", types.SimpleNamespace(get_num_threads=lambda: 64))
    monkeypatch.setattr(shards, "_usable_cpus", lambda: 2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        env = HostOffloadVectorEnv(2, "default", max_episode_steps=2, workers=2)
        try:
            env.reset(seed=0)
            env.reset(seed=1)
        finally:
            env.close()
    assert len([w for w in caught if "PyTorch may use" in str(w.message)]) == 1


def test_run_writes_its_json_whole_with_the_scenario_digest(tmp_path, capsys):
    summary = tmp_path / "s.json"
    code, _, err = run_cli(capsys, ["run", "--agent", "noop", "--json", str(summary), *STEPS])
    assert code == 0, err
    record = json.loads(summary.read_text())
    assert record["summary"]["steps"] == 2 and len(record["scenario_digest"]) == 16
