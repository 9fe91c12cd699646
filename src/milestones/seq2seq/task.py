"""seq2seq's training task, and the translation task the Transformer shares.

`TranslationTask` holds what both translation milestones need: the parallel corpus
(data/translation.py; the embedded English -> French number words by default), one joint
tokenizer trained on the training split and saved as tokenizer.json in every checkpoint,
length-bucketed teacher-forcing batches, the token-level cross-entropy (optionally label
smoothed), a training clock that leaves evaluation out (`--time-budget` stops a run after that
many seconds of training: the Transformer claim compares models at equal wall-clock time), and
evaluation: greedy (or beam) translation of the validation sentences scored by sacrebleu,
overall and by source length.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from ..adam import optim
from ..core.config import TrainConfig, UserError
from ..core.distributed import Dist
from ..core.task import Task
from ..data import translation as tr
from ..nn.decoding import beam_search, greedy
from .model import Seq2Seq, Seq2SeqConfig

TOKENIZER_FILE = "tokenizer.json"


@dataclass
class TranslationConfig(TrainConfig):
    dataset: Literal["numbers"] = "numbers"
    """Embedded data when --data is not given: English number words and their translation."""
    lang: str = "fr"
    """numbers: the target language (any num2words language: fr, de, ko, es, ...)."""
    max_digits: int = 12
    """numbers: the longest number, in digits (12: up to 19 English words; 15: up to 24)."""
    n_train: int = 20_000
    """numbers: training pairs to generate (validation 500, test 1,000)."""
    src_lang: str = ""
    """Paired files train.<src>/train.<tgt> in --data: the source suffix (when more than two are there)."""
    tgt_lang: str = ""
    """Paired files: the target suffix."""
    tokenizer: Literal["auto", "word", "bpe"] = "auto"
    """Joint tokenizer: word-level, BPE, or auto (word-level when the words fit in --vocab-size)."""
    vocab_size: int = 8000
    """Largest vocabulary (BPE's target size)."""
    max_len: int = 100
    """Training sentences are cut to this many tokens."""
    label_smoothing: float = 0.0
    """Label smoothing of the cross-entropy (the Transformer paper: 0.1)."""
    eval_sentences: int = 500
    """Validation sentences translated at each evaluation."""
    beam: int = 1
    """Beam width at evaluation (1: greedy)."""
    length_penalty: float = 0.6
    """Beam search: alpha of the length penalty ((5 + |Y|) / 6)^alpha."""
    time_budget: float = 0.0
    """Stop after this many seconds of training, evaluation not counted (0: train --steps steps)."""
    clock: Literal["wall", "cpu"] = "wall"
    """What --time-budget counts: wall-clock seconds, or this process's CPU seconds (fair between runs
    that share a machine; the claims use it, one thread per run)."""

    def check(self) -> None:
        if self.vocab_size < 16 or self.max_len < 2 or self.eval_sentences < 1 or self.beam < 1:
            raise UserError("--vocab-size must be at least 16, --max-len 2, --eval-sentences 1, --beam 1")
        if not 0 <= self.label_smoothing < 1:
            raise UserError("--label-smoothing must be in [0, 1)")
        if self.time_budget < 0 or self.n_train < 100:
            raise UserError("--time-budget must be at least 0 and --n-train at least 100")


class TranslationTask(Task):
    """The shared part; subclasses build the model and the optimizer."""

    def __init__(self, cfg: TranslationConfig, tokenizer: Any = None):
        super().__init__(cfg)
        self.cfg: TranslationConfig = cfg
        self._data: tr.Parallel | None = None
        self.tok = tokenizer
        if self.tok is None:
            train = self.data.train
            self.tok = tr.train_tokenizer([s for p in train for s in p], cfg.tokenizer, cfg.vocab_size)
        self.vocab = self.tok.get_vocab_size()
        self._ids: tuple[list[list[int]], list[list[int]]] | None = None
        self._batches: tr.LengthBatches | None = None
        self.train_seconds = 0.0
        self._last: float | None = None

    @property
    def data(self) -> tr.Parallel:
        if self._data is None:
            c = self.cfg
            self._data = tr.load(c.dataset, c.data, c.lang, c.src_lang, c.tgt_lang, c.max_digits, c.n_train)
        return self._data

    # -- data ------------------------------------------------------------------------------------
    def _train_ids(self) -> tuple[list[list[int]], list[list[int]]]:
        if self._ids is None:
            src, tgt = zip(*self.data.train)
            m = self.cfg.max_len - 1  # room for EOS / BOS
            self._ids = (tr.encode(self.tok, list(src), m), tr.encode(self.tok, list(tgt), m))
            self._batches = tr.LengthBatches([len(s) for s in self._ids[0]], self.cfg.batch_size, self.cfg.seed)
        return self._ids

    def batch(self, step: int, micro: int, d: Dist) -> dict[str, torch.Tensor]:
        src, tgt = self._train_ids()
        if self._last is None:
            self._last = self._now()  # the training clock starts at the first batch, data ready
        assert self._batches is not None
        idx = self._batches.indices(step, micro, self.cfg.grad_accum, d).tolist()
        return tr.collate([src[i] for i in idx], [tgt[i] for i in idx])

    # -- the step ----------------------------------------------------------------------------------
    def loss(self, model: nn.Module, batch: Any, phase: str | None = None) -> tuple[torch.Tensor, dict[str, float]]:
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

    # -- translation ---------------------------------------------------------------------------------
    def translate(self, model: nn.Module, sources: list[str], device: torch.device, beam: int | None = None,
                  batch_size: int = 250) -> list[str]:
        """Detokenized translations of `sources` (greedy, or beam search when beam > 1)."""
        beam = self.cfg.beam if beam is None else beam
        out: list[str] = []
        was_training = model.training
        model.eval()
        with torch.no_grad():
            for i in range(0, len(sources), batch_size):
                ids = tr.encode(self.tok, sources[i:i + batch_size], self.cfg.max_len - 1)
                src = tr.pad(ids, eos=True).to(device)
                max_len = int(src.shape[1] * 2 + 10)
                state = model.start(src)
                if beam > 1:
                    tokens = beam_search(model.step, model.reorder, state, len(ids), beam, max_len, tr.BOS, tr.EOS,
                                         self.cfg.length_penalty, device)
                else:
                    tokens = greedy(model.step, state, len(ids), max_len, tr.BOS, tr.EOS, device)
                out += tr.decode(self.tok, tokens.tolist())
        model.train(was_training)
        return out

    def score(self, model: nn.Module, device: torch.device, split: str = "valid",
              limit: int | None = None) -> dict[str, Any]:
        """BLEU and chrF on a split (first `limit` pairs), overall and by source length."""
        pairs = getattr(self.data, split)[: limit or None]
        sources, refs = [p[0] for p in pairs], [p[1] for p in pairs]
        hyps = self.translate(model, sources, device)
        return {**tr.scores(hyps, refs), "by_length": tr.bleu_by_length(sources, hyps, refs),
                "examples": [{"source": s, "reference": r, "output": h} for s, r, h in list(zip(sources, refs, hyps))[:5]]}

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


# -- seq2seq itself ------------------------------------------------------------------------------------


@dataclass
class Config(TranslationConfig):
    attention: bool = True
    """Bahdanau's additive attention over a bidirectional encoder (false: Sutskever's fixed vector)."""
    reverse_source: bool = False
    """Read the source backwards (Sutskever §3.3)."""
    cell: Literal["lstm", "gru"] = "lstm"
    """Recurrent unit."""
    emb: int = 128
    """Embedding size."""
    hidden: int = 256
    """Recurrent state size (per direction in the bidirectional encoder)."""
    layers: int = 1
    """Stacked recurrent layers in the encoder and in the decoder."""
    dropout: float = 0.0
    """Dropout on embeddings and between layers."""

    def check(self) -> None:
        super().check()
        if self.emb < 1 or self.hidden < 1 or self.layers < 1:
            raise UserError("--emb, --hidden and --layers must be at least 1")
        if not 0 <= self.dropout < 1:
            raise UserError("--dropout must be in [0, 1)")


PRESETS = {
    "tiny": dict(n_train=2000, max_digits=6, steps=30, batch_size=32, emb=32, hidden=32, eval_every=15,
                 eval_sentences=50, log_every=5, lr=3e-3, schedule="constant", grad_clip=1.0),
    # what the claims train: 300 steps of 32 pairs, sizes chosen for a CPU core (an attention run
    # takes about 25 s); batch 64 was measured first and cost too much of the test budget
    "small": dict(steps=300, batch_size=32, emb=64, hidden=64, lr=3e-3, schedule="constant", grad_clip=1.0,
                  eval_every=100, eval_sentences=100, log_every=25),
    # Bahdanau et al.'s RNNsearch sizes (620-d embeddings, 1000 units, batch 80); Adam replaces Adadelta.
    "paper": dict(steps=100_000, batch_size=80, emb=620, hidden=1000, lr=5e-4, eval_every=5000, ckpt_every=5000,
                  schedule="constant", grad_clip=1.0, log_every=100),
}


class Seq2SeqTask(TranslationTask):
    name = "seq2seq"

    def __init__(self, cfg: Config, tokenizer: Any = None):
        super().__init__(cfg, tokenizer)
        self.cfg: Config = cfg

    def build_model(self) -> Seq2Seq:
        c = self.cfg
        return Seq2Seq(Seq2SeqConfig(vocab=self.vocab, emb=c.emb, hidden=c.hidden, layers=c.layers, cell=c.cell,
                                     attention=c.attention, reverse_source=c.reverse_source, dropout=c.dropout))

    def build_optimizer(self, model: nn.Module) -> torch.optim.Optimizer:
        return optim.Adam(model.parameters(), lr=self.cfg.lr, weight_decay=self.cfg.weight_decay)


def make_task(cfg: Config) -> Seq2SeqTask:
    return Seq2SeqTask(cfg)
