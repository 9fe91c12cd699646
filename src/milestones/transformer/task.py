"""The Transformer's training task: the shared translation task (seq2seq/task.py) with the
paper's recipe: label smoothing 0.1 (§5.4), Adam with beta2 0.98 and eps 1e-9, and the
learning rate d_model^-0.5 * min(step^-0.5, step * warmup^-1.5) (§5.3, eq. 3), which is
`--schedule inverse_sqrt` with `--warmup-steps` and peak `--lr` = (d_model * warmup)^-0.5.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from ..adam import optim
from ..core.config import UserError
from ..seq2seq.task import TranslationConfig, TranslationTask
from .model import Transformer, TransformerConfig


@dataclass
class Config(TranslationConfig):
    d_model: int = 512
    """Model width."""
    layers: int = 6
    """Encoder layers (the decoder has as many)."""
    heads: int = 8
    """Attention heads."""
    d_ff: int = 2048
    """Feed-forward inner size."""
    dropout: float = 0.1
    """Dropout on sublayer outputs, attention weights and embeddings (§5.4)."""
    norm_first: bool = False
    """Pre-LN blocks instead of the paper's post-LN."""
    label_smoothing: float = 0.1
    """Label smoothing (§5.4: 0.1)."""
    beta2: float = 0.98
    """Adam beta2 (§5.3: 0.98)."""
    schedule: Literal["constant", "cosine", "step", "inverse_sqrt"] = "inverse_sqrt"
    """Learning-rate schedule (see the trainer's --schedule; the paper's is inverse_sqrt)."""

    def check(self) -> None:
        super().check()
        if self.d_model < 1 or self.layers < 1 or self.heads < 1 or self.d_ff < 1:
            raise UserError("--d-model, --layers, --heads and --d-ff must be at least 1")
        if self.d_model % self.heads:
            raise UserError(f"--d-model {self.d_model} must be divisible by --heads {self.heads}")
        if not 0 <= self.dropout < 1:
            raise UserError("--dropout must be in [0, 1)")


PRESETS = {
    "tiny": dict(n_train=2000, max_digits=6, steps=30, batch_size=32, d_model=32, layers=1, heads=2, d_ff=64,
                 dropout=0.0, eval_every=15, eval_sentences=50, log_every=5, lr=3e-3, warmup_steps=10, grad_clip=1.0),
    # sizes for a CPU core; no dropout (a short run on 20,000 pairs does not overfit, and dropout
    # costs a third of the step time on a CPU)
    "small": dict(steps=400, batch_size=32, d_model=64, layers=2, heads=4, d_ff=256, dropout=0.0, lr=2e-3,
                  warmup_steps=100, eval_every=50, eval_sentences=100, log_every=25, grad_clip=1.0),
    # the base model (Table 3) and its schedule: peak (512 * 4000)^-0.5 = 7.0e-4 at step 4,000
    "paper": dict(steps=100_000, batch_size=256, d_model=512, layers=6, heads=8, d_ff=2048, dropout=0.1,
                  lr=512 ** -0.5 * 4000 ** -0.5, warmup_steps=4000, eval_every=5000, ckpt_every=5000, log_every=100),
}


class TransformerTask(TranslationTask):
    name = "transformer"

    def __init__(self, cfg: Config, tokenizer: Any = None):
        super().__init__(cfg, tokenizer)
        self.cfg: Config = cfg

    def build_model(self) -> Transformer:
        c = self.cfg
        return Transformer(TransformerConfig(vocab=self.vocab, d_model=c.d_model, layers=c.layers, heads=c.heads,
                                             d_ff=c.d_ff, dropout=c.dropout, norm_first=c.norm_first))

    def build_optimizer(self, model: nn.Module) -> torch.optim.Optimizer:
        return optim.Adam(model.parameters(), lr=self.cfg.lr, betas=(0.9, self.cfg.beta2), eps=1e-9,
                          weight_decay=self.cfg.weight_decay)


def make_task(cfg: Config) -> TransformerTask:
    return TransformerTask(cfg)
