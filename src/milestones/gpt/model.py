"""GPT: a decoder-only Transformer language model.

Radford, Wu, Child, Luan, Amodei, Sutskever 2019, "Language Models are Unsupervised Multitask
Learners" (GPT-2); Brown et al. 2020, "Language Models are Few-Shot Learners" (GPT-3).

    x_0 = W_e[tokens] + W_p[positions]                       token + learned position embeddings
    x_l = x_{l-1} + Attn(LN(x_{l-1}));  x_l += MLP(LN(x_l))  pre-LN blocks (GPT-2 §2.3), causal
    logits = LN_f(x_L) W_e^T                                 the head is the token embedding

Attention is causal: position t sees positions <= t only (F.scaled_dot_product_attention with
its causal flag, nn/attention.py); the MLP is 4d wide with tanh-approximated GELU. The blocks
are nn/blocks.py's `EncoderLayer(norm_first=True, causal)`, the same layer as the Transformer's
encoder. Initialisation as GPT-2's: every weight N(0, 0.02), biases zero, and the projections
that write into the residual stream (attention output, second MLP layer) N(0, 0.02 / sqrt(2 L)),
so the stream's variance does not grow with depth.

Generation keeps a KV cache per layer: the prompt is run once, then each new token costs one
position (`generate`, which yields tokens as they come).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, replace

import torch
from torch import nn

from ..core.config import Fraction, FromData, Positive
from ..nn.attention import KVCache
from ..nn.blocks import EncoderLayer
from ..nn.decoding import sample_next
from ..nn.positions import LearnedPositions


@dataclass
class GPTConfig:
    layers: Positive[int] = 12
    """Transformer blocks (GPT-2 small: 12)."""
    heads: Positive[int] = 12
    """Attention heads per block (GPT-2 small: 12)."""
    d_model: Positive[int] = 768
    """Width of the residual stream (GPT-2 small: 768); the MLP is 4 d_model wide."""
    block_size: Positive[int] = 1024
    """Context length: the learned positions (GPT-2: 1024; GPT-3: 2048)."""
    dropout: Fraction = 0.0
    """Dropout on embeddings, attention weights and residual branches (GPT-2: 0.1)."""
    bias: bool = True
    """Biases in the projections and LayerNorms (GPT-2 has them; without is slightly faster)."""
    mlp: bool = True
    """An MLP in every block; false: attention-only blocks (Olsson et al. 2022's small models)."""
    vocab_size: FromData[int] = 50257
    """Vocabulary (from the tokenizer; GPT-2's BPE: 50,257)."""

    def check(self) -> None:
        if self.d_model % self.heads:
            raise ValueError(f"--model.d-model {self.d_model} must be divisible by --model.heads {self.heads}")


def _named(layers: int, d_model: int, heads: int, block_size: int) -> GPTConfig:
    return GPTConfig(layers=layers, heads=heads, d_model=d_model, block_size=block_size)


# GPT-2 (Radford et al. 2019, Table 2 with the released models' sizes) and GPT-3 (Brown et al.
# 2020, Table 2.1); vocabulary 50,257 in both. Table 2.1 prints d_model 5140 for GPT-3 13B, whose
# 40 heads of 128 make 5120, the width used here.
NAMED: dict[str, GPTConfig] = {
    "gpt2": _named(12, 768, 12, 1024),
    "gpt2-medium": _named(24, 1024, 16, 1024),
    "gpt2-large": _named(36, 1280, 20, 1024),
    "gpt2-xl": _named(48, 1600, 25, 1024),
    "gpt3-small": _named(12, 768, 12, 2048),
    "gpt3-medium": _named(24, 1024, 16, 2048),
    "gpt3-large": _named(24, 1536, 16, 2048),
    "gpt3-xl": _named(24, 2048, 24, 2048),
    "gpt3-2.7b": _named(32, 2560, 32, 2048),
    "gpt3-6.7b": _named(32, 4096, 32, 2048),
    "gpt3-13b": _named(40, 5120, 40, 2048),
    "gpt3-175b": _named(96, 12288, 96, 2048),
}


def count_parameters(cfg: GPTConfig, embeddings: bool = True) -> int:
    """Parameters of the model `cfg` describes, without building it (the head is tied, so it adds
    none). `embeddings=False` leaves out the position embeddings (what FLOPs per token count)."""
    d, b = cfg.d_model, int(cfg.bias)
    norm = d * (1 + b)  # LayerNorm: gain (and bias)
    block = (norm
             + 3 * d * d + 3 * d * b  # query, key, value projections
             + d * d + d * b)  # attention output
    if cfg.mlp:
        block += (norm
                  + 4 * d * d + 4 * d * b  # MLP up
                  + 4 * d * d + d * b)  # MLP down
    positions = cfg.block_size * d if embeddings else 0
    return cfg.vocab_size * d + positions + cfg.layers * block + norm


def flops_per_token(cfg: GPTConfig, seq_len: int) -> float:
    """Training FLOPs per token (forward and backward): 6 N for the weights (N without position
    embeddings) + 12 L d T for attention's scores and weighted sums (Kaplan et al. 2020 §2.1;
    Chowdhery et al. 2022, App. B)."""
    return 6.0 * count_parameters(cfg, embeddings=False) + 12.0 * cfg.layers * cfg.d_model * seq_len


class GPT(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        cfg.check()
        self.cfg = c = cfg
        self.embed = nn.Embedding(c.vocab_size, c.d_model)  # W_e, also the output head
        self.positions = LearnedPositions(c.d_model, c.block_size)  # W_p
        self.drop = nn.Dropout(c.dropout)
        self.blocks = nn.ModuleList([
            EncoderLayer(c.d_model, c.heads, 4 * c.d_model if c.mlp else 0, c.dropout, norm_first=True,
                         activation="gelu_tanh", bias=c.bias, ff_dropout=0.0)
            for _ in range(c.layers)])
        self.norm = nn.LayerNorm(c.d_model, bias=c.bias)  # LN_f
        self.apply(self._init)
        for block in self.blocks:  # the residual projections, scaled for depth (GPT-2 §2.3)
            for w in (block.self_attn.out_proj.weight, *([block.linear2.weight] if c.mlp else [])):
                nn.init.normal_(w, std=0.02 / math.sqrt(2 * c.layers))

    @staticmethod
    def _init(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(self, tokens: torch.Tensor, caches: list[KVCache] | None = None, last: bool = False) -> torch.Tensor:
        """tokens (B, T) -> next-token logits (B, T, V), or (B, 1, V) for the last position only
        with `last`. With `caches` (one per block) the tokens continue the cached positions, whose
        keys and values are reused and extended."""
        x = self.hidden(tokens, caches)
        if last:
            x = x[:, -1:]  # (B, 1, D)
        return x @ self.embed.weight.T  # (B, T, D) -> (B, T, V)

    def hidden(self, tokens: torch.Tensor, caches: list[KVCache] | None = None) -> torch.Tensor:
        """tokens (B, T) -> the final hidden states LN_f(x_L) (B, T, D), before the head."""
        x = self._embed(tokens, len(caches[0]) if caches else 0)  # (B, T) -> (B, T, D)
        for i, block in enumerate(self.blocks):
            x = block(x, causal=True, cache=caches[i] if caches else None)  # (B, T, D)
        return self.norm(x)

    def _embed(self, tokens: torch.Tensor, offset: int) -> torch.Tensor:
        """x_0 = W_e[tokens] + W_p[positions from offset], with dropout: (B, T) -> (B, T, D)."""
        return self.drop(self.positions(self.embed(tokens), offset))

    def flops_per_token(self, seq_len: int) -> float:
        return flops_per_token(self.cfg, seq_len)

    @torch.no_grad()
    def attention(self, tokens: torch.Tensor) -> list[torch.Tensor]:
        """The attention weights of every block on `tokens` (B, T): a list of (B, H, T, T), row t
        the weights position t gives to positions 0..t (the forward pass's own, computed explicitly)."""
        x = self._embed(tokens, 0)
        maps = []
        for block in self.blocks:
            x = block(x, causal=True, need_weights=True)
            maps.append(block.weights)
            block.weights = None
        return maps

    @torch.no_grad()
    def generate(self, tokens: torch.Tensor, max_new_tokens: int, temperature: float = 1.0, top_k: int = 0,
                 top_p: float = 1.0, generator: torch.Generator | None = None) -> Iterator[torch.Tensor]:
        """Continue `tokens` (B, T), yielding each new token (B,) as it is chosen (temperature 0:
        the most likely one). The context is the last `block_size` positions: when it is full, the
        cache is rebuilt from the most recent block_size - 1 tokens.

        Each new token multiplies every weight matrix by one vector, so decoding is bound by reading
        the weights from memory; a CPU reads a matrix faster for that when it is stored input-major.
        The head (the largest matrix, 154 MB in GPT-2) is copied so once per call; for the blocks
        too, decode inside `with nn.decoding.input_major_weights(model):` (the sample verb does)."""
        block = self.cfg.block_size
        head = self.embed.weight.T.contiguous()  # (D, V), input-major: 1.6x faster per token than (V, D)
        caches = [KVCache(block) for _ in self.blocks]
        context = tokens[:, -block:]
        logits = self(context, caches, last=True)[:, 0]  # (B, V): the whole prompt at once
        for i in range(max_new_tokens):
            nxt = sample_next(logits, temperature, top_k, top_p, generator)  # (B,)
            yield nxt
            if i == max_new_tokens - 1:
                break
            context = torch.cat([context, nxt[:, None]], 1)
            if len(caches[0]) >= block:  # no position left: slide the window
                context = context[:, -(block - 1):]
                caches = [KVCache(block) for _ in self.blocks]
                logits = self(context, caches, last=True)[:, 0]
            else:
                logits = self.hidden(nxt[:, None], caches)[:, 0] @ head  # one position through the cache


def named(name: str, **changes: object) -> GPTConfig:
    """A named configuration (NAMED), with fields changed."""
    return replace(NAMED[name], **changes)  # type: ignore[arg-type]

