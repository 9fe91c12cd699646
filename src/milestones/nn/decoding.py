"""Decoding a sequence model token by token: greedy search, beam search with a length penalty, and
sampling (temperature, top-k, top-p) for language models.

Both work with any model that offers
    step(tokens (N,), state) -> (log-probabilities (N, V), state)   the next-token distribution
    reorder(state, index (N,)) -> state                              keep rows `index`
where `state` is whatever the model carries between steps (RNN states, KV caches, the encoder's
output). Beam search (Sutskever et al. 2014 §3.1; Wu et al. 2016 §7 for the length penalty
lp(Y) = ((5 + |Y|) / 6)^alpha, which Vaswani et al. use with alpha = 0.6) keeps the `beam`
best partial translations per sentence; a finished one (EOS) keeps its score, and the winner
is the hypothesis with the best score / lp.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import torch

Step = Callable[[torch.Tensor, Any], tuple[torch.Tensor, Any]]
Reorder = Callable[[Any, torch.Tensor], Any]


@torch.no_grad()
def greedy(step: Step, state: Any, batch: int, max_len: int, bos: int, eos: int,
           device: torch.device | str = "cpu") -> torch.Tensor:
    """(batch, <= max_len) token ids, the most likely token at each step, EOS included."""
    tokens = torch.full((batch,), bos, dtype=torch.long, device=device)
    done = torch.zeros(batch, dtype=torch.bool, device=device)
    out = []
    for _ in range(max_len):
        logp, state = step(tokens, state)
        tokens = logp.argmax(-1).masked_fill(done, eos)
        out.append(tokens)
        done |= tokens == eos
        if bool(done.all()):
            break
    return torch.stack(out, 1)


def length_penalty(length: torch.Tensor, alpha: float) -> torch.Tensor:
    return ((5.0 + length.float()) / 6.0) ** alpha


@torch.no_grad()
def beam_search(step: Step, reorder: Reorder, state: Any, batch: int, beam: int, max_len: int, bos: int, eos: int,
                alpha: float = 0.6, device: torch.device | str = "cpu") -> torch.Tensor:
    """(batch, <= max_len) token ids of the best hypothesis per sentence. `state` holds `batch`
    rows; it is repeated `beam` times here (row b * beam + k is beam k of sentence b)."""
    n = batch * beam
    state = reorder(state, torch.arange(batch, device=device).repeat_interleave(beam))
    tokens = torch.full((n,), bos, dtype=torch.long, device=device)
    scores = torch.zeros(batch, beam, device=device)
    scores[:, 1:] = float("-inf")  # all beams start equal: keep one
    done = torch.zeros(n, dtype=torch.bool, device=device)
    lengths = torch.zeros(n, dtype=torch.long, device=device)
    history = torch.empty(n, 0, dtype=torch.long, device=device)
    for _ in range(max_len):
        logp, state = step(tokens, state)  # (N, V)
        v = logp.shape[-1]
        logp = logp.float()
        frozen = torch.full_like(logp, float("-inf"))
        frozen[:, eos] = 0.0  # a finished hypothesis can only repeat EOS, at no cost
        logp = torch.where(done[:, None], frozen, logp)
        cand = (scores.view(n, 1) + logp).view(batch, beam * v)
        scores, flat = cand.topk(beam, dim=-1)  # (batch, beam)
        origin = (flat // v + torch.arange(batch, device=device)[:, None] * beam).view(n)
        tokens = (flat % v).view(n)
        state = reorder(state, origin)
        history = torch.cat([history[origin], tokens[:, None]], 1)
        lengths = lengths[origin] + (~done[origin]).long()
        done = done[origin] | (tokens == eos)
        if bool(done.all()):
            break
    final = scores.view(n) / length_penalty(lengths, alpha)
    best = final.view(batch, beam).argmax(-1) + torch.arange(batch, device=device) * beam
    return history[best]


def sample_next(logits: torch.Tensor, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """A token id per row of next-token logits (N, V): the most likely with temperature 0; else
    drawn from softmax(logits / temperature), restricted to the `top_k` most likely tokens (0: all)
    and to the smallest set whose probability reaches `top_p` (nucleus sampling, Holtzman et al.
    2020; 1: all)."""
    if temperature == 0:
        return logits.argmax(-1)
    logits = logits.float() / temperature
    if 0 < top_k < logits.shape[-1]:
        kth = logits.topk(top_k, dim=-1).values[:, -1:]  # (N, 1)
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = logits.sort(-1, descending=True)
        probs = sorted_logits.softmax(-1)
        outside = probs.cumsum(-1) - probs >= top_p  # the tokens after the nucleus is complete
        logits = logits.scatter(-1, order, sorted_logits.masked_fill(outside, float("-inf")))
    return torch.multinomial(logits.softmax(-1), 1, generator=generator)[:, 0]


@contextlib.contextmanager
def input_major_weights(model: torch.nn.Module) -> Iterator[None]:
    """Generating a token multiplies every weight matrix by one vector, so its cost is reading the
    weights from memory. A CPU streams a matrix-vector product faster when the matrix is stored
    input-major (the transpose of nn.Linear's layout; GPT-2's Conv1D stores it so): for GPT-2's
    blocks, 22 against 18 GB/s. Inside this context every matrix of `model` keeps its shape and
    values and only its memory layout changes (a copy of each, once); the usual layout is restored
    on leaving. Worth it over many tokens: a sampling session, not a call."""
    mats = [p for p in model.parameters() if p.dim() == 2 and p.is_contiguous()]
    for p in mats:
        p.data = p.data.t().contiguous().t()  # (out, in) with strides (1, out)
    try:
        yield
    finally:
        for p in mats:
            p.data = p.data.contiguous()
