"""GANs: Goodfellow et al. 2014, "Generative Adversarial Nets" (NeurIPS), and Radford, Metz &
Chintala 2016, "Unsupervised Representation Learning with Deep Convolutional GANs" (ICLR).

A generator G maps noise z to data; a discriminator D outputs the logit of "this is real".
D is trained to tell data from G's samples, G to make D call its samples real (2014, Eq. 1).
The 2014 paper's nets are MLPs: G with rectifiers, D with maxout units and dropout (§5).
Its §3 notes that log(1 - D(G(z))) saturates early, when D rejects G's samples easily, and
trains G to maximise log D(G(z)) instead: the non-saturating loss, our default; the minimax
loss is `gan_loss="minimax"`.

DCGAN (§3, "architecture guidelines"): no pooling (strided convolutions in D, fractionally
strided ones in G), batch norm in both nets except G's output and D's input layers, ReLU in G
with a tanh output, LeakyReLU (slope 0.2) in D; weights from N(0, 0.02) (§4); Adam with lr
2e-4 and beta1 0.5 (§4, the task's defaults). The noise z is drawn from N(0, I) here (the
papers drew it from uniform distributions).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from ..core.config import Fraction, FromData, NonNegative, Positive


@dataclass
class GANConfig:
    arch: Literal["auto", "mlp", "dcgan"] = "auto"
    """Networks: mlp (the 2014 paper) or dcgan; auto picks mlp for 2-D mixtures and dcgan for images."""
    z_dim: Positive[int] = 100
    """Dimension of the noise z."""
    width: Positive[int] = 64
    """DCGAN: feature maps of D's first and G's last layer. MLP: hidden units per layer."""
    layers: NonNegative[int] = 2
    """MLP: hidden layers in each net."""
    d_unit: Literal["maxout", "leaky_relu"] = "maxout"
    """MLP discriminator units: maxout (2 pieces, the 2014 paper) or LeakyReLU 0.2."""
    d_dropout: Fraction = 0.0
    """MLP discriminator: dropout after each hidden layer (the 2014 paper used dropout)."""
    shape: FromData[tuple[int, ...]] = (1, 28, 28)
    """One example's shape (from the data): (2,) for a 2-D mixture, (C, H, W) for images."""


class Maxout(nn.Module):
    """max over `pieces` affine maps (Goodfellow et al. 2013), the unit of the 2014 discriminator."""

    def __init__(self, d_in: int, d_out: int, pieces: int = 2):
        super().__init__()
        self.d_out, self.pieces = d_out, pieces
        self.linear = nn.Linear(d_in, d_out * pieces)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.linear(x)  # (B, pieces * d_out): piece k of unit j is at k * d_out + j
        return y.view(*y.shape[:-1], self.pieces, self.d_out).amax(-2)  # (B, d_out)


class MLPGenerator(nn.Module):
    """z (B, z_dim) -> x (B, *shape): `layers` hidden ReLU layers of `hidden` units, then a linear
    output (tanh for images scaled to [-1, 1])."""

    def __init__(self, z_dim: int, shape: tuple[int, ...], hidden: int = 128, layers: int = 2, tanh: bool = False):
        super().__init__()
        self.shape = tuple(shape)
        out = 1
        for s in shape:
            out *= s
        dims = [z_dim] + [hidden] * layers
        body: list[nn.Module] = []
        for a, b in zip(dims, dims[1:]):
            body += [nn.Linear(a, b), nn.ReLU(inplace=True)]
        body.append(nn.Linear(dims[-1], out))
        if tanh:
            body.append(nn.Tanh())
        self.net = nn.Sequential(*body)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(len(z), *self.shape)  # (B, *shape)


class MLPDiscriminator(nn.Module):
    """x (B, *shape) -> logit (B,): `layers` hidden layers of maxout units (or LeakyReLU), dropout."""

    def __init__(self, shape: tuple[int, ...], hidden: int = 128, layers: int = 2, unit: str = "maxout",
                 pieces: int = 2, dropout: float = 0.0):
        super().__init__()
        d_in = 1
        for s in shape:
            d_in *= s
        body: list[nn.Module] = []
        for i in range(layers):
            a = d_in if i == 0 else hidden
            if unit == "maxout":
                body.append(Maxout(a, hidden, pieces))
            elif unit == "leaky_relu":
                body += [nn.Linear(a, hidden), nn.LeakyReLU(0.2, inplace=True)]
            else:
                raise ValueError(f"unknown discriminator unit {unit!r}")
            if dropout > 0:
                body.append(nn.Dropout(dropout))
        body.append(nn.Linear(hidden if layers else d_in, 1))
        self.net = nn.Sequential(*body)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1)).squeeze(1)  # (B, D_in) -> (B,)


