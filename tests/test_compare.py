"""``compare``'s results file as data others can trust: every record keyed by the scenario's content,
nothing merged, duplicated or lost, a bad line named, outputs checked before anything runs, and no
worker process outliving a killed comparison."""

from __future__ import annotations

import builtins
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

import zswap_gym.policy.compare as compare
from zswap_gym.cli import main
from zswap_gym.policy.compare import ResultsFileError, load_results, run_comparison, scenario_digest
from zswap_gym.policy.report import format_table
from zswap_gym.sim import load_scenario
from zswap_gym.sim.scenario_io import scenario_dir

REPO = Path(__file__).resolve().parents[1]
STEPS = 3


def grid(path: Path, notes: list[str] | None = None, **kwargs) -> dict:
    """Keyword arguments of a small in-process comparison writing to ``path``."""
    return dict(
        results_path=str(path),
        episode_steps=STEPS,
        jobs=1,
        progress=False,
        note=(notes.append if notes is not None else None),
        **kwargs,
    )


def edited_copy(tmp_path: Path, name: str = "my.yaml", zero_filled_share: float = 0.3) -> Path:
    """A copy of the default scenario keeping its ``name: default``, with one workload value changed."""
    data = yaml.safe_load((scenario_dir() / "default.yaml").read_text())
    data["tenants"][0]["workload"]["zero_filled_share"] = zero_filled_share
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def counting_run_one(monkeypatch) -> list[tuple]:
    """Record every episode the comparison runs (in this process)."""
    ran: list[tuple] = []
    real = compare.run_one
    monkeypatch.setattr(compare, "run_one", lambda *args: ran.append(args) or real(*args))
    return ran


def table_rows(table: str) -> list[list[str]]:
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in table.splitlines()[2:]]


def no_episode_may_run(monkeypatch) -> None:
    def refuse(*_args, **_kwargs):
        raise AssertionError("an episode ran before the outputs were checked")

    monkeypatch.setattr(compare, "run_one", refuse)
    monkeypatch.setattr("zswap_gym.policy.run_episode", refuse)


# --------------------------------------------------------------------------------------------------
# 1-2. Keyed by content
# --------------------------------------------------------------------------------------------------


def test_two_scenarios_with_one_name_and_different_content_get_a_row_each(tmp_path):
    """``compare --scenarios default my.yaml``, my.yaml an edited copy still named ``default``: two rows,
    one seed each, labelled apart by their content digest; never one row averaging the two."""
    mine = edited_copy(tmp_path)
    notes: list[str] = []
    table = run_comparison(["default", str(mine)], ["noop"], **grid(tmp_path / "r.jsonl", notes))
    rows = table_rows(table)
    default, edited = load_scenario("default"), load_scenario(mine)
    assert scenario_digest(default) != scenario_digest(edited)
    assert sorted(r[0] for r in rows) == sorted(f"default@{scenario_digest(s)[:8]}" for s in (default, edited)), table
    assert [r[2] for r in rows] == ["1", "1"]
    assert any("differ in content" in n and str(mine) in n for n in notes)
    digests = {r["scenario_digest"] for r in load_results(str(tmp_path / "r.jsonl"))}
    assert digests == {scenario_digest(default), scenario_digest(edited)}


def test_the_table_refuses_to_average_different_contents_under_one_name():
    summary = {"steps": 1, **{k: 0.0 for k in ("dram_saved_percent", "stall_percent", "psi_some_avg10_mean")}}
    summary |= dict.fromkeys(
        ("refault_latency_mean_us", "refault_latency_p99_us", "promotion_rate_percent_per_min", "ssd_write_mb_s"), 0.0
    )
    summary |= {"cpu_percent": 0.0, "oom_kills": 0.0, "episode_return": 0.0}
    rows = [
        {"scenario": "default", "scenario_digest": digest, "policy": "noop", "seed": 0, "summary": summary}
        for digest in ("aaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbb")
    ]
    with pytest.raises(ValueError, match=r"scenario 'default': results of 2 different scenario contents .*refusing"):
        format_table(rows)


