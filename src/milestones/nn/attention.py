"""Multi-head attention (Vaswani et al. 2017, "Attention Is All You Need", §3.2).

    Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k)) V
    MultiHead(Q, K, V) = Concat(head_1, ..., head_h) W^O,  head_i = Attention(Q W_i^Q, K W_i^K, V W_i^V)

The heads are computed together: one (d_model, 3 d_model) input projection, as
`torch.nn.MultiheadAttention` stores it (`in_proj`), so self-attention is a single matrix
multiply; cross-attention projects the query with the first third and the memory with the rest.
The product itself is `F.scaled_dot_product_attention` (fused kernels on CPU and CUDA), unless
the caller asks for the weights (attention maps), which takes the explicit path.

Masks: `pad_mask` (B, S) is True at padding keys, which receive no attention; `causal=True`
lets query i see keys up to i only (decoders). A `KVCache` keeps the keys and values of
earlier positions so that generating token t costs one query, not t: self-attention appends
the new position's key and value; cross-attention projects the memory once and reuses it.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class KVCache:
    """Keys and values (B, H, T, d_head) of the positions seen so far, for one attention layer.

    With `capacity` the keys and values are written into buffers of that many positions, made at
    the first call: appending a position costs a copy of that position only, where growing by
    concatenation copies the whole cache at every step."""

    def __init__(self, capacity: int = 0) -> None:
        self.capacity = capacity
        self.k: torch.Tensor | None = None
        self.v: torch.Tensor | None = None
        self._buffers: tuple[torch.Tensor, torch.Tensor] | None = None

    def __len__(self) -> int:
        return 0 if self.k is None else self.k.shape[2]

    def append(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Add the keys and values of new positions; returns those of every position so far."""
        t, end = len(self), len(self) + k.shape[2]
        if self.capacity and end <= self.capacity:
            if self._buffers is None:
                b, h, _, d = k.shape
                self._buffers = (k.new_empty(b, h, self.capacity, d), v.new_empty(b, h, self.capacity, d))
                if t:  # positions kept from before (after a reorder)
                    self._buffers[0][:, :, :t], self._buffers[1][:, :, :t] = self.k, self.v
            kb, vb = self._buffers
            kb[:, :, t:end], vb[:, :, t:end] = k, v
            self.k, self.v = kb[:, :, :end], vb[:, :, :end]
        elif self.k is not None:
            self.k, self.v = torch.cat([self.k, k], 2), torch.cat([self.v, v], 2)  # type: ignore[list-item]
        else:
            self.k, self.v = k, v
        return self.k, self.v  # type: ignore[return-value]

    def reorder(self, index: torch.Tensor) -> None:
        """Keep batch rows `index` (beam search)."""
        if self.k is not None:
            self.k, self.v = self.k.index_select(0, index), self.v.index_select(0, index)  # type: ignore[union-attr]
            self._buffers = None  # the next append makes new buffers, with these rows


class MultiHeadAttention(nn.Module):
    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0, bias: bool = True):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model {d_model} is not divisible by {n_heads} heads")
        self.d_model, self.n_heads, self.d_head = d_model, n_heads, d_model // n_heads
        self.in_proj = nn.Linear(d_model, 3 * d_model, bias=bias)  # W^Q, W^K, W^V stacked
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)  # W^O
        self.dropout = dropout

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        return x.view(b, t, self.n_heads, self.d_head).transpose(1, 2)  # (B, T, D) -> (B, H, T, d_head)

    def forward(self, x: torch.Tensor, memory: torch.Tensor | None = None, pad_mask: torch.Tensor | None = None,
                causal: bool = False, cache: KVCache | None = None,
                need_weights: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x (B, T, D) attends to itself (memory None) or to memory (B, S, D).
        Returns (B, T, D) and, with need_weights, the weights (B, H, T, S)."""
        d = self.d_model
        w, b = self.in_proj.weight, self.in_proj.bias
        if memory is None:  # self-attention
            q, k, v = self.in_proj(x).split(d, dim=-1)
            q, k, v = self._heads(q), self._heads(k), self._heads(v)
            past = len(cache) if cache is not None else 0
            if cache is not None:
                k, v = cache.append(k, v)
        else:  # cross-attention: query from x, keys and values from memory
            past = 0
            q = self._heads(F.linear(x, w[:d], None if b is None else b[:d]))
            if cache is not None and cache.k is not None:
                k, v = cache.k, cache.v  # type: ignore[assignment]
            else:
                k, v = F.linear(memory, w[d:], None if b is None else b[d:]).split(d, dim=-1)
                k, v = self._heads(k), self._heads(v)
                if cache is not None:
                    cache.k, cache.v = k, v
        t, s = q.shape[2], k.shape[2]
        p = self.dropout if self.training else 0.0
        # a causal block of queries over keys of its own positions: the fused kernel's own mask
        is_causal = causal and t > 1 and pad_mask is None and past == 0 and t == s and not need_weights
        mask = None  # bool (B or 1, 1, T, S), True where attention is allowed
        if pad_mask is not None:
            mask = ~pad_mask[:, None, None, :]
        if causal and t > 1 and not is_causal:
            allowed = torch.ones(t, s, dtype=torch.bool, device=x.device).tril(diagonal=past)
            mask = allowed if mask is None else mask & allowed
        if need_weights:
            scores = (q @ k.transpose(-2, -1)) / math.sqrt(self.d_head)  # (B, H, T, S)
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            weights = scores.softmax(-1)
            out = F.dropout(weights, p, self.training) @ v
        else:
            weights = None
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p, is_causal=is_causal)
        out = out.transpose(1, 2).reshape(x.shape[0], t, d)  # (B, H, T, d_head) -> (B, T, D)
        return self.out_proj(out), weights
