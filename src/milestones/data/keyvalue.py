"""Sequences that teach nothing memorisable: each defines a fresh random mapping of keys to values.

For in-context learning (Brown et al. 2020, Fig. 1.2; Olsson et al. 2022, induction heads): a
sequence is `pairs` key-value pairs k_1 v_1 k_2 v_2 ..., the keys drawn uniformly from `keys`
symbols and each key's value fixed for the sequence, drawn uniformly from `values` symbols. A
new sequence draws a new mapping, so the only way to predict v_j is to find an earlier pair with
the same key in the context: at a key's first appearance (zero shots) the best accuracy is chance,
1 / values; after one earlier appearance (one shot) a model that copies can be perfect.

Token ids: keys 0 .. keys-1, values keys .. keys+values-1. Every sequence is a pure function of
(seed, index) (data/counter.py): draws 0 .. keys-1 are its mapping, the next `pairs` its keys.
"""

from __future__ import annotations

import numpy as np
import torch

from . import counter

EVAL_SEED = 2**31 - 1  # the held-out sequences: the same for every training seed


def sequences(indices: torch.Tensor, seed: int, keys: int, values: int, pairs: int) -> dict[str, torch.Tensor]:
    """The sequences at `indices` (B,) as a language-model batch:
    x, y (B, 2 pairs - 1) inputs and next tokens; mask (B, 2 pairs - 1), True where y is a value;
    shots (B, 2 pairs - 1): how many earlier pairs had the same key (-1 where y is a key);
    counting (B, 2 pairs - 1): the chance that a reader blind to the keys gets y right by guessing
    the value seen most often so far (ties split evenly; 1 / values before any; 0 where y is a key).
    It is what in-context accuracy owes to counting rather than to reading the key: at s shots the
    answer has been seen s times, more often than most other values."""
    r = counter.integers(seed, indices.numpy(), keys + pairs, np.array([values] * keys + [keys] * pairs))
    mapping, k = r[:, :keys], r[:, keys:]  # (B, keys) this sequence's key -> value; (B, pairs) its keys
    v = np.take_along_axis(mapping, k, 1)  # (B, pairs)
    seen = np.cumsum(np.eye(keys, dtype=np.int64)[k], 1)  # (B, pairs, keys): occurrences up to pair j
    n = np.take_along_axis(seen, k[..., None], 2)[..., 0] - 1  # (B, pairs): earlier pairs with this key
    tokens = np.stack([k, keys + v], 2).reshape(len(k), -1)  # (B, 2 pairs): k_1 v_1 k_2 v_2 ...
    shots = np.stack([np.full_like(n, -1), n], 2).reshape(len(k), -1)
    shown = np.eye(values)[v]  # (B, pairs, values): the value of pair j, one-hot
    before = np.cumsum(shown, 1) - shown  # (B, pairs, values): how often each was seen before pair j
    most = before.max(-1)  # (B, pairs)
    ties = (before == most[..., None]).sum(-1)
    hit = np.take_along_axis(before, v[..., None], 2)[..., 0] == most
    guess = np.where(most > 0, hit / ties, 1.0 / values)  # (B, pairs)
    counting = np.stack([np.zeros_like(guess), guess], 2).reshape(len(k), -1)
    t, s = torch.from_numpy(tokens), torch.from_numpy(shots)
    y_shots = s[:, 1:]  # position p predicts token p + 1
    return {"x": t[:, :-1], "y": t[:, 1:], "mask": y_shots >= 0, "shots": y_shots,
            "counting": torch.from_numpy(counting[:, 1:]).float()}