def test_the_same_content_named_twice_is_one_scenario(tmp_path):
    """``default`` and the path of its file are one scenario: one row, its episode run once."""
    table = run_comparison(["default", str(scenario_dir() / "default.yaml")], ["noop"], **grid(tmp_path / "r.jsonl"))
    assert [r[:3] for r in table_rows(table)] == [["default", "noop", "1"]]
    assert len(load_results(str(tmp_path / "r.jsonl"))) == 1


def test_an_edited_scenario_file_runs_its_episodes_again(tmp_path, monkeypatch):
    """Records are keyed by the scenario's content, not its path: after an edit the saved episodes are
    not reused (and the user is told), the rerun's table is the new content's."""
    mine = edited_copy(tmp_path, zero_filled_share=0.3)
    path = tmp_path / "r.jsonl"
    run_comparison([str(mine)], ["noop"], **grid(path))
    edited_copy(tmp_path, zero_filled_share=0.5)
    ran = counting_run_one(monkeypatch)
    notes: list[str] = []
    run_comparison([str(mine)], ["noop"], **grid(path, notes))
    assert len(ran) == 1
    assert any("not reused" in n and str(mine) in n for n in notes), notes
    records = load_results(str(path))
    assert len(records) == 2 and records[-1]["scenario_digest"] == scenario_digest(load_scenario(mine))
    ran.clear()
    run_comparison([str(mine)], ["noop"], **grid(path))  # now it is all there
    assert ran == []


def test_records_of_another_package_version_are_not_reused(tmp_path, monkeypatch):
    path = tmp_path / "r.jsonl"
    run_comparison(["default"], ["noop"], **grid(path))
    record = json.loads(path.read_text())
    path.write_text(json.dumps({**record, "version": "0.0.1"}) + "\n")
    ran = counting_run_one(monkeypatch)
    run_comparison(["default"], ["noop"], **grid(path))
    assert len(ran) == 1


# --------------------------------------------------------------------------------------------------
# 3-5. The file itself
# --------------------------------------------------------------------------------------------------


def test_a_torn_last_line_is_dropped_before_the_next_record_is_appended(tmp_path, monkeypatch):
    """An interrupted write leaves half a line without its newline: the rerun drops it (saying so),
    runs that episode again, and the file ends with whole, valid lines only."""
    path = tmp_path / "r.jsonl"
    run_comparison(["default"], ["noop"], seeds=[0, 1], **grid(path))
    first, second = path.read_text().splitlines(keepends=True)
    path.write_text(first + second[:25])
    ran = counting_run_one(monkeypatch)
    notes: list[str] = []
    run_comparison(["default"], ["noop"], seeds=[0, 1], **grid(path, notes))
    assert len(ran) == 1
    text = path.read_text()
    assert text.endswith("\n") and [json.loads(line)["seed"] for line in text.splitlines()] == [0, 1]
    assert any("line 2" in n and "cut short" in n and "dropped" in n for n in notes), notes


def test_a_last_record_without_its_newline_is_kept_and_completed(tmp_path):
    path = tmp_path / "r.jsonl"
    run_comparison(["default"], ["noop"], **grid(path))
    path.write_text(path.read_text().rstrip("\n"))
    run_comparison(["default"], ["noop"], seeds=[0, 1], **grid(path))
    assert [json.loads(line)["seed"] for line in path.read_text().splitlines()] == [0, 1]


