"""Masked language modelling: BERT's pre-training (Devlin et al. 2019, §3.1 and Appendix A).

The masking rule (`mask_tokens`): of the WordPiece tokens of each sequence, 15% are chosen at
random (never [CLS], [SEP] or padding). Of the chosen, 80% are replaced by [MASK], 10% by a random
token, 10% are left as they are, so that the model cannot learn that only [MASK] positions matter.
The loss is computed at the chosen positions only; every other position's label is -100
(cross-entropy's ignore_index).

The examples (`pack`, as the released create_pretraining_data.py): each document's sentences are
gathered until they fill the sequence ([CLS] A [SEP] or [CLS] A [SEP] B [SEP]). With next-sentence
prediction (§3.1 task 2) the chunk is cut at a random sentence into A and B, and half the time B is
replaced by sentences from another document (label 1, "not next"); the pair is trimmed, longest
side first, to fit. Without it, A is the whole chunk (Liu et al. 2019 found NSP does not help).
The examples are built once with a fixed seed; the masking is drawn afresh for every step from
(seed, step) (RoBERTa's dynamic masking: the paper masked each sequence 10 ways), so batches are a
pure function of the step and `--resume` continues bit for bit.

Evaluation: masked-token loss and accuracy on held-out documents (the last tenth), with one fixed
masking, and next-sentence accuracy when it is on.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..core.task import Shard, Task
from ..optim import build as build_optimizer
from ..optim import matrix_decay_groups

IGNORE = -100
EVAL_SEED = 1234


def mask_tokens(tokens: torch.Tensor, special: torch.Tensor, mask_id: int, vocab_size: int,
                generator: torch.Generator, rate: float = 0.15,
                random_ids: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs, labels) for token ids (B, T). `special` (B, T) is True at [CLS], [SEP] and padding,
    which are never chosen. A random replacement is drawn from `random_ids` (default: every id;
    give the ids of ordinary pieces to leave special tokens out)."""
    chosen = (torch.rand(tokens.shape, generator=generator) < rate) & ~special  # (B, T): 15%
    labels = tokens.masked_fill(~chosen, IGNORE)
    roll = torch.rand(tokens.shape, generator=generator)
    to_mask = chosen & (roll < 0.8)  # 80% of the chosen
    to_random = chosen & (roll >= 0.8) & (roll < 0.9)  # 10%; the last 10% stay as they are
    if random_ids is None:
        random_ids = torch.arange(vocab_size)
    pick = torch.randint(len(random_ids), tokens.shape, generator=generator)
    inputs = tokens.masked_fill(to_mask, mask_id)
    inputs = torch.where(to_random, random_ids[pick], inputs)
    return inputs, labels


# ---------------------------------------------------------------------------------------------
# Examples.


