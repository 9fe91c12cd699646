"""ResNet's claim in miniature: degradation, and residual learning reversing it.

The paper (§4.1-4.2, Fig. 1, Fig. 4 and Fig. 6): on CIFAR-10 the 56-layer plain net has
higher *training* error than the 20-layer plain net (so it is not overfitting: the deeper net
is harder to optimise), while ResNet-56 trains to lower error than ResNet-20.

Ours, on MNIST-1D: CIFAR-style 1-D nets with three stages of 32 maps, batch norm, SGD lr 0.05
with momentum 0.9, batch 128, constant learning rate. Four nets (plain and residual, shallow
and deep), each over several seeds. As the paper's figures are curves and most of these nets
reach near-zero loss in the end, we compare the mean training loss over a fixed window during
training (steps 200-300).
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..adam import optim
from ..core.claims import Claim, Measured, median, parallel_map, pyplot
from ..core.classify import ClassificationTask
from ..core.trainer import train
from ..data import images
from .model import ResNet, ResNetConfig
from .task import Config

SETTINGS = {
    "tiny": dict(shallow=8, deep=14, steps=30, window=(20, 30)),
    "small": dict(shallow=8, deep=32, steps=300, window=(200, 300)),
    "paper": dict(shallow=20, deep=56, steps=3000, window=(1000, 2000)),
}
WIDTHS = (32, 32, 32)


def _job(depth: int, residual: bool, seed: int, steps: int) -> dict:
    cfg = Config(steps=steps, batch_size=128, lr=0.05, schedule="constant", log_every=1, seed=seed,
                 tensorboard=False)
    mc = ResNetConfig(depth=depth, style="cifar", residual=residual, n_classes=10, in_channels=1,
                      widths=WIDTHS, dims=1)
    task = ClassificationTask("resnet", cfg, images.mnist1d(), lambda: ResNet(mc),
                              lambda m: optim.SGD(m.parameters(), lr=0.05, momentum=0.9),
                              evaluate=False)
    result = train(task, None, verbose=False)
    _, losses = result.series("loss")
    return {"depth": depth, "residual": residual, "seed": seed, "losses": losses}


def _name(residual: bool, depth: int) -> str:
    return f"{'resnet' if residual else 'plain'}-{depth}"


def measure(preset: str, seeds: list[int], workers: int) -> Measured:
    s = SETTINGS[preset]
    lo, hi = s["window"]
    nets = [(r, d) for r in (False, True) for d in (s["shallow"], s["deep"])]
    # deepest first, so the longest jobs do not finish last on a lone core
    jobs = [dict(depth=d, residual=r, seed=seed, steps=s["steps"]) for d in (s["deep"], s["shallow"])
            for r in (False, True) for seed in seeds]
    runs = parallel_map(_job, jobs, workers)
    window_loss = {}
    for r in runs:
        window_loss.setdefault(_name(r["residual"], r["depth"]), []).append(sum(r["losses"][lo:hi]) / (hi - lo))
    med = {k: median(v) for k, v in window_loss.items()}
    ps, pd = med[_name(False, s["shallow"])], med[_name(False, s["deep"])]
    rs, rd = med[_name(True, s["shallow"])], med[_name(True, s["deep"])]
    degradation = pd > ps
    reversed_ = rd < pd and rd <= rs
    holds = degradation and reversed_
    ours = (f"mean training loss over steps {lo}-{hi} (median of {len(seeds)} seeds): "
            + ", ".join(f"{k} {v:.3f}" for k, v in med.items()))

    def figure(path: Path) -> None:
        plt = pyplot()
        fig, ax = plt.subplots(figsize=(7, 4.2))
        for (res, d), color in zip(nets, ("C0", "C1", "C2", "C3")):
            curves = torch.tensor([r["losses"] for r in runs if r["residual"] == res and r["depth"] == d])
            mid = curves.median(0).values
            k = 10
            smooth = mid.unfold(0, k, 1).mean(1)
            ax.plot(range(k, len(mid) + 1), smooth, "-" if res else "--", color=color,
                    label=f"{_name(res, d)} ({med[_name(res, d)]:.3f})")
        ax.axvspan(lo, hi, color="gray", alpha=0.12, label="window compared")
        ax.set_yscale("log")
        ax.set_xlabel("training step")
        ax.set_ylabel("training loss (median over seeds)")
        ax.set_title("Plain nets degrade with depth; residual nets do not (MNIST-1D)")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)

    return Measured(holds=holds, ours=ours, figure=figure,
                    measurements={"window": [lo, hi], "median_window_loss": med, "per_seed": window_loss,
                                  "plain_degrades": degradation, "residual_reverses": reversed_,
                                  "widths": list(WIDTHS), "steps": s["steps"]})


CLAIMS = [
    Claim("resnet", "degradation", "Residual learning reverses the degradation of deep plain nets",
          "§4.1-4.2, Fig. 1 and Fig. 6: plain-56 has higher training error than plain-20 on CIFAR-10; "
          "ResNet-56 lower than ResNet-20", "plain-56 > plain-20; ResNet-56 < ResNet-20",
          "in the median over seeds, the deep plain net's training loss over the window is higher than the "
          "shallow plain net's, and the deep residual net's is lower than the deep plain net's and no higher "
          "than the shallow residual net's", measure,
          budget_note="twelve runs (four nets, three seeds) of 300 steps, the deepest 32 layers: about 2-4 "
                      "minutes on 2 cores, over the ~90 s aimed at"),
]
