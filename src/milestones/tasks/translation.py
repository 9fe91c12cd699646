"""Translation, shared by the encoder-decoder milestones (seq2seq and the Transformer).

What both need: the parallel corpus (data/translation.py; the embedded English -> French number
words by default), one joint tokenizer trained on the training split and saved as
tokenizer.json in every checkpoint, length-bucketed teacher-forcing batches, the token-level
cross-entropy (optionally label smoothed), a training clock that leaves evaluation out
(`--time-budget` stops a run after that many seconds of training), and evaluation: greedy (or
beam) translation of the validation sentences scored by sacrebleu, overall and by source length.

A milestone subclasses `TranslationTask` with its name, its model class, `model_config()` (its
`cfg.model` with the vocabulary filled in) and `step_flops()` (the training FLOPs of a batch,
so runs can be compared at equal compute).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from ..core.config import Fraction, NonNegative, Positive, Resumable, TrainConfig
from ..core.task import Shard, Task
from ..data import translation as tr
from ..nn.decoding import beam_search, greedy
from ..optim import OptimConfig
from ..optim import build as build_optimizer

TOKENIZER_FILE = "tokenizer.json"


@dataclass
class TranslationConfig(TrainConfig):
    dataset: Literal["numbers"] = "numbers"
    """Embedded data when --data is not given: English number words and their translation."""
    data: str = ""
    """A TSV file or a folder of parallel text a user brings; empty: the embedded --dataset."""
    lang: str = "fr"
    """numbers: the target language (any num2words language: fr, de, ko, es, ...)."""
    max_digits: Positive[int] = 12
    """numbers: the longest number, in digits (12: up to 19 English words; 15: up to 24)."""
    n_train: Positive[int] = 20_000
    """numbers: training pairs to generate (validation 500, test 1,000)."""
    src_lang: str = ""
    """Paired files train.<src>/train.<tgt> in --data: the source suffix (when more than two are there)."""
    tgt_lang: str = ""
    """Paired files: the target suffix."""
    tokenizer: Literal["auto", "word", "bpe"] = "auto"
    """Joint tokenizer: word-level, BPE, or auto (word-level when the words fit in --vocab-size)."""
    vocab_size: Positive[int] = 8000
    """Largest vocabulary (BPE's target size)."""
    max_len: Positive[int] = 100
    """Training sentences are cut to this many tokens."""
    label_smoothing: Fraction = 0.0
    """Label smoothing of the cross-entropy (the Transformer paper: 0.1)."""
    eval_sentences: Resumable[Positive[int]] = 500
    """Validation sentences translated at each evaluation."""
    beam: Resumable[Positive[int]] = 1
    """Beam width at evaluation (1: greedy)."""
    length_penalty: Resumable[NonNegative[float]] = 0.6
    """Beam search: alpha of the length penalty ((5 + |Y|) / 6)^alpha."""
    time_budget: Resumable[NonNegative[float]] = 0.0
    """Stop after this many seconds of training, evaluation not counted (0: train --steps steps)."""
    clock: Resumable[Literal["wall", "cpu"]] = "wall"
    """What --time-budget counts: wall-clock seconds, or this process's CPU seconds."""
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(name="adam", lr=1e-3))

    def check(self) -> None:
        if self.vocab_size < 16 or self.max_len < 2:
            raise ValueError("--vocab-size must be at least 16 and --max-len at least 2")
        if self.n_train < 100:
            raise ValueError("--n-train must be at least 100")


def translate(model: nn.Module, tok: Any, sources: list[str], device: torch.device, beam: int = 1,
              length_penalty: float = 0.6, max_len: int = 100, batch_size: int = 250) -> list[str]:
    """Detokenized translations of `sources` by a model with `start`/`step`/`reorder` (greedy, or
    beam search when beam > 1)."""
    out: list[str] = []
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for i in range(0, len(sources), batch_size):
            ids = tr.encode(tok, sources[i:i + batch_size], max_len - 1)
            src = tr.pad(ids, eos=True).to(device)
            limit = int(src.shape[1] * 2 + 10)
            state = model.start(src)
            if beam > 1:
                tokens = beam_search(model.step, model.reorder, state, len(ids), beam, limit, tr.BOS, tr.EOS,
                                     length_penalty, device)
            else:
                tokens = greedy(model.step, state, len(ids), limit, tr.BOS, tr.EOS, device)
            out += tr.decode(tok, tokens.tolist())
    model.train(was_training)
    return out


