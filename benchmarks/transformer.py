"""Our Transformer against torch.nn.Transformer, and greedy decoding with and without the KV cache.

    python benchmarks/transformer.py [--d-model 256] [--layers 3] [--batch 32] [--len 32] [--repeats 5]

1. One training step (forward, label-smoothed cross-entropy, backward, Adam) of our encoder-decoder
   and of a reference of the same size: the same embedding, positions and tied output layer
   around `torch.nn.Transformer` (batch_first, post-LN, ReLU), dropout 0.1 in both. Prints the
   ratio ours / reference (target: at most 1.0). Interleaved repeats, median.
2. Greedy decoding of `--gen` tokens for a batch: with the KV cache (each step feeds one token)
   and without (each step reruns the decoder over the whole prefix). Prints tokens per second.
Not a test: machines are noisy. Same thread count on both sides.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from milestones.adam.optim import Adam  # noqa: E402
from milestones.nn.positions import SinusoidalPositions  # noqa: E402
from milestones.transformer.model import Transformer, TransformerConfig  # noqa: E402


class Reference(nn.Module):
    """torch.nn.Transformer with the same embedding, positions and tied output as ours."""

    def __init__(self, c: TransformerConfig):
        super().__init__()
        self.d = c.d_model
        self.embed = nn.Embedding(c.vocab, c.d_model, padding_idx=0)
        self.positions = SinusoidalPositions(c.d_model)
        self.drop = nn.Dropout(c.dropout)
        self.core = nn.Transformer(c.d_model, c.heads, c.layers, c.layers, c.d_ff, c.dropout, batch_first=True)
        # nn.Transformer adds a LayerNorm at the end of each stack; ours (post-LN, as the paper) has none
        self.core.encoder.norm = None
        self.core.decoder.norm = None

    def forward(self, src: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        e = lambda t: self.drop(self.positions(self.embed(t) * math.sqrt(self.d)))  # noqa: E731
        mask = nn.Transformer.generate_square_subsequent_mask(tgt_in.shape[1])
        h = self.core(e(src), e(tgt_in), tgt_mask=mask, tgt_is_causal=True, src_key_padding_mask=src == 0,
                      memory_key_padding_mask=src == 0)
        return h @ self.embed.weight.T


def step_fn(model, opt, src, tgt_in, tgt_out):
    def step():
        opt.zero_grad(set_to_none=True)
        logits = model(src, tgt_in)
        F.cross_entropy(logits.flatten(0, 1), tgt_out.flatten(), ignore_index=0, label_smoothing=0.1).backward()
        opt.step()
    return step


def median_time(fn, repeats_out: list[float]) -> None:
    t = time.perf_counter()
    fn()
    repeats_out.append(time.perf_counter() - t)


@torch.no_grad()
def greedy_no_cache(model: Transformer, src: torch.Tensor, n: int) -> torch.Tensor:
    memory, pad = model.encode(src)
    ys = torch.full((src.shape[0], 1), 1, dtype=torch.long)
    for _ in range(n):
        y = model._embed(model.tgt_embed, ys)
        for layer in model.decoder:
            y = layer(y, memory, memory_pad_mask=pad)
        nxt = model.logits(y[:, -1]).argmax(-1)
        ys = torch.cat([ys, nxt[:, None]], 1)
    return ys[:, 1:]


@torch.no_grad()
def greedy_cache(model: Transformer, src: torch.Tensor, n: int) -> torch.Tensor:
    st = model.start(src)
    y = torch.full((src.shape[0],), 1, dtype=torch.long)
    out = []
    for _ in range(n):
        logp, st = model.step(y, st)
        y = logp.argmax(-1)
        out.append(y)
    return torch.stack(out, 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--d-model", type=int, default=256)
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--vocab", type=int, default=8000)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--len", type=int, default=32)
    ap.add_argument("--gen", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    c = TransformerConfig(vocab=args.vocab, d_model=args.d_model, layers=args.layers, heads=args.heads,
                          d_ff=4 * args.d_model, dropout=0.1)
    ours, ref = Transformer(c), Reference(c)
    n_ours, n_ref = (sum(p.numel() for p in m.parameters()) for m in (ours, ref))
    print(f"torch {torch.__version__}, {args.threads} threads; d_model {c.d_model}, {c.layers}+{c.layers} layers, "
          f"{c.heads} heads, d_ff {c.d_ff}, vocab {c.vocab}; parameters ours {n_ours:,}, reference {n_ref:,}")
    lengths = torch.randint(args.len // 2, args.len + 1, (args.batch,))
    src = torch.randint(4, args.vocab, (args.batch, args.len))
    src[torch.arange(args.len)[None, :] >= lengths[:, None]] = 0  # padded sources
    tgt = torch.randint(4, args.vocab, (args.batch, args.len + 1))
    steps = {"ours": step_fn(ours, Adam(ours.parameters(), lr=1e-4), src, tgt[:, :-1], tgt[:, 1:]),
             "ref": step_fn(ref, Adam(ref.parameters(), lr=1e-4), src, tgt[:, :-1], tgt[:, 1:])}
    for f in steps.values():
        f()
    times: dict[str, list[float]] = {"ours": [], "ref": []}
    for _ in range(args.repeats):
        for k, f in steps.items():  # interleaved
            median_time(f, times[k])
    a, b = statistics.median(times["ours"]), statistics.median(times["ref"])
    print(f"train step (b{args.batch}, len {args.len})   ours {a * 1000:8.1f} ms   nn.Transformer {b * 1000:8.1f} ms   "
          f"ratio {a / b:5.2f}  (target <= 1.0)", flush=True)

    ours.eval()
    src = src[: min(16, args.batch)]
    assert torch.equal(greedy_cache(ours, src, 8), greedy_no_cache(ours, src, 8))  # the same tokens
    rates: dict[str, list[float]] = {"cache": [], "no cache": []}
    for _ in range(max(1, args.repeats // 2)):
        for name, fn in (("cache", greedy_cache), ("no cache", greedy_no_cache)):
            t = time.perf_counter()
            fn(ours, src, args.gen)
            rates[name].append(len(src) * args.gen / (time.perf_counter() - t))
    rc, rn = statistics.median(rates["cache"]), statistics.median(rates["no cache"])
    print(f"greedy decoding, batch {len(src)}, {args.gen} tokens: KV cache {rc:8.0f} tokens/s   "
          f"no cache {rn:8.0f} tokens/s   speed-up {rc / rn:4.1f}x", flush=True)


if __name__ == "__main__":
    main()
