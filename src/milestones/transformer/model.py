"""The Transformer (Vaswani, Shazeer, Parmar, Uszkoreit, Jones, Gomez, Kaiser, Polosukhin 2017,
"Attention Is All You Need"): an encoder-decoder with no recurrence.

Encoder: N layers of self-attention + feed-forward; decoder: N layers of causal self-attention,
attention over the encoder's output, feed-forward (nn/blocks.py; post-LN as in the paper, pre-LN
as an option). Tokens enter as embeddings scaled by sqrt(d_model) plus sinusoidal positions
(§3.4-3.5), with dropout on the sum (§5.4). With a joint vocabulary the source embedding, the
target embedding and the pre-softmax projection are one matrix (§3.4). Base model (Table 3):
d_model 512, 6 + 6 layers, 8 heads, d_ff 2048, dropout 0.1.

Generation runs the encoder once; each decoder step feeds one token through KV caches
(nn/attention.py), so step t attends over t cached positions instead of recomputing them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..core.config import Fraction, FromData, Positive
from ..nn.attention import KVCache
from ..nn.blocks import DecoderLayer, EncoderLayer
from ..nn.positions import SinusoidalPositions

PAD = 0


@dataclass
class TransformerConfig:
    d_model: Positive[int] = 512
    """Model width (Table 3, base: 512)."""
    layers: Positive[int] = 6
    """Encoder layers; the decoder has as many (base: 6)."""
    heads: Positive[int] = 8
    """Attention heads (base: 8)."""
    d_ff: Positive[int] = 2048
    """Feed-forward inner size (base: 2048)."""
    dropout: Fraction = 0.1
    """Dropout on sublayer outputs, attention weights and embeddings (§5.4: 0.1)."""
    norm_first: bool = False
    """Pre-LN blocks instead of the paper's post-LN."""
    tie_embeddings: bool = True
    """One matrix for the source and target embeddings and the output layer (§3.4; a joint vocabulary)."""
    vocab: FromData[int] = 37_000
    """Joint source and target vocabulary (from the tokenizer)."""

    def check(self) -> None:
        if self.d_model % self.heads:
            raise ValueError(f"--model.d-model {self.d_model} must be divisible by --model.heads {self.heads}")


class Transformer(nn.Module):
    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        cfg.check()
        self.cfg = c = cfg
        self.embed = nn.Embedding(c.vocab, c.d_model, padding_idx=PAD)
        self.tgt_embed = self.embed if c.tie_embeddings else nn.Embedding(c.vocab, c.d_model, padding_idx=PAD)
        nn.init.normal_(self.embed.weight, std=c.d_model ** -0.5)  # so that sqrt(d_model) * E has unit scale
        self.positions = SinusoidalPositions(c.d_model)
        self.drop = nn.Dropout(c.dropout)
        self.encoder = nn.ModuleList([EncoderLayer(c.d_model, c.heads, c.d_ff, c.dropout, c.norm_first)
                                      for _ in range(c.layers)])
        self.decoder = nn.ModuleList([DecoderLayer(c.d_model, c.heads, c.d_ff, c.dropout, c.norm_first)
                                      for _ in range(c.layers)])
        # pre-LN leaves the last residual stream un-normalised: one more LayerNorm each side
        self.enc_norm = nn.LayerNorm(c.d_model) if c.norm_first else nn.Identity()
        self.dec_norm = nn.LayerNorm(c.d_model) if c.norm_first else nn.Identity()
        self.out = None if c.tie_embeddings else nn.Linear(c.d_model, c.vocab, bias=False)
        for name, p in self.named_parameters():
            if p.dim() > 1 and "embed" not in name:
                nn.init.xavier_uniform_(p)

    def _embed(self, emb: nn.Embedding, tokens: torch.Tensor, offset: int = 0) -> torch.Tensor:
        x = emb(tokens) * math.sqrt(self.cfg.d_model)  # (B, T) -> (B, T, D)
        return self.drop(self.positions(x, offset))

    def logits(self, h: torch.Tensor) -> torch.Tensor:
        h = self.dec_norm(h)
        return h @ self.embed.weight.T if self.out is None else self.out(h)  # (B, T, D) -> (B, T, V)

    def encode(self, src: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """src (B, S) -> memory (B, S, D) and its padding mask (B, S)."""
        pad = src == PAD
        x = self._embed(self.embed, src)
        for layer in self.encoder:
            x = layer(x, pad_mask=pad)
        return self.enc_norm(x), pad

    def forward(self, src: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        """src (B, S), tgt_in (B, T) = BOS y_1 .. y_{T-1} -> logits (B, T, V) (teacher forcing).
        Padding sits at the end of each target row and only feeds later padding positions,
        whose outputs the loss ignores, so the target needs no padding mask (only the causal one)."""
        memory, mem_pad = self.encode(src)
        y = self._embed(self.tgt_embed, tgt_in)
        for layer in self.decoder:
            y = layer(y, memory, memory_pad_mask=mem_pad)
        return self.logits(y)

    # -- generation ------------------------------------------------------------------------------
    def start(self, src: torch.Tensor) -> dict[str, Any]:
        memory, pad = self.encode(src)
        return {"memory": memory, "pad": pad, "t": 0, "caches": [(KVCache(), KVCache()) for _ in self.decoder]}

    def step(self, y_prev: torch.Tensor, st: dict[str, Any], need_weights: bool = False
             ) -> tuple[torch.Tensor, dict[str, Any]]:
        """y_prev (N,) at position st["t"] -> log-probabilities of the next token (N, V). With
        need_weights the state holds the last layer's attention over the source, averaged over
        heads, as st["alpha"] (N, S)."""
        y = self._embed(self.tgt_embed, y_prev[:, None], offset=st["t"])  # (N, 1, D)
        for layer, cache in zip(self.decoder, st["caches"]):
            y = layer(y, st["memory"], memory_pad_mask=st["pad"], cache=cache, need_weights=need_weights)
        new = {**st, "t": st["t"] + 1}
        if need_weights:
            new["alpha"] = self.decoder[-1].weights.mean(1)[:, 0]  # (N, H, 1, S) -> (N, S)
        return self.logits(y[:, 0]).log_softmax(-1), new

    def reorder(self, st: dict[str, Any], index: torch.Tensor) -> dict[str, Any]:
        for sc, cc in st["caches"]:
            sc.reorder(index)
            cc.reorder(index)
        return {**st, "memory": st["memory"].index_select(0, index), "pad": st["pad"].index_select(0, index)}


def training_flops(cfg: TransformerConfig, src: torch.Tensor, tgt_in: torch.Tensor) -> float:
    """Training FLOPs of one batch: 2 per multiply-add of the matrix products (projections,
    attention scores and weighted sums, feed-forward layers, the output layer), times 3 for the
    forward and backward passes, over every (padded) position the layers compute."""
    B, S = src.shape
    T = tgt_in.shape[1]
    d, f, N, V = cfg.d_model, cfg.d_ff, cfg.layers, cfg.vocab
    encoder = N * B * S * (4 * d * d + 2 * S * d + 2 * d * f)  # q, k, v, out; scores and sum; FFN
    decoder = N * B * (T * (4 * d * d + 2 * T * d)  # self-attention
                       + T * 2 * d * d + S * 2 * d * d + T * 2 * S * d  # attention over the source
                       + T * 2 * d * f)  # FFN
    output = B * T * d * V
    return 6.0 * (encoder + decoder + output)
