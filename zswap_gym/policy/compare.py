"""Every policy on every scenario: run the episodes, save each result as it finishes, resume.

Results go to a JSON-lines file, one record per episode. A record is keyed by everything that decides
its episode: the scenario's *content* (:func:`scenario_digest`, a hash of the resolved, validated
config, so an edited scenario file is a new scenario and its episodes run again), the policy, the
seed, the horizon and the package version. A rerun with the same file skips what is already there, so
an interrupted comparison loses at most the episodes that were running; a torn last line (a write cut
short) is dropped before the next record is appended. Episodes are independent and deterministic, so
they run in parallel worker processes (which end if this process dies) and the table is the same
whatever the order they finish in.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any, TypeVar

from zswap_gym.sim import ScenarioConfig, load_scenario

from .report import format_table
from .runner import run_episode
from .summary import SUMMARY_COLUMNS

T = TypeVar("T")

CellKey = tuple[str, str, str, int, int]
"""(package version, scenario digest, policy, seed, episode steps): what decides one episode's record."""


class ResultsFileError(ValueError):
    """The results file cannot be read or written; the message names the file (and the line)."""


def scenario_digest(scenario: ScenarioConfig) -> str:
    """A short hash of everything in the resolved scenario (its canonical JSON): same content, same digest."""
    canonical = json.dumps(dataclasses.asdict(scenario), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class ScenarioEntry:
    """One scenario of a comparison: as the user named it, its resolved config and the name in the table."""

    arg: str
    """The name or path it was given as."""
    config: ScenarioConfig
    digest: str
    """:func:`scenario_digest` of ``config``."""
    label: str
    """Its row label: the scenario's name, with ``@`` and the digest's first 8 digits when another
    scenario of the comparison has the same name."""


def unique(items: Iterable[T]) -> list[T]:
    """``items`` without repeats, in their first order."""
    return list(dict.fromkeys(items))


def resolve_scenarios(scenarios: Sequence[str | ScenarioConfig]) -> list[ScenarioEntry]:
    """Load every scenario, drop repeats of the same content, and label them unambiguously."""
    loaded: dict[str, tuple[str, ScenarioConfig]] = {}
    for item in scenarios:
        config = item.validate() if isinstance(item, ScenarioConfig) else load_scenario(item)
        arg = config.name if isinstance(item, ScenarioConfig) else str(item)
        loaded.setdefault(scenario_digest(config), (arg, config))
    names = [config.name for _, config in loaded.values()]
    entries = []
    for digest, (arg, config) in loaded.items():
        label = config.name if names.count(config.name) == 1 else f"{config.name}@{digest[:8]}"
        entries.append(ScenarioEntry(arg, config, digest, label))
    return entries


# --------------------------------------------------------------------------------------------------
# The results file
# --------------------------------------------------------------------------------------------------

_FIELD_TYPES: dict[str, tuple[type, str]] = {
    "version": (str, "a text"),
    "scenario": (str, "a text"),
    "policy": (str, "a text"),
    "seed": (int, "a whole number"),
    "summary": (dict, "a mapping"),
}
"""Fields every record has (records of older versions too), with their type."""
_KEY_FIELD_TYPES: dict[str, tuple[type, str]] = {
    "scenario_digest": (str, "a text"),
    "episode_steps": (int, "a whole number"),
}
"""Fields that key a record; a record without them comes from an older zswap-gym and is never reused."""


@dataclass
class SavedResults:
    """What a results file holds: its valid records and, if its last line was torn, where that line starts."""

    path: str
    records: list[dict[str, Any]]
    valid_bytes: int
    """Bytes of the file up to and including its last valid line."""
    torn: bytes = b""
    """A last line cut short by an interrupted write (ignored, dropped before appending)."""
    torn_line: int = 0
    needs_newline: bool = False
    """The last line is a whole record without its newline (one is added before appending)."""


def _is_type(value: Any, kind: type) -> bool:
    return isinstance(value, kind) and not (kind is int and isinstance(value, bool))


def _check_record(record: Any, where: str) -> dict[str, Any]:
    """``record`` if it is a compare record; a :class:`ResultsFileError` saying what is wrong otherwise."""
    from zswap_gym import __version__

    if not isinstance(record, dict):
        raise ResultsFileError(f"{where}: not a compare record: expected a JSON object, got {type(record).__name__}")
    missing = [name for name in _FIELD_TYPES if name not in record]
    if missing:
        raise ResultsFileError(f"{where}: not a compare record: missing {', '.join(map(repr, missing))}")
    for name, (kind, text) in {**_FIELD_TYPES, **_KEY_FIELD_TYPES}.items():
        if name in record and not _is_type(record[name], kind):
            raise ResultsFileError(f"{where}: field {name!r} = {record[name]!r}: expected {text}")
    if record["version"] == __version__ and "scenario_digest" in record:  # a record this version may reuse
        summary = record["summary"]
        for field, _, _ in SUMMARY_COLUMNS:
            value = summary.get(field)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ResultsFileError(f"{where}: summary field {field!r} = {value!r}: expected a number")
    return record


def read_results(path: str) -> SavedResults:
    """Read ``path`` (nothing if it does not exist). A line that is not a compare record raises
    :class:`ResultsFileError` naming the file, the line and what is wrong; a last line that is not
    valid JSON (a write cut short) is left out and reported in :attr:`SavedResults.torn`."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return SavedResults(path, [], 0)
    except IsADirectoryError:
        raise ResultsFileError(f"{path}: is a directory, not a results file") from None
    except NotADirectoryError:
        raise ResultsFileError(f"{path}: {_file_on_the_way(path)} is a file, not a directory") from None
    except OSError as exc:
        raise ResultsFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    saved = SavedResults(path, [], 0)
    lines = data.split(b"\n")
    offset = 0
    for number, raw in enumerate(lines, start=1):
        last = number == len(lines)
        end = offset + len(raw) + (0 if last else 1)
        if raw.strip():
            try:
                record = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                if last:  # no newline after it: a write cut short
                    saved.torn, saved.torn_line = raw, number
                    break
                reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "not UTF-8 text"
                raise ResultsFileError(
                    f"{path}, line {number}: not valid JSON ({reason}); remove the line to rerun its episode"
                ) from None
            saved.records.append(_check_record(record, f"{path}, line {number}"))
            saved.needs_newline = last
        saved.valid_bytes = end
        offset = end
    return saved


def _file_on_the_way(path: str) -> str:
    """The first parent of ``path`` that exists and is not a directory."""
    parent = os.path.dirname(os.path.abspath(path))
    while parent != os.path.dirname(parent) and not os.path.exists(parent):
        parent = os.path.dirname(parent)
    return parent


def load_results(path: str) -> list[dict[str, Any]]:
    """The records saved in ``path`` (none if it does not exist); a torn last line is left out."""
    return read_results(path).records


def record_key(record: dict[str, Any]) -> CellKey | None:
    """The cell a record answers; None for a record of an older zswap-gym (not keyed by content)."""
    if "scenario_digest" not in record or "episode_steps" not in record:
        return None
    return (record["version"], record["scenario_digest"], record["policy"], record["seed"], record["episode_steps"])


class _ResultsAppender:
    """Appends records to the results file, one whole line per ``write`` call.

    Opening it checks that the file can be written (before anything runs), creating it and its
    directories, and drops a torn last line. If nothing was appended when it closes, what it created is
    removed again, so a run that fails or is interrupted leaves no empty file behind."""

    def __init__(self, saved: SavedResults) -> None:
        path = self.path = saved.path
        self.appended = 0
        self._created_dirs: list[str] = []
        self._created = not os.path.lexists(path)
        try:
            parent = os.path.dirname(os.path.abspath(path))
            missing: list[str] = []
            while not os.path.exists(parent):
                missing.append(parent)
                parent = os.path.dirname(parent)
            for directory in reversed(missing):
                os.mkdir(directory)
                self._created_dirs.append(directory)
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        except OSError as exc:
            self._remove_created()
            reason = "is a directory" if os.path.isdir(path) else (exc.strerror or str(exc))
            raise ResultsFileError(f"{path}: cannot write the results file: {reason}") from None
        try:
            if saved.torn:
                os.ftruncate(self._fd, saved.valid_bytes)
            elif saved.needs_newline:
                self._write(b"\n")
        except OSError as exc:
            self.close()
            raise ResultsFileError(f"{path}: cannot write the results file: {exc.strerror or exc}") from None

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]

    def append(self, record: dict[str, Any]) -> None:
        self._write((json.dumps(record) + "\n").encode("utf-8"))
        self.appended += 1

    def _remove_created(self) -> None:
        if self._created and self.appended == 0 and os.path.isfile(self.path):
            os.unlink(self.path)
        for directory in reversed(self._created_dirs):
            try:
                os.rmdir(directory)
            except OSError:
                break

    def close(self) -> None:
        os.close(self._fd)
        if self.appended == 0:
            self._remove_created()


# --------------------------------------------------------------------------------------------------
# Running the episodes
# --------------------------------------------------------------------------------------------------


def run_one(scenario: ScenarioConfig, policy: str, seed: int, episode_steps: int) -> dict[str, Any]:
    """One episode as a JSON-able record (the caller adds what names its scenario: digest and argument)."""
    from zswap_gym import __version__

    result = run_episode(scenario, policy, seed=seed, episode_steps=episode_steps)
    return {
        "version": __version__,
        "scenario": result.scenario,
        "policy": result.policy,
        "seed": seed,
        "episode_steps": episode_steps,
        "policy_config": result.policy_config,
        "reward_weights": result.reward_weights,
        "summary": result.summary.as_dict(),
    }


def _worker_init(owner_pid: int) -> None:
    """A pool worker: Ctrl-C is its parent's to handle, and it ends when its parent dies."""
    from zswap_gym.workers import exit_with_parent

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    exit_with_parent(owner_pid)


def _stop_pool(pool: ProcessPoolExecutor) -> None:
    """Cancel what has not started and end the workers now (an episode in flight is lost)."""
    terminate = getattr(pool, "terminate_workers", None)  # Python >= 3.14
    if terminate is not None:
        terminate()
        return
    processes = list((getattr(pool, "_processes", None) or {}).values())  # (shutdown forgets them)
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(5.0)


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity where the platform has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _note_to_stderr(message: str) -> None:
    print(f"zswap-gym: {message}", file=sys.stderr)


@dataclass(frozen=True)
class _Cell:
    scenario: ScenarioEntry
    policy: str
    seed: int
    episode_steps: int

    @property
    def key(self) -> CellKey:
        from zswap_gym import __version__

        return (__version__, self.scenario.digest, self.policy, self.seed, self.episode_steps)


def run_comparison(
    scenarios: Sequence[str | ScenarioConfig],
    policies: Sequence[str],
    *,
    seeds: Sequence[int] = (0,),
    results_path: str = "results/compare.jsonl",
    episode_steps: int | None = None,
    jobs: int | None = None,
    progress: bool = True,
    note: Callable[[str], None] | None = _note_to_stderr,
) -> str:
    """Run what is missing from ``results_path`` and return the Markdown table of the requested cells.

    Args:
        scenarios, policies, seeds: the grid (repeats are dropped, the order kept; two scenario
            arguments with the same content are one scenario).
        results_path: JSON-lines file results are appended to (created with its directory; not written
            at all when every cell is already there).
        episode_steps: horizon in steps, >= 1 (default each scenario's own).
        jobs: worker processes, >= 1 (default: the CPUs this process may use; 1 runs in this process).
        progress: show a progress bar.
        note: called with what the user should know (a torn line dropped, stale records ignored);
            default: printed to stderr.

    Raises:
        ResultsFileError: the results file holds a line that is not a record, or cannot be written.
        ValueError: a seed < 0, ``episode_steps`` or ``jobs`` < 1, or an unknown scenario or policy.
    """
    from tqdm import tqdm

    from zswap_gym import __version__

    from .registry import policy_spec

    note = note or (lambda _: None)
    seeds = unique(int(s) for s in seeds)
    bad_seeds = [s for s in seeds if s < 0]
    if bad_seeds:
        raise ValueError(f"seeds: must be >= 0 (got {bad_seeds[0]})")
    if episode_steps is not None and episode_steps < 1:
        raise ValueError(f"episode_steps: must be >= 1 (got {episode_steps})")
    if jobs is not None and jobs < 1:
        raise ValueError(f"jobs: must be >= 1 (got {jobs})")
    policies = unique(policies)
    for policy in policies:
        policy_spec(policy)  # an unknown name fails here, before anything runs
    entries = resolve_scenarios(scenarios)
    for entry in entries:
        if entry.label != entry.config.name:
            same = [f"{e.label} = {e.arg}" for e in entries if e.config.name == entry.config.name]
            note(f"scenarios named {entry.config.name!r} differ in content; their rows: {', '.join(same)}")
            break
    cells = [
        _Cell(entry, policy, seed, episode_steps or entry.config.episode_steps)
        for entry in entries
        for policy in policies
        for seed in seeds
    ]

    saved = read_results(results_path)
    done: dict[CellKey, dict[str, Any]] = {}
    for record in saved.records:
        key = record_key(record)
        if key is not None:
            done[key] = record
    todo = [cell for cell in cells if cell.key not in done]
    _note_stale(saved, entries, {cell.scenario.arg for cell in todo}, __version__, note)
    if saved.torn:
        action = "dropped it" if todo else "ignored it"
        note(f"{results_path}, line {saved.torn_line}: {len(saved.torn)} bytes of a write cut short: {action}")

    if todo:
        jobs = min(jobs or usable_cpus(), len(todo))
        writer = _ResultsAppender(saved)
        try:
            with tqdm(
                total=len(cells), initial=len(cells) - len(todo), desc="compare", unit="episode", disable=not progress
            ) as bar:

                def save(cell: _Cell, record: dict[str, Any]) -> None:
                    record = {**record, "scenario_digest": cell.scenario.digest, "scenario_arg": cell.scenario.arg}
                    writer.append(record)
                    done[cell.key] = record
                    bar.update(1)

                if jobs == 1:
                    for cell in todo:
                        save(cell, run_one(cell.scenario.config, cell.policy, cell.seed, cell.episode_steps))
                else:
                    _run_in_pool(todo, jobs, save)
        finally:
            writer.close()
    rows = [{**done[cell.key], "scenario": cell.scenario.label} for cell in cells]
    return format_table(rows)


def _run_in_pool(todo: Sequence[_Cell], jobs: int, save: Callable[[_Cell, dict[str, Any]], None]) -> None:
    """Run ``todo`` on ``jobs`` worker processes, saving each record as it arrives."""
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    pool = ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=multiprocessing.get_context(method),
        initializer=_worker_init,
        initargs=(os.getpid(),),
    )
    try:
        futures: dict[Future[dict[str, Any]], _Cell] = {
            pool.submit(run_one, cell.scenario.config, cell.policy, cell.seed, cell.episode_steps): cell
            for cell in todo
        }
        for future in as_completed(futures):
            save(futures[future], future.result())
    except BaseException:  # an episode failed, or Ctrl-C: stop the others now
        _stop_pool(pool)
        raise
    pool.shutdown(wait=True)


def _note_stale(
    saved: SavedResults,
    entries: Sequence[ScenarioEntry],
    rerun_args: set[str],
    version: str,
    note: Callable[[str], None],
) -> None:
    """Say when saved records of a scenario argument that runs again were made from other content (an
    edited file) or by another version: they are not reused."""
    for entry in entries:
        if entry.arg not in rerun_args:
            continue
        stale = [
            r
            for r in saved.records
            if r.get("scenario_arg") == entry.arg
            and (r.get("scenario_digest") != entry.digest or r.get("version") != version)
        ]
        if stale:
            note(
                f"{saved.path}: {len(stale)} saved episode(s) of scenario {entry.arg!r} were run on other "
                f"scenario content or by another zswap-gym version: not reused, its episodes run again"
            )
