"""GAN's training task: two networks, two optimizers, one shared trainer.

`build_optimizer` returns {"d": ..., "g": ...}, so each trainer step is Algorithm 1 of the 2014
paper with k = 1 (the paper's own choice): one discriminator update on a minibatch of data and
one of noise, then one generator update on a fresh minibatch of noise. Both noise minibatches
are drawn in `batch()` from a generator seeded by (seed, step, micro-batch, rank), so a resumed
run sees exactly the noise an uninterrupted one would.

Data: a 2-D mixture (`ring8`, `grid25`, from data/mixtures.py) gets the 2014 MLPs; images (the
embedded `mnist5k` and `digits`, or `--data PATH`) get DCGAN, scaled to [-1, 1] for G's tanh.
Evaluation draws a fixed set of samples and measures them (gan/metrics.py): modes covered and
high-quality fraction on mixtures; classifier-feature Frechet distance, classifier score and
classes present on images.

Under DDP the generator and the discriminator are wrapped separately (the step calls them
separately) with `broadcast_buffers=False`: D runs twice per step (real, then fake) through
batch norm, and broadcasting its running statistics from rank 0 at each call rewrites, in place,
buffers the first call saved for backward. Each rank keeps its own running statistics (rank 0's
are saved); `--sync-bn` on CUDA uses SyncBatchNorm instead, so the batch statistics are global.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from ..adam import optim
from ..core.config import TrainConfig, UserError
from ..core.distributed import Dist
from ..core.task import EpochSampler, Task
from ..data import images, mixtures
from . import metrics
from .model import (GAN, DCGANDiscriminator, DCGANGenerator, MLPDiscriminator, MLPGenerator, dcgan_init,
                    discriminator_loss, generator_loss)

MIXTURE_NAMES = tuple(mixtures.MIXTURES)


@dataclass
class Config(TrainConfig):
    dataset: Literal["ring8", "grid25", "mnist5k", "digits"] = "mnist5k"
    """Embedded data when --data is not given: a 2-D mixture (ring8, grid25) or digits (mnist5k, digits)."""
    image_size: int = 0
    """Resize ImageFolder images to this many pixels square (0: keep)."""
    arch: Literal["auto", "mlp", "dcgan"] = "auto"
    """Networks: mlp (the 2014 paper) or dcgan; auto picks mlp for 2-D mixtures and dcgan for images."""
    z_dim: int = 100
    """Dimension of the noise z."""
    width: int = 64
    """DCGAN: feature maps of D's first and G's last layer. MLP: hidden units per layer."""
    layers: int = 2
    """MLP: hidden layers in each net."""
    d_unit: Literal["maxout", "leaky_relu"] = "maxout"
    """MLP discriminator units: maxout (2 pieces, the 2014 paper) or LeakyReLU 0.2."""
    d_dropout: float = 0.0
    """MLP discriminator: dropout after each hidden layer (the 2014 paper used dropout)."""
    gan_loss: Literal["nonsaturating", "minimax"] = "nonsaturating"
    """Generator loss: -log D(G(z)) (non-saturating, §3 of the 2014 paper) or log(1 - D(G(z)))."""
    beta1: float = 0.5
    """Adam beta1 for both nets (DCGAN §4: 0.5)."""
    beta2: float = 0.999
    """Adam beta2 for both nets."""
    eval_samples: int = 1000
    """Images drawn per evaluation (mixtures always use 2,500)."""
    sync_bn: bool = False
    """Under DDP on CUDA, convert batch norm to SyncBatchNorm (CPU/gloo runs keep per-rank statistics)."""

    def check(self) -> None:
        if self.z_dim < 1 or self.width < 1 or self.layers < 0:
            raise UserError("--z-dim and --width must be at least 1, --layers at least 0")
        if not 0 <= self.d_dropout < 1:
            raise UserError("--d-dropout must be in [0, 1)")
        if not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
            raise UserError("--beta1 and --beta2 must be in [0, 1)")
        if self.eval_samples < 20:
            raise UserError("--eval-samples must be at least 20")


PRESETS = {
    "tiny": dict(dataset="digits", steps=30, batch_size=32, width=8, z_dim=16, eval_every=15, eval_samples=200,
                 log_every=5, lr=2e-4, schedule="constant"),
    "small": dict(dataset="digits", steps=2000, batch_size=64, width=32, eval_every=250, lr=2e-4,
                  schedule="constant", log_every=50),
    "paper": dict(dataset="mnist5k", steps=20_000, batch_size=128, width=64, eval_every=1000, ckpt_every=2000,
                  lr=2e-4, schedule="constant", log_every=100),
}


def is_mixture(cfg: Config) -> bool:
    return not cfg.data and cfg.dataset in MIXTURE_NAMES


class GANTask(Task):
    name = "gan"

    def __init__(self, cfg: Config):
        super().__init__(cfg)
        self.cfg: Config = cfg
        self.arch = cfg.arch
        self.mixture: mixtures.Mixture | None = None
        self.data: images.ImageData | None = None
        self._judge: metrics.ImageJudge | None = None
        self._real_stats: tuple[torch.Tensor, torch.Tensor] | None = None
        if is_mixture(cfg):
            self.mixture = mixtures.get(cfg.dataset)
            self.shape: tuple[int, ...] = (2,)
            if self.arch == "auto":
                self.arch = "mlp"
            if self.arch == "dcgan":
                raise UserError("--arch dcgan needs images; 2-D mixtures take --arch mlp")
        else:
            self.data = images.load(cfg.dataset, cfg.data, cfg.image_size)
            if len(self.data.shape) != 3:
                raise UserError(f"GAN needs images (C, H, W); {self.data.name} has examples of shape {self.data.shape}")
            self.shape = self.data.shape
            self.lo, self.hi = float(self.data.x_train.min()), float(self.data.x_train.max())
            if self.hi <= self.lo:
                raise UserError(f"the images of {self.data.name} are all one value")
            self.sampler = EpochSampler(len(self.data.y_train), cfg.batch_size, cfg.seed)
            if self.arch == "auto":
                self.arch = "dcgan"

    # -- networks ------------------------------------------------------------------------------
    def build_model(self) -> GAN:
        c = self.cfg
        if self.arch == "mlp":
            g = MLPGenerator(c.z_dim, self.shape, c.width, c.layers, tanh=self.mixture is None)
            d = MLPDiscriminator(self.shape, c.width, c.layers, c.d_unit, dropout=c.d_dropout)
            return GAN(g, d, c.z_dim)
        gan = GAN(DCGANGenerator(c.z_dim, self.shape, c.width),  # type: ignore[arg-type]
                  DCGANDiscriminator(self.shape, c.width), c.z_dim)  # type: ignore[arg-type]
        dcgan_init(gan)
        return gan

    def build_optimizer(self, model: nn.Module) -> dict[str, torch.optim.Optimizer]:
        c = self.cfg
        betas = (c.beta1, c.beta2)
        return {"d": optim.Adam(model.discriminator.parameters(), lr=c.lr, betas=betas, weight_decay=c.weight_decay),
                "g": optim.Adam(model.generator.parameters(), lr=c.lr, betas=betas, weight_decay=c.weight_decay)}

    def wrap_ddp(self, model: nn.Module, device_ids: list[int] | None) -> nn.Module:
        parts = {}
        for name in ("generator", "discriminator"):
            part = getattr(model, name)
            if self.cfg.sync_bn and device_ids is not None:
                part = nn.SyncBatchNorm.convert_sync_batchnorm(part)  # shares parameters and buffers
            parts[name] = nn.parallel.DistributedDataParallel(part, device_ids=device_ids, broadcast_buffers=False)
        return _DistributedGAN(parts["generator"], parts["discriminator"], model.z_dim)

    # -- data ------------------------------------------------------------------------------------
    def batch(self, step: int, micro: int, d: Dist) -> dict[str, torch.Tensor]:
        c = self.cfg
        n = c.batch_size // (c.grad_accum * d.world)
        g = torch.Generator().manual_seed(((c.seed * 1_000_003 + step) * 97 + micro) * 1009 + d.rank)
        if self.mixture is not None:
            real = self.mixture.sample(n, g)  # (n, 2)
        else:
            assert self.data is not None
            idx = self.sampler.indices(step, micro, c.grad_accum, d)
            real = self.scale(self.data.x_train[idx])  # (n, C, H, W) in [-1, 1]
        z_d, z_g = torch.randn(n, c.z_dim, generator=g), torch.randn(n, c.z_dim, generator=g)
        return {"z_d": z_d, "z_g": z_g, "real": real}  # z first: model(batch's first tensor) is a sample

    def scale(self, x: torch.Tensor) -> torch.Tensor:
        """Images from the data's range to G's [-1, 1]."""
        return (x.float() - self.lo) / (self.hi - self.lo) * 2 - 1

    # -- the step --------------------------------------------------------------------------------
    def loss(self, model: nn.Module, batch: Any, phase: str | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        G, D = model.generator, model.discriminator
        if phase == "d":
            with torch.no_grad():
                fake = G(batch["z_d"])
            real_logits, fake_logits = D(batch["real"]), D(fake)  # two passes: batch norm sees each alone
            loss = discriminator_loss(real_logits.float(), fake_logits.float())
            return loss, {"d_real": torch.sigmoid(real_logits.detach()).mean().item(),
                          "d_fake": torch.sigmoid(fake_logits.detach()).mean().item()}
        if phase == "g":
            fake_logits = D(G(batch["z_g"]))
            return generator_loss(fake_logits.float(), self.cfg.gan_loss), {}
        raise ValueError(f"GAN has phases 'd' and 'g', not {phase!r}")

    # -- evaluation ------------------------------------------------------------------------------
    def judge(self) -> metrics.ImageJudge | None:
        """The digit classifier the image metrics use (None for mixtures or single-class data)."""
        if self.data is None or self.data.n_classes < 2:
            return None
        if self._judge is None:
            net = metrics.judge_network(self.data, verbose=True)
            self._judge = metrics.ImageJudge(net, self.data, self.lo, self.hi)
        return self._judge

    def samples(self, model: nn.Module, device: torch.device, n: int, seed: int = 12345) -> torch.Tensor:
        """n samples from fixed noise (the same at every evaluation), on the CPU."""
        g = torch.Generator().manual_seed(seed)
        z = torch.randn(n, self.cfg.z_dim, generator=g)
        out = [model.generator(z[i:i + 500].to(device)).float().cpu() for i in range(0, n, 500)]
        return torch.cat(out)

    def evaluate(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        if self.mixture is not None:
            return metrics.mode_coverage(self.samples(model, device, metrics.MIXTURE_SAMPLES), self.mixture)
        judge = self.judge()
        if judge is None:
            return {}
        if self._real_stats is None:
            self._real_stats = judge.real_stats()
        return judge.score(self.samples(model, device, self.cfg.eval_samples), self._real_stats)


class _DistributedGAN(GAN):
    """The pair with each part in its own DDP wrapper; `no_sync` (gradient accumulation) holds both."""

    @contextlib.contextmanager
    def no_sync(self) -> Iterator[None]:
        with self.generator.no_sync(), self.discriminator.no_sync():
            yield


def make_task(cfg: Config) -> GANTask:
    return GANTask(cfg)
