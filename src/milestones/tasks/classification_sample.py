"""`milestones sample alexnet|resnet --run DIR`: the trained classifier on test examples it never
saw, and the confusion matrix `milestones evaluate` draws for every classifier.

    samples/predictions.png   N test examples (default 16), each titled with the predicted class,
                              its probability and the true class; green when right, red when wrong
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..core.checkpoint import Loaded
from ..core.figures import pyplot, save_figure
from ..data import images, stream
from .classification import predict, streamed_logits


@dataclass
class Options:
    wrong: bool = False
    """Show only test examples the model got wrong (the most instructive ones)."""


INPUTS = None  # no positional arguments


def draw_example(ax, x: torch.Tensor) -> None:
    """One raw example: a signal (C, L) as a line, an image (C, H, W) as a picture."""
    if x.dim() == 2:
        ax.plot(x[0].float().numpy(), lw=1)
        ax.set_yticks([])
    else:
        img = x.float()
        img = (img - img.min()) / (img.max() - img.min()).clamp_min(1e-6)
        ax.imshow(img.permute(1, 2, 0).squeeze(-1).numpy(), cmap="gray" if img.shape[0] == 1 else None)
        ax.set_yticks([])
    ax.set_xticks([])


def sample(run: Loaded, opts: Options, inputs: list[str], count: int | None, out: Path,
           served: Callable[[Any, Any], Any] = lambda cfg, data: data) -> None:
    cfg = run.config
    data = (stream.load(cfg.data, cfg.image_size) if cfg.stream and cfg.data else None) or \
        images.load(cfg.dataset, cfg.data, cfg.image_size)
    data = served(cfg, data)  # as training fed the model (AlexNet's mean-image inputs)
    if isinstance(data, stream.FolderImages):  # decoded in chunks, never whole
        logits, yt = streamed_logits(run.model, torch.device("cpu"), data, cfg.augment, "test", None,
                                     cfg.loader_workers)
    else:
        xt, yt = data.all("test")
        logits = predict(run.model, cfg.augment.centre(xt), torch.device("cpu"))  # as evaluation fed it
    probs = logits.softmax(1)
    conf, pred = probs.max(1)
    picked = (pred != yt).nonzero().flatten() if opts.wrong else torch.arange(len(yt))
    picked = picked[: count or 16]
    acc = float((pred == yt).float().mean())
    print(f"{run.milestone}: test accuracy {acc:.1%} on {len(yt):,} {data.name} examples "
          f"({int((pred != yt).sum()):,} wrong)")
    if len(picked) == 0:
        print("no test example is wrong: nothing to show")
        return
    plt = pyplot()
    cols = min(8, len(picked))
    rows = (len(picked) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(1.7 * cols, 2.0 * rows + 0.5), squeeze=False,
                             layout="constrained")  # leaves room for each row's two-line titles
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, picked.tolist()):
        ax.axis("on")
        draw_example(ax, data.decode(torch.tensor([i]), "test")[0] if isinstance(data, stream.FolderImages)
                     else data.x_test[i])
        right = int(pred[i]) == int(yt[i])
        ax.set_title(f"{int(pred[i])} ({float(conf[i]):.0%})\ntrue {int(yt[i])}", fontsize=9,
                     color="#13795b" if right else "#b42318")
        print(f"  test #{i}: predicted {int(pred[i])} ({float(conf[i]):.0%}), true {int(yt[i])}"
              + ("" if right else "  WRONG"))
    fig.suptitle(f"{run.milestone} on {data.name} test examples: predicted (probability), true class; "
                 f"accuracy {acc:.1%}", fontsize=10)
    save_figure(fig, out / "predictions.png")
    print(f"predictions: {out / 'predictions.png'}")


def confusion_figure(y: torch.Tensor, pred: torch.Tensor, n_classes: int, path: Path, title: str) -> Path:
    """Rows: the true class; columns: the predicted one; each cell the count, shaded by the row's share."""
    m = torch.zeros(n_classes, n_classes, dtype=torch.long)
    m.index_put_((y.long(), pred.long()), torch.ones_like(y, dtype=torch.long), accumulate=True)
    share = m.float() / m.sum(1, keepdim=True).clamp_min(1)
    plt = pyplot()
    size = 2.5 + 0.45 * n_classes
    fig, ax = plt.subplots(figsize=(size + 1.2, size))
    im = ax.imshow(share.numpy(), cmap="Blues", vmin=0, vmax=1)
    if n_classes <= 20:
        for i in range(n_classes):
            for j in range(n_classes):
                if m[i, j]:
                    ax.text(j, i, str(int(m[i, j])), ha="center", va="center", fontsize=8,
                            color="white" if share[i, j] > 0.5 else "black")
        ax.set_xticks(range(n_classes))
        ax.set_yticks(range(n_classes))
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title, fontsize=10)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    return save_figure(fig, path)
