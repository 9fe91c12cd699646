"""ResNet's claim in miniature: degradation, and residual learning reversing it.

The paper (§4.1-4.2, Fig. 1, Fig. 4 and Fig. 6): on CIFAR-10 the 56-layer plain net has
higher *training* error than the 20-layer plain net (so it is not overfitting: the deeper net
is harder to optimise), while ResNet-56 trains to lower error than ResNet-20.

Ours, on MNIST-1D: CIFAR-style 1-D nets with three stages of 16 maps, batch norm, SGD lr 0.05
with momentum 0.9, batch 128, constant learning rate. (Until the house was rebuilt the stages had
32 maps; 16, chosen on seeds 100-102 where both held, takes half the time.) Four nets (plain and residual, shallow
and deep), each over several seeds. As the paper's figures are curves and most of these nets
reach near-zero loss in the end, we compare the mean training loss over a fixed window during
training (steps 200-300).
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..core.claims import Claim, Context, Measured, Run, median, series
from ..core.figures import pyplot, save_figure

SETTINGS = {
    "tiny": dict(shallow=8, deep=14, steps=30, window=(20, 30)),
    "small": dict(shallow=8, deep=32, steps=300, window=(200, 300)),
    "paper": dict(shallow=20, deep=56, steps=3000, window=(1000, 2000)),
}
NETS = dict(dataset="mnist1d", batch_size=128, schedule="constant", warmup_steps=0, log_every=1, eval_every=0,
            model=dict(style="cifar", widths=(16, 16, 16)),
            optim=dict(name="sgd", lr=0.05, momentum=0.9, nesterov=False, weight_decay=0.0))


def run(preset: str, depth: int, plain: bool, seed: int) -> Run:
    return Run.of("resnet", preset, NETS, steps=SETTINGS[preset]["steps"], seed=seed,
                  model=dict(depth=depth, plain=plain))


def _name(plain: bool, depth: int) -> str:
    return f"{'plain' if plain else 'resnet'}-{depth}"


def measure(ctx: Context) -> Measured:
    s = SETTINGS[ctx.preset]
    lo, hi = s["window"]
    nets = [(p, d) for p in (True, False) for d in (s["shallow"], s["deep"])]
    # deepest first, so the longest jobs do not finish last on a lone core
    keys = [(p, d, seed) for d in (s["deep"], s["shallow"]) for p in (True, False) for seed in ctx.seeds]
    records = dict(zip(keys, ctx.runs([run(ctx.preset, d, p, seed) for p, d, seed in keys])))
    losses = {k: series(r, "loss")[1] for k, r in records.items()}
    window = {k: sum(v[lo:hi]) / (hi - lo) for k, v in losses.items()}
    per_seed = []
    for seed in ctx.seeds:
        w = {_name(p, d): window[(p, d, seed)] for p, d in nets}
        ps, pd = w[_name(True, s["shallow"])], w[_name(True, s["deep"])]
        rs, rd = w[_name(False, s["shallow"])], w[_name(False, s["deep"])]
        per_seed.append({"seed": seed, "holds": pd > ps and rd < pd and rd <= rs, "plain_degrades": pd > ps,
                         "residual_reverses": rd < pd and rd <= rs, **w})
    med = {_name(p, d): median([window[(p, d, seed)] for seed in ctx.seeds]) for p, d in nets}
    ours = (f"mean training loss over steps {lo}-{hi} per seed (plain-{s['shallow']}, plain-{s['deep']}; "
            f"resnet-{s['shallow']}, resnet-{s['deep']}): "
            + "; ".join(f"{', '.join(f'{p[n]:.3f}' for n in med)}" for p in per_seed)
            + "; medians " + ", ".join(f"{k} {v:.3f}" for k, v in med.items()))

    def figure(path: Path) -> None:
        plt = pyplot()
        fig, ax = plt.subplots(figsize=(7, 4.2))
        for (plain, d), color in zip(nets, ("C0", "C1", "C2", "C3")):
            curves = torch.tensor([losses[(plain, d, seed)] for seed in ctx.seeds])
            mid = curves.median(0).values
            k = 10
            smooth = mid.unfold(0, k, 1).mean(1)
            ax.plot(range(k, len(mid) + 1), smooth, "--" if plain else "-", color=color,
                    label=f"{_name(plain, d)} ({med[_name(plain, d)]:.3f})")
        ax.axvspan(lo, hi, color="gray", alpha=0.12, label="window compared")
        ax.set_yscale("log")
        ax.set_xlabel("training step")
        ax.set_ylabel("training loss (median over seeds)")
        ax.set_title("Plain nets degrade with depth; residual nets do not (MNIST-1D)")
        ax.legend(fontsize=8)
        save_figure(fig, path, dpi=110)

    return Measured(per_seed=per_seed, ours=ours, figure=figure,
                    measurements={"window": [lo, hi], "median_window_loss": med, "steps": s["steps"]})


CLAIMS = [
    Claim(
        milestone="resnet",
        name="degradation",
        title="Residual learning reverses the degradation of deep plain nets",
        paper=("§4.1-4.2, Fig. 1 and Fig. 6: plain-56 has higher training error than plain-20 on CIFAR-10; ResNet-56 "
               "lower than ResNet-20"),
        paper_value="plain-56 > plain-20; ResNet-56 < ResNet-20",
        rule=("the deep plain net's mean training loss over the window is higher than the shallow plain net's, and "
              "the deep residual net's is lower than the deep plain net's and no higher than the shallow residual "
              "net's"),
        measure=measure,
        budget_note=("twelve runs (four nets, three seeds) of 300 steps, the deepest 32 layers: 20 s on 2 cores (AMD "
                     "EPYC)"),
        caption=("the dashed plain-32 curve stays above plain-8 (deeper is worse without shortcuts), while the solid "
                 "resnet-32 curve ends lowest of all."),
        why=("the 32-layer plain net trains worse than the 8-layer one in every seed; with shortcuts the deeper net "
             "trains better"),
    ),
]
