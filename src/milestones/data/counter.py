"""Random integers as a pure function of (seed, sequence, draw): a counter-based generator.

The generated in-context data (data/keyvalue.py, data/repeats.py) addresses every sequence by
its index, so that a sequence is the same whatever batch it is drawn in, and evaluation reads
the same held-out sequences for every training run. A generator per sequence would cost a
Python call each; here every draw of a whole batch is one vectorised hash instead: draw j of
sequence i is splitmix64(splitmix64(splitmix64(seed) + i) + j), the finaliser of Steele, Lea &
Flood 2014 ("Fast splittable pseudorandom number generators"), whose output passes BigCrush.
"""

from __future__ import annotations

import numpy as np

_GAMMA = np.uint64(0x9E3779B97F4A7C15)


def splitmix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 output function of uint64 `x`, elementwise (arithmetic modulo 2^64)."""
    z = x + _GAMMA
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def draws(seed: int, indices: np.ndarray, n: int) -> np.ndarray:
    """(B, n) uint64: n independent 64-bit draws for each sequence index in `indices` (B,)."""
    with np.errstate(over="ignore"):
        base = splitmix64(splitmix64(np.array([seed % 2**64], dtype=np.uint64)) + indices.astype(np.uint64))
        return splitmix64(base[:, None] + np.arange(n, dtype=np.uint64)[None, :])


def integers(seed: int, indices: np.ndarray, n: int, high: int | np.ndarray) -> np.ndarray:
    """(B, n) int64 in [0, high) (`high` a number, (B, 1) per sequence or (n,) per draw): the draws modulo high,
    whose bias is below high / 2^64."""
    return (draws(seed, indices, n) % np.asarray(high, dtype=np.uint64)).astype(np.int64)