@dataclass
class Packed:
    """Examples as rows: token ids (N, T) padded with `pad`, token types (N, T), lengths (N,) and a
    label per row (N,): pre-training's next-sentence label (0: B follows A; 1: B is random; all 0
    without NSP), or fine-tuning's class."""

    tokens: torch.Tensor
    types: torch.Tensor
    lengths: torch.Tensor
    label: torch.Tensor

    def __len__(self) -> int:
        return len(self.lengths)

    @classmethod
    def of(cls, rows: list[tuple[list[int], list[int]]], labels: list[int], seq_len: int, pad: int) -> Packed:
        """Rows of (token ids, token types), padded with `pad` to `seq_len`, and their labels."""
        tokens = torch.full((len(rows), seq_len), pad, dtype=torch.int32)
        types = torch.zeros((len(rows), seq_len), dtype=torch.int8)
        for i, (ids, tt) in enumerate(rows):
            tokens[i, :len(ids)] = torch.tensor(ids, dtype=torch.int32)
            types[i, :len(ids)] = torch.tensor(tt, dtype=torch.int8)
        return cls(tokens, types, torch.tensor([len(ids) for ids, _ in rows], dtype=torch.long),
                   torch.tensor(labels, dtype=torch.int32))

    def rows(self, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        """The examples at `idx`, as int64 tensors."""
        return {"tokens": self.tokens[idx].long(), "types": self.types[idx].long(),
                "lengths": self.lengths[idx], "label": self.label[idx].long()}


def pair(a: list[int], b: list[int], cls: int, sep: int, budget: int) -> tuple[list[int], list[int]]:
    """[CLS] a [SEP] (b [SEP]) and its token types, the longer of a and b trimmed first so the
    whole fits `budget` tokens (BERT's truncate_seq_pair, trimming from the end)."""
    a, b = list(a), list(b)
    room = budget - (3 if b else 2)
    while len(a) + len(b) > room:
        (a if len(a) >= len(b) else b).pop()
    ids = [cls, *a, sep] + ([*b, sep] if b else [])
    return ids, [0] * (len(a) + 2) + [1] * (len(b) + 1 if b else 0)


def pack(documents: list[list[list[int]]], seq_len: int, cls: int, sep: int, pad: int, nsp: bool,
         seed: int = 12345) -> Packed:
    """Pre-training examples from documents given as lists of tokenized sentences."""
    rng = random.Random(seed)
    rows: list[tuple[list[int], list[int]]] = []
    labels: list[int] = []
    target = seq_len - (3 if nsp else 2)
    for d, doc in enumerate(documents):
        chunk: list[list[int]] = []
        size = 0
        for i, sent in enumerate(doc):
            if not sent:
                continue
            chunk.append(sent)
            size += len(sent)
            if size < target and i < len(doc) - 1:
                continue
            if nsp:  # a chunk of one sentence always gets a random B (as the released code does)
                cut = rng.randint(1, len(chunk) - 1) if len(chunk) >= 2 else 1
                a = [t for s in chunk[:cut] for t in s]
                if (len(chunk) == 1 or rng.random() < 0.5) and len(documents) > 1:
                    other = rng.randrange(len(documents) - 1)
                    other += other >= d  # any document but this one
                    start = rng.randrange(max(1, len(documents[other])))
                    b = [t for s in documents[other][start:] for t in s][:target]
                    label = 1
                else:
                    b = [t for s in chunk[cut:] for t in s]
                    label = 0
                if not b:
                    b, label = [t for s in chunk[cut:] for t in s], 0
            else:
                a, b, label = [t for s in chunk for t in s], [], 0
            rows.append(pair(a, b, cls, sep, seq_len))
            labels.append(label)
            chunk, size = [], 0
    return Packed.of(rows, labels, seq_len, pad)


def pad_mask(lengths: torch.Tensor, t: int) -> torch.Tensor:
    """True at padding: (B,) lengths -> (B, T)."""
    return torch.arange(t)[None, :] >= lengths[:, None]


# ---------------------------------------------------------------------------------------------
# The task.


class Heads(nn.Module):
    """The encoder and the heads one training step uses, as one module (DDP hooks `forward`)."""

    def __init__(self, model: nn.Module, objective: str):
        super().__init__()
        self.model, self.objective = model, objective

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        m = self.model
        h = m(batch["tokens"], batch["types"], batch["pad"])  # (B, T, D)
        if self.objective == "classify":
            return {"logits": m.classify(h)}  # (B, n_classes)
        out = {"mlm": m.mlm_logits(h[batch["labels"] != IGNORE])}  # (chosen, V)
        if "is_random" in batch:
            out["nsp"] = m.nsp_logits(h)  # (B, 2)
        return out


class EncoderTask(Task):
    """What pre-training and fine-tuning share: the model from the milestone's `start` (the
    tokenizer and the weights it starts from: its config, the model, the files a checkpoint keeps,
    given the number of classes); a forward pass through `Heads`; the heads this
    objective does not use frozen (they keep their weights, get no gradient and are left out of
    the optimizer and of DDP); AdamW with decay on matrices only (BERT's recipe: no decay on
    biases and LayerNorms)."""

    objective = "mlm"
    start: Any  # the milestone's start: model_config(n_classes), build(n_classes), save_files(folder, labels)

    def n_classes(self) -> int:
        return 0

    def model_config(self) -> Any:
        return self.start.model_config(self.n_classes())

    def build_model(self) -> nn.Module:
        return self.freeze_unused(self.start.build(self.n_classes()))

    def save_files(self, folder: Path) -> None:
        self.start.save_files(folder, getattr(self, "labels", None))

    def unused_heads(self) -> tuple[str, ...]:
        """Names of the model's modules this objective leaves out."""
        if self.objective == "classify":
            return ("mlm", "nsp")
        return ("classifier",) if self.cfg.nsp else ("classifier", "pooler", "nsp")

    def freeze_unused(self, model: nn.Module) -> nn.Module:
        for name in self.unused_heads():
            part = getattr(model, name, None)
            if part is not None:
                part.requires_grad_(False)
        return model

    def heads(self, model: nn.Module) -> nn.Module:
        return model if isinstance(model, nn.parallel.DistributedDataParallel) else Heads(model, self.objective)

    def wrap_ddp(self, model: nn.Module, device_ids: list[int] | None) -> nn.Module:
        return nn.parallel.DistributedDataParallel(Heads(model, self.objective), device_ids=device_ids)

    def build_optimizers(self, model: nn.Module) -> dict[str, torch.optim.Optimizer]:
        return {"model": build_optimizer(self.cfg.optim, matrix_decay_groups(model))}

    def fsdp_units(self, model: nn.Module) -> list[nn.Module]:
        return list(model.layers)  # type: ignore[arg-type]


class MaskedLMTask(EncoderTask):
    """Pre-training on `train` and `val` (Packed), with the tokenizer's special ids. A subclass
    gives `name`, `model_class` and the config (batch_size, seed, nsp, eval_batches, optim)."""
    watch = ("loss", "mlm_acc", "val_loss", "val_mlm_acc")

    objective = "mlm"

    def setup(self, train: Packed, val: Packed, tokenizer: Any) -> None:
        from ..core.task import EpochSampler

        self.train_rows, self.val_rows, self.tokenizer = train, val, tokenizer
        ordinary = [i for i in range(tokenizer.vocab_size) if i not in
                    {tokenizer.pad, tokenizer.unk, tokenizer.cls, tokenizer.sep, tokenizer.mask}]
        self.random_ids = torch.tensor(ordinary)
        self.sampler = EpochSampler(len(train), self.cfg.batch_size, self.cfg.seed)

    def masked(self, rows: dict[str, torch.Tensor], g: torch.Generator,
               keep: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Rows masked by BERT's rule with `g`, then (`keep`: a shard's positions in them) cut to
        the longest kept row, so that a shard sees the masking the whole batch would."""
        tok = self.tokenizer
        pad = pad_mask(rows["lengths"], rows["tokens"].shape[1])
        special = pad | (rows["tokens"] == tok.cls) | (rows["tokens"] == tok.sep)
        inputs, labels = mask_tokens(rows["tokens"], special, tok.mask, tok.vocab_size, g,
                                     random_ids=self.random_ids)
        batch = {"tokens": inputs, "types": rows["types"], "pad": pad, "labels": labels,
                 "is_random": rows["label"]}
        if keep is not None:  # weigh the shard's mean loss so that shards add up to the batch's mean
            total = int((labels != IGNORE).sum())
            batch = {k: v[keep] for k, v in batch.items()}
            mine = int((batch["labels"] != IGNORE).sum())
            batch["weight"] = torch.tensor(mine * len(labels) / len(keep) / max(total, 1))
        t = int((~batch["pad"]).sum(1).max())  # (B, T) -> (B, t): less padding to compute
        batch = {k: v[:, :t] if v.dim() == 2 else v for k, v in batch.items()}
        if not self.cfg.nsp:
            del batch["is_random"]
        return batch

    def batch(self, step: int, shard: Shard) -> dict[str, torch.Tensor]:
        assert self.sampler is not None
        idx = self.sampler.global_batch(step)
        g = torch.Generator().manual_seed(self.cfg.seed * 1_000_003 + step)
        return self.masked(self.train_rows.rows(idx), g, keep=shard.take(torch.arange(len(idx))))

    def loss(self, model: nn.Module, batch: dict[str, torch.Tensor], phase: str) -> tuple[torch.Tensor, dict]:
        out = self.heads(model)(batch)
        y = batch["labels"][batch["labels"] != IGNORE]
        loss = F.cross_entropy(out["mlm"].float(), y) * batch.get("weight", 1.0)
        metrics = {"mlm_acc": (out["mlm"].argmax(-1) == y).float().mean().detach()}
        if "nsp" in out:
            nsp = F.cross_entropy(out["nsp"].float(), batch["is_random"])
            metrics["nsp_loss"] = nsp.detach()
            loss = loss + nsp
        return loss, metrics

    @torch.no_grad()
    def evaluate(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        n = min(len(self.val_rows), self.cfg.eval_batches * self.cfg.batch_size)
        g = torch.Generator().manual_seed(EVAL_SEED)
        total, right, count, nsp_right = 0.0, 0, 0, 0
        for idx in torch.arange(n).split(self.cfg.batch_size):
            b = {k: v.to(device) for k, v in self.masked(self.val_rows.rows(idx), g).items()}
            h = model(b["tokens"], b["types"], b["pad"])
            chosen = b["labels"] != IGNORE
            logits = model.mlm_logits(h[chosen]).float()
            y = b["labels"][chosen]
            total += float(F.cross_entropy(logits, y, reduction="sum"))
            right += int((logits.argmax(-1) == y).sum())
            count += len(y)
            if self.cfg.nsp:
                nsp_right += int((model.nsp_logits(h).argmax(-1) == b["is_random"]).sum())
        out = {"val_loss": total / max(count, 1), "val_mlm_acc": right / max(count, 1)}
        if self.cfg.nsp:
            out["val_nsp_acc"] = nsp_right / max(n, 1)
        return out
