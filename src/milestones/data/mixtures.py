"""2-D Gaussian mixtures, generated in code: the toy data on which a GAN's mode coverage is measured.

- `ring8`: 8 Gaussians evenly spaced on a circle of radius 2, standard deviation 0.02
  (Metz et al. 2017, "Unrolled Generative Adversarial Networks", §3.1 and Fig. 1).
- `grid25`: 25 Gaussians on the 5x5 grid {-4, -2, 0, 2, 4}^2, standard deviation 0.05
  (Srivastava et al. 2017, VEEGAN, §5.1; Lin et al. 2018, PacGAN, §5).

Every mode has the same weight. Samples are a pure function of the generator passed in, so a
training batch can be addressed by (seed, step) like every other milestone's data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..errors import UserError


@dataclass(frozen=True)
class Mixture:
    name: str
    centers: torch.Tensor  # (K, 2)
    std: float

    @property
    def n_modes(self) -> int:
        return len(self.centers)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """(n, 2) points: a uniformly chosen mode plus isotropic Gaussian noise."""
        k = torch.randint(self.n_modes, (n,), generator=generator)
        return self.centers[k] + self.std * torch.randn(n, 2, generator=generator)


def ring8() -> Mixture:
    angles = torch.arange(8, dtype=torch.float32) * (2 * math.pi / 8)
    return Mixture("ring8", 2.0 * torch.stack([angles.cos(), angles.sin()], 1), 0.02)


def grid25() -> Mixture:
    axis = torch.tensor([-4.0, -2.0, 0.0, 2.0, 4.0])
    gx, gy = torch.meshgrid(axis, axis, indexing="ij")
    return Mixture("grid25", torch.stack([gx.reshape(-1), gy.reshape(-1)], 1), 0.05)


MIXTURES = {"ring8": ring8, "grid25": grid25}


def get(name: str) -> Mixture:
    if name not in MIXTURES:
        raise UserError(f"unknown mixture {name!r}; choose from {', '.join(MIXTURES)}")
    return MIXTURES[name]()
