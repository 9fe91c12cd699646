"""Random tokens with a repeated segment: the data on which induction heads form (Olsson et al.
2022, "In-context Learning and Induction Heads", §"Argument 1" and the repeated random tokens of
Elhage et al. 2021, "A Mathematical Framework for Transformer Circuits").

A sequence is `length` tokens drawn uniformly from `vocab` symbols, except that a segment of
L tokens (L uniform in [min_repeat, max_repeat]) starting at offset a is copied to a later offset
b >= a + L: the lag b - a uniform in [L, length - L], then a uniform where the copy fits; both
are drawn anew for every sequence, so no position or lag tells where the copy is.
The first token of the copy is as unpredictable as any other (chance, 1 / vocab); every later one
is predictable by an induction head: find the earlier occurrence of the current token and copy
the token that followed it, which takes one head to mark each position with its predecessor and
a head in a later layer to match on that mark.

Every sequence is a pure function of (seed, index) (data/counter.py).
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import UserError
from . import counter

EVAL_SEED = 2**31 - 2  # the held-out sequences: the same for every training seed


def check(vocab: int, length: int, min_repeat: int, max_repeat: int) -> None:
    if vocab < 2:
        raise UserError(f"--rep-vocab {vocab}: random tokens need at least 2 symbols")
    if not 2 <= min_repeat <= max_repeat:
        raise UserError(f"--rep-min {min_repeat} and --rep-max {max_repeat}: a repeat needs 2 <= min <= max "
                        "(its first token is unpredictable; the rest are what is measured)")
    if 2 * max_repeat > length:
        raise UserError(f"--rep-max {max_repeat} does not fit twice in sequences of --rep-length {length}")


def sequences(indices: torch.Tensor, seed: int, vocab: int, length: int, min_repeat: int,
              max_repeat: int) -> dict[str, torch.Tensor]:
    """The sequences at `indices` (B,) as a language-model batch: x, y (B, length - 1) inputs and
    next tokens; repeat (B, length - 1): where y lies in the copy (0 its first token, 1 the second,
    ...), -1 outside it; source (B, length - 1): the position in x of the token that y copies
    (-1 outside the copy)."""
    r = counter.draws(seed, indices.numpy(), length + 3)  # (B, length + 3)
    span = np.uint64(max_repeat - min_repeat + 1)
    seg = min_repeat + (r[:, 0] % span).astype(np.int64)  # (B,) segment lengths L
    lag = seg + (r[:, 1] % (length - 2 * seg + 1).astype(np.uint64)).astype(np.int64)  # b - a, uniform in [L, T - L]
    a = (r[:, 2] % (length - lag - seg + 1).astype(np.uint64)).astype(np.int64)  # (B,) the segment's start
    b = a + lag  # (B,) the copy's start
    tokens = (r[:, 3:] % np.uint64(vocab)).astype(np.int64)  # (B, length)
    p = np.arange(length)[None, :]
    inside = (p >= b[:, None]) & (p < (b + seg)[:, None])  # (B, length): the copy
    src = np.where(inside, p - b[:, None] + a[:, None], p)
    tokens = np.take_along_axis(tokens, src, 1)
    where = np.where(inside, p - b[:, None], -1)  # (B, length): index within the copy
    t = torch.from_numpy(tokens)
    return {"x": t[:, :-1], "y": t[:, 1:], "repeat": torch.from_numpy(where[:, 1:]),
            "source": torch.from_numpy(np.where(inside, src, -1)[:, 1:])}
