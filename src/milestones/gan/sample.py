"""`milestones sample gan --run DIR`: a grid of samples and a walk through the latent space.

Images: `samples/grid.png` (N samples, default 64, in a square grid) and
`samples/interpolation.png`: each row walks in a straight line between two random noise
vectors in ten steps (DCGAN §6.1, "walking in the latent space": smooth transitions mean G has
not memorised images). 2-D mixtures: `samples/scatter.png` (N points, default 2,500, over the
modes) with the path of one such walk drawn on it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image

from ..core.checkpoint import Loaded
from ..core.figures import pyplot, save_figure
from . import metrics
from .task import GANTask

STEPS = 10  # images per interpolation row
ROWS = 8


def _to_uint8(images: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) in [-1, 1] -> (N, H, W, C) uint8."""
    return ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1)


def tile(images: torch.Tensor, cols: int, pad: int = 1) -> Image.Image:
    """Images (N, C, H, W) in [-1, 1] side by side, `cols` per row, on a grey background."""
    x = _to_uint8(images)
    n, h, w, c = x.shape
    rows = math.ceil(n / cols)
    canvas = torch.full((rows * (h + pad) + pad, cols * (w + pad) + pad, c), 128, dtype=torch.uint8)
    for i in range(n):
        r, k = divmod(i, cols)
        canvas[pad + r * (h + pad):pad + r * (h + pad) + h, pad + k * (w + pad):pad + k * (w + pad) + w] = x[i]
    img = Image.fromarray(canvas.squeeze(-1).numpy() if c == 1 else canvas.numpy())
    scale = max(1, 256 // max(h, w))  # small digits are enlarged so they can be seen
    return img.resize((img.width * scale, img.height * scale), Image.NEAREST)


def interpolation_noise(z_dim: int, rows: int, seed: int) -> torch.Tensor:
    """(rows * STEPS, z_dim): each row the straight line from one random z to another."""
    g = torch.Generator().manual_seed(seed)
    a, b = torch.randn(rows, 1, z_dim, generator=g), torch.randn(rows, 1, z_dim, generator=g)
    t = torch.linspace(0, 1, STEPS).view(1, STEPS, 1)
    return (a + t * (b - a)).reshape(rows * STEPS, z_dim)


def _save(img: Image.Image, path: Path) -> None:
    tmp = path.with_suffix(".tmp.png")
    img.save(tmp)
    tmp.replace(path)


@dataclass
class Options:
    """gan's sample takes nothing besides --run, --count (samples) and --out."""


INPUTS = None  # no positional arguments


def sample(run: Loaded, opts: Options, inputs: list[str], count: int | None, out: Path) -> None:
    cfg, model = run.config, run.model
    task = GANTask(cfg)
    out.mkdir(parents=True, exist_ok=True)
    seed = 2**20 + cfg.seed
    with torch.no_grad():
        if task.mixture is not None:
            n = count or metrics.MIXTURE_SAMPLES
            points = task.samples(model, torch.device("cpu"), n, seed=seed)
            path_z = interpolation_noise(cfg.model.z_dim, 1, seed + 1)
            walk = model.generator(path_z)
            m = metrics.mode_coverage(points, task.mixture)
            plt = pyplot()
            fig, ax = plt.subplots(figsize=(5, 5))
            ax.scatter(points[:, 0], points[:, 1], s=2, alpha=0.4, label=f"{n} samples")
            ax.scatter(task.mixture.centers[:, 0], task.mixture.centers[:, 1], marker="x", color="C3", label="modes")
            ax.plot(walk[:, 0], walk[:, 1], "-o", color="C2", ms=3, label="a straight walk in z")
            ax.set_aspect("equal")
            ax.legend(fontsize=8, loc="upper right")
            ax.set_title(f"{task.mixture.name}: {m['modes']:.0f}/{task.mixture.n_modes} modes, "
                         f"{m['hq']:.0%} high quality")
            path = save_figure(fig, out / "scatter.png")
            print(f"{task.mixture.name}: {m['modes']:.0f} of {task.mixture.n_modes} modes covered, "
                  f"{m['hq']:.1%} of {n} samples high quality")
            print(f"scatter plot: {path}")
            return
        n = count or 64
        images = task.samples(model, torch.device("cpu"), n, seed=seed)
        _save(tile(images, math.ceil(math.sqrt(n))), out / "grid.png")
        walk = model.generator(interpolation_noise(cfg.model.z_dim, ROWS, seed + 1)).float()
        _save(tile(walk, STEPS), out / "interpolation.png")
        print(f"{n} samples from {run.checkpoint}: {out / 'grid.png'}")
        print(f"latent walks ({ROWS} rows of {STEPS}): {out / 'interpolation.png'}")
        judge = task.judge()
        if judge is not None:
            _, probs = judge.features_and_probs(images)
            counts = torch.bincount(probs.argmax(1), minlength=task.data.n_classes).tolist()  # type: ignore[union-attr]
            print(f"the classifier reads them as: {dict(enumerate(counts))}")
            with torch.no_grad():
                m = task.evaluate(model, torch.device("cpu"))
            print(f"fd {m['fd']:.3g}: the Frechet distance between a digit classifier's features of "
                  f"{cfg.eval_samples:,} samples and of the real digits (0 for the real data; lower is closer)")
            print(f"score {m['score']:.3g}: the classifier score, 1 to 10 (high when each sample is one clear digit "
                  f"and every digit is drawn); classes {m['classes']:.0f}: digits among at least 1% of samples")
