"""SimCLR's data augmentation, drawn per sample on a whole batch at once (Chen et al. 2020, §3 and
App. A). torchvision's v2 transforms draw one set of random parameters for a batched tensor, so
every image of a batch would get the same crop; here each image gets its own, and the work is
still a handful of batched tensor operations.

Images (B, C, H, W), values in [0, 1]:
    crop      random resized crop: area 8-100% of the image, aspect ratio 3/4-4/3, resized back to
              H x W (bilinear, through one affine grid per image)
    flip      horizontal, with probability 1/2
    jitter    with probability 0.8, brightness, contrast and saturation factors in [1 - 0.8 s,
              1 + 0.8 s] (s: the strength, 0.5 for CIFAR-10 in App. B.9), applied in that order
              (torchvision's ColorJitter shuffles the order per call); hue is left out (the
              embedded images are grey)
    grey      with probability 0.2
    blur      (off by default; the paper uses it on ImageNet only) a 3x3 Gaussian, sigma 0.1-2.0,
              with probability 1/2
Signals (B, C, L), MNIST-1D:
    shift     roll by -s..s positions (the pattern moves; the signal wraps around)
    scale     multiply by a factor in [0.8, 1.2]
    noise     add Gaussian noise of standard deviation 0.1 (in the signal's standard units)

Every augmentation can be turned off (`Augment(crop=False, ...)`), which is the paper's ablation.
Randomness comes from the generator passed in, so a batch's views are a pure function of it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated

import torch
import torch.nn.functional as F

from ..core.config import NonNegative, Range


@dataclass(frozen=True)
class Augment:
    """Which augmentations make a view, and how strong they are (nested in the config as `augment`)."""

    crop: bool = True
    """Images: random resized crop (area --min-area to 100%, aspect 3/4 to 4/3)."""
    flip: bool = True
    """Images: horizontal flip with probability 1/2."""
    jitter: bool = True
    """Images: colour jitter (brightness, contrast, saturation) with probability 0.8."""
    grey: bool = True
    """Images: grey scale with probability 0.2 (colour images only)."""
    blur: bool = False
    """Images: 3x3 Gaussian blur with probability 1/2 (the paper's ImageNet-only augmentation)."""
    strength: NonNegative[float] = 0.5
    """Images: colour jitter strength s (factors in [1 - 0.8 s, 1 + 0.8 s]; 0.5 for CIFAR-10, 1 for ImageNet)."""
    min_area: Annotated[float, Range(gt=0, le=1)] = 0.08
    """Images: smallest crop, as a fraction of the image's area."""
    shift: NonNegative[int] = 10
    """Signals: roll by up to this many positions either way (0: off)."""
    scale: bool = True
    """Signals: multiply by a factor in [0.8, 1.2]."""
    noise: NonNegative[float] = 0.1
    """Signals: Gaussian noise of this standard deviation, in the signal's standard units (0: off)."""

    def images(self, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        """One random view of each image (B, C, H, W)."""
        b = x.shape[0]
        if self.crop or self.flip:
            x = self._crop_and_flip(x, g)
        if self.jitter:
            x = self._jitter(x, g)
        if self.grey and x.shape[1] == 3:
            grey = _luma(x).expand_as(x)
            pick = (torch.rand(b, generator=g) < 0.2).to(x.device)[:, None, None, None]
            x = torch.where(pick, grey, x)
        if self.blur:
            x = self._blur(x, g)
        return x.clamp(0, 1)

    def signals(self, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        """One random view of each signal (B, C, L)."""
        b, _, length = x.shape
        if self.shift:
            s = torch.randint(-self.shift, self.shift + 1, (b,), generator=g).to(x.device)
            index = (torch.arange(length, device=x.device)[None, :] - s[:, None]) % length  # (B, L)
            x = x.gather(2, index[:, None, :].expand_as(x))
        if self.scale:
            x = x * (0.8 + 0.4 * torch.rand(b, 1, 1, generator=g)).to(x.device)
        if self.noise:
            x = x + self.noise * torch.randn(x.shape, generator=g).to(x.device)
        return x

    # -- images ----------------------------------------------------------------------------------
    def _crop_and_flip(self, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        b = x.shape[0]
        if self.crop:
            area = self.min_area + (1 - self.min_area) * torch.rand(b, generator=g)
            log_ratio = (torch.rand(b, generator=g) * 2 - 1) * math.log(4 / 3)
            ratio = torch.exp(log_ratio)  # width / height
            w = torch.sqrt(area * ratio).clamp(max=1.0)  # fractions of the image's width and height
            h = torch.sqrt(area / ratio).clamp(max=1.0)
            cx = (torch.rand(b, generator=g) * 2 - 1) * (1 - w)  # centre, in [-1, 1] coordinates
            cy = (torch.rand(b, generator=g) * 2 - 1) * (1 - h)
        else:
            w = h = torch.ones(b)
            cx = cy = torch.zeros(b)
        sign = torch.where(torch.rand(b, generator=g) < 0.5, -1.0, 1.0) if self.flip else torch.ones(b)
        theta = torch.zeros(b, 2, 3)
        theta[:, 0, 0] = w * sign  # a flipped crop reads its columns right to left
        theta[:, 0, 2] = cx
        theta[:, 1, 1] = h
        theta[:, 1, 2] = cy
        grid = F.affine_grid(theta.to(x.device, x.dtype), list(x.shape), align_corners=False)  # (B, H, W, 2)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)

    def _jitter(self, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        b = x.shape[0]
        s = 0.8 * self.strength

        def factor() -> torch.Tensor:
            return (1 - s + 2 * s * torch.rand(b, 1, 1, 1, generator=g)).to(x.device, x.dtype)

        on = (torch.rand(b, generator=g) < 0.8).to(x.device)[:, None, None, None]
        y = x * factor()  # brightness
        mean = _luma(y).mean(dim=(2, 3), keepdim=True)
        y = (y - mean) * factor() + mean  # contrast
        if x.shape[1] == 3:
            grey = _luma(y)
            y = (y - grey) * factor() + grey  # saturation
        return torch.where(on, y.clamp(0, 1), x)

    def _blur(self, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        b, c = x.shape[:2]
        sigma = (0.1 + 1.9 * torch.rand(b, generator=g)).to(x.device, x.dtype)
        taps = torch.tensor([-1.0, 0.0, 1.0], device=x.device, dtype=x.dtype)
        k1 = torch.exp(-taps[None, :] ** 2 / (2 * sigma[:, None] ** 2))
        k1 = k1 / k1.sum(1, keepdim=True)  # (B, 3)
        k2 = (k1[:, :, None] * k1[:, None, :]).repeat_interleave(c, 0)[:, None]  # (B C, 1, 3, 3)
        y = F.conv2d(F.pad(x.reshape(1, b * c, *x.shape[2:]), (1, 1, 1, 1), mode="reflect"), k2, groups=b * c)
        y = y.reshape(x.shape)
        on = (torch.rand(b, generator=g) < 0.5).to(x.device)[:, None, None, None]
        return torch.where(on, y, x)


def _luma(x: torch.Tensor) -> torch.Tensor:
    """Grey level (B, 1, H, W) of RGB (ITU-R 601 weights) or of one channel."""
    if x.shape[1] == 1:
        return x
    w = torch.tensor([0.299, 0.587, 0.114], device=x.device, dtype=x.dtype)
    return (x * w[None, :, None, None]).sum(1, keepdim=True)
