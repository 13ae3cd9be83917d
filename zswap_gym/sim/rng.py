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
_TO_UNIT24 = np.float32(1.0 / (1 << 24))


def host_keys(seed: int | None, num_hosts: int, first_host: int = 0) -> np.ndarray:
    """64-bit keys for hosts ``first_host .. first_host + num_hosts - 1`` of a seed, shape (H,) uint64.

    Host ``i``'s key comes from ``SeedSequence(seed, spawn_key=(i,))``: independent of batch size.
    """
    keys = np.empty(num_hosts, dtype=np.uint64)
    for i in range(num_hosts):  # reset-time only
        seq = np.random.SeedSequence(seed, spawn_key=(first_host + i,))
        keys[i] = seq.generate_state(1, dtype=np.uint64)[0]
    return keys


def _splitmix64_inplace(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        x ^= x >> _S30
        x *= _MIX1
        x ^= x >> _S27
        x *= _MIX2
        x ^= x >> _S31
    return x


class CounterRNG:
    """Uniform draws for arrays shaped (H, N), one stream per host row.

    Each call advances a draw counter shared by all hosts; a call's numbers depend on (key, counter,
    column index) only. ``state`` is that counter.
    """

    def __init__(self, keys: np.ndarray) -> None:
        self.keys = np.asarray(keys, dtype=np.uint64)
        self.counter = 0
        self._column_salt: dict[int, np.ndarray] = {}

    def _salt(self, n: int) -> np.ndarray:
        salt = self._column_salt.get(n)
        if salt is None:
            with np.errstate(over="ignore"):
                cols = np.arange(n, dtype=np.uint64) * _MIX2
            base = self.keys[:, None] ^ cols[None, :]
            salt = self._column_salt[n] = base
        return salt

    def _hash(self, n: int) -> np.ndarray:
        self.counter += 1
        with np.errstate(over="ignore"):
            step = np.uint64(self.counter) * _GOLDEN
            x = self._salt(n) + step
        return _splitmix64_inplace(x)

    def uniform_pair(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Two independent float32 arrays (H, n), uniform on [0, 1), from one 64-bit hash each."""
        x = self._hash(n)
        hi = (x >> _S40).astype(np.float32)
        lo = (x & _LOW24).astype(np.float32)
        hi *= _TO_UNIT24
        lo *= _TO_UNIT24
        return hi, lo

    def uniform(self, n: int) -> np.ndarray:
        """One float32 array (H, n) uniform on [0, 1)."""
        x = self._hash(n)
        u = (x >> _S40).astype(np.float32)
        u *= _TO_UNIT24
        return u

    def pair_at(self, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Two uniform float32 arrays for the selected (row, column) elements only (one draw)."""
        self.counter += 1
        return uniform_pair_at(self.keys, self.counter, rows, cols)

    def uniform64(self, n: int) -> np.ndarray:
        """One float64 array (H, n) uniform on (0, 1) with 53-bit resolution (for rare draws)."""
        x = self._hash(n)
        return ((x >> np.uint64(11)).astype(np.float64) + 0.5) * (1.0 / (1 << 53))


def uniform_pair_at(
    keys: np.ndarray, counter: int, rows: np.ndarray, cols: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Two uniform float32 draws for selected (row, column) elements only, from draw ``counter``.

    The same (key, counter, column) gives the same numbers as a full-width draw would hash, so a
    host's draws do not depend on which other elements were selected.
    """
    with np.errstate(over="ignore"):
        x = (keys[rows] ^ (cols.astype(np.uint64) * _MIX2)) + np.uint64(counter) * _GOLDEN
    x = _splitmix64_inplace(x)
    hi = (x >> _S40).astype(np.float32) * _TO_UNIT24
    lo = (x & _LOW24).astype(np.float32) * _TO_UNIT24
    return hi, lo
