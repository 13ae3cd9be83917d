"""Counter-based random numbers: one independent stream per host, drawn for all hosts at once.

A host's random numbers are a pure function of its 64-bit key (from ``numpy.random.SeedSequence``),
a draw counter and the element index, hashed with the splitmix64 finaliser. So host ``i`` sees the
same numbers whatever the batch size, whatever process it runs in, and saving the state is saving
one counter; and all hosts are drawn in one vectorised pass (no Python loop over hosts).
"""

from __future__ import annotations

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)
_S40, _LOW24 = np.uint64(40), np.uint64((1 << 24) - 1)
_ONE = np.uint64(1)
_TO_UNIT24 = np.float32(1.0 / (1 << 24))


def _unit24(x: np.ndarray) -> np.ndarray:
    """24-bit integers (uint64 below 2**24) as float32, exactly: through int32, whose conversion to
    float32 is a vector instruction (uint64's is not)."""
    return x.astype(np.int32).astype(np.float32)


def host_keys(seed: int | None, num_hosts: int, first_host: int = 0) -> np.ndarray:
    """64-bit keys for hosts ``first_host .. first_host + num_hosts - 1`` of a seed, shape (H,) uint64.

    Host ``i``'s key comes from ``SeedSequence(seed, spawn_key=(i,))``: independent of batch size.
    """
    return np.array([host_key(seed, first_host + i) for i in range(num_hosts)], dtype=np.uint64)


def host_key(seed: int | None, host: int = 0) -> np.uint64:
    """The key of host ``host`` of ``seed``: ``SeedSequence(seed, spawn_key=(host,))``."""
    seq = np.random.SeedSequence(seed, spawn_key=(host,))
    return seq.generate_state(1, dtype=np.uint64)[0]