def test_repeated_agents_and_seeds_run_and_count_once(tmp_path, capsys):
    """``--agents noop noop --seeds 0 0`` is one cell: one episode stored, one seed in the table."""
    path = tmp_path / "r.jsonl"
    args = ["compare", "--scenarios", "default", "default", "--agents", "noop", "noop", "--seeds", "0", "0"]
    assert main([*args, "--steps", str(STEPS), "--out", str(path), "--jobs", "1", "--quiet"]) == 0
    assert "| default | noop | 1 |" in capsys.readouterr().out
    assert len(load_results(str(path))) == 1


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ('{"bogus": 1}', "not a compare record: missing 'version', 'scenario', 'policy', 'seed', 'summary'"),
        ("[1, 2]", "not a compare record: expected a JSON object, got list"),
        ('{"version": "0.1.0", "scenario": "default", "policy": "noop", "seed": "zero", "summary": {}}', "'seed'"),
        ("this is not json", "not valid JSON"),
    ],
)
def test_a_foreign_line_is_named_by_file_and_line_with_what_is_wrong(tmp_path, capsys, line, says):
    path = tmp_path / "r.jsonl"
    run_comparison(["default"], ["noop"], **grid(path))
    with open(path, "a", encoding="utf-8") as f:
        f.write(line + "\n")
    args = ["compare", "--scenarios", "default", "--agents", "noop", "--steps", str(STEPS), "--out", str(path)]
    assert main([*args, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{path}, line 2: " in err and says in err, err
    with pytest.raises(ResultsFileError, match="line 2"):
        load_results(str(path))


# --------------------------------------------------------------------------------------------------
# 6. Outputs checked before anything runs
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make_args", "says"),
    [
        (lambda d: ["compare", "--out", str(d)], "--out"),  # a directory as the results file
        (lambda d: ["compare", "--out", str(d / "file" / "r.jsonl")], "is a file, not a directory"),
        (lambda d: ["compare", "--out", str(d / "r.jsonl"), "--markdown", str(d)], "--markdown"),
        (lambda d: ["run", "--json", str(d)], "--json"),
        (lambda d: ["run", "--json", str(d / "missing" / "s.json")], "does not exist"),
        (lambda d: ["run", "--plot", str(d / "file" / "p.png")], "--plot"),
        (lambda d: ["run", "--plot", str(d / "x.xyz")], "unknown image format 'xyz'"),
    ],
)
def test_output_paths_are_checked_before_any_episode_runs(tmp_path, capsys, monkeypatch, make_args, says):
    no_episode_may_run(monkeypatch)
    (tmp_path / "file").write_text("a regular file\n")
    args = make_args(tmp_path)
    common = ["--steps", str(STEPS), "--quiet"]
    if args[0] == "run":
        args += ["--agent", "noop", *common]
    else:
        args += ["--scenarios", "default", "--agents", "noop", "--jobs", "1", *common]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("zswap-gym: ") and err.count("\n") == 1 and says in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]  # nothing created


