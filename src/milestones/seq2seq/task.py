"""seq2seq's training task: translation (tasks/translation.py) with the recurrent encoder-decoders.

`--model.attention false` is Sutskever et al.'s fixed-vector LSTM encoder-decoder (with
`--model.reverse-source` it reads the source backwards); `--model.attention true` (the default) is
Bahdanau et al.'s RNNsearch. Adam replaces the papers' SGD and Adadelta.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..tasks.translation import TranslationConfig, TranslationTask
from .model import Seq2Seq, Seq2SeqConfig, training_flops


@dataclass
class Config(TranslationConfig):
    model: Seq2SeqConfig = field(default_factory=Seq2SeqConfig)


PRESETS = {
    "tiny": dict(n_train=2000, max_digits=6, steps=30, batch_size=32, eval_every=15, eval_sentences=50, log_every=5,
                 schedule="constant", grad_clip=1.0, model=dict(emb=32, hidden=32), optim=dict(lr=3e-3)),
    # what the claims train: 300 steps of 32 pairs, sizes chosen for a CPU core (an attention run
    # takes about 25 s); batch 64 was measured first and cost too much of the test budget
    "small": dict(steps=300, batch_size=32, schedule="constant", grad_clip=1.0, eval_every=100, eval_sentences=100,
                  log_every=25, model=dict(emb=64, hidden=64), optim=dict(lr=3e-3)),
    # Bahdanau et al.'s RNNsearch sizes (620-d embeddings, 1000 units, batch 80); Adam replaces Adadelta.
    "paper": dict(steps=100_000, batch_size=80, eval_every=5000, ckpt_every=5000, schedule="constant",
                  grad_clip=1.0, log_every=100, model=dict(emb=620, hidden=1000), optim=dict(lr=5e-4)),
}


class Seq2SeqTask(TranslationTask):
    name = "seq2seq"
    model_class = Seq2Seq

    count_flops = staticmethod(training_flops)


TASK = Seq2SeqTask
