"""Language modelling: predict every next token of a text (GPT; BERT reuses the data and tokenizers).

Data (data/text.py): the standard library's source by default, a user's .txt files with `--data`,
tokenized by characters or by byte-level BPE and cached as uint16 token files. (`--dataset
keyvalue` and `--dataset repeats`, generated sequences for in-context learning, are a task of
their own: tasks/in_context.py.)

A training example is a window of `seq_len` + 1 tokens at a random offset: the offsets of step
s are drawn from a generator seeded by (seed, s), so batches are a pure function of the step.
Optimizer: AdamW with weight decay on matrices only (not biases, LayerNorms), warm-up then cosine
decay (the trainer's schedule). The progress line shows tokens per second and the model FLOPs
utilisation (MFU): FLOPs per token (`flops_per_token`, 6N + 12 L d T) times tokens per second,
over the device's peak (`--peak-flops`, or measured once per machine and cached).

`--init-from DIR` starts from a run of this milestone or a Hugging Face folder (fine-tuning):
the model's sizes and its tokenizer come from there, and the data is tokenized with that tokenizer.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..core import checkpoint as ckpt
from ..core.config import NonNegative, Positive, Resumable, TrainConfig
from ..core.task import Source, Task
from ..data import text as tx
from ..errors import UserError
from ..optim import OptimConfig, matrix_decay_groups
from ..optim import build as build_optimizer
from ..paths import cache_dir, expand

TOKENIZER_FILE = "tokenizer.json"


@dataclass
class LanguageModelConfig(TrainConfig):
    dataset: Literal["stdlib", "keyvalue", "repeats"] = "stdlib"
    """Embedded data when --data is not given: Python's standard library source; or generated
    sequences for in-context learning: fresh key-value mappings, or random tokens with a repeated
    segment (induction heads)."""
    data: str = ""
    """A .txt file or a folder of .txt files a user brings; empty: the embedded --dataset."""
    tokenizer: Literal["char", "bpe"] = "char"
    """Characters, or byte-level BPE trained on the training text (ignored with --tokenizer-file)."""
    tokenizer_file: str = ""
    """A tokenizer a user brings: tokenizer.json, or a folder with GPT-2's vocab.json + merges.txt."""
    bpe_vocab: Positive[int] = 4096
    """BPE: the vocabulary to train."""
    seq_len: NonNegative[int] = 0
    """Training window in tokens (0: the model's block size)."""
    kv_keys: Positive[int] = 8
    """keyvalue: distinct keys."""
    kv_values: Positive[int] = 8
    """keyvalue: distinct values (zero-shot chance: 1 / kv_values)."""
    kv_pairs: Positive[int] = 16
    """keyvalue: key-value pairs per sequence."""
    rep_vocab: Positive[int] = 64
    """repeats: distinct random tokens (chance: 1 / rep_vocab)."""
    rep_length: Positive[int] = 64
    """repeats: tokens per sequence."""
    rep_min: Positive[int] = 16
    """repeats: shortest repeated segment."""
    rep_max: Positive[int] = 30
    """repeats: longest repeated segment (it must fit twice in a sequence)."""
    eval_batches: Resumable[Positive[int]] = 20
    """Validation batches (of --batch-size windows or sequences) per evaluation."""
    init_from: str = ""
    """Start from this run (folder or checkpoint) or Hugging Face model folder: its sizes, weights and tokenizer."""
    compile: Resumable[bool] = False
    """torch.compile the model for training."""
    peak_flops: Resumable[NonNegative[float]] = 0.0
    """The device's peak FLOP/s for MFU (0: measured once on this machine with a matrix product, and cached)."""
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(name="adamw", lr=6e-4, weight_decay=0.1,
                                                                   beta2=0.95))

    def check(self) -> None:
        if self.dataset != "stdlib" and (self.data or self.init_from):
            raise ValueError(f"--dataset {self.dataset} is generated: it takes neither --data nor --init-from")
        if self.bpe_vocab < 257:
            raise ValueError("--bpe-vocab must be at least 257 (the 256 bytes and one token more)")


