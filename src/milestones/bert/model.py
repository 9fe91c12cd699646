"""BERT: a bidirectional Transformer encoder, pre-trained by filling in masked words.

Devlin, Chang, Lee, Toutanova 2019, "BERT: Pre-training of Deep Bidirectional Transformers for
Language Understanding" (NAACL; arXiv:1810.04805).

    x_0 = LN(W_word[tokens] + W_pos[positions] + W_type[segments])   §3, Fig. 2; dropout after
    x_l = LN(x + Attn(x)); x_l = LN(x_l + FFN(x_l))                   post-LN encoder layers (Vaswani et al.)
    pooled = tanh(W_p x_L[CLS] + b_p)                                  the pooler, for sentence-level heads
    MLM:  logits = LN(GELU(W_t x_L + b_t)) W_word^T + b                the masked-word head, tied to W_word
    NSP:  logits = W_nsp pooled + b_nsp                                is sentence B the one after A?

Every position attends to every other (no causal mask): that is the "bidirectional" of the
title, and why the model must be trained by masking words out rather than by predicting the next
one. The encoder layers are nn/blocks.py's `EncoderLayer` (the Transformer's), with GELU in its
exact (erf) form, LayerNorm eps 1e-12 and no dropout inside the feed-forward net, as BERT's.
Padding is a boolean mask (B, T), True at padding keys, which receive no attention.

Sizes (Table 1 of the paper's §4): BERT-base L 12, H 768, A 12 (110M parameters); BERT-large
L 24, H 1024, A 16 (340M).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..core.config import Fraction, FromData, NonNegative, Positive
from ..nn.blocks import EncoderLayer


@dataclass
class BertConfig:
    layers: Positive[int] = 12
    """Encoder layers (base: 12; large: 24)."""
    heads: Positive[int] = 12
    """Attention heads (base: 12; large: 16)."""
    d_model: Positive[int] = 768
    """Hidden size (base: 768; large: 1024)."""
    d_ff: Positive[int] = 3072
    """Feed-forward inner size (4 d_model in the paper)."""
    max_len: Positive[int] = 512
    """Learned positions: the longest input (512)."""
    type_vocab: Positive[int] = 2
    """Segment (token type) embeddings: sentence A and sentence B."""
    dropout: Fraction = 0.1
    """Dropout on embeddings, attention weights and sublayer outputs (0.1)."""
    vocab_size: FromData[int] = 30522
    """WordPiece vocabulary (from the tokenizer; bert-base-uncased: 30,522)."""
    n_classes: FromData[NonNegative[int]] = 0
    """Labels of the fine-tuning task (0: no classification head)."""

    def check(self) -> None:
        if self.d_model % self.heads:
            raise ValueError(f"--model.d-model {self.d_model} must be divisible by --model.heads {self.heads}")


NAMED = {
    "bert-base": BertConfig(layers=12, heads=12, d_model=768, d_ff=3072),
    "bert-large": BertConfig(layers=24, heads=16, d_model=1024, d_ff=4096),
}


class Embeddings(nn.Module):
    def __init__(self, c: BertConfig):
        super().__init__()
        self.word = nn.Embedding(c.vocab_size, c.d_model)
        self.position = nn.Embedding(c.max_len, c.d_model)
        self.token_type = nn.Embedding(c.type_vocab, c.d_model)
        self.norm = nn.LayerNorm(c.d_model, eps=1e-12)
        self.drop = nn.Dropout(c.dropout)

    def forward(self, tokens: torch.Tensor, token_types: torch.Tensor) -> torch.Tensor:
        t = tokens.shape[1]
        if t > self.position.num_embeddings:
            raise ValueError(f"a sequence of {t} tokens is longer than the {self.position.num_embeddings} positions")
        x = self.word(tokens) + self.position.weight[:t] + self.token_type(token_types)  # (B, T, D)
        return self.drop(self.norm(x))


class MaskedLMHead(nn.Module):
    """The transform (dense, GELU, LayerNorm), then the word embeddings, transposed, plus a bias."""

    def __init__(self, c: BertConfig):
        super().__init__()
        self.dense = nn.Linear(c.d_model, c.d_model)
        self.norm = nn.LayerNorm(c.d_model, eps=1e-12)
        self.bias = nn.Parameter(torch.zeros(c.vocab_size))

    def forward(self, h: torch.Tensor, word: torch.Tensor) -> torch.Tensor:
        h = self.norm(F.gelu(self.dense(h)))  # (..., D)
        return h @ word.T + self.bias  # (..., D) -> (..., V): the decoder is the word embedding


class Bert(nn.Module):
    def __init__(self, cfg: BertConfig):
        super().__init__()
        cfg.check()
        self.cfg = c = cfg
        self.embed = Embeddings(c)
        self.layers = nn.ModuleList([
            EncoderLayer(c.d_model, c.heads, c.d_ff, c.dropout, norm_first=False, activation="gelu", eps=1e-12,
                         ff_dropout=0.0)
            for _ in range(c.layers)])
        self.pooler = nn.Linear(c.d_model, c.d_model)
        self.mlm = MaskedLMHead(c)
        self.nsp = nn.Linear(c.d_model, 2)
        self.classifier = nn.Sequential(nn.Dropout(c.dropout), nn.Linear(c.d_model, c.n_classes)) \
            if c.n_classes else None
        self.apply(self._init)

    @staticmethod
    def _init(module: nn.Module) -> None:
        """N(0, 0.02) weights, zero biases, unit LayerNorms (the released code's initializer_range)."""
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(self, tokens: torch.Tensor, token_types: torch.Tensor | None = None,
                pad_mask: torch.Tensor | None = None) -> torch.Tensor:
        """tokens (B, T) -> hidden states (B, T, D). token_types (B, T): 0 for sentence A, 1 for B;
        pad_mask (B, T): True at padding."""
        if token_types is None:
            token_types = torch.zeros_like(tokens)
        x = self.embed(tokens, token_types)  # (B, T, D)
        for layer in self.layers:
            x = layer(x, pad_mask=pad_mask)  # (B, T, D)
        return x

    def pooled(self, h: torch.Tensor) -> torch.Tensor:
        """The [CLS] position's hidden state (B, T, D) -> (B, D), through the pooler."""
        return torch.tanh(self.pooler(h[:, 0]))

    def mlm_logits(self, h: torch.Tensor) -> torch.Tensor:
        """Masked-word logits (..., V) from hidden states (..., D) (§3.1, task 1)."""
        return self.mlm(h, self.embed.word.weight)

    def nsp_logits(self, h: torch.Tensor) -> torch.Tensor:
        """Next-sentence logits (B, 2): index 0 is "B follows A" (§3.1, task 2)."""
        return self.nsp(self.pooled(h))

    def classify(self, h: torch.Tensor) -> torch.Tensor:
        """Fine-tuning logits (B, n_classes) from the hidden states (§4.1)."""
        if self.classifier is None:
            raise ValueError("this model has no classification head (n_classes is 0)")
        return self.classifier(self.pooled(h))


def encoder_parameters(model: Bert) -> int:
    """Parameters of the embeddings, the encoder and the pooler: what transformers' BertModel holds."""
    return sum(p.numel() for m in (model.embed, model.layers, model.pooler) for p in m.parameters())
