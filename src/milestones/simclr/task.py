"""SimCLR's three tasks (Chen, Kornblith, Norouzi, Hinton 2020), chosen by `--objective`:

    pretrain   contrastive learning without labels: two augmented views of every image of the
               batch (augment.py), h = f(x), z = g(h), NT-Xent over the 2N views (loss.py). Its
               evaluation: the NT-Xent loss on views of the test set, a weighted kNN classifier
               on h (the monitor, every --eval-every steps) and, with --probe, linear probes
               (logistic regression) on the frozen h and z with every training label
    linear     linear evaluation (§B.6): a linear classifier trained on the frozen encoder's h (the
               encoder in eval mode, its weights and BatchNorm statistics untouched)
    finetune   semi-supervised fine-tuning (§B.5, Table 7): the encoder and a classifier trained
               together on a fraction of the labels (--label-fraction), one augmented view each

linear and finetune start from a pre-training run (--init-from RUN); without it they start from
random weights: the untrained-encoder baseline and supervised training from scratch. Both report
test accuracy and loss, accuracy on the labelled training examples and, with --label-fraction
below 1, `val_acc` on (up to 2,000 of) the training examples left unlabelled: a validation set for
choosing settings, never the test set.

Data with no download: MNIST-1D (signals of 40 points, the default), scikit-learn's 8x8 digits, the
5,000 MNIST digits (data/images.py); or a user's MNIST, CIFAR-10 or ImageFolder with --data (for
pre-training, also a folder of images without class folders: no labels, no kNN or probes).

The batch of a step is a pure function of (seed, step): its examples come from the epoch's
permutation and its views from a generator seeded by the step, drawn for the whole global batch
so that each DDP rank takes its part of the same views. Under DDP the projections are gathered
from every rank, so the negatives are the whole global batch (the paper's "aggregate over
devices"); BatchNorm statistics stay per rank unless `--sync-bn` (the paper's global BN, §2.2:
SyncBatchNorm, on CUDA).
Gradient accumulation does not apply to pre-training: NT-Xent needs the whole batch at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..core import checkpoint as ckpt
from ..core import config as C
from ..core.task import EpochSampler, Shard, Source, Task
from ..data import images
from ..errors import UserError
from ..optim import OptimConfig, matrix_decay_groups
from ..optim import build as build_optimizer
from ..paths import expand
from .augment import Augment
from .evaluate import features, knn_accuracy, linear_probe
from .loss import nt_xent, pair_accuracy
from .model import SimCLR, SimCLRConfig

EVAL_SEED = 2**31 - 1  # the test set's views: the same for every training seed
CHUNK = 512  # examples per forward pass when encoding a whole split


@dataclass
class Config(C.TrainConfig, C.BatchNormConfig):
    objective: Literal["pretrain", "linear", "finetune"] = "pretrain"
    """pretrain: contrastive learning without labels; linear: a linear classifier on the frozen encoder;
    finetune: the encoder and a classifier trained on labels."""
    dataset: Literal["mnist1d", "mnist5k", "digits"] = "mnist1d"
    """Embedded data set used when --data is not given."""
    data: str = ""
    """A folder a user brings (MNIST IDX, CIFAR-10, ImageFolder; for pretrain also a folder of images
    without class folders); empty: the embedded --dataset."""
    image_size: C.NonNegative[int] = 0
    """Resize ImageFolder images to this many pixels square (0: keep)."""
    init_from: str = ""
    """linear, finetune: start from a run of this milestone (its folder or a checkpoint); empty: random weights."""
    label_fraction: Annotated[float, C.Range(gt=0, le=1)] = 1.0
    """linear, finetune: train on this fraction of the training labels, the same share of each class (at least
    one example each), drawn with the seed (and --label-draw)."""
    label_draw: C.NonNegative[int] = 0
    """linear, finetune: which draw of the labelled subset, for one seed: 0 draws it with the seed; k > 0 draws
    another, with the generator seed + 1,000,003 * k (the run's other randomness stays the seed's)."""
    temperature: C.Positive[float] = 0.2
    """pretrain: NT-Xent's temperature tau (the paper: 0.1 to 0.5)."""
    probe: C.Resumable[bool] = True
    """pretrain: at each evaluation also fit linear probes (logistic regression) on the frozen h and z."""
    augment_labelled: bool = True
    """finetune: train on one augmented view of each labelled example (linear trains on plain inputs)."""
    augment: Augment = field(default_factory=Augment)
    model: SimCLRConfig = field(default_factory=SimCLRConfig)
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(name="adam", lr=3e-3))

    def check(self) -> None:
        if self.objective == "pretrain" and self.grad_accum > 1:
            raise ValueError("--grad-accum does not apply to --objective pretrain: NT-Xent's negatives are the whole "
                             "batch, which must be in one forward pass")
        if self.objective == "pretrain" and self.label_fraction < 1:
            raise ValueError("--label-fraction applies to --objective linear and finetune; pre-training uses no labels")
        if self.objective == "pretrain" and self.label_draw:
            raise ValueError("--label-draw applies to --objective linear and finetune; pre-training uses no labels")
        if self.objective == "pretrain" and self.init_from:
            raise ValueError("--init-from applies to --objective linear and finetune")


