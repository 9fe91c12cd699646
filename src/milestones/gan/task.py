"""GAN's training task: two networks, two optimizers, one shared trainer.

`build_optimizers` returns {"d": ..., "g": ...}, so each trainer step is Algorithm 1 of the 2014
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
are saved); `--sync-bn` on CUDA makes them SyncBatchNorm (the trainer converts them), so the batch
statistics are global.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Annotated, Any, Literal

import torch
from torch import nn

from ..core.config import BatchNormConfig, NonNegative, Range, Resumable, TrainConfig
from ..core.task import EpochSampler, Shard, Task
from ..data import images, mixtures
from ..errors import UserError
from ..optim import OptimConfig
from ..optim import build as build_optimizer
from . import metrics
from .model import GAN, GANConfig, discriminator_loss, generator_loss

MIXTURE_NAMES = tuple(mixtures.MIXTURES)


@dataclass
class Config(TrainConfig, BatchNormConfig):
    dataset: Literal["ring8", "grid25", "mnist5k", "digits"] = "mnist5k"
    """Embedded data when --data is not given: a 2-D mixture (ring8, grid25) or digits (mnist5k, digits)."""
    data: str = ""
    """A folder of images a user brings (MNIST IDX, CIFAR-10, ImageFolder); empty: the embedded --dataset."""
    image_size: NonNegative[int] = 0
    """Resize ImageFolder images to this many pixels square (0: keep)."""
    gan_loss: Literal["nonsaturating", "minimax"] = "nonsaturating"
    """Generator loss: -log D(G(z)) (non-saturating, §3 of the 2014 paper) or log(1 - D(G(z)))."""
    eval_samples: Resumable[Annotated[int, Range(ge=20)]] = 1000
    """Images drawn per evaluation (mixtures always use 2,500)."""
    model: GANConfig = field(default_factory=GANConfig)
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(name="adam", lr=2e-4, beta1=0.5))
    """Both nets' optimizers (DCGAN §4: Adam, lr 2e-4, beta1 0.5)."""


PRESETS = {
    "tiny": dict(dataset="digits", steps=30, batch_size=32, eval_every=15, eval_samples=200, log_every=5,
                 schedule="constant", model=dict(width=8, z_dim=16)),
    "small": dict(dataset="digits", steps=2000, batch_size=64, eval_every=250, schedule="constant", log_every=50,
                  model=dict(width=32)),
    "paper": dict(dataset="mnist5k", steps=20_000, batch_size=128, eval_every=1000, ckpt_every=2000,
                  schedule="constant", log_every=100, model=dict(width=64)),
}


def is_mixture(cfg: Config) -> bool:
    return not cfg.data and cfg.dataset in MIXTURE_NAMES


class GANTask(Task):
    watch = ("loss_d", "loss_g", "fd", "score", "modes", "hq")
    name = "gan"
    model_class = GAN

    def __init__(self, cfg: Config):
        super().__init__(cfg)
        self.cfg: Config = cfg
        self.mixture: mixtures.Mixture | None = None
        self.data: images.ImageData | None = None
        self._judge: metrics.ImageJudge | None = None
        self._real_stats: tuple[torch.Tensor, torch.Tensor] | None = None
        if is_mixture(cfg):
            self.mixture = mixtures.get(cfg.dataset)
            self.shape: tuple[int, ...] = (2,)
            if cfg.model.arch == "dcgan":
                raise UserError("--model.arch dcgan needs images; 2-D mixtures take --model.arch mlp")
        else:
            self.data = images.load(cfg.dataset, cfg.data, cfg.image_size)
            if len(self.data.shape) != 3:
                raise UserError(f"GAN needs images (C, H, W); {self.data.name} has examples of shape {self.data.shape}")
            self.shape = self.data.shape
            self.lo, self.hi = float(self.data.x_train.min()), float(self.data.x_train.max())
            if self.hi <= self.lo:
                raise UserError(f"the images of {self.data.name} are all one value")
            self.sampler = EpochSampler(len(self.data.y_train), cfg.batch_size, cfg.seed)

    # -- networks ------------------------------------------------------------------------------
    def model_config(self) -> GANConfig:
        arch = self.cfg.model.arch
        if arch == "auto":
            arch = "mlp" if self.mixture is not None else "dcgan"
        return replace(self.cfg.model, arch=arch, shape=self.shape)

    def build_optimizers(self, model: nn.Module) -> dict[str, torch.optim.Optimizer]:
        return {"d": build_optimizer(self.cfg.optim, model.discriminator.parameters()),
                "g": build_optimizer(self.cfg.optim, model.generator.parameters())}

    def wrap_ddp(self, model: nn.Module, device_ids: list[int] | None) -> nn.Module:
        parts = {}
        for name in ("generator", "discriminator"):
            part = getattr(model, name)  # its batch norms are SyncBatchNorm under --sync-bn (the trainer's)
            parts[name] = nn.parallel.DistributedDataParallel(part, device_ids=device_ids, broadcast_buffers=False)
        return _DistributedGAN(parts["generator"], parts["discriminator"])

    # -- data ------------------------------------------------------------------------------------
    def batch(self, step: int, shard: Shard) -> dict[str, torch.Tensor]:
        """Real examples and two minibatches of noise, drawn from a generator seeded by (seed,
        step, micro-batch, rank), so a resumed run sees the noise an uninterrupted one would."""
        c = self.cfg
        n = shard.size(c.batch_size)
        g = torch.Generator().manual_seed(((c.seed * 1_000_003 + step) * 97 + shard.micro) * 1009 + shard.rank)
        if self.mixture is not None:
            real = self.mixture.sample(n, g)  # (n, 2)
        else:
            assert self.data is not None
            real = self.scale(self.data.x_train[shard.take(self.sampler.global_batch(step))])  # (n, C, H, W) in [-1, 1]
        z_d, z_g = torch.randn(n, c.model.z_dim, generator=g), torch.randn(n, c.model.z_dim, generator=g)
        return {"z_d": z_d, "z_g": z_g, "real": real}  # z first: model(batch's first tensor) is a sample

    def scale(self, x: torch.Tensor) -> torch.Tensor:
        """Images from the data's range to G's [-1, 1]."""
        return (x.float() - self.lo) / (self.hi - self.lo) * 2 - 1

    # -- the step --------------------------------------------------------------------------------
    def loss(self, model: nn.Module, batch: Any, phase: str) -> tuple[torch.Tensor, dict[str, float]]:
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
        z = torch.randn(n, self.cfg.model.z_dim, generator=g)
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


class _DistributedGAN(nn.Module):
    """The pair with each part in its own DDP wrapper; `no_sync` (gradient accumulation) holds both."""

    def __init__(self, generator: nn.Module, discriminator: nn.Module):
        super().__init__()
        self.generator, self.discriminator = generator, discriminator

    @contextlib.contextmanager
    def no_sync(self) -> Iterator[None]:
        with self.generator.no_sync(), self.discriminator.no_sync():
            yield


TASK = GANTask