def _splitmix64_inplace(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser, in place. Array integer arithmetic wraps modulo 2**64 silently in
    numpy (only scalar operations warn), which is what the hash wants."""
    x ^= x >> _S30
    x *= _MIX1
    x ^= x >> _S27
    x *= _MIX2
    x ^= x >> _S31
    return x


SITES = (
    "init_attributes",
    "init_idle",
    "alloc_attributes",
    "alloc_time",
    "shift_pick",
    "shift_rate",
    "access",
)
"""Every place the simulator draws random numbers. A draw's numbers depend on the host's key, its
step index, the site, and how many times *that host* took part in that site during the step, so
what other hosts of the batch do never shifts a host's stream."""
_SITE_INDEX = {name: i for i, name in enumerate(SITES)}
_STEP_STRIDE = np.uint64(1 << 24)
_SITE_STRIDE = np.uint64(1 << 12)


class CounterRNG:
    """Uniform draws for arrays shaped (H, N), one stream per host row.

    ``step_index`` (H,) is each host's step (set by the simulator); ``invocations`` (H, sites)
    counts each host's draws per site within the step and is cleared by :meth:`begin_step`.
    A call only counts for the hosts in ``active`` (default: all).
    """

    def __init__(self, keys: np.ndarray) -> None:
        self.keys = np.asarray(keys, dtype=np.uint64)
        h = self.keys.shape[0]
        self.invocations = np.zeros((h, len(SITES)), dtype=np.uint64)
        self._column_salt: dict[int, np.ndarray] = {}
        self.begin_step(np.zeros(h, dtype=np.int64))

    def begin_step(self, step_index: np.ndarray) -> None:
        """Start counting draws for the step each host is about to take."""
        self.step_index = np.asarray(step_index, dtype=np.int64).copy()
        self.invocations[:] = 0
        self.refresh_base()

    def refresh_base(self) -> None:
        """Recompute, per host and site, the counter of its first draw this step (step + 1, site, 0)
        after ``step_index`` changed."""
        base = (self.step_index + 1).astype(np.uint64) * _STEP_STRIDE
        self._site_base = base[:, None] + np.arange(len(SITES), dtype=np.uint64)[None, :] * _SITE_STRIDE

    def _counters(self, site: str, active: np.ndarray | None) -> np.ndarray:
        j = _SITE_INDEX[site]
        inv = self.invocations[:, j]
        counter = self._site_base[:, j] + inv
        if active is None:
            inv += _ONE
        else:
            inv += active
        return counter

    def _salt(self, n: int) -> np.ndarray:
        salt = self._column_salt.get(n)
        if salt is None:
            with np.errstate(over="ignore"):
                cols = np.arange(n, dtype=np.uint64) * _MIX2
            salt = self._column_salt[n] = self.keys[:, None] ^ cols[None, :]
        return salt

    def _hash(self, n: int, site: str, active: np.ndarray | None) -> np.ndarray:
        return self._hash_at(n, self._counters(site, active))

    def _hash_at(self, n: int, counter: np.ndarray) -> np.ndarray:
        x = self._salt(n) + (counter * _GOLDEN)[:, None]
        return _splitmix64_inplace(x)

    def peek24_pair(self, n: int, site: str) -> tuple[np.ndarray, np.ndarray]:
        """What the next ``uniform24_pair(n, site)`` of every host will return, without drawing it
        (the stream does not move; :meth:`advance` moves it as that draw would)."""
        j = _SITE_INDEX[site]
        x = self._hash_at(n, self._site_base[:, j] + self.invocations[:, j])
        return _unit24(x >> _S40), _unit24(x & _LOW24)

    def advance(self, site: str) -> None:
        """Move every host's stream past one draw at ``site`` (the draw :meth:`peek24_pair` showed)."""
        self.invocations[:, _SITE_INDEX[site]] += _ONE

    def uniform_pair(self, n: int, site: str, active: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Two independent float32 arrays (H, n), uniform on [0, 1), from one 64-bit hash each."""
        x = self._hash(n, site, active)
        hi, lo = _unit24(x >> _S40), _unit24(x & _LOW24)
        hi *= _TO_UNIT24
        lo *= _TO_UNIT24
        return hi, lo

    def uniform24_pair(self, n: int, site: str, active: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`uniform_pair` before its scaling by ``2**-24``: two float32 arrays (H, n) of whole
        numbers in [0, 2**24). For callers that fold the scale into a constant: ``hi < p * 2**24`` is
        exactly ``u1 < p``, and ``lo * (p * 2**-24)`` exactly ``u2 * p`` (power-of-two scaling)."""
        x = self._hash(n, site, active)
        return _unit24(x >> _S40), _unit24(x & _LOW24)

    def uniform(self, n: int, site: str, active: np.ndarray | None = None) -> np.ndarray:
        """One float32 array (H, n) uniform on [0, 1)."""
        x = self._hash(n, site, active)
        u = _unit24(x >> _S40)
        u *= _TO_UNIT24
        return u

    def pair_at(self, rows: np.ndarray, cols: np.ndarray, site: str) -> tuple[np.ndarray, np.ndarray]:
        """Two uniform float32 arrays for the selected (row, column) elements only; counts for the
        hosts that have at least one element."""
        active = np.bincount(rows, minlength=self.keys.shape[0]) > 0
        counter = self._counters(site, active)
        return uniform_pair_at(self.keys, counter, rows, cols)

    def get_state(self) -> dict[str, np.ndarray]:
        """The streams' keys and positions (everything needed to continue identically)."""
        return {"keys": self.keys.copy(), "step_index": self.step_index.copy(), "invocations": self.invocations.copy()}

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        self.keys = state["keys"].copy()
        self._column_salt.clear()
        self.begin_step(state["step_index"])
        self.invocations = state["invocations"].astype(np.uint64)


def uniform_pair_at(
    keys: np.ndarray, counter: np.ndarray, rows: np.ndarray, cols: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Two uniform float32 draws for selected (row, column) elements, ``counter`` (H,) per host.

    The same (key, counter, column) gives the same numbers as a full-width draw would hash, so a
    host's draws do not depend on which other elements were selected.
    """
    x = (keys[rows] ^ (cols.astype(np.uint64) * _MIX2)) + counter[rows] * _GOLDEN
    x = _splitmix64_inplace(x)
    hi = (x >> _S40).astype(np.float32) * _TO_UNIT24
    lo = (x & _LOW24).astype(np.float32) * _TO_UNIT24
    return hi, lo