PRESETS = {
    "tiny": dict(steps=30, batch_size=64, eval_every=15, log_every=5, warmup_steps=3, probe=False,
                 model=dict(encoder=dict(depth=8, widths=(8, 16, 32)), proj_dim=32)),
    # the claims pre-train for 1,500 steps (simclr/claim.py): about 85 s beside another run on 2 cores
    "small": dict(steps=900, batch_size=128, eval_every=300, log_every=10, warmup_steps=30),
    # CIFAR-10 (App. B.9): ResNet-50 with a 3x3 stride-1 stem and no max-pool, batch 1024, LARS at
    # 0.3 x batch / 256, weight decay 1e-6, 10 epochs of warm-up, 500 epochs, tau 0.5, jitter strength 0.5;
    # bring CIFAR-10 with --data
    "paper": dict(steps=24_400, batch_size=1024, warmup_steps=490, eval_every=2440, ckpt_every=2440, log_every=50,
                  temperature=0.5, probe=False,
                  model=dict(encoder=dict(depth=50, style="imagenet", small_stem=True), proj_dim=128),
                  optim=dict(name="lars", lr=1.2, weight_decay=1e-6, momentum=0.9)),
}


def load_source(path: str) -> Source:
    """The model config and weights of a run of this milestone, for --init-from."""
    folder, meta, state = ckpt.read_run_weights(expand(path), "simclr")
    return Source(ckpt.read_model_config(folder, meta, SimCLRConfig), state, None)


def labelled_subset(y: torch.Tensor, fraction: float, seed: int) -> torch.Tensor:
    """Indices of `fraction` of each class's examples (at least one each), drawn with `seed`."""
    if fraction >= 1:
        return torch.arange(len(y))
    g = torch.Generator().manual_seed(seed)
    idx = []
    for c in range(int(y.max()) + 1):
        rows = torch.nonzero(y == c).flatten()
        k = max(1, round(fraction * len(rows)))
        idx.append(rows[torch.randperm(len(rows), generator=g)[:k]])
    return torch.cat(idx).sort().values