class TranslationTask(Task):
    """The shared part; subclasses give the model: `model_class` and `count_flops`, its training FLOPs
    as a function of (model config, source ids, decoder input ids)."""
    watch = ("loss", "bleu")
    count_flops: Callable[[Any, torch.Tensor, torch.Tensor], float]

    def __init__(self, cfg: TranslationConfig, tokenizer: Any = None):
        super().__init__(cfg)
        self.cfg: TranslationConfig = cfg
        c = cfg
        self.data = tr.load(c.dataset, c.data, c.lang, c.src_lang, c.tgt_lang, c.max_digits, c.n_train)
        self.tok = tokenizer or tr.train_tokenizer([s for p in self.data.train for s in p], c.tokenizer,
                                                   c.vocab_size)
        self.vocab = self.tok.get_vocab_size()
        src, tgt = zip(*self.data.train)
        m = c.max_len - 1  # room for EOS / BOS
        self.src_ids, self.tgt_ids = tr.encode(self.tok, list(src), m), tr.encode(self.tok, list(tgt), m)
        self.sampler = tr.LengthBatches([len(s) for s in self.src_ids], c.batch_size, c.seed)
        self.train_seconds = 0.0
        self._last: float | None = None

    @classmethod
    def for_resume(cls, cfg: TranslationConfig, checkpoint: Path) -> TranslationTask:
        """A resumed run reads its own tokenizer: retrained from data that changed, ids would mean
        other words."""
        return cls(cfg, tokenizer=tr.load_tokenizer(checkpoint / TOKENIZER_FILE))

    @classmethod
    def saved_tokenizer(cls, folder: Path) -> Any:
        return tr.load_tokenizer(folder / TOKENIZER_FILE) if (folder / TOKENIZER_FILE).exists() else None

    def build_optimizers(self, model: nn.Module) -> dict[str, torch.optim.Optimizer]:
        return {"model": build_optimizer(self.cfg.optim, model.parameters())}

    def model_config(self) -> Any:
        """The model's config with the vocabulary the tokenizer has."""
        return replace(self.cfg.model, vocab=self.vocab)

    def step_flops(self, batch: dict[str, torch.Tensor]) -> float:
        """Training FLOPs (forward and backward) of one batch."""
        return type(self).count_flops(self.model_config(), batch["src"], batch["tgt_in"])

    def cumulative_flops(self) -> Iterator[float]:
        """Training FLOPs after steps 1, 2, 3, ... (one process): a pure function of the data, the
        seed and the model's sizes, so runs can be compared at equal compute without timing
        anything (Vaswani et al. 2017, Table 2)."""
        total, step = 0.0, 0
        while True:
            for m in range(self.cfg.grad_accum):
                total += self.step_flops(super().batch(step, Shard(m, self.cfg.grad_accum)))
            yield total
            step += 1

    def flops_of(self, steps: int) -> float:
        """Training FLOPs of the first `steps` steps."""
        return next(itertools.islice(self.cumulative_flops(), steps - 1, None)) if steps else 0.0

    def steps_within(self, budget: float) -> int:
        """The most steps whose training FLOPs stay within `budget` (at least one)."""
        for n, total in enumerate(self.cumulative_flops(), 1):
            if total > budget:
                return max(1, n - 1)
        raise AssertionError("unreachable")

    # -- data ------------------------------------------------------------------------------------
    def examples(self, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        return tr.collate([self.src_ids[i] for i in idx.tolist()], [self.tgt_ids[i] for i in idx.tolist()])

    def batch(self, step: int, shard: Shard) -> dict[str, torch.Tensor]:
        if self._last is None:
            self._last = self._now()  # the training clock starts at the first batch, data ready
        return super().batch(step, shard)

    # -- the step ----------------------------------------------------------------------------------
    def loss(self, model: nn.Module, batch: Any, phase: str) -> tuple[torch.Tensor, dict[str, float]]:
        logits = model(batch["src"], batch["tgt_in"])  # (B, T, V)
        target = batch["tgt_out"]
        loss = F.cross_entropy(logits.float().flatten(0, 1), target.flatten(), ignore_index=tr.PAD,
                               label_smoothing=self.cfg.label_smoothing)
        return loss, {"tokens": float((target != tr.PAD).sum())}

    def _now(self) -> float:
        return time.process_time() if self.cfg.clock == "cpu" else time.perf_counter()

    def should_stop(self, step: int, metrics: dict[str, float]) -> bool:
        now = self._now()
        if self._last is not None:
            self.train_seconds += now - self._last
        self._last = now
        return self.cfg.time_budget > 0 and self.train_seconds >= self.cfg.time_budget

    def stop_reason(self) -> str:
        return f"--time-budget {self.cfg.time_budget:g} s of training spent"

    # -- translation ---------------------------------------------------------------------------------
    def translate(self, model: nn.Module, sources: list[str], device: torch.device) -> list[str]:
        c = self.cfg
        return translate(model, self.tok, sources, device, c.beam, c.length_penalty, c.max_len)

    def score(self, model: nn.Module, device: torch.device, split: str = "valid",
              limit: int | None = None) -> dict[str, Any]:
        """BLEU and chrF on a split (first `limit` pairs), overall and by source length."""
        pairs = getattr(self.data, split)[: limit or None]
        sources, refs = [p[0] for p in pairs], [p[1] for p in pairs]
        hyps = self.translate(model, sources, device)
        return {**tr.scores(hyps, refs), "by_length": tr.bleu_by_length(sources, hyps, refs),
                "examples": [{"source": s, "reference": r, "output": h}
                             for s, r, h in list(zip(sources, refs, hyps))[:5]]}

    def test_metrics(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        """BLEU and chrF on the whole test split, overall and by source length."""
        s = self.score(model, device, "test")
        return {"test_bleu": s["bleu"], "test_chrf": s["chrf"],
                **{f"test_bleu_len_{k}": v["bleu"] for k, v in s["by_length"].items()}}

    def evaluate(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        s = self.score(model, device, "valid", self.cfg.eval_sentences)
        out = {"bleu": s["bleu"], "chrf": s["chrf"], "train_seconds": round(self.train_seconds, 2)}
        out.update({f"bleu_len_{k}": v["bleu"] for k, v in s["by_length"].items()})
        self._last = self._now()  # evaluation does not count against --time-budget
        return out

    # -- files -------------------------------------------------------------------------------------
    def save_files(self, folder: Path) -> None:
        self.tok.save(str(folder / TOKENIZER_FILE))

    def state_dict(self) -> dict[str, Any]:
        return {"train_seconds": self.train_seconds}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.train_seconds = float(state.get("train_seconds", 0.0))