def test_a_fully_saved_grid_needs_no_write_access_to_the_results_file(tmp_path, monkeypatch):
    path = tmp_path / "r.jsonl"
    table = run_comparison(["default"], ["noop"], **grid(path))
    before = path.read_bytes()
    if os.geteuid() != 0:
        path.chmod(0o444)
    real_open, real_os_open = builtins.open, os.open

    def guarded_open(file, mode="r", *args, **kwargs):
        if os.fspath(file) == str(path) and any(c in mode for c in "wax+"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(file, mode, *args, **kwargs)

    def guarded_os_open(file, flags, *args, **kwargs):
        if os.fspath(file) == str(path) and flags & (os.O_WRONLY | os.O_RDWR):
            raise PermissionError(13, "Permission denied", str(path))
        return real_os_open(file, flags, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", guarded_open)
    monkeypatch.setattr(os, "open", guarded_os_open)
    assert run_comparison(["default"], ["noop"], **grid(path)) == table
    assert path.read_bytes() == before


def test_ctrl_c_leaves_no_empty_results_file(tmp_path, capsys, monkeypatch):
    def interrupted(*_args):
        raise KeyboardInterrupt

    monkeypatch.setattr(compare, "run_one", interrupted)
    path = tmp_path / "new" / "r.jsonl"
    args = ["compare", "--scenarios", "default", "--agents", "noop", "--steps", str(STEPS), "--jobs", "1"]
    try:
        code = main([*args, "--out", str(path), "--quiet"])
    except KeyboardInterrupt:
        pytest.fail("KeyboardInterrupt escaped main()")
    assert code == 130
    assert capsys.readouterr().err == "zswap-gym: interrupted\n"
    assert not (tmp_path / "new").exists()


# --------------------------------------------------------------------------------------------------
# 14. Worker processes
# --------------------------------------------------------------------------------------------------


def _stat(pid: int) -> list[str]:
    """The fields of ``/proc/<pid>/stat`` after the command name (state first); [] if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rpartition(")")[2].split()
    except OSError:
        return []


def _alive(pids: set[int]) -> set[int]:
    """Those of ``pids`` that still run (zombies are dead)."""
    return {pid for pid in pids if _stat(pid)[:1] not in ([], ["Z"], ["X"])}


def _descendants(pid: int) -> set[int]:
    """Every live process below ``pid``, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and _alive({int(entry)}):
            fields = _stat(int(entry))
            if fields:
                children.setdefault(int(fields[1]), []).append(int(entry))
    found, stack = set(), [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.add(child)
            stack.append(child)
    return found


def _cpu_s(pid: int) -> float:
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK") if len(fields) > 12 else 0.0


def _start_long_comparison(tmp_path: Path) -> tuple[subprocess.Popen, set[int]]:
    """``compare --jobs 2`` on four long episodes, started; returns it and its descendants once two
    of them (the workers) are running episodes."""
    args = ["compare", "--scenarios", "default", "--agents", "noop", "static-high", "--seeds", "0", "1"]
    args += ["--steps", "1000000", "--jobs", "2", "--quiet", "--out", str(tmp_path / "r.jsonl")]
    proc = subprocess.Popen(
        [sys.executable, "-m", "zswap_gym.cli", *args],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 90
    seen: set[int] = set()
    while time.monotonic() < deadline and proc.poll() is None:
        seen |= _descendants(proc.pid)
        if sum(_cpu_s(pid) > 0.3 for pid in seen) >= 2:
            break
        time.sleep(0.1)
    return proc, seen | _descendants(proc.pid)


def _stop(proc: subprocess.Popen, descendants: set[int]) -> None:
    """Kill what is left of a comparison this test started (by pid)."""
    for pid in _alive(descendants):
        os.kill(pid, signal.SIGKILL)
    if proc.poll() is None:
        proc.kill()
    proc.communicate(timeout=10)


def _wait_gone(pids: set[int], timeout_s: float = 15.0) -> set[int]:
    deadline = time.monotonic() + timeout_s
    while _alive(pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return _alive(pids)


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="tracks processes through /proc")
def test_sigkill_of_compare_leaves_no_worker_process_behind(tmp_path):
    """SIGKILL runs no cleanup: the workers (and the forkserver, the resource tracker) notice that
    their parent died and exit within seconds instead of running on as orphans."""
    proc, descendants = _start_long_comparison(tmp_path)
    try:
        assert proc.poll() is None and len(descendants) >= 2, descendants
        proc.kill()
        proc.wait(10)
        assert _wait_gone(descendants) == set(), "processes of the killed comparison still run"
    finally:
        _stop(proc, descendants)


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="tracks processes through /proc")
def test_ctrl_c_of_compare_with_workers_prints_one_line_and_stops_them(tmp_path):
    """Ctrl-C (SIGINT to every process of the command, as a terminal sends it): exit status 130, one
    line, no traceback from the command or its workers, the workers stopped, no empty file left."""
    proc, descendants = _start_long_comparison(tmp_path)
    try:
        assert proc.poll() is None and len(descendants) >= 2, descendants
        for pid in (proc.pid, *_alive(descendants)):
            os.kill(pid, signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            pytest.fail("compare did not stop within 30 s of Ctrl-C")
        assert proc.returncode == 130, err
        assert err.strip().splitlines() == ["zswap-gym: interrupted"], err
        assert _wait_gone(descendants) == set()
        assert not (tmp_path / "r.jsonl").exists()
    finally:
        _stop(proc, descendants)


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="tracks processes through /proc")
def test_the_watchdog_ends_a_worker_whose_parent_died_without_the_kernel_signal(tmp_path):
    """Where ``PR_SET_PDEATHSIG`` is not available the watchdog thread notices the parent's death."""
    worker = (
        "import time, zswap_gym.workers as w; w._set_parent_death_signal = lambda sig: False; "
        "w.exit_with_parent(interval_s=0.1); print('ready', flush=True); time.sleep(60)"
    )
    parent = (
        "import subprocess, sys, time; "
        f"p = subprocess.Popen([sys.executable, '-c', {worker!r}], stdout=subprocess.PIPE, text=True); "
        "p.stdout.readline(); print(p.pid, flush=True); time.sleep(60)"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", parent], cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)
    worker_pid = set()
    try:
        worker_pid = {int(proc.stdout.readline())}
        assert _alive(worker_pid) == worker_pid
        proc.kill()
        proc.wait(10)
        assert _wait_gone(worker_pid, 10.0) == set()
    finally:
        _stop(proc, worker_pid)
