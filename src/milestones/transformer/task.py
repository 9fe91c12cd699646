"""The Transformer's training task: translation (tasks/translation.py) with the paper's recipe:
label smoothing 0.1 (§5.4), Adam with beta2 0.98 and eps 1e-9, and the learning rate
d_model^-0.5 * min(step^-0.5, step * warmup^-1.5) (§5.3, eq. 3), which is `--schedule
inverse_sqrt` with `--warmup-steps` and peak `--lr` = (d_model * warmup)^-0.5.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..core.config import Fraction, Resumable, Schedule
from ..optim import OptimConfig
from ..tasks.translation import TranslationConfig, TranslationTask
from .model import Transformer, TransformerConfig, training_flops


@dataclass
class Config(TranslationConfig):
    label_smoothing: Fraction = 0.1
    """Label smoothing of the cross-entropy (§5.4: 0.1)."""
    schedule: Resumable[Schedule] = "inverse_sqrt"
    """Learning-rate schedule (see the trainer's --schedule; the paper's is inverse_sqrt)."""
    model: TransformerConfig = field(default_factory=TransformerConfig)
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(name="adam", lr=1e-3, beta2=0.98, eps=1e-9))
    """Adam with beta2 0.98 and eps 1e-9 (§5.3)."""


PRESETS = {
    "tiny": dict(n_train=2000, max_digits=6, steps=30, batch_size=32, eval_every=15, eval_sentences=50, log_every=5,
                 warmup_steps=10, grad_clip=1.0,
                 model=dict(d_model=32, layers=1, heads=2, d_ff=64, dropout=0.0), optim=dict(lr=3e-3)),
    # sizes for a CPU core; no dropout (a short run on 20,000 pairs does not overfit, and dropout
    # costs a third of the step time on a CPU)
    "small": dict(steps=400, batch_size=32, warmup_steps=100, eval_every=50, eval_sentences=100, log_every=25,
                  grad_clip=1.0, model=dict(d_model=64, layers=2, heads=4, d_ff=256, dropout=0.0), optim=dict(lr=2e-3)),
    # the base model (Table 3) and its schedule: peak (512 * 4000)^-0.5 = 7.0e-4 at step 4,000
    "paper": dict(steps=100_000, batch_size=256, warmup_steps=4000, eval_every=5000, ckpt_every=5000, log_every=100,
                  model=dict(d_model=512, layers=6, heads=8, d_ff=2048, dropout=0.1),
                  optim=dict(lr=512 ** -0.5 * 4000 ** -0.5)),
}


class TransformerTask(TranslationTask):
    name = "transformer"
    model_class = Transformer

    count_flops = staticmethod(training_flops)


TASK = TransformerTask