def dcgan_plan(size: int) -> tuple[int, int]:
    """(base, n): G starts from base x base maps and doubles the size n times to reach `size`
    (64 -> 4 and 4 doublings, as in the paper; 28 -> 7 and 2; 32 -> 4 and 3; 8 -> 4 and 1)."""
    base, n = size, 0
    while base % 2 == 0 and base // 2 >= 4:
        base, n = base // 2, n + 1
    if n == 0:
        raise ValueError(f"DCGAN needs square images of at least 8 px that halve to 4-7 px (28, 32, 64, ...); "
                        f"got {size} px: resize with --image-size")
    return base, n


class DCGANGenerator(nn.Module):
    """z (B, z_dim) -> image (B, C, S, S) in [-1, 1]. Maps halve as the size doubles: at 64 px with
    width 64, 512 maps at 4x4, then 256, 128, 64, and C at the output."""

    def __init__(self, z_dim: int, shape: tuple[int, int, int], width: int = 64):
        super().__init__()
        c_img, h, w = shape
        if h != w:
            raise ValueError(f"DCGAN needs square images, got {h}x{w}: resize with --image-size")
        base, n = dcgan_plan(h)
        c = width * 2 ** (n - 1)
        layers: list[nn.Module] = [  # "project and reshape": a full convolution from 1x1 to base x base
            nn.ConvTranspose2d(z_dim, c, base, 1, 0, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True)]
        for _ in range(n - 1):  # (c, s, s) -> (c/2, 2s, 2s)
            layers += [nn.ConvTranspose2d(c, c // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(c // 2),
                       nn.ReLU(inplace=True)]
            c //= 2
        layers += [nn.ConvTranspose2d(c, c_img, 4, 2, 1, bias=False), nn.Tanh()]  # no batch norm at the output
        self.net = nn.Sequential(*layers)
        self.z_dim = z_dim

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.view(len(z), self.z_dim, 1, 1))  # (B, z, 1, 1) -> (B, C, S, S)


class DCGANDiscriminator(nn.Module):
    """image (B, C, S, S) -> logit (B,): strided convolutions mirroring the generator."""

    def __init__(self, shape: tuple[int, int, int], width: int = 64):
        super().__init__()
        c_img, h, _ = shape
        base, n = dcgan_plan(h)
        layers: list[nn.Module] = [nn.Conv2d(c_img, width, 4, 2, 1, bias=False),  # no batch norm at the input
                                   nn.LeakyReLU(0.2, inplace=True)]
        c = width
        for _ in range(n - 1):  # (c, s, s) -> (2c, s/2, s/2)
            layers += [nn.Conv2d(c, c * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(c * 2),
                       nn.LeakyReLU(0.2, inplace=True)]
            c *= 2
        layers.append(nn.Conv2d(c, 1, base, 1, 0, bias=False))  # (c, base, base) -> (1, 1, 1)
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten()  # (B,)


def dcgan_init(module: nn.Module) -> None:
    """DCGAN §4: every weight from N(0, 0.02); batch-norm scales from N(1, 0.02), shifts zero."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


class GAN(nn.Module):
    """The pair. `model(z)` is the generator's sample; the training step calls the parts."""

    def __init__(self, cfg: GANConfig):
        super().__init__()
        self.cfg = cfg
        if cfg.arch == "mlp":  # images get a tanh output, for data scaled to [-1, 1]
            self.generator: nn.Module = MLPGenerator(cfg.z_dim, cfg.shape, cfg.width, cfg.layers,
                                                     tanh=len(cfg.shape) > 1)
            self.discriminator: nn.Module = MLPDiscriminator(cfg.shape, cfg.width, cfg.layers, cfg.d_unit,
                                                             dropout=cfg.d_dropout)
        elif cfg.arch == "dcgan":
            if len(cfg.shape) != 3:
                raise ValueError(f"DCGAN needs images (C, H, W), not examples of shape {cfg.shape}")
            self.generator = DCGANGenerator(cfg.z_dim, cfg.shape, cfg.width)  # type: ignore[arg-type]
            self.discriminator = DCGANDiscriminator(cfg.shape, cfg.width)  # type: ignore[arg-type]
            dcgan_init(self)
        else:
            raise ValueError(f"arch {cfg.arch!r} is resolved from the data by the task; build with mlp or dcgan")
        self.z_dim = cfg.z_dim

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.generator(z)

    def noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.randn(n, self.z_dim, generator=generator)  # (n, z_dim), on the CPU


# -- the losses, on D's logits: D(x) = sigmoid(logit), and log sigmoid(l) = -softplus(-l) -------


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """-[log D(x) + log(1 - D(G(z)))], averaged: D ascends Eq. 1 of the 2014 paper."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def generator_loss(fake_logits: torch.Tensor, kind: str = "nonsaturating") -> torch.Tensor:
    """Non-saturating (§3): minimise -log D(G(z)). Minimax: minimise log(1 - D(G(z)))."""
    if kind == "nonsaturating":
        return F.softplus(-fake_logits).mean()
    if kind == "minimax":
        return -F.softplus(fake_logits).mean()
    raise ValueError(f"unknown generator loss {kind!r}")
