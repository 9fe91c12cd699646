"""Our SimCLR against the same pieces built from lightly and torchvision. Ratios are measured side by
side in one process, threads pinned equal on both sides, repeats interleaved (ours, theirs, ours,
...), medians compared.

    python benchmarks/simclr.py [--threads 1] [--repeats 9] [--skip loss,step,augment]

1. NT-Xent forward + backward, N = 256 pairs of 128-d projections, tau 0.5: ours (simclr/loss.py)
   against lightly.loss.NTXentLoss. Target: ratio ours / theirs <= 1.0.
2. One pre-training step on 32 px colour images, batch 64 (128 views), augmentation included: random
   resized crop, flip, colour jitter (p 0.8), grey scale (p 0.2). Ours: the batched per-image
   augmentation (simclr/augment.py), our ResNet-18 with the small stem, our projection head,
   NT-Xent and LARS. Theirs: torchvision's v2 transforms applied image by image (a batched call
   would give every image the same crop), torchvision's ResNet-18 with the same stem,
   lightly's SimCLRProjectionHead, NTXentLoss and LARS. Target: ratio <= 1.0.
3. Augmentation throughput (images/s) of both, printed.
Not a test: machines are noisy.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import arguments, interleaved  # noqa: E402

from milestones.optim import LARS  # noqa: E402
from milestones.resnet.model import ResNetConfig  # noqa: E402
from milestones.simclr.augment import Augment  # noqa: E402
from milestones.simclr.loss import nt_xent  # noqa: E402
from milestones.simclr.model import SimCLR, SimCLRConfig  # noqa: E402

MEAN, STD = torch.tensor([0.49, 0.48, 0.45]).view(1, 3, 1, 1), torch.tensor([0.25, 0.24, 0.26]).view(1, 3, 1, 1)


def loss(args: argparse.Namespace) -> None:
    from lightly.loss import NTXentLoss

    g = torch.Generator().manual_seed(0)
    z1, z2 = (torch.randn(256, 128, generator=g).requires_grad_() for _ in range(2))
    theirs = NTXentLoss(temperature=0.5)

    def ours_fn():
        nt_xent(z1, z2, 0.5).backward()

    def theirs_fn():
        theirs(z1, z2).backward()

    t = interleaved({"ours": ours_fn, "theirs": theirs_fn}, args.repeats * 5)
    print(f"NT-Xent forward + backward, N 256, d 128: ours {1e3 * t['ours']:.2f} ms, lightly "
          f"{1e3 * t['theirs']:.2f} ms; ratio ours/theirs {t['ours'] / t['theirs']:.3f} (target <= 1.0)")


def torchvision_transform():
    from torchvision.transforms import v2

    return v2.Compose([v2.RandomResizedCrop(32, scale=(0.08, 1.0), antialias=True), v2.RandomHorizontalFlip(),
                       v2.RandomApply([v2.ColorJitter(0.4, 0.4, 0.4)], p=0.8), v2.RandomGrayscale(p=0.2)])


def their_views(images: torch.Tensor, transform) -> torch.Tensor:
    """One view of each image (B, 3, 32, 32) in [0, 1], image by image."""
    return torch.stack([transform(im) for im in images])


def step(args: argparse.Namespace) -> None:
    import torchvision
    from lightly.loss import NTXentLoss
    from lightly.models.modules.heads import SimCLRProjectionHead
    from lightly.utils.lars import LARS as TheirLARS

    torch.manual_seed(0)
    images = torch.randint(0, 256, (64, 3, 32, 32), dtype=torch.uint8)
    ours = SimCLR(SimCLRConfig(encoder=ResNetConfig(depth=18, style="imagenet", small_stem=True, n_classes=1),
                               head="mlp", proj_dim=128)).train()
    backbone = torchvision.models.resnet18()
    backbone.conv1 = torch.nn.Conv2d(3, 64, 3, padding=1, bias=False)
    backbone.maxpool = torch.nn.Identity()
    backbone.fc = torch.nn.Identity()
    head = SimCLRProjectionHead(512, 512, 128)
    theirs = torch.nn.Sequential(backbone, head).train()

    def groups(model):
        ps = list(model.parameters())
        return [{"params": [p for p in ps if p.dim() >= 2], "weight_decay": 1e-6},
                {"params": [p for p in ps if p.dim() < 2], "weight_decay": 0.0}]

    opt_ours = LARS(groups(ours), lr=0.3, momentum=0.9, weight_decay=1e-6)
    opt_theirs = TheirLARS(groups(theirs), lr=0.3, momentum=0.9, weight_decay=1e-6)
    augment = Augment(strength=0.5)
    transform = torchvision_transform()
    criterion = NTXentLoss(temperature=0.5)
    g = torch.Generator().manual_seed(0)

    def ours_fn():
        unit = images.float() / 255
        v = torch.cat([(augment.images(unit, g) - MEAN) / STD, (augment.images(unit, g) - MEAN) / STD])
        z1, z2 = ours.project(ours(v)).chunk(2)
        nt_xent(z1, z2, 0.5).backward()
        opt_ours.step()
        opt_ours.zero_grad(set_to_none=True)

    def theirs_fn():
        unit = images.float() / 255
        v = torch.cat([(their_views(unit, transform) - MEAN) / STD, (their_views(unit, transform) - MEAN) / STD])
        z1, z2 = theirs(v).chunk(2)
        criterion(z1, z2).backward()
        opt_theirs.step()
        opt_theirs.zero_grad(set_to_none=True)

    t = interleaved({"ours": ours_fn, "theirs": theirs_fn}, args.repeats)
    print(f"pre-training step, ResNet-18 (small stem), 64 images x 2 views of 32 px: ours {1e3 * t['ours']:.0f} ms, "
          f"torchvision + lightly {1e3 * t['theirs']:.0f} ms; ratio ours/theirs {t['ours'] / t['theirs']:.3f} "
          "(target <= 1.0)")


def augment(args: argparse.Namespace) -> None:
    images = torch.rand(256, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    ours, transform = Augment(strength=0.5), torchvision_transform()
    g = torch.Generator().manual_seed(0)
    t = interleaved({"ours": lambda: ours.images(images, g), "theirs": lambda: their_views(images, transform)},
                    args.repeats)
    print(f"augmentation of 256 images of 32 px: ours {256 / t['ours']:,.0f} images/s, torchvision image by image "
          f"{256 / t['theirs']:,.0f} images/s")


def main() -> None:
    args = arguments(__doc__)
    import lightly
    import torchvision

    print(f"threads {args.threads}, torch {torch.__version__}, torchvision {torchvision.__version__}, "
          f"lightly {lightly.__version__}")
    skip = args.skip
    for name, fn in (("loss", loss), ("step", step), ("augment", augment)):
        if name not in skip:
            fn(args)


if __name__ == "__main__":
    main()
