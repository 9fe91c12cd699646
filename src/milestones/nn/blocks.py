"""Transformer layers (Vaswani et al. 2017, §3.1): encoder and decoder, post-LN or pre-LN.

Post-LN, the paper's: x = LayerNorm(x + Dropout(Sublayer(x))). Pre-LN (GPT-2; Xiong et al.
2020): x = x + Dropout(Sublayer(LayerNorm(x))), which trains without warm-up at depth.
Sublayers: multi-head self-attention, (decoder only) attention over the encoder's output, and
the position-wise feed-forward net FFN(x) = W_2 act(W_1 x + b_1) + b_2 (act: ReLU in the paper,
GELU in GPT and BERT). Parameter names follow `torch.nn.TransformerEncoderLayer` and
`TransformerDecoderLayer`, whose outputs these layers equal given the same weights.

An `EncoderLayer` with `causal=True` is a decoder-only (GPT) block; with `d_ff=0` it has no
feed-forward sublayer (an attention-only block, as in Olsson et al. 2022's small models).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .attention import KVCache, MultiHeadAttention

ACTIVATIONS = {"relu": F.relu, "gelu": F.gelu, "gelu_tanh": lambda x: F.gelu(x, approximate="tanh")}


class _FeedForward(nn.Module):
    def __init__(self, d_model: int, d_ff: int, dropout: float, activation: str, bias: bool = True):
        super().__init__()
        self.has_ff = d_ff > 0
        if self.has_ff:
            self.linear1 = nn.Linear(d_model, d_ff, bias=bias)
            self.linear2 = nn.Linear(d_ff, d_model, bias=bias)
        self.dropout = nn.Dropout(dropout)  # inside the FFN, as torch's layers (GPT-2 has none there)
        self.act = ACTIVATIONS[activation]

    def ff(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear2(self.dropout(self.act(self.linear1(x))))  # (B, T, D) -> (B, T, d_ff) -> (B, T, D)


class EncoderLayer(_FeedForward):
    """`bias=False` drops the biases of every projection and LayerNorm; `ff_dropout` sets the
    dropout inside the feed-forward net apart from the rest (GPT-2: 0); `d_ff=0` leaves the
    feed-forward sublayer out. After a call with `need_weights`, `weights` holds the attention
    weights (B, H, T, T)."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float = 0.1, norm_first: bool = False,
                 activation: str = "relu", eps: float = 1e-5, bias: bool = True, ff_dropout: float | None = None):
        super().__init__(d_model, d_ff, dropout if ff_dropout is None else ff_dropout, activation, bias)
        self.self_attn = MultiHeadAttention(d_model, n_heads, dropout, bias)
        self.norm1 = nn.LayerNorm(d_model, eps=eps, bias=bias)
        if self.has_ff:
            self.norm2 = nn.LayerNorm(d_model, eps=eps, bias=bias)
        self.dropout1, self.dropout2 = nn.Dropout(dropout), nn.Dropout(dropout)
        self.norm_first = norm_first
        self.weights: torch.Tensor | None = None

    def _sa(self, x: torch.Tensor, pad_mask: torch.Tensor | None, causal: bool, cache: KVCache | None,
            need_weights: bool = False) -> torch.Tensor:
        out, self.weights = self.self_attn(x, pad_mask=pad_mask, causal=causal, cache=cache,
                                           need_weights=need_weights)
        return self.dropout1(out)

    def forward(self, x: torch.Tensor, pad_mask: torch.Tensor | None = None, causal: bool = False,
                cache: KVCache | None = None, need_weights: bool = False) -> torch.Tensor:
        """x (B, T, D) -> (B, T, D). pad_mask (B, T) is True at padding."""
        if self.norm_first:
            x = x + self._sa(self.norm1(x), pad_mask, causal, cache, need_weights)
            return x + self.dropout2(self.ff(self.norm2(x))) if self.has_ff else x
        x = self.norm1(x + self._sa(x, pad_mask, causal, cache, need_weights))
        return self.norm2(x + self.dropout2(self.ff(x))) if self.has_ff else x


class DecoderLayer(_FeedForward):
    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float = 0.1, norm_first: bool = False,
                 activation: str = "relu", eps: float = 1e-5):
        super().__init__(d_model, d_ff, dropout, activation)
        self.self_attn = MultiHeadAttention(d_model, n_heads, dropout)
        self.multihead_attn = MultiHeadAttention(d_model, n_heads, dropout)  # over the encoder's output
        self.norm1, self.norm2, self.norm3 = (nn.LayerNorm(d_model, eps=eps) for _ in range(3))
        self.dropout1, self.dropout2, self.dropout3 = (nn.Dropout(dropout) for _ in range(3))
        self.norm_first = norm_first
        self.weights: torch.Tensor | None = None  # the last cross-attention weights, when asked for

    def _sa(self, x: torch.Tensor, pad_mask: torch.Tensor | None, cache: KVCache | None) -> torch.Tensor:
        return self.dropout1(self.self_attn(x, pad_mask=pad_mask, causal=True, cache=cache)[0])

    def _ca(self, x: torch.Tensor, memory: torch.Tensor, memory_pad_mask: torch.Tensor | None,
            cache: KVCache | None, need_weights: bool) -> torch.Tensor:
        out, self.weights = self.multihead_attn(x, memory, pad_mask=memory_pad_mask, cache=cache,
                                                need_weights=need_weights)
        return self.dropout2(out)

    def forward(self, x: torch.Tensor, memory: torch.Tensor, memory_pad_mask: torch.Tensor | None = None,
                pad_mask: torch.Tensor | None = None, cache: tuple[KVCache, KVCache] | None = None,
                need_weights: bool = False) -> torch.Tensor:
        """x (B, T, D) attends causally to itself and to memory (B, S, D) -> (B, T, D).
        cache: (self-attention cache, cross-attention cache) when generating step by step."""
        sc, cc = cache if cache is not None else (None, None)
        if self.norm_first:
            x = x + self._sa(self.norm1(x), pad_mask, sc)
            x = x + self._ca(self.norm2(x), memory, memory_pad_mask, cc, need_weights)
            return x + self.dropout3(self.ff(self.norm3(x)))
        x = self.norm1(x + self._sa(x, pad_mask, sc))
        x = self.norm2(x + self._ca(x, memory, memory_pad_mask, cc, need_weights))
        return self.norm3(x + self.dropout3(self.ff(x)))
