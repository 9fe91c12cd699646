"""Recurrent encoder-decoders for translation, in the two forms that started neural MT.

Sutskever, Vinyals, Le 2014, "Sequence to Sequence Learning with Neural Networks": a multi-layer
LSTM reads the source and its final state, one fixed-size vector, is all the decoder (another
LSTM, started from that state) knows of the sentence. §3.3: reading the source reversed puts
its first words next to the target's first words, which made learning easier.

Bahdanau, Cho, Bengio 2015, "Neural Machine Translation by Jointly Learning to Align and
Translate" (RNNsearch): a bidirectional encoder gives an annotation h_j = [h_fwd_j; h_bwd_j] per
source word; at each target step i the decoder scores every annotation against its previous
state s_{i-1} with additive attention, e_ij = v^T tanh(W_a s_{i-1} + U_a h_j), and reads the
context c_i = sum_j softmax(e_i)_j h_j. The decoder's input is [embedding of y_{i-1}; c_i]; its
first state is tanh(W_s h_bwd_1) (§A.2.2). The output layer takes [s_i; c_i; embedding of
y_{i-1}] through one tanh layer (the paper uses a maxout layer there) to the vocabulary.

The recurrences are torch's fused LSTM/GRU layers (the encoders, Sutskever's decoder) and
LSTM/GRU cells (the attention decoder, which must step one token at a time): the ideas here
are the encoder-decoder, the reversal and the attention, not the gates.

Training is teacher forcing: the decoder reads the reference's previous token. Generation goes
through `step`/`reorder` (nn/decoding.py: greedy and beam search).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from ..core.config import Fraction, FromData, Positive

PAD = 0


@dataclass
class Seq2SeqConfig:
    attention: bool = True
    """Bahdanau's additive attention over a bidirectional encoder (false: Sutskever's fixed vector)."""
    reverse_source: bool = False
    """Read the source backwards (Sutskever §3.3)."""
    cell: Literal["lstm", "gru"] = "lstm"
    """Recurrent unit."""
    emb: Positive[int] = 128
    """Embedding size."""
    hidden: Positive[int] = 256
    """Recurrent state size (per direction in the bidirectional encoder)."""
    layers: Positive[int] = 1
    """Stacked recurrent layers in the encoder and in the decoder."""
    dropout: Fraction = 0.0
    """Dropout on embeddings and between layers."""
    vocab: FromData[int] = 8000
    """Joint source and target vocabulary (from the tokenizer)."""


def reverse_padded(src: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each row's tokens before its last one (EOS), leaving EOS and padding in place."""
    pos = torch.arange(src.shape[1], device=src.device)[None, :]  # (1, S)
    n = (lengths - 1)[:, None]  # tokens before EOS
    index = torch.where(pos < n, n - 1 - pos, pos)
    return src.gather(1, index)


