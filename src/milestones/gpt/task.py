"""GPT's training task: language modelling (tasks/language_model.py) with GPT-2/3's recipe: AdamW
(beta2 0.95, weight decay 0.1 on matrices), warm-up then cosine decay, gradient clipping at 1.0
(Brown et al. 2020, App. B). `--init-from` reads a run of this milestone or a Hugging Face GPT-2
folder (gpt/convert.py). `--dataset keyvalue` and `--dataset repeats` train on generated
in-context sequences instead (tasks/in_context.py), with the same recipe.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..core import checkpoint as ckpt
from ..core import config as C
from ..core import hub
from ..core.task import Source
from ..data import text as tx
from ..errors import UserError
from ..tasks.in_context import InContextTask
from ..tasks.language_model import TOKENIZER_FILE, LanguageModelConfig, LanguageModelTask
from . import convert
from .model import GPT, GPTConfig


@dataclass
class Config(LanguageModelConfig):
    grad_clip: C.Resumable[C.NonNegative[float]] = 1.0
    """Clip the global gradient norm to this value (GPT-3: 1.0)."""
    model: GPTConfig = field(default_factory=GPTConfig)


PRESETS = {
    "tiny": dict(steps=30, batch_size=8, eval_every=15, eval_batches=2, log_every=5, warmup_steps=5,
                 model=dict(layers=2, heads=2, d_model=32, block_size=32), optim=dict(lr=3e-3)),
    # a character model of the standard library for one CPU core: the benchmark's configuration
    "small": dict(steps=500, batch_size=16, warmup_steps=50, eval_every=100, eval_batches=10, log_every=10,
                  model=dict(layers=4, heads=4, d_model=128, block_size=128), optim=dict(lr=1e-3, beta2=0.99)),
    # GPT-2 small (124M with GPT-2's 50,257-token vocabulary) and GPT-3 Small's recipe (Table 2.1:
    # 0.5M tokens per batch, lr 6e-4); bring a large corpus with --data
    "paper": dict(steps=600_000, batch_size=480, grad_accum=16, warmup_steps=2000, eval_every=2000,
                  ckpt_every=2000, eval_batches=40, log_every=10, tokenizer="bpe", bpe_vocab=50257,
                  model=dict(layers=12, heads=12, d_model=768, block_size=1024), optim=dict(lr=6e-4)),
}


def _generated(cfg: Config) -> bool:
    """Whether the run trains on generated in-context sequences (keyvalue, repeats) instead of text."""
    return cfg.dataset != "stdlib" and not cfg.data


class GPTInContext(InContextTask):
    name = "gpt"
    model_class = GPT


class GPTTask(LanguageModelTask):
    name = "gpt"
    model_class = GPT

    def load_source(self, path: Path) -> Source:
        if not path.exists():
            path = hub.folder(str(self.cfg.init_from), "--init-from")  # a Hugging Face Hub name, or one line
        if not path.exists():
            raise UserError(f"--init-from {path} does not exist")
        if path.is_dir() and ckpt.is_reference_folder(path):
            model_cfg, state = convert.load_hf(path)
            has_tok = (path / "tokenizer.json").is_file() or (path / "vocab.json").is_file()
            if not has_tok and not self.cfg.tokenizer_file:
                raise UserError(f"{path} has no tokenizer (tokenizer.json, or vocab.json + merges.txt); "
                                "give one with --tokenizer-file")
            tok = tx.BPETokenizer.from_files(self.cfg.tokenizer_file or path)
            if tok.vocab_size > model_cfg.vocab_size:
                raise UserError(f"the tokenizer has {tok.vocab_size} tokens, the model {model_cfg.vocab_size}")
            return Source(model_cfg, state, tok)
        folder, meta, state = ckpt.read_run_weights(path, self.name)  # a run folder or one of its checkpoints
        model_cfg = ckpt.read_model_config(folder, meta, GPTConfig)
        return Source(model_cfg, state, tx.load_tokenizer(folder / TOKENIZER_FILE))



MODEL = GPT
WATCH = GPTTask.watch  # `plot` orders a run's own metrics after these
saved_tokenizer = GPTTask.saved_tokenizer


def make_task(cfg: Config, resume_from: Path | None = None) -> GPTTask | GPTInContext:
    """A language model of text (the standard library, or the user's `--data`), or of generated
    in-context sequences (`--dataset keyvalue` or `repeats`); resumed, with the run's own tokenizer."""
    if _generated(cfg):
        return GPTInContext(cfg)
    return GPTTask.for_resume(cfg, resume_from) if resume_from is not None else GPTTask(cfg)
