"""Fine-tuning a pre-trained encoder to classify texts or text pairs (BERT §4.1, Fig. 4a-b).

The input is [CLS] A [SEP] (B [SEP]), WordPiece tokens trimmed to the sequence length, the longer
side first; the classifier reads the pooled [CLS] state. Each example is tokenized once; a batch
is cut to its longest row. The examples come from data/labelled.py (a user's TSV or the embedded
docstring task). Evaluation: accuracy and loss on the held-out test set, and accuracy on (up to
1,000 of) the training examples. With a validation set, also its accuracy, `val_acc`, and the best
so far, `best_val_acc`, with the test accuracy of that evaluation, `best_test_acc` (the first
evaluation wins a tie): a run that chooses its length on the validation set reports its test
accuracy there, as if it had stopped at its best. With `patience`, training stops once validation
accuracy has not improved for that many evaluations (early stopping).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..core.task import EpochSampler
from ..data.labelled import LabelledText
from .masked_lm import EncoderTask, Packed, pad_mask, pair


def encode(data: LabelledText, tokenizer: Any, seq_len: int) -> Packed:
    """The examples as rows, with their classes."""
    a = tokenizer.encode_batch(data.a)
    b = tokenizer.encode_batch(data.b) if data.b is not None else [[] for _ in a]
    rows = [pair(x, y, tokenizer.cls, tokenizer.sep, seq_len) for x, y in zip(a, b)]
    return Packed.of(rows, data.y, seq_len, tokenizer.pad)


def batch_of(rows: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    t = int(rows["lengths"].max())
    return {"tokens": rows["tokens"][:, :t], "types": rows["types"][:, :t],
            "pad": pad_mask(rows["lengths"], t), "y": rows["label"]}


@torch.no_grad()
def logits_of(model: nn.Module, rows: Packed, device: torch.device, batch: int = 64) -> torch.Tensor:
    """Class logits (N, n_classes) of every row, in eval mode, on the CPU."""
    was = model.training
    model.eval()
    out = []
    for idx in torch.arange(len(rows)).split(batch):
        b = {k: v.to(device) for k, v in batch_of(rows.rows(idx)).items()}
        out.append(model.classify(model(b["tokens"], b["types"], b["pad"])).float().cpu())
    model.train(was)
    return torch.cat(out)


class TextClassificationTask(EncoderTask):
    """Fine-tuning on `train`, tested on `test` (both LabelledText). A subclass gives `name`,
    `model_class` and the config (batch_size, seed, seq_len, optim)."""
    watch = ("loss", "test_acc", "val_acc")

    objective = "classify"
    eval_train_examples = 1000

    def n_classes(self) -> int:
        return len(self.labels)

    def setup(self, train: LabelledText, test: LabelledText, tokenizer: Any, val: LabelledText | None = None,
              patience: int = 0) -> None:
        self.labels = train.names
        self.tokenizer = tokenizer
        self.train_rows = encode(train, tokenizer, self.cfg.seq_len)
        self.test_rows = encode(test, tokenizer, self.cfg.seq_len)
        self.val_rows = encode(val, tokenizer, self.cfg.seq_len) if val is not None else None
        self.patience = patience
        self.best = {"val_acc": -1.0, "test_acc": 0.0, "since": 0}  # the best evaluation so far, and evaluations since
        self.sampler = EpochSampler(len(train), self.cfg.batch_size, self.cfg.seed)

    def examples(self, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        return batch_of(self.train_rows.rows(idx))

    def loss(self, model: nn.Module, batch: dict[str, torch.Tensor], phase: str) -> tuple[torch.Tensor, dict]:
        logits = self.heads(model)(batch)["logits"]  # (B, n_classes)
        y = batch["y"].long()
        return F.cross_entropy(logits.float(), y), {"acc": (logits.argmax(-1) == y).float().mean().detach()}

    def evaluate(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        y = self.test_rows.label.long()
        logits = logits_of(model, self.test_rows, device)
        n = min(self.eval_train_examples, len(self.train_rows))
        train = Packed(*(t[:n] for t in (self.train_rows.tokens, self.train_rows.types, self.train_rows.lengths,
                                         self.train_rows.label)))
        train_acc = (logits_of(model, train, device).argmax(-1) == train.label.long()).float().mean()
        out = {"test_loss": float(F.cross_entropy(logits, y)),
               "test_acc": float((logits.argmax(-1) == y).float().mean()), "train_acc": float(train_acc)}
        if self.val_rows is not None:
            val = logits_of(model, self.val_rows, device).argmax(-1) == self.val_rows.label.long()
            out["val_acc"] = float(val.float().mean())
            if out["val_acc"] > self.best["val_acc"]:
                self.best.update(val_acc=out["val_acc"], test_acc=out["test_acc"], since=0)
            else:
                self.best["since"] += 1
            out.update(best_val_acc=self.best["val_acc"], best_test_acc=self.best["test_acc"])
        return out

    def should_stop(self, step: int, metrics: dict[str, float]) -> bool:
        return bool(self.patience) and self.best["since"] >= self.patience

    def stop_reason(self) -> str:
        return (f"validation accuracy has not improved for {self.patience} evaluations (best "
                f"{self.best['val_acc']:.4g}, test accuracy then {self.best['test_acc']:.4g})")

    def state_dict(self) -> dict[str, Any]:
        return {"best": dict(self.best)} if self.val_rows is not None else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if "best" in state:
            self.best = {k: float(v) if k != "since" else int(v) for k, v in state["best"].items()}