class Seq2Seq(nn.Module):
    def __init__(self, cfg: Seq2SeqConfig):
        super().__init__()
        self.cfg = cfg
        c = cfg
        rnn = {"lstm": nn.LSTM, "gru": nn.GRU}[c.cell]
        cell = {"lstm": nn.LSTMCell, "gru": nn.GRUCell}[c.cell]
        self.src_embed = nn.Embedding(c.vocab, c.emb, padding_idx=PAD)
        self.tgt_embed = nn.Embedding(c.vocab, c.emb, padding_idx=PAD)
        self.drop = nn.Dropout(c.dropout)
        self.encoder = rnn(c.emb, c.hidden, c.layers, batch_first=True, bidirectional=c.attention,
                           dropout=c.dropout if c.layers > 1 else 0.0)
        if not c.attention:
            self.decoder = rnn(c.emb, c.hidden, c.layers, batch_first=True,
                               dropout=c.dropout if c.layers > 1 else 0.0)
            self.out = nn.Linear(c.hidden, c.vocab)
        else:
            ann = 2 * c.hidden  # annotation size: forward and backward states
            self.init = nn.Linear(c.hidden, c.hidden * c.layers)  # W_s, from the backward encoder's first state
            self.W_a = nn.Linear(c.hidden, c.hidden, bias=False)
            self.U_a = nn.Linear(ann, c.hidden)
            self.v_a = nn.Linear(c.hidden, 1, bias=False)
            self.cells = nn.ModuleList([cell(c.emb + ann if i == 0 else c.hidden, c.hidden) for i in range(c.layers)])
            self.readout = nn.Linear(c.hidden + ann + c.emb, c.hidden)
            self.out = nn.Linear(c.hidden, c.vocab)

    # -- encoder --------------------------------------------------------------------------------
    def encode(self, src: torch.Tensor) -> dict[str, Any]:
        """src (B, S) ending in EOS, right-padded -> the decoder's starting state."""
        c = self.cfg
        lengths = (src != PAD).sum(1).clamp(min=1)
        if c.reverse_source:
            src = reverse_padded(src, lengths)
        x = self.drop(self.src_embed(src))  # (B, S, E)
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, final = self.encoder(packed)
        if not c.attention:
            return {"rnn": final}  # (layers, B, H) each: the fixed vector
        ann, _ = pad_packed_sequence(out, batch_first=True, total_length=src.shape[1])  # (B, S, 2H)
        h = final[0] if c.cell == "lstm" else final  # (layers * 2, B, H)
        h_bwd = h.view(c.layers, 2, -1, c.hidden)[-1, 1]  # top layer, backward direction: h_bwd_1 (B, H)
        s0 = torch.tanh(self.init(h_bwd)).view(-1, c.layers, c.hidden).transpose(0, 1)  # (layers, B, H)
        states = [(s, torch.zeros_like(s)) if c.cell == "lstm" else s for s in s0]
        return {"ann": ann, "keys": self.U_a(ann), "mask": src == PAD, "states": states}

    # -- one attention-decoder step -----------------------------------------------------------------
    def _attend(self, s_prev: torch.Tensor, keys: torch.Tensor, ann: torch.Tensor,
                mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        e = self.v_a(torch.tanh(self.W_a(s_prev)[:, None, :] + keys)).squeeze(-1)  # (B, S)
        alpha = e.masked_fill(mask, float("-inf")).softmax(-1)  # (B, S)
        return torch.bmm(alpha[:, None, :], ann).squeeze(1), alpha  # context (B, 2H)

    def _attn_step(self, emb: torch.Tensor, st: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
        """emb (B, E), the embedded y_{i-1} -> s_i (B, H), c_i (B, 2H) and the next state."""
        c = self.cfg
        states = st["states"]
        top = states[-1][0] if c.cell == "lstm" else states[-1]  # s_{i-1}
        ctx, alpha = self._attend(top, st["keys"], st["ann"], st["mask"])
        inp = torch.cat([emb, ctx], -1)
        new = []
        for i, cell in enumerate(self.cells):
            s = cell(inp, states[i])
            new.append(s)
            inp = self.drop(s[0] if c.cell == "lstm" else s)
        return inp, ctx, {**st, "states": new, "alpha": alpha}

    def _readout(self, s: torch.Tensor, ctx: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        """[s_i; c_i; emb(y_{i-1})] -> logits over the vocabulary (any leading shape)."""
        return self.out(self.drop(torch.tanh(self.readout(torch.cat([s, ctx, emb], -1)))))

    # -- training: teacher forcing ------------------------------------------------------------------
    def forward(self, src: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        """src (B, S), tgt_in (B, T) = BOS y_1 .. y_{T-1} -> logits (B, T, V)."""
        st = self.encode(src)
        y = self.drop(self.tgt_embed(tgt_in))  # (B, T, E)
        if not self.cfg.attention:
            h, _ = self.decoder(y, st["rnn"])  # (B, T, H)
            return self.out(self.drop(h))
        s_all, ctx_all = [], []
        for t in range(tgt_in.shape[1]):  # the recurrence; the output layer runs once, after it
            s, ctx, st = self._attn_step(y[:, t], st)
            s_all.append(s)
            ctx_all.append(ctx)
        return self._readout(torch.stack(s_all, 1), torch.stack(ctx_all, 1), y)  # (B, T, V)

    # -- generation ------------------------------------------------------------------------------
    def start(self, src: torch.Tensor) -> dict[str, Any]:
        """The state generation begins from (the Transformer's `start` has the same role)."""
        return self.encode(src)

    def step(self, y_prev: torch.Tensor, st: dict[str, Any], need_weights: bool = False
             ) -> tuple[torch.Tensor, dict[str, Any]]:
        """y_prev (N,) -> log-probabilities of the next token (N, V) and the next state; with
        attention the state holds this step's weights over the source, st["alpha"] (N, S)."""
        if not self.cfg.attention:
            h, rnn = self.decoder(self.tgt_embed(y_prev)[:, None, :], st["rnn"])  # (N, 1, H)
            return self.out(h[:, 0]).log_softmax(-1), {"rnn": rnn}
        emb = self.tgt_embed(y_prev)  # (N, E)
        s, ctx, st = self._attn_step(emb, st)
        return self._readout(s, ctx, emb).log_softmax(-1), st

    def reorder(self, st: dict[str, Any], index: torch.Tensor) -> dict[str, Any]:
        def pick(x: Any, dim: int = 0) -> Any:
            if isinstance(x, tuple):
                return tuple(pick(y, dim) for y in x)
            return x.index_select(dim, index)

        if not self.cfg.attention:
            return {"rnn": pick(st["rnn"], 1)}  # (layers, N, H)
        out = {k: pick(st[k]) for k in ("ann", "keys", "mask")}
        out["states"] = [pick(s) for s in st["states"]]
        if "alpha" in st:
            out["alpha"] = pick(st["alpha"])
        return out


def training_flops(cfg: Seq2SeqConfig, src: torch.Tensor, tgt_in: torch.Tensor) -> float:
    """Training FLOPs of one batch: 2 per multiply-add of the matrix products, times 3 for the
    forward pass and the backward pass (which costs about twice the forward). The encoder runs on
    the real source tokens only (packed sequences); the decoder runs every padded target position.
    Gates: 4 products per LSTM unit, 3 per GRU unit."""
    B, S = src.shape
    T = tgt_in.shape[1]
    E, H, L, V = cfg.emb, cfg.hidden, cfg.layers, cfg.vocab
    gates = 4 if cfg.cell == "lstm" else 3
    n_src = float((src != PAD).sum())  # real source tokens, EOS included
    directions = 2 if cfg.attention else 1
    encoder = n_src * directions * gates * H * ((E + H) + (L - 1) * (directions * H + H))
    if not cfg.attention:
        decoder = B * T * (gates * H * ((E + H) + (L - 1) * 2 * H) + H * V)
    else:
        per_step = (H * H  # W_a s_{i-1}
                    + S * H  # v_a over the source positions
                    + S * 2 * H  # the context: attention-weighted annotations
                    + gates * H * ((E + 2 * H + H) + (L - 1) * 2 * H)  # the decoder cells
                    + (H + 2 * H + E) * H  # the readout layer
                    + H * V)  # the output layer
        decoder = B * S * 2 * H * H + B * H * H * L + B * T * per_step  # U_a h_j and the first state, once
    return 6.0 * (encoder + decoder)
