"""Shards: the hosts of one vector env stepped in several processes at once.

A batched step costs a fixed part (hundreds of numpy calls on small per-memcg arrays, the same for
1 host or 64) plus a part per host (passes over the chunk arrays). On a machine with idle cores,
``HostOffloadVectorEnv(..., workers=k)`` splits the hosts into ``k`` contiguous shards: shard 0
runs in the calling process, each other shard in a worker process of its own, and all of them
step at the same time. Each shard is an :class:`~zswap_gym.env.core.OffloadCore` over its slice of
the hosts (``first_host``), so host ``i`` draws the same random numbers and gets the same seeds
whatever the split: a sharded env's trajectories are the unsharded env's, bit for bit.

A step's actions go to the workers, and its results (observations, rewards, episode flags and
the two info blocks) come back, through one shared-memory block per worker; nothing is pickled.
Everything else (reset, save, render) is a message over a pipe. Between steps a worker computes
the part of its next step that no action changes (:meth:`~zswap_gym.sim.Simulator.prepare_step`,
while the caller's policy chooses the actions), then spins on its block for ``spin_s`` seconds (a
step of SB3's rollout follows the last one within a few milliseconds; waking a sleeping process
costs 30-80 microseconds on a virtual machine), then sleeps until the next command. The caller
spins while it waits, preparing its own shard's next step meanwhile. With fewer usable CPUs than
processes, nobody spins.

Nothing outlives the caller, even one killed with SIGKILL (which runs no cleanup): the workers
are its own children (``spawn``, so no forkserver process stays behind), and each one exits when
the caller is gone — at once on Linux (``PR_SET_PDEATHSIG``), else within a second of sleeping
(it watches its parent pid and a pipe only the caller holds open). The resource tracker that
``multiprocessing`` starts for the shared blocks exits when the last process holding it (caller
and workers) has, and unlinks the blocks they leaked.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import pickle
import signal
import sys
import threading
import time
import traceback
import warnings
import weakref
from multiprocessing import shared_memory
from typing import Any

import numpy as np

from ..sim import ScenarioConfig
from ..sim.simulator import PreparedStep
from .actions import ActionConfig, validate_actions
from .core import InfoBlocks, OffloadCore, resolve_scenario
from .reward import RewardConfig

# A worker's control words (int64, at the start of its shared block).
_SEQ, _DONE, _KIND, _WITH_INFO, _FAILED = range(5)
_CONTROL_WORDS = 8
# Command kinds.
_STEP, _MESSAGE, _STOP = 1, 2, 3
DEFAULT_SPIN_S = 0.05
"""How long an idle worker (and the caller waiting for a worker) spins before it sleeps (s)."""
_ALIGN = 64


def shard_sizes(num_envs: int, workers: int) -> list[int]:
    """Hosts per shard, the calling process's (shard 0) first: it gets 3 hosts less than an even
    share (at least one host), the workers split the rest evenly.

    The caller's shard is light because this process also runs the caller's policy between steps
    (SB3's rollout: its caches are then cold for the simulator, about +20 % per step) and joins the
    results, while each worker computes its next step's action-independent part ahead between
    steps (:meth:`~zswap_gym.sim.Simulator.prepare_step`); the caller prepares its own next step
    only while it waits. Measured on the default scenario with 2 processes: SB3 PPO on 8 hosts,
    1 + 7 hosts stepped in 0.90-0.93 ms, 2 + 6 in 0.96 ms; a plain loop of vector steps on 16
    hosts, 5 + 11 hosts 9,100 env-steps/s, 2 + 14 hosts 8,100 (SPEED.md).
    """
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise ValueError(f"workers = {workers!r}: must be a positive integer")
    if workers > num_envs:
        raise ValueError(f"workers = {workers} for {num_envs} hosts: each worker needs at least one host")
    if workers == 1:
        return [num_envs]
    caller = max(1, num_envs // workers - 3)
    caller = min(caller, num_envs - (workers - 1))  # every worker keeps a host
    base, extra = divmod(num_envs - caller, workers - 1)
    return [caller] + [base + (1 if k >= workers - 1 - extra else 0) for k in range(workers - 1)]


class _Block:
    """Views of one worker's shared-memory block: control words, the actions of its hosts, and a
    step's results. Both sides build the same views from the same shapes (:meth:`layout`)."""

    control: np.ndarray
    actions: np.ndarray
    obs: np.ndarray
    reward: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    host: np.ndarray
    memcg: np.ndarray

    def __init__(
        self, buf: Any, n: int, action_shape: tuple[int, ...], obs_size: int, host_info: tuple, memcg_info: tuple
    ):
        offset = 0
        for name, shape, dtype in self.layout(n, action_shape, obs_size, host_info, memcg_info):
            view = np.ndarray(shape, dtype=dtype, buffer=buf, offset=offset)
            setattr(self, name, view)
            offset += _aligned(view.nbytes)

    @staticmethod
    def layout(
        n: int, action_shape: tuple[int, ...], obs_size: int, host_info: tuple, memcg_info: tuple
    ) -> list[tuple[str, tuple[int, ...], type]]:
        """Each view's name, shape and dtype, in block order."""
        return [
            ("control", (_CONTROL_WORDS,), np.int64),
            ("actions", (n, *action_shape), np.float64),  # validated actions, as checked by the caller
            ("obs", (n, obs_size), np.float32),
            ("reward", (n,), np.float64),
            ("terminated", (n,), np.bool_),
            ("truncated", (n,), np.bool_),
            ("host", tuple(host_info), np.float64),
            ("memcg", tuple(memcg_info), np.float64),
        ]

    @classmethod
    def nbytes(cls, *shapes: Any) -> int:
        """The block's size for :meth:`layout`'s arguments."""
        return sum(_aligned(int(np.prod(shape)) * np.dtype(dtype).itemsize) for _, shape, dtype in cls.layout(*shapes))


def _aligned(nbytes: int) -> int:
    return -(-nbytes // _ALIGN) * _ALIGN


def _block_shapes(core: OffloadCore) -> tuple[int, tuple[int, ...], int, tuple, tuple]:
    host_info, memcg_info = core.info_shapes
    return core.num_envs, core.action_shape, core.observer.size, host_info, memcg_info


class _Caller:
    """What a worker knows of the process that started it, to exit when that process is gone."""

    def __init__(self, pid: int, alive: Any) -> None:
        self.pid = pid
        self.alive = alive
        """The reading end of a pipe only the caller holds open: readable (EOF) once it is gone."""
        self.is_parent = False
        """Whether the caller is this process's parent (not so when a forkserver started it)."""

    def gone(self) -> bool:
        """Whether the caller has exited: a parent that exits leaves us a new parent pid; the
        pipe tells in every case (a forkserver parent lives as long as we do)."""
        return (self.is_parent and os.getppid() != self.pid) or self.alive.poll()

    def die_with_it(self, pdeathsig: bool) -> None:
        """Have the kernel kill this process when the caller exits (Linux, if the caller is the
        parent and ``pdeathsig``), and exit now if it is gone already."""
        self.is_parent = os.getppid() == self.pid
        if pdeathsig and self.is_parent and sys.platform.startswith("linux"):
            _set_pdeathsig(signal.SIGKILL)
        if self.gone():  # it died before the signal was set
            raise SystemExit(0)


def _set_pdeathsig(sig: int) -> None:
    """``prctl(PR_SET_PDEATHSIG, sig)``: the kernel sends ``sig`` to this process when the thread
    that created it exits (silently nothing where the C library has no ``prctl``)."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(sig), 0, 0, 0)  # PR_SET_PDEATHSIG = 1 (linux/prctl.h)
    except (OSError, AttributeError):
        pass


def _await_command(control: np.ndarray, last: int, spin_s: float, go: Any, caller: _Caller) -> None:
    """Wait until the caller posts a command after ``last``: spin for ``spin_s``, then sleep on
    ``go`` (released once per command, so a token is there when the command is). Exits the process
    if the caller is gone (checked after each second of sleep)."""
    if spin_s > 0.0:
        deadline = time.perf_counter() + spin_s
        spins = 0
        while control[_SEQ] == last:
            spins += 1
            if not spins & 1023 and time.perf_counter() > deadline:
                break
        else:
            # Posted: the caller releases ``go`` right after; take it without sleeping (a sleeping
            # process takes tens of microseconds to wake up).
            for _ in range(1 << 20):
                if go.acquire(False):
                    return
    while not go.acquire(timeout=1.0):
        if caller.gone():  # nobody will post again
            raise SystemExit(0)


def _worker_main(
    conn: Any, shm_name: str, core_spec: bytes, spin_s: float, go: Any, done: Any, caller: _Caller, pdeathsig: bool
) -> None:
    """A worker process: unpickle its shard's core, then serve commands until stopped (or until
    ``caller`` is gone; ``pdeathsig``: the kernel may signal its exit)."""
    caller.die_with_it(pdeathsig)
    try:
        core: OffloadCore = pickle.loads(core_spec)
        shm = shared_memory.SharedMemory(name=shm_name)
    except Exception:
        conn.send(("error", traceback.format_exc()))
        return
    conn.send(("ready", None))
    try:
        _serve(core, _Block(shm.buf, *_block_shapes(core)), conn, spin_s, go, done, caller)
    finally:
        shm.close()


def _serve(core: OffloadCore, block: _Block, conn: Any, spin_s: float, go: Any, done: Any, caller: _Caller) -> None:
    """Serve commands. After each one, while the caller is busy elsewhere (a policy choosing the
    next actions), compute ahead the part of the next step that no action changes."""
    control = block.control
    last = 0
    prepared = core.sim.prepare_step()
    while True:
        _await_command(control, last, spin_s, go, caller)
        last = int(control[_SEQ])
        kind = int(control[_KIND])
        if kind == _STOP:
            control[_DONE] = last
            return
        if kind == _STEP:
            try:
                with_info = bool(control[_WITH_INFO])
                obs, reward, terminated, truncated, blocks = core.step_blocks(
                    block.actions, with_info=with_info, checked=True, prepared=prepared
                )
                block.obs[...] = obs
                block.reward[...] = reward
                block.terminated[...] = terminated
                block.truncated[...] = truncated
                block.host[...] = blocks.host
                if with_info:
                    block.memcg[...] = blocks.memcg
            except Exception:
                control[_FAILED] = 1
                conn.send(("error", traceback.format_exc()))
            control[_DONE] = last
            if spin_s <= 0.0:
                done.release()
        else:
            name, args = conn.recv()
            try:
                reply = ("ok", _handle_message(core, name, args))
            except Exception:
                reply = ("error", traceback.format_exc())
            control[_DONE] = last
            conn.send(reply)
        prepared = core.sim.prepare_step()


def _handle_message(core: OffloadCore, name: str, args: tuple) -> Any:
    if name == "reset":
        return core.reset(*args)
    if name == "ansi":
        return core.ansi()
    if name == "state":
        return pickle.dumps(core, protocol=pickle.HIGHEST_PROTOCOL)
    if name == "episode_steps":
        return core.episode_steps.copy()
    raise ValueError(f"unknown shard message {name!r}")


def _usable_cpus() -> int:
    """CPUs this process may run on (its affinity where the platform has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def warn_if_threads_collide(workers: int) -> None:
    """Warn when PyTorch (if loaded) may run more threads than the CPUs the spinning worker
    processes leave this process: its threads and the workers would then take turns on the same
    CPUs (measured: SB3 PPO four times slower). Does not import PyTorch."""
    torch = sys.modules.get("torch")
    if torch is None or workers < 2:
        return
    free = max(1, _usable_cpus() - (workers - 1))
    threads = torch.get_num_threads()
    if threads > free:
        warnings.warn(
            f"PyTorch may use {threads} threads, but only {free} of {_usable_cpus()} CPUs are left beside "
            f"{workers - 1} spinning worker process(es) (workers={workers}): call torch.set_num_threads({free}) "
            "first, or the policy and the workers take turns on the same CPUs (several times slower)",
            RuntimeWarning,
            stacklevel=1,  # one place: the default filter then prints it once per process
        )


def _shutdown(workers: list[_Worker]) -> None:
    for worker in workers:
        worker.stop()


class _Worker:
    """The caller's side of one worker process: its process, pipe, semaphores and shared block."""

    def __init__(self, ctx: Any, core_spec: bytes, shapes: tuple, spin_s: float, first_host: int) -> None:
        """Start a worker on the pickled core ``core_spec`` (its block shapes ``shapes``), whose
        host 0 is host ``first_host`` of the batch."""
        self.first_host, self.num_hosts = first_host, shapes[0]
        self.spin_s = spin_s
        self.shm = shared_memory.SharedMemory(create=True, size=_Block.nbytes(*shapes))
        self.block = _Block(self.shm.buf, *shapes)
        self.block.control[:] = 0
        self.seq = 0
        self._done_taken = False
        self.go, self.done = ctx.Semaphore(0), ctx.Semaphore(0)
        self.conn, child = ctx.Pipe()
        alive, self._alive = ctx.Pipe(duplex=False)  # never written: EOF in the worker once we are gone
        # The kernel's parent-death signal is sent when the creating *thread* exits: only for the
        # main thread, whose end is the process's.
        pdeathsig = threading.current_thread() is threading.main_thread()
        self.process = ctx.Process(
            target=_worker_main,
            args=(child, self.shm.name, core_spec, spin_s, self.go, self.done, _Caller(os.getpid(), alive), pdeathsig),
            name=f"zswap-gym-shard-{first_host}",
            daemon=True,
        )
        self.process.start()
        child.close()
        alive.close()
        self._reply()  # "ready": the core is built

    @property
    def hosts(self) -> str:
        return f"hosts {self.first_host}..{self.first_host + self.num_hosts - 1}"

    def post(self, kind: int, with_info: bool = False) -> None:
        control = self.block.control
        control[_KIND] = kind
        control[_WITH_INFO] = with_info
        self.seq += 1
        control[_SEQ] = self.seq
        self.go.release()

    def finished(self) -> bool:
        """Whether the worker finished the step posted last (without waiting)."""
        if self.spin_s > 0.0:
            return bool(self.block.control[_DONE] == self.seq)
        if not self._done_taken:
            self._done_taken = self.done.acquire(block=False)
        return self._done_taken

    def wait_step(self) -> None:
        """Wait until the worker finished the step posted last; raise its error if it failed."""
        control = self.block.control
        if not self.spin_s > 0.0 and self._done_taken:
            self._done_taken = False  # finished() took the worker's signal already
        elif self.spin_s > 0.0:
            spins = 0
            while control[_DONE] != self.seq:
                spins += 1
                if not spins & 4095 and not self.process.is_alive():
                    self._died()
        else:
            while not self.done.acquire(timeout=0.5):
                if not self.process.is_alive():
                    self._died()
        if control[_FAILED]:
            control[_FAILED] = 0
            self._reply()

    def ask(self, name: str, *args: Any) -> Any:
        """Run a message on the worker's core and return its result."""
        self.tell(name, *args)
        return self._reply()

    def tell(self, name: str, *args: Any) -> None:
        """Start a message on the worker's core; :meth:`result` waits for its result."""
        self.conn.send((name, args))
        self.post(_MESSAGE)

    def result(self) -> Any:
        """The result of the message started last by :meth:`tell`."""
        return self._reply()

    def _reply(self) -> Any:
        try:
            status, value = self.conn.recv()
        except (EOFError, OSError):
            self._died()
        if status == "error":
            raise RuntimeError(f"the worker process of {self.hosts} failed:\n{value}")
        return value

    def _died(self) -> None:
        raise RuntimeError(
            f"the worker process of {self.hosts} exited unexpectedly (exit code {self.process.exitcode})"
        )

    def stop(self) -> None:
        """Stop the process (if running) and free the shared block."""
        if self.process.is_alive():
            self.post(_STOP)
            self.process.join(timeout=5.0)
            if self.process.is_alive():
                self.process.terminate()
                self.process.join()
        self.conn.close()
        self._alive.close()
        del self.block
        self.shm.close()
        self.shm.unlink()


class ShardedCore:
    """:class:`~zswap_gym.env.core.OffloadCore`'s interface over ``workers`` shards of the hosts:
    shard 0 in this process, the others in worker processes (see the module docstring).

    The simulators live in their processes, so ``sim`` and ``last_metrics`` are not available
    here; ``ansi()`` asks every shard for its hosts' tables.

    Args:
        scenario, num_envs, reward, actions, observation, max_episode_steps: as ``OffloadCore``.
        workers: processes stepping the hosts, this one included (at most ``num_envs``).
        spin_s: how long an idle worker spins before it sleeps (s); default
            ``DEFAULT_SPIN_S`` when this process may use at least ``workers`` CPUs, else 0 (no
            spinning: every wait sleeps).
        start_method: ``multiprocessing`` start method; default ``"spawn"`` (safe after threads,
            such as PyTorch's, have started, and the workers are this process's children: no
            forkserver process, which would live as long as they do; see the module docstring).
    """

    def __init__(
        self,
        scenario: str | ScenarioConfig = "default",
        num_envs: int = 2,
        reward: RewardConfig | None = None,
        actions: ActionConfig | None = None,
        observation: str = "full",
        max_episode_steps: int | None = None,
        workers: int = 2,
        spin_s: float | None = None,
        start_method: str | None = None,
    ) -> None:
        sizes = shard_sizes(num_envs, workers)
        scenario = resolve_scenario(scenario)
        starts = np.concatenate(([0], np.cumsum(sizes)[:-1])).tolist()
        cores = [
            OffloadCore(scenario, n, reward, actions, observation, max_episode_steps, first_host=first)
            for n, first in zip(sizes, starts, strict=True)
        ]
        remote = [pickle.dumps(c, protocol=pickle.HIGHEST_PROTOCOL) for c in cores[1:]]
        self._start(cores[0], remote, sizes[1:], spin_s, start_method)

    def _start(
        self, local: OffloadCore, remote: list[bytes], sizes: list[int], spin_s: float | None, start_method: str | None
    ) -> None:
        """Serve shard 0 from ``local`` and start a worker on each pickled core of ``remote``
        (``sizes``: their hosts)."""
        self.local = local
        self.workers = 1 + len(remote)  # processes stepping the hosts, this one included
        if spin_s is None:
            spin_s = DEFAULT_SPIN_S if _usable_cpus() >= self.workers else 0.0
        if not spin_s >= 0.0:
            raise ValueError(f"spin_s = {spin_s!r}: must be >= 0 seconds")
        self.spin_s = float(spin_s)
        if self.spin_s > 0.0:
            warn_if_threads_collide(self.workers)
        if start_method is None:
            start_method = "spawn"
        self.start_method = start_method
        ctx = mp.get_context(start_method)
        self._workers: list[_Worker] = []
        self._finalizer = weakref.finalize(self, _shutdown, self._workers)
        _, action_shape, obs_size, (host_rows, _), (memcg_rows, _, m) = _block_shapes(local)
        first = local.num_envs
        for spec, n in zip(remote, sizes, strict=True):
            shapes = (n, action_shape, obs_size, (host_rows, n), (memcg_rows, n, m))
            self._workers.append(_Worker(ctx, spec, shapes, self.spin_s, first))
            first += n
        self.num_envs = first
        self.scenario = local.scenario
        self.reward_config = local.reward_config
        self.action_config = local.action_config
        self.observation_mode = local.observation_mode
        self.max_episode_steps = local.max_episode_steps
        self.observer = local.observer
        self.action_shape = local.action_shape
        self.first_host = 0
        self._batch_action_shape = (self.num_envs, *self.action_shape)
        self.episode_seeds = np.zeros(self.num_envs, dtype=np.int64)
        self._local_prepared: PreparedStep | None = None
        self._slices = [slice(0, local.num_envs)] + [
            slice(w.first_host, w.first_host + w.num_hosts) for w in self._workers
        ]

    @property
    def feature_names(self) -> tuple[str, ...]:
        return self.local.feature_names

    @property
    def episode_steps(self) -> np.ndarray:
        return np.concatenate([self.local.episode_steps, *(w.ask("episode_steps") for w in self._workers)])

    @property
    def sim(self):
        raise AttributeError(
            "the simulators of a sharded env (workers > 1) live in their worker processes; "
            "make the env with workers=1 to inspect its simulator"
        )

    @property
    def last_metrics(self):
        raise AttributeError(
            "the step metrics of a sharded env (workers > 1) stay in its worker processes; "
            "make the env with workers=1 to read them (the info has the per-step figures)"
        )

    def reset(self, seeds: list[int | None], mask: np.ndarray | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        """``OffloadCore.reset`` for every shard (each with its slice of ``seeds`` and ``mask``)."""
        mask = np.ones(self.num_envs, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
        if self.spin_s > 0.0 and mask.all():  # (a training library may have loaded PyTorch since)
            warn_if_threads_collide(self.workers)
        for worker, part in zip(self._workers, self._slices[1:], strict=True):  # all shards at once
            worker.tell("reset", list(seeds[part]), mask[part])
        head = self._slices[0]
        parts = [self.local.reset(list(seeds[head]), mask[head]), *(w.result() for w in self._workers)]
        obs = np.concatenate([p[0] for p in parts])
        self.episode_seeds = np.concatenate([p[1]["episode_seed"] for p in parts])
        return obs, {"episode_seed": self.episode_seeds.copy(), "reward_weights": parts[0][1]["reward_weights"]}

    def step(self, actions: object) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        obs, reward, terminated, truncated, blocks = self.step_blocks(actions)
        return obs, reward, terminated, truncated, blocks.info

    def step_blocks(
        self, actions: object, with_info: bool = True, checked: bool = False
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, InfoBlocks]:
        """``OffloadCore.step_blocks``: every shard steps at once; the results are joined in host
        order (the info's blocks are joined along the host axis). ``checked=True``: ``actions``
        are already what ``validate_actions`` returns."""
        # Whole-batch errors, before any shard acts.
        valid = actions if checked else validate_actions(actions, self._batch_action_shape)
        for worker, part in zip(self._workers, self._slices[1:], strict=True):
            worker.block.actions[...] = valid[part]
            worker.post(_STEP, with_info)
        prepared = self._local_prepared
        if prepared is not None and not self.local.sim.is_current(prepared):
            prepared = None  # something happened in between (a reset)
        obs, reward, terminated, truncated, blocks = self.local.step_blocks(
            valid[self._slices[0]], with_info, checked=True, prepared=prepared
        )
        # While the workers finish: this shard's part of the joined results, then as much of its
        # next step as fits before they are done.
        head = self._slices[0]
        out = [np.empty((self.num_envs, *a.shape[1:]), dtype=a.dtype) for a in (obs, reward, terminated, truncated)]
        for joined_part, part in zip(out, (obs, reward, terminated, truncated), strict=True):
            joined_part[head] = part
        host = np.empty((blocks.host.shape[0], self.num_envs))
        host[:, head] = blocks.host
        memcg = None
        if with_info:
            memcg = np.empty((blocks.memcg.shape[0], self.num_envs, blocks.memcg.shape[2]))
            memcg[:, head] = blocks.memcg
        self._local_prepared = self.local.sim.prepare_step(stop=self._workers_done)
        for worker, part in zip(self._workers, self._slices[1:], strict=True):
            worker.wait_step()
            b = worker.block
            for joined_part, shard_part in zip(out, (b.obs, b.reward, b.terminated, b.truncated), strict=True):
                joined_part[part] = shard_part
            host[:, part] = b.host
            if memcg is not None:
                memcg[:, part] = b.memcg
        joined = self.local.info_blocks(host, memcg) if memcg is not None else InfoBlocks(blocks.host_keys, host)
        obs, reward, terminated, truncated = out
        return obs, reward, terminated, truncated, joined

    def _workers_done(self) -> bool:
        return all(worker.finished() for worker in self._workers)

    def ansi(self) -> list[str]:
        """Each host's text table of its last step, in host order."""
        tables = self.local.ansi()
        for worker in self._workers:
            tables += worker.ask("ansi")
        return tables

    def close(self) -> None:
        """Stop the worker processes (idempotent)."""
        self._finalizer()

    def __getstate__(self) -> dict[str, Any]:
        """The shards' cores (the workers' fetched from them) and the settings; restoring starts new
        workers that continue where these are."""
        return {
            "local": self.local,
            "remote": [w.ask("state") for w in self._workers],
            "sizes": [w.num_hosts for w in self._workers],
            "spin_s": self.spin_s,
            "start_method": self.start_method,
            "episode_seeds": self.episode_seeds,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._start(state["local"], state["remote"], state["sizes"], state["spin_s"], state["start_method"])
        self.episode_seeds = state["episode_seeds"].copy()
