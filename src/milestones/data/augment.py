"""The supervised image recipes' augmentation, each image its own draw, on a whole batch at once.

ResNet's CIFAR-10 recipe (He et al. 2015, §4.2): "4 pixels are padded on each side, and a 32x32
crop is randomly sampled from the padded image or its horizontal flip"; evaluation sees the
original image. AlexNet's (Krizhevsky et al. 2012, §4.1): random 224x224 patches of the 256x256
images and their horizontal reflections, and "PCA lighting": to every pixel of an image add
[p1 p2 p3] [a1 l1, a2 l2, a3 l3]^T, where p_i and l_i are the eigenvectors and eigenvalues of the
training set's RGB covariance and each a_i ~ N(0, 0.1) is drawn once per image per presentation;
evaluation takes the centre patch (the paper's ten-patch average at test time is left out).

    pad       zero-pad this many pixels on each side, then crop back to the image's size
    crop      take a crop of this many pixels square (from the padded image if `pad`)
    flip      horizontal flip with probability 1/2
    lighting  PCA lighting with a_i ~ N(0, lighting) along the channels' principal components

Images arrive as the task serves them (standardised per channel), so the padding is the mean
colour and the principal components are those of the standardised channels. Every random number
of an image is a pure function of (seed, key): the task keys an image by its step and its place in
the step's global batch, so a batch's views are the same whatever rank or micro-batch draws them
and a resumed run sees the views an uninterrupted one would (data/counter.py's draws).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated

import numpy as np
import torch

from ..core.config import Inert, NonNegative
from .counter import draws

SALT = 0x5EED_A06  # keeps the augmentation's draws apart from any other use of the run's seed
PCA_SAMPLE = 2000  # training images whose pixels estimate the channels' covariance


@dataclass(frozen=True)
class ImageAugment:
    """Training-time augmentation of images (nested in the config as `augment`; all off by default,
    on in the paper presets as each paper states it)."""

    pad: Annotated[NonNegative[int], Inert(0)] = 0
    """Zero-pad this many pixels on each side, then crop back to the image's size at random
    (ResNet's CIFAR recipe: 4; 0: off). The padding is the mean colour (the images are standardised)."""
    crop: Annotated[NonNegative[int], Inert(0)] = 0
    """Random square crops of this many pixels; evaluation takes the centre one (AlexNet: 224 of 256
    px images; 0: the image's own size)."""
    flip: Annotated[bool, Inert(False)] = False
    """Horizontal flip with probability 1/2 (natural images; not digits)."""
    lighting: Annotated[NonNegative[float], Inert(0.0)] = 0.0
    """PCA lighting: add the channels' principal components times N(0, this) times their
    eigenvalues, one draw per image (AlexNet §4.1: 0.1; 0: off)."""

    @property
    def on(self) -> bool:
        """Whether any augmentation is on."""
        return bool(self.pad or self.crop or self.flip or self.lighting)

    def problem(self, shape: tuple[int, ...]) -> str | None:
        """Why these settings cannot apply to examples of `shape` ((C, H, W) or (C, L)), or None."""
        if not self.on:
            return None
        if len(shape) != 3:
            return f"--augment applies to images; these examples are signals of shape {tuple(shape)}"
        if self.crop > min(shape[1], shape[2]) + 2 * self.pad:
            return (f"--augment.crop {self.crop} is larger than the images ({shape[1]}x{shape[2]} px"
                    + (f", padded by {self.pad}" if self.pad else "") + "); lower it or raise --image-size")
        return None

    def size(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """The shape of one example after augmentation (and at evaluation)."""
        if not self.crop or len(shape) != 3:
            return tuple(shape)
        return (shape[0], self.crop, self.crop)

    def __call__(self, x: torch.Tensor, seed: int, keys: torch.Tensor,
                 components: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """One random view of each image x (B, C, H, W), image b drawn from (seed, keys[b]);
        `components` (eigenvalues (C,), eigenvectors (C, C) as columns) for lighting."""
        b, c, h, w = x.shape
        u = _uniforms(seed, keys, 5)  # (B, 5): row offset, column offset, flip, two for the normals
        out = self.crop or h, self.crop or w
        if self.pad:
            x = torch.nn.functional.pad(x, (self.pad,) * 4)  # (B, C, H + 2 pad, W + 2 pad)
        rows = (u[:, 0] * (x.shape[2] - out[0] + 1)).long().clamp(max=x.shape[2] - out[0])  # (B,)
        cols = (u[:, 1] * (x.shape[3] - out[1] + 1)).long().clamp(max=x.shape[3] - out[1])
        x = _crop(x, rows, cols, out)  # (B, C, crop, crop)
        if self.flip:
            flipped = (u[:, 2] < 0.5)[:, None, None, None]
            x = torch.where(flipped, x.flip(3), x)
        if self.lighting:
            if components is None:
                raise ValueError("lighting needs the channels' principal components")
            values, vectors = components
            a = self.lighting * _normals(seed, keys, c)  # (B, C)
            shift = (vectors[None] * (a * values[None])[:, None, :]).sum(2)  # (B, C): sum_i p_i a_i l_i
            x = x + shift[:, :, None, None].to(x.dtype)
        return x

    def centre(self, x: torch.Tensor) -> torch.Tensor:
        """What evaluation sees of images x (B, C, H, W): the centre crop, or x itself."""
        if not self.crop or x.dim() != 4:
            return x
        top, left = (x.shape[2] - self.crop) // 2, (x.shape[3] - self.crop) // 2
        return x[:, :, top:top + self.crop, left:left + self.crop]


def principal_components(covariance: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigenvalues (C,) and eigenvectors (C, C, as columns) of the channels' covariance (C, C)."""
    values, vectors = torch.linalg.eigh(torch.as_tensor(covariance, dtype=torch.float64))
    return values.clamp_min(0).float(), vectors.float()


def _crop(x: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """x (B, C, H, W) -> (B, C, size): image b's window starting at (rows[b], cols[b])."""
    b = x.shape[0]
    r = rows[:, None] + torch.arange(size[0])[None, :]  # (B, h)
    c = cols[:, None] + torch.arange(size[1])[None, :]  # (B, w)
    out = x[torch.arange(b)[:, None, None], :, r[:, :, None], c[:, None, :]]  # (B, h, w, C)
    return out.permute(0, 3, 1, 2)


def _uniforms(seed: int, keys: torch.Tensor, n: int) -> torch.Tensor:
    """(B, n) float64 in [0, 1): n draws for each key."""
    d = draws(seed ^ SALT, keys.numpy().astype(np.int64), n)
    return torch.from_numpy((d >> np.uint64(11)).astype(np.float64) / float(2**53))


def _normals(seed: int, keys: torch.Tensor, n: int) -> torch.Tensor:
    """(B, n) float32 standard normals for each key (Box-Muller on draws of their own)."""
    u = _uniforms(seed + 1, keys, 2 * n)
    r = torch.sqrt(-2 * torch.log1p(-u[:, :n]))  # 1 - u in (0, 1]
    return (r * torch.cos(2 * math.pi * u[:, n:])).float()
