"""Position information for attention, which by itself ignores order.

Sinusoidal (Vaswani et al. 2017, §3.5): PE(pos, 2i) = sin(pos / 10000^(2i/d)),
PE(pos, 2i+1) = cos(pos / 10000^(2i/d)); fixed, defined for any length. Learned (GPT, BERT):
one trained vector per position up to `max_len`. Both add to x (B, T, D) from position `offset`
on (offset > 0 when generating with a KV cache).
"""

from __future__ import annotations

import math

import torch
from torch import nn


def sinusoids(length: int, d_model: int) -> torch.Tensor:
    """(length, d_model): sin in the even columns, cos in the odd ones."""
    pos = torch.arange(length, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(10000.0) / d_model))
    pe = torch.zeros(length, d_model)
    pe[:, 0::2] = torch.sin(pos * freq)
    pe[:, 1::2] = torch.cos(pos * freq[: d_model // 2])
    return pe


class SinusoidalPositions(nn.Module):
    def __init__(self, d_model: int, max_len: int = 1024):
        super().__init__()
        self.d_model = d_model
        self.register_buffer("pe", sinusoids(max_len, d_model), persistent=False)

    def forward(self, x: torch.Tensor, offset: int = 0) -> torch.Tensor:
        end = offset + x.shape[1]
        if end > self.pe.shape[0]:  # longer than ever before: extend the table
            self.pe = sinusoids(2 * end, self.d_model).to(self.pe.device)
        return x + self.pe[offset:end].to(x.dtype)


class LearnedPositions(nn.Module):
    def __init__(self, d_model: int, max_len: int):
        super().__init__()
        self.max_len = max_len
        self.embedding = nn.Embedding(max_len, d_model)

    def forward(self, x: torch.Tensor, offset: int = 0) -> torch.Tensor:
        end = offset + x.shape[1]
        if end > self.max_len:
            raise ValueError(f"sequence of {end} positions is longer than the {self.max_len} learned positions")
        return x + self.embedding.weight[offset:end].to(x.dtype)