class Contrast(nn.Module):
    """Both views through the encoder and the head in one pass, as one module (DDP hooks forward)."""

    def __init__(self, model: SimCLR):
        super().__init__()
        self.model = model

    def forward(self, v1: torch.Tensor, v2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.model.project(self.model(torch.cat([v1, v2])))  # (2B, proj_dim): BatchNorm sees both views
        return z.chunk(2)


class Classify(nn.Module):
    """Class logits from h; with `frozen`, the encoder runs in eval mode and without gradient."""

    def __init__(self, model: SimCLR, frozen: bool):
        super().__init__()
        self.model, self.frozen = model, frozen

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.frozen:
            self.model.encoder.eval()  # BatchNorm uses (and keeps) its running statistics
            with torch.no_grad():
                h = self.model(x)
        else:
            h = self.model(x)
        return self.model.classify(h)  # (B, n_classes)


def gathered(z: torch.Tensor) -> torch.Tensor:
    """z from every DDP rank, in rank order (the global batch's order), gradients flowing back."""
    import torch.distributed as dist
    from torch.distributed.nn.functional import all_gather

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return z
    return torch.cat(all_gather(z))


MODEL = SimCLR
WATCH = ("loss", "pair_acc", "knn_acc", "test_acc", "val_acc")  # all objectives', for `milestones plot`


def make_task(cfg: Config, resume_from: Path | None = None) -> Images:
    """Pre-training, linear evaluation or fine-tuning, as `--objective` says. Resumed from a
    checkpoint, the run takes its model's config from the checkpoint, not from `--init-from`."""
    task_cls = {"pretrain": Pretraining, "linear": LinearEvaluation, "finetune": FineTuning}[cfg.objective]
    source = None
    if resume_from is not None and cfg.init_from:
        source = Source(ckpt.read_model_config(resume_from, ckpt.read_meta(resume_from), SimCLRConfig), {}, None)
    return task_cls(cfg, source)


class Images(Task):
    """What the three objectives share: the data, views of it, the model's config, encoding a split."""

    name = "simclr"
    model_class = SimCLR

    def __init__(self, cfg: Config, source: Source | None = None):
        super().__init__(cfg)
        self.cfg: Config = cfg
        self.data = images.load(cfg.dataset, cfg.data, cfg.image_size, unlabelled=True)
        self.signals = len(self.data.shape) == 2  # (C, L): MNIST-1D
        self.labelled = self.data.n_classes > 1
        self.source = source or (load_source(cfg.init_from) if cfg.init_from else None)

    def views(self, idx: torch.Tensor, g: torch.Generator, split: str = "train",
              augment: bool = True) -> torch.Tensor:
        """One view of each example (standardised), augmented with `g` unless `augment` is False."""
        if self.signals:
            x = self.data.get(idx, split)[0]  # (B, C, L), standardised; the augmentations work in these units
            return self.cfg.augment.signals(x, g) if augment else x
        unit = self.data.unit(idx, split)[0]  # (B, C, H, W) in [0, 1]
        return self.data.standardise(self.cfg.augment.images(unit, g) if augment else unit)

    def n_classes(self) -> int:
        return self.data.n_classes

    def model_config(self) -> SimCLRConfig:
        if self.source is not None:
            return replace(self.source.model_config, n_classes=self.n_classes())
        shape, enc = self.data.shape, self.cfg.model.encoder
        style = enc.style
        if style == "auto":
            style = "cifar" if len(shape) == 2 or shape[-1] <= 64 else "imagenet"
        enc = replace(enc, style=style, in_channels=shape[0], dims=1 if len(shape) == 2 else 2, n_classes=1)
        return replace(self.cfg.model, encoder=enc, n_classes=self.n_classes())

    def build_model(self) -> nn.Module:
        model = super().build_model()
        if self.source is not None and self.source.state:
            state = {k: v for k, v in self.source.state.items() if not k.startswith("classifier.")}
            missing, unexpected = model.load_state_dict(state, strict=False)
            if [k for k in missing if not k.startswith("classifier.")] or unexpected:
                raise UserError(f"--init-from {self.cfg.init_from}: its weights do not fit this model")
        return model

    def build_optimizers(self, model: nn.Module) -> dict[str, torch.optim.Optimizer]:
        # weight decay (and LARS's adaptation) on weight matrices and kernels, not biases or BatchNorm (§B.1);
        # only what this objective trains (linear evaluation: the classifier)
        return {"model": build_optimizer(self.cfg.optim, matrix_decay_groups(model))}

    def step_generator(self, step: int) -> torch.Generator:
        """The random views of step `step`'s whole global batch come from this generator."""
        return torch.Generator().manual_seed(self.cfg.seed * 1_000_003 + step + 7)

    def encode(self, model: nn.Module, split: str, device: torch.device,
               idx: torch.Tensor | None = None) -> torch.Tensor:
        """h of a split's examples (all, or `idx`) on the CPU, read from the data a chunk at a time."""
        n = len(self.data.y_train if split == "train" else self.data.y_test)
        idx = torch.arange(n) if idx is None else idx
        return torch.cat([features(model, self.data.get(i, split)[0], device) for i in idx.split(CHUNK)])


class Pretraining(Images):
    watch = ("loss", "pair_acc", "knn_acc")

    def __init__(self, cfg: Config, source: Source | None = None):
        super().__init__(cfg, source)
        self.sampler = EpochSampler(len(self.data.y_train), cfg.batch_size, cfg.seed)

    def n_classes(self) -> int:
        return 0  # no classifier while pre-training

    def batch(self, step: int, shard: Shard) -> tuple[torch.Tensor, torch.Tensor]:
        assert self.sampler is not None
        idx = self.sampler.global_batch(step)
        g = self.step_generator(step)
        v1, v2 = self.views(idx, g), self.views(idx, g)  # (B, ...) each: the whole global batch's views
        keep = shard.take(torch.arange(len(idx)))
        return v1[keep], v2[keep]

    def wrap_ddp(self, model: nn.Module, device_ids: list[int] | None) -> nn.Module:
        return nn.parallel.DistributedDataParallel(Contrast(model), device_ids=device_ids)

    def loss(self, model: nn.Module, batch: Any, phase: str) -> tuple[torch.Tensor, dict[str, float]]:
        contrast = model if isinstance(model, nn.parallel.DistributedDataParallel) else Contrast(model)
        z1, z2 = contrast(*batch)  # (B, proj_dim) each, this rank's part
        z1, z2 = gathered(z1), gathered(z2)  # (global B, proj_dim)
        loss = nt_xent(z1.float(), z2.float(), self.cfg.temperature)
        return loss, {"pair_acc": pair_accuracy(z1.detach(), z2.detach())}

    @torch.no_grad()
    def evaluate(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        out = self._test_views_loss(model, device)
        if not self.labelled:
            return out
        htr, hte = self.encode(model, "train", device), self.encode(model, "test", device)
        out["knn_acc"] = knn_accuracy(htr, self.data.y_train, hte, self.data.y_test)
        if self.cfg.probe:
            out["probe_acc"] = linear_probe(htr, self.data.y_train, hte, self.data.y_test)
            ztr, zte = (torch.cat([model.project(c.to(device)).float().cpu() for c in h.split(CHUNK)])
                        for h in (htr, hte))
            out["probe_z_acc"] = linear_probe(ztr, self.data.y_train, zte, self.data.y_test)
        return out

    @torch.no_grad()
    def _test_views_loss(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        """NT-Xent and pair accuracy on two views of the test set, in batches of --batch-size."""
        n = len(self.data.y_test)
        b = min(self.cfg.batch_size, n)
        g = torch.Generator().manual_seed(EVAL_SEED)
        losses, accs = [], []
        for idx in torch.arange(n // b * b).split(b):
            z1, z2 = Contrast(model)(self.views(idx, g, "test").to(device), self.views(idx, g, "test").to(device))
            losses.append(float(nt_xent(z1.float(), z2.float(), self.cfg.temperature)))
            accs.append(pair_accuracy(z1, z2))
        return {"val_loss": sum(losses) / len(losses), "val_pair_acc": sum(accs) / len(accs)}


class _Labelled(Images):
    """linear and finetune: a classifier on h, trained on a fraction of the labels."""
    watch = ("loss", "test_acc", "val_acc")

    frozen = False
    eval_train_examples = 2000

    def __init__(self, cfg: Config, source: Source | None = None):
        super().__init__(cfg, source)
        if not self.labelled:
            raise UserError(f"--objective {cfg.objective} needs labelled data: {cfg.data or cfg.dataset} has one class "
                            "(class folders PATH/<class>/<image> give labels)")
        self.train_idx = labelled_subset(self.data.y_train, cfg.label_fraction, cfg.seed + 1_000_003 * cfg.label_draw)
        # validation: training examples outside the labelled subset (with --label-fraction below 1), for choosing
        # settings without looking at the test set
        self.val_idx = torch.from_numpy(np.setdiff1d(np.arange(len(self.data.y_train)), self.train_idx.numpy()))
        if len(self.train_idx) < cfg.batch_size:
            raise UserError(f"{len(self.train_idx)} labelled examples (--label-fraction {cfg.label_fraction:g}) are "
                            f"fewer than --batch-size {cfg.batch_size}; lower --batch-size")
        self.sampler = EpochSampler(len(self.train_idx), cfg.batch_size, cfg.seed)

    def build_model(self) -> nn.Module:
        model = super().build_model()
        model.head.requires_grad_(False)  # the projection head is not used on labels
        if self.frozen:
            model.encoder.requires_grad_(False)
        return model

    def batch(self, step: int, shard: Shard) -> tuple[torch.Tensor, torch.Tensor]:
        assert self.sampler is not None
        idx = self.train_idx[self.sampler.global_batch(step)]
        augment = self.cfg.augment_labelled and not self.frozen
        g = self.step_generator(step)
        x = self.views(idx, g, augment=augment)  # (B, ...): the whole global batch, then this shard's part
        keep = shard.take(torch.arange(len(idx)))
        return x[keep], self.data.y_train[idx][keep]

    def wrap_ddp(self, model: nn.Module, device_ids: list[int] | None) -> nn.Module:
        return nn.parallel.DistributedDataParallel(Classify(model, self.frozen), device_ids=device_ids)

    def loss(self, model: nn.Module, batch: Any, phase: str) -> tuple[torch.Tensor, dict[str, float]]:
        x, y = batch
        classify = model if isinstance(model, nn.parallel.DistributedDataParallel) else Classify(model, self.frozen)
        logits = classify(x)  # (B, n_classes)
        return F.cross_entropy(logits.float(), y), {"acc": (logits.argmax(-1) == y).float().mean().detach()}

    @torch.no_grad()
    def evaluate(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        logits = model.classify(self.encode(model, "test", device).to(device)).float().cpu()
        y = self.data.y_test
        out = {"test_loss": float(F.cross_entropy(logits, y)),
               "test_acc": float((logits.argmax(-1) == y).float().mean())}
        for key, idx in (("train_acc", self.train_idx), ("val_acc", self.val_idx)):
            if len(idx):
                idx = idx[:self.eval_train_examples]
                pred = model.classify(self.encode(model, "train", device, idx).to(device)).argmax(-1).cpu()
                out[key] = float((pred == self.data.y_train[idx]).float().mean())
        return out


class LinearEvaluation(_Labelled):
    frozen = True


class FineTuning(_Labelled):
    frozen = False