class TokenWindows:
    """Offsets of windows of a token array, `batch_size` per step, seeded by (seed, step)."""

    def __init__(self, n_tokens: int, window: int, batch_size: int, seed: int):
        self.high, self.batch_size, self.seed = n_tokens - window, batch_size, seed

    def global_batch(self, step: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + step)
        return torch.randint(0, self.high, (self.batch_size,), generator=g)


class LanguageModelTask(Task):
    """The shared part; a milestone gives `model_class` (whose config has `block_size`, `vocab_size`
    and `dropout`) and `load_source` for --init-from."""
    watch = ("loss", "val_loss", "tok_s")

    def __init__(self, cfg: LanguageModelConfig, tokenizer: Any = None, source: Source | None = None):
        super().__init__(cfg)
        self.cfg: LanguageModelConfig = cfg
        c = cfg
        self.source = source or (self.load_source(expand(c.init_from)) if c.init_from else None)
        if self.source is not None and tokenizer is None:
            tokenizer = self.source.tokenizer
        self.tokenizer: Any = None
        self.vocab = 0
        block = self.source.model_config.block_size if self.source else c.model.block_size
        self.seq_len = c.seq_len or block
        if self.seq_len > block:
            raise UserError(f"--seq-len {self.seq_len} is longer than the model's block size {block}")
        self.tokens = self._tokens(tokenizer)
        self.tokenizer = self.tokens.tokenizer
        self.vocab = self.tokenizer.vocab_size
        for split, ids in (("training", self.tokens.train), ("validation", self.tokens.val)):
            if len(ids) <= self.seq_len:
                raise UserError(f"the {split} text has {len(ids)} tokens, fewer than one window of "
                                f"{self.seq_len} + 1; bring more text or lower --seq-len / --block-size")
        self.sampler = TokenWindows(len(self.tokens.train), self.seq_len + 1, c.batch_size, c.seed)

    def _tokens(self, tokenizer: Any) -> tx.Tokens:
        c = self.cfg
        if tokenizer is None and c.tokenizer_file:
            tokenizer = tx.BPETokenizer.from_files(c.tokenizer_file)
        text = tx.user_text(c.data) if c.data else tx.stdlib_text()
        name = Path(c.data).expanduser().stem if c.data else "stdlib"
        return tx.tokens(text, tokenizer, c.tokenizer, c.bpe_vocab, name)

    @classmethod
    def for_resume(cls, cfg: LanguageModelConfig, checkpoint: Path) -> LanguageModelTask:
        """A resumed run reads its own tokenizer; one started `--init-from` elsewhere takes the
        model's sizes from the checkpoint too (the weights come from it), not from that folder."""
        tok = tx.load_tokenizer(checkpoint / TOKENIZER_FILE) if (checkpoint / TOKENIZER_FILE).exists() else None
        source = None
        if cfg.init_from:
            model_cfg = ckpt.read_model_config(checkpoint, ckpt.read_meta(checkpoint), type(cfg.model))
            source = Source(model_cfg, {}, tok)
        return cls(cfg, tokenizer=tok, source=source)

    @classmethod
    def saved_tokenizer(cls, folder: Path) -> Any:
        return tx.load_tokenizer(folder / TOKENIZER_FILE) if (folder / TOKENIZER_FILE).exists() else None

    def load_source(self, path: Path) -> Source:
        """The model config, weights and tokenizer of `--init-from` (a milestone reads its formats)."""
        raise NotImplementedError

    # -- the model ---------------------------------------------------------------------------------
    def model_config(self) -> Any:
        if self.source is not None:  # the sizes come from the model started from; dropout from this run
            return replace(self.source.model_config, dropout=self.cfg.model.dropout)
        return replace(self.cfg.model, vocab_size=self.vocab)

    def build_model(self) -> nn.Module:
        model = super().build_model()
        if self.source is not None and self.source.state:
            model.load_state_dict(self.source.state)
        return model

    def build_optimizers(self, model: nn.Module) -> dict[str, torch.optim.Optimizer]:
        """Weight decay on matrices (embeddings and projections), none on biases and LayerNorms."""
        return {"model": build_optimizer(self.cfg.optim, matrix_decay_groups(model))}

    def attach(self, model: nn.Module, device: torch.device) -> None:
        self.device = device
        self._compiled: Any = None
        self.peak = self.cfg.peak_flops or measured_peak_flops(device)
        self.flops_per_token = model.flops_per_token(self.seq_len) if hasattr(model, "flops_per_token") else 0.0

    def _forward(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        if self.cfg.compile:
            if self._compiled is None:
                self._compiled = torch.compile(model)
            model = self._compiled
        return model(x)

    # -- batches -------------------------------------------------------------------------------------
    def examples(self, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        return self._windows(self.tokens.train, idx)

    def _windows(self, ids: np.ndarray, offsets: torch.Tensor) -> dict[str, torch.Tensor]:
        t = self.seq_len
        rows = np.stack([ids[o:o + t + 1] for o in offsets.tolist()]).astype(np.int64)  # (B, T + 1)
        xy = torch.from_numpy(rows)
        return {"x": xy[:, :-1], "y": xy[:, 1:]}

    def loss(self, model: nn.Module, batch: dict[str, torch.Tensor], phase: str) -> tuple[torch.Tensor, dict]:
        logits = self._forward(model, batch["x"])  # (B, T, V)
        return F.cross_entropy(logits.float().flatten(0, 1), batch["y"].flatten()), {}

    def throughput(self, seconds: float) -> dict[str, float]:
        """Tokens per second (all ranks) and MFU of the step that took `seconds`."""
        tokens = self.cfg.batch_size * self.seq_len
        rate = tokens / max(seconds, 1e-9)
        return {"tok_s": rate, "mfu": self.flops_per_token * rate / self.peak if self.peak else 0.0}

    def fsdp_units(self, model: nn.Module) -> list[nn.Module]:
        return list(model.blocks)  # type: ignore[arg-type]

    # -- evaluation ----------------------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        ids = self.tokens.val
        n = self.cfg.eval_batches * self.cfg.batch_size
        offsets = torch.linspace(0, len(ids) - self.seq_len - 1, n).long()  # the same windows every time
        total = 0.0
        for chunk in offsets.split(self.cfg.batch_size):
            b = self._windows(ids, chunk)
            logits = model(b["x"].to(device))
            total += float(F.cross_entropy(logits.float().flatten(0, 1), b["y"].to(device).flatten())) * len(chunk)
        loss = total / n
        out = {"val_loss": loss}
        if self.tokenizer.kind == "char":
            out["val_bpc"] = loss / math.log(2)  # bits per character
        return out

    # -- files ---------------------------------------------------------------------------------------
    def save_files(self, folder: Path) -> None:
        self.tokenizer.save(folder / TOKENIZER_FILE)


def measured_peak_flops(device: torch.device) -> float:
    """FLOP/s of a large matrix product on `device` (fp32 on a CPU with this process's threads,
    bf16 on CUDA): the best of a few timings, measured once per machine and cached."""
    threads = torch.get_num_threads()
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu-{threads}threads"
    path = cache_dir() / "peak_flops.json"
    try:
        known = json.loads(path.read_text()) if path.is_file() else {}
    except (json.JSONDecodeError, UnicodeDecodeError):
        known = {}
    if name in known:
        return float(known[name])
    n, dtype = (4096, torch.bfloat16) if device.type == "cuda" else (1024, torch.float32)
    a = torch.randn(n, n, device=device, dtype=dtype)
    best = math.inf
    for _ in range(5):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        for _ in range(4):
            a @ a
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        best = min(best, (time.perf_counter() - t0) / 4)
    peak = 2 * n**3 / best
    known[name] = peak
    tmp = path.with_suffix(f".{os.getpid()}.tmp")  # processes side by side may measure at once
    tmp.write_text(json.dumps(known, indent=1))
    tmp.replace(path)
    return peak
