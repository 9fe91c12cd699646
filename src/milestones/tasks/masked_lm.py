"""Masked language modelling: BERT's pre-training objective (Devlin et al. 2019, §3.1 task 1 and
Appendix A.1). The training task that uses it comes with the BERT milestone; the masking rule is
written here, once, so that it can be tested on its own.

Of the WordPiece tokens of each sequence, 15% are chosen at random (never [CLS], [SEP] or
padding). Of the chosen: 80% are replaced by [MASK], 10% by a random token, 10% are left as they
are, so that the model cannot learn that only [MASK] positions matter. The loss is computed at the
chosen positions only; every other position's label is -100 (cross-entropy's ignore_index).
"""

from __future__ import annotations

import torch

IGNORE = -100


def mask_tokens(tokens: torch.Tensor, special: torch.Tensor, mask_id: int, vocab_size: int,
                generator: torch.Generator, rate: float = 0.15,
                random_ids: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs, labels) for token ids (B, T). `special` (B, T) is True at [CLS], [SEP] and padding,
    which are never chosen. A random replacement is drawn from `random_ids` (default: every id;
    give the ids of ordinary pieces to leave special tokens out)."""
    chosen = (torch.rand(tokens.shape, generator=generator) < rate) & ~special  # (B, T): 15%
    labels = tokens.masked_fill(~chosen, IGNORE)
    roll = torch.rand(tokens.shape, generator=generator)
    to_mask = chosen & (roll < 0.8)  # 80% of the chosen
    to_random = chosen & (roll >= 0.8) & (roll < 0.9)  # 10%; the last 10% stay as they are
    if random_ids is None:
        random_ids = torch.arange(vocab_size)
    pick = torch.randint(len(random_ids), tokens.shape, generator=generator)
    inputs = tokens.masked_fill(to_mask, mask_id)
    inputs = torch.where(to_random, random_ids[pick], inputs)
    return inputs, labels
