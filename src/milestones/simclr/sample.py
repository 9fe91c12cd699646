"""`milestones sample simclr --run DIR`: what the network was trained to agree on, and what it learnt.

    samples/views.png      N training examples (default 6), each beside four random views of it,
                           drawn with the run's augmentations: the pairs NT-Xent pulls together
    samples/embedding.png  the test set's representation h in two dimensions (t-SNE, or PCA with
                           --method pca), coloured by class: classes that form separate clusters
                           are what a linear probe can tell apart; the title gives the kNN accuracy
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import torch

from ..core.checkpoint import Loaded
from ..core.figures import pyplot, save_figure
from .evaluate import knn_accuracy
from .task import Images

VIEWS = 4
MAX_POINTS = 2000  # test examples in the map


@dataclass
class Options:
    method: Literal["tsne", "pca"] = "tsne"
    """How h is drawn in 2-D: t-SNE (scikit-learn, a few seconds) or PCA (instant)."""


INPUTS = None  # no positional arguments


def _draw_example(ax, x: torch.Tensor, signal: bool, mean: torch.Tensor, std: torch.Tensor) -> None:
    if signal:
        ax.plot(x[0].numpy(), lw=1)
        ax.set_yticks([])
    else:
        img = (x * std + mean).clamp_min(0)
        img = img / img.max().clamp_min(1e-6)
        ax.imshow(img.permute(1, 2, 0).squeeze(-1).numpy(), cmap="gray" if img.shape[0] == 1 else None)
        ax.set_yticks([])
    ax.set_xticks([])


def sample(run: Loaded, opts: Options, inputs: list[str], count: int | None, out: Path) -> None:
    cfg, model = run.config, run.model
    task = Images(replace(cfg, init_from=""))
    out.mkdir(parents=True, exist_ok=True)
    plt = pyplot()
    n = min(count or 6, len(task.data.y_train))
    g = torch.Generator().manual_seed(2**20 + cfg.seed)
    idx = torch.arange(n)
    plain = task.views(idx, g, augment=False)
    views = [task.views(idx, g) for _ in range(VIEWS)]
    mean, std = task.data.mean / task.data.peak, task.data.std / task.data.peak
    fig, axes = plt.subplots(n, VIEWS + 1, figsize=(1.8 * (VIEWS + 1), 1.3 * n + 0.5), squeeze=False)
    for i in range(n):
        for j, x in enumerate([plain, *views]):
            _draw_example(axes[i, j], x[i], task.signals, mean, std)
        if task.labelled:
            axes[i, 0].set_ylabel(f"class {int(task.data.y_train[i])}", fontsize=8)
    axes[0, 0].set_title("example", fontsize=9)
    for j in range(VIEWS):
        axes[0, j + 1].set_title(f"view {j + 1}", fontsize=9)
    fig.suptitle("Random views of each example: the pairs NT-Xent pulls together", fontsize=10)
    save_figure(fig, out / "views.png")
    print(f"views of {n} examples: {out / 'views.png'}")

    cpu = torch.device("cpu")
    m = min(MAX_POINTS, len(task.data.y_test))
    h_test = task.encode(model, "test", cpu, torch.arange(m))
    y_test = task.data.y_test[:m]
    if opts.method == "pca":
        from sklearn.decomposition import PCA

        xy = PCA(n_components=2).fit_transform(h_test.numpy())
    else:
        from sklearn.manifold import TSNE

        xy = TSNE(n_components=2, init="pca", random_state=0, perplexity=min(30.0, (m - 1) / 3)).fit_transform(
            h_test.numpy())
    title = f"The test set's h ({opts.method.upper() if opts.method == 'pca' else 't-SNE'}), step {run.step}"
    if task.labelled:
        h_train = task.encode(model, "train", cpu)
        acc = knn_accuracy(h_train, task.data.y_train, h_test, y_test)
        title += f"; kNN accuracy {100 * acc:.1f}%"
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    points = ax.scatter(xy[:, 0], xy[:, 1], c=y_test.numpy(), cmap="tab10", s=6,
                        vmin=-0.5, vmax=max(task.data.n_classes, 10) - 0.5)
    if task.labelled:
        fig.colorbar(points, ax=ax, label="class", ticks=range(task.data.n_classes))
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=10)
    save_figure(fig, out / "embedding.png")
    print(f"map of {m} test examples: {out / 'embedding.png'}" + (f" (kNN accuracy {100 * acc:.1f}%)"
                                                                  if task.labelled else ""))
