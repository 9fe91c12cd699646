"""Our BERT against Hugging Face transformers' BertModel / BertForMaskedLM. Ratios are measured side
by side in one process, threads pinned equal on both sides, repeats interleaved (ours, theirs,
ours, ...), medians compared.

    python benchmarks/bert.py [--threads 1] [--repeats 9] [--skip forward,mlm]

1. Inference: BERT-base (110M, random weights, eval mode, fp32) on 8 sequences of 128 tokens, the
   last 32 positions of half of them padding; ours against BertModel with sdpa attention.
   Target: time ratio ours / theirs <= 1.0 (transformers: about 2.35 sequences/s on one thread).
2. An MLM pre-training step of the small preset's configuration (2 layers, hidden 128, 4 heads,
   vocabulary 8,000, 32 sequences of 64 tokens, 15% masked, dropout 0.1): forward, loss at the
   masked positions, backward, AdamW step (weight decay 0.01 on matrices); ours (our AdamW) against
   BertForMaskedLM with torch.optim.AdamW. Target: ratio <= 0.9.
Not a test: machines are noisy.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import arguments, interleaved  # noqa: E402

from milestones.bert.model import NAMED, Bert, BertConfig  # noqa: E402
from milestones.optim import AdamW  # noqa: E402
from milestones.tasks.masked_lm import IGNORE, mask_tokens  # noqa: E402


def hf_config(cfg: BertConfig, dropout: float):
    import transformers

    return transformers.BertConfig(vocab_size=cfg.vocab_size, hidden_size=cfg.d_model, num_hidden_layers=cfg.layers,
                                   num_attention_heads=cfg.heads, intermediate_size=cfg.d_ff,
                                   max_position_embeddings=cfg.max_len, hidden_dropout_prob=dropout,
                                   attention_probs_dropout_prob=dropout, attn_implementation="sdpa")


def forward(args: argparse.Namespace) -> None:
    import transformers

    cfg = NAMED["bert-base"]
    ours = Bert(cfg).eval()
    theirs = transformers.BertModel(hf_config(cfg, 0.1), add_pooling_layer=True).eval()
    tokens = torch.randint(1000, cfg.vocab_size, (8, 128))
    pad = torch.zeros(8, 128, dtype=torch.bool)
    pad[::2, -32:] = True
    types = torch.zeros_like(tokens)

    @torch.no_grad()
    def ours_fn():
        ours.pooled(ours(tokens, types, pad))

    @torch.no_grad()
    def theirs_fn():
        theirs(input_ids=tokens, token_type_ids=types, attention_mask=(~pad).long())

    t = interleaved({"ours": ours_fn, "theirs": theirs_fn}, args.repeats)
    print(f"BERT-base forward, 8 x 128 tokens: ours {8 / t['ours']:.2f} seq/s, transformers "
          f"{8 / t['theirs']:.2f} seq/s; ratio ours/theirs {t['ours'] / t['theirs']:.3f} (target <= 1.0)")


def mlm_step(args: argparse.Namespace) -> None:
    import transformers

    cfg = BertConfig(layers=2, heads=4, d_model=128, d_ff=512, max_len=128, vocab_size=8000)
    torch.manual_seed(0)
    ours = Bert(cfg).train()
    theirs = transformers.BertForMaskedLM(hf_config(cfg, 0.1)).train()

    def groups(model):
        ps = list(model.parameters())
        return [{"params": [p for p in ps if p.dim() >= 2], "weight_decay": 0.01},
                {"params": [p for p in ps if p.dim() < 2], "weight_decay": 0.0}]

    opt_ours = AdamW(groups(ours), lr=1e-4)
    opt_theirs = torch.optim.AdamW(groups(theirs), lr=1e-4)
    g = torch.Generator().manual_seed(0)
    tokens = torch.randint(5, 8000, (32, 64), generator=g)
    special = torch.zeros_like(tokens, dtype=torch.bool)
    special[:, 0] = special[:, -1] = True
    inputs, labels = mask_tokens(tokens, special, 4, 8000, g)

    def ours_fn():
        h = ours(inputs)
        chosen = labels != IGNORE
        F.cross_entropy(ours.mlm_logits(h[chosen]), labels[chosen]).backward()
        opt_ours.step()
        opt_ours.zero_grad(set_to_none=True)

    def theirs_fn():
        theirs(input_ids=inputs, labels=labels).loss.backward()
        opt_theirs.step()
        opt_theirs.zero_grad(set_to_none=True)

    t = interleaved({"ours": ours_fn, "theirs": theirs_fn}, args.repeats)
    print(f"MLM step, small config, 32 x 64 tokens: ours {1e3 * t['ours']:.1f} ms, transformers "
          f"{1e3 * t['theirs']:.1f} ms; ratio ours/theirs {t['ours'] / t['theirs']:.3f} (target <= 0.9)")


def main() -> None:
    args = arguments(__doc__)
    import transformers

    transformers.utils.logging.set_verbosity_error()
    print(f"threads {args.threads}, torch {torch.__version__}, transformers {transformers.__version__}")
    skip = args.skip
    if "forward" not in skip:
        forward(args)
    if "mlm" not in skip:
        mlm_step(args)


if __name__ == "__main__":
    main()
