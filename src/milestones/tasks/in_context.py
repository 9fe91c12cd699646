"""In-context tasks: generated sequences whose answers are in the context and nowhere else (GPT's
`--dataset keyvalue` and `--dataset repeats`).

- keyvalue (data/keyvalue.py): pairs k v of a mapping drawn fresh for every sequence; the loss
  counts the values only, and evaluation reports the accuracy on a value by the number of earlier
  pairs with its key (shots), as GPT-3 (Brown et al. 2020, Fig. 1.2) reports accuracy by the
  number of examples in the prompt. Zero shots is chance (1 / values) by construction.
- repeats (data/repeats.py): random tokens in which a segment of random length recurs at a random
  later offset; the loss counts every token, as a language model's does, and evaluation reports
  the accuracy on the repeated tokens after the first (what an induction head predicts; Olsson et
  al. 2022), on the first one (chance) and on the rest (chance).

Every sequence is a pure function of (seed, index): step s trains on sequences s B .. (s + 1) B - 1
of the training seed, and evaluation reads the same held-out sequences (a seed of their own)
in every run. Optimizer: AdamW with weight decay on matrices only, as the language model's.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..core.task import Task
from ..data import keyvalue, repeats
from ..errors import UserError
from ..optim import build as build_optimizer
from ..optim import matrix_decay_groups

MAX_SHOTS = 3  # evaluation reports accuracy at 0 .. MAX_SHOTS earlier examples


class Sequences:
    """Generated sequences: step s takes sequences s B .. (s + 1) B - 1."""

    def __init__(self, batch_size: int):
        self.batch_size = batch_size

    def global_batch(self, step: int) -> torch.Tensor:
        return torch.arange(step * self.batch_size, (step + 1) * self.batch_size)


class InContextTask(Task):
    """`cfg` is a language-model config (tasks/language_model.py) whose `dataset` is keyvalue or
    repeats; a milestone gives `name` and `model_class` (its config has `block_size` and `vocab_size`)."""

    watch = ("loss", "val_loss", "acc_1shot", "acc_repeat")
    tokenizer = None  # generated token ids: no text

    def __init__(self, cfg: Any, tokenizer: Any = None, source: Any = None):
        super().__init__(cfg)
        c = cfg
        if c.data or c.init_from:
            raise UserError(f"--dataset {c.dataset} is generated: it takes neither --data nor --init-from")
        if c.dataset == "keyvalue":
            self.vocab = c.kv_keys + c.kv_values
            self.seq_len = 2 * c.kv_pairs - 1  # k_1 v_1 ... k_P (v_P is only a target)
            what = f"--kv-pairs {c.kv_pairs} makes sequences of {self.seq_len} tokens"
            self.watch = ("loss", "val_loss", "acc_0shot", "acc_1shot")
        else:
            repeats.check(c.rep_vocab, c.rep_length, c.rep_min, c.rep_max)
            self.vocab = c.rep_vocab
            self.seq_len = c.rep_length - 1
            what = f"--rep-length {c.rep_length} makes inputs of {self.seq_len} tokens"
            self.watch = ("loss", "val_loss", "acc_repeat", "acc_first")
        if self.seq_len > c.model.block_size:
            raise UserError(f"{what}, longer than the model's block size ({c.model.block_size}); raise "
                            "--model.block-size")
        self.sampler = Sequences(c.batch_size)

    # -- the model ---------------------------------------------------------------------------------
    def model_config(self) -> Any:
        return replace(self.cfg.model, vocab_size=self.vocab)

    def build_optimizers(self, model: nn.Module) -> dict[str, torch.optim.Optimizer]:
        return {"model": build_optimizer(self.cfg.optim, matrix_decay_groups(model))}

    # -- batches -------------------------------------------------------------------------------------
    def sequences(self, idx: torch.Tensor, seed: int) -> dict[str, torch.Tensor]:
        c = self.cfg
        if c.dataset == "keyvalue":
            return keyvalue.sequences(idx, seed, c.kv_keys, c.kv_values, c.kv_pairs)
        return repeats.sequences(idx, seed, c.rep_vocab, c.rep_length, c.rep_min, c.rep_max)

    def held_out(self, b: int) -> dict[str, torch.Tensor]:
        """Evaluation batch b: the same sequences for every training seed."""
        seed = keyvalue.EVAL_SEED if self.cfg.dataset == "keyvalue" else repeats.EVAL_SEED
        n = self.cfg.batch_size
        return self.sequences(torch.arange(b * n, (b + 1) * n), seed)

    def examples(self, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.sequences(idx, self.cfg.seed)

    def targets(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The next tokens the loss counts (-100 elsewhere): the values of key-value sequences,
        every token of repeats."""
        y = batch["y"]
        return y.masked_fill(~batch["mask"], -100) if "mask" in batch else y

    def loss(self, model: nn.Module, batch: dict[str, torch.Tensor], phase: str) -> tuple[torch.Tensor, dict]:
        logits = model(batch["x"])  # (B, T, V)
        y = self.targets(batch)
        return F.cross_entropy(logits.float().flatten(0, 1), y.flatten(), ignore_index=-100), {}

    def throughput(self, seconds: float) -> dict[str, float]:
        return {"tok_s": self.cfg.batch_size * self.seq_len / max(seconds, 1e-9)}

    def fsdp_units(self, model: nn.Module) -> list[nn.Module]:
        return list(model.blocks)  # type: ignore[arg-type]

    # -- evaluation ----------------------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        """val_loss (the training loss on held-out sequences), and accuracy and loss by kind of
        token: keyvalue acc_{s}shot, loss_{s}shot for s = 0 .. MAX_SHOTS, and counting_{s}shot, the
        accuracy of guessing the value seen most often so far without reading the key (what the
        context gives a reader that only counts); repeats acc_repeat,
        loss_repeat (the copy's tokens after its first), acc_first (its first) and acc_other (the
        random tokens outside it)."""
        groups: dict[str, list[float]] = {}  # name -> [right, loss, count, counting]
        loss, counted = 0.0, 0
        for b in range(self.cfg.eval_batches):
            batch = self.held_out(b)
            logits = model(batch["x"].to(device)).float().cpu()
            each = F.cross_entropy(logits.transpose(1, 2), batch["y"], reduction="none")  # (B, T), every token
            trained = self.targets(batch) != -100
            loss += float(each[trained].sum())
            counted += int(trained.sum())
            hit = logits.argmax(-1) == batch["y"]
            guess = batch.get("counting", torch.zeros_like(each))
            for name, at in self.kinds(batch).items():
                right, lost, count, base = groups.setdefault(name, [0.0, 0.0, 0.0, 0.0])
                groups[name] = [right + float((hit & at).sum()), lost + float(each[at].sum()),
                                count + float(at.sum()), base + float(guess[at].sum())]
        out = {"val_loss": loss / max(counted, 1)}
        for k, (right, lost, n, base) in groups.items():
            out |= {f"acc_{k}": right / n if n else float("nan"), f"loss_{k}": lost / n if n else float("nan")}
            if self.cfg.dataset == "keyvalue":
                out[f"counting_{k}"] = base / n if n else float("nan")
        return out

    def kinds(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Masks (B, T) of the predicted tokens each accuracy counts."""
        if self.cfg.dataset == "keyvalue":
            return {f"{s}shot": batch["shots"] == s for s in range(MAX_SHOTS + 1)}
        r = batch["repeat"]
        return {"repeat": r >= 1, "first": r == 0, "other": r < 0}

    @torch.no_grad()
    def head_scores(self, model: nn.Module, sequences: int = 64) -> dict[str, list[list[float]]]:
        """For repeats: how much each head of each layer attends where the two heads of an induction
        circuit do (Olsson et al. 2022), on the first `sequences` held-out sequences. `previous`
        [layer][head]: the mean weight a position gives to the one before it (a previous-token head
        writes into each position the token it follows); `induction` [layer][head]: the mean weight a
        repeated token after the first gives to the token to copy, the one after the earlier
        occurrence of the current token (an induction head). Uniform attention gives about 2 / T."""
        if self.cfg.dataset != "repeats":
            raise ValueError("head scores are defined on --dataset repeats")
        batch = self.sequences(torch.arange(sequences), repeats.EVAL_SEED)
        scores = [attention_scores(m, batch["repeat"], batch["source"]) for m in model.attention(batch["x"])]
        return {"previous": [[round(float(v), 4) for v in p] for p, _ in scores],
                "induction": [[round(float(v), 4) for v in i] for _, i in scores]}


def attention_scores(maps: torch.Tensor, repeat: torch.Tensor,
                     source: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One layer's maps (B, H, T, T) on a repeats batch -> (previous (H,), induction (H,)): the mean
    weight on position t - 1 over t >= 1, and the mean weight on `source` (the token y copies) over
    the repeated tokens after the first (repeat >= 1)."""
    t = maps.shape[-1]
    previous = maps[:, :, torch.arange(1, t), torch.arange(t - 1)].mean((0, 2))  # (B, H, T - 1) -> (H,)
    b, q = (repeat >= 1).nonzero(as_tuple=True)  # the predictable copied tokens
    induction = maps[b, :, q, source[b, q]].mean(0)  # (N, H) -> (H,)
    return previous, induction
