"""Adam's claim in miniature: "Adam converges as fast as or faster than" the baselines.

The paper (§6.1 Fig. 1, §6.2 Fig. 2): on MNIST, logistic regression and a multi-layer network
(two hidden layers of 1000 ReLUs, with dropout), minibatches of 128; Adam's training cost falls
as fast as or faster than SGD with Nesterov momentum, AdaGrad and RMSProp.

Ours, on the embedded 5,000 MNIST digits: the same two models (the `small` preset narrows the
hidden layers to 128 units to fit the CPU budget; `paper` keeps 1000. It had 256 until the house
was rebuilt; 128, measured beside 256 on seeds 100-102, gave the same verdict in half the time). Every optimizer gets
the same nine learning rates, half a decade apart from 1e-4 to 1, and keeps the one with the
lowest final training loss on the first seed; every seed then runs at that rate. Training loss at
a point is the mean minibatch loss over the epoch (31 steps) that ends there, as the paper
plots per-epoch cost; a run that diverges has infinite loss.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from ..core.claims import Claim, Context, Measured, Run, median, series
from ..core.figures import pyplot, save_figure

OPTIMIZERS = ("adam", "sgd", "adagrad", "rmsprop")
LR_GRID = tuple(10 ** (-4 + k / 2) for k in range(9))  # 1e-4 ... 1
WINDOW = 31
END_TOLERANCE = 0.10

SETTINGS = {
    "tiny": dict(steps=40, hidden=32, grid=(1e-3, 1e-2)),
    "small": dict(steps=400, hidden=128, grid=LR_GRID),
    "paper": dict(steps=6000, hidden=1000, grid=LR_GRID),
}


def run(preset: str, model: str, optimizer: str, lr: float, seed: int) -> Run:
    s = SETTINGS[preset]
    return Run.of("adam", preset, dataset="mnist5k", steps=s["steps"], batch_size=128, schedule="constant",
                  warmup_steps=0, log_every=1, eval_every=0, seed=seed,
                  model=dict(kind=model, hidden=s["hidden"], dropout=0.5),
                  optim=dict(name=optimizer, lr=lr, weight_decay=0.0, momentum=0.9, nesterov=True))


def losses_of(record: dict) -> list[float]:
    """Per-step training loss; a run that diverged has none (its loss is infinite everywhere)."""
    return [] if record["diverged"] else series(record, "loss")[1]


def loss_at(losses: list[float], step: int) -> float:
    """Mean minibatch loss over the epoch ending at `step` (inf if the run diverged before)."""
    if len(losses) < step:
        return math.inf
    window = losses[max(0, step - WINDOW):step]
    return sum(window) / len(window)


def measure(ctx: Context) -> Measured:
    s = SETTINGS[ctx.preset]
    steps, quarter = s["steps"], s["steps"] // 4
    first = ctx.seeds[0]
    grid_keys = [(m, o, lr) for m in ("mlp", "logreg") for o in OPTIMIZERS for lr in s["grid"]]
    grid = dict(zip(grid_keys, ctx.runs([run(ctx.preset, m, o, lr, first) for m, o, lr in grid_keys])))
    best_lr = {(m, o): min((lr for mm, oo, lr in grid_keys if (mm, oo) == (m, o)),
                           key=lambda lr: loss_at(losses_of(grid[(m, o, lr)]), steps))
               for m in ("mlp", "logreg") for o in OPTIMIZERS}
    keys = [(m, o, seed) for (m, o) in best_lr for seed in ctx.seeds]
    records = dict(zip(keys, ctx.runs([run(ctx.preset, m, o, best_lr[(m, o)], seed) for m, o, seed in keys])))
    losses = {k: losses_of(r) for k, r in records.items()}

    per_seed = []
    for seed in ctx.seeds:
        row: dict = {"seed": seed}
        ok = True
        for m in ("logreg", "mlp"):
            q = {o: loss_at(losses[(m, o, seed)], quarter) for o in OPTIMIZERS}
            end = {o: loss_at(losses[(m, o, seed)], steps) for o in OPTIMIZERS}
            base_q = min(v for o, v in q.items() if o != "adam")
            base_end = min(v for o, v in end.items() if o != "adam")
            fastest, close = q["adam"] <= base_q, end["adam"] <= (1 + END_TOLERANCE) * base_end
            row[m] = {"adam_quarter": q["adam"], "best_baseline_quarter": base_q, "adam_end": end["adam"],
                      "best_baseline_end": base_end, "lowest_at_quarter": fastest, "within_10pct_at_end": close,
                      "quarter": q, "end": end}
            ok = ok and fastest and close
        row["holds"] = ok
        per_seed.append(row)
    ours = "; ".join(
        f"seed {p['seed']}: " + ", ".join(
            f"{m} Adam {p[m]['adam_quarter']:.3f} vs {p[m]['best_baseline_quarter']:.3f} at 1/4, "
            f"{p[m]['adam_end']:.3f} vs {p[m]['best_baseline_end']:.3f} at the end" for m in ("logreg", "mlp"))
        for p in per_seed)

    def figure(path: Path) -> None:
        plt = pyplot()
        fig, axes = plt.subplots(1, 2, figsize=(11, 4))
        for ax, m in zip(axes, ("logreg", "mlp")):
            for o in OPTIMIZERS:
                rs = [losses[(m, o, seed)] for seed in ctx.seeds if len(losses[(m, o, seed)]) == steps]
                if not rs:
                    continue
                mid = torch.tensor(rs).median(0).values
                smooth = mid.unfold(0, WINDOW, 1).mean(1)
                ax.plot(range(WINDOW, steps + 1), smooth, label=f"{o} (lr {best_lr[(m, o)]:.2g})",
                        lw=2.2 if o == "adam" else 1.2)
            ax.axvline(quarter, color="gray", lw=0.8)
            ax.set_yscale("log")
            ax.set_xlabel("training step")
            ax.set_ylabel("training loss (epoch mean, median over seeds)")
            ax.set_title("logistic regression" if m == "logreg" else f"MLP 2x{s['hidden']}, dropout 0.5")
            ax.legend(fontsize=8)
        fig.suptitle("Adam vs baselines on MNIST (each at its best learning rate)")
        save_figure(fig, path, dpi=110)

    return Measured(per_seed=per_seed, ours=ours, figure=figure,
                    measurements={"best_lr": {f"{m}/{o}": lr for (m, o), lr in best_lr.items()},
                                  "lr_grid": list(s["grid"]), "steps": steps, "quarter": quarter,
                                  "hidden": s["hidden"], "median_end": {
                                      f"{m}/{o}": median([loss_at(losses[(m, o, seed)], steps) for seed in ctx.seeds])
                                      for m in ("logreg", "mlp") for o in OPTIMIZERS},
                                  "grid_final_loss": [{"model": m, "optimizer": o, "lr": lr,
                                                       "end": loss_at(losses_of(grid[(m, o, lr)]), steps)}
                                                      for m, o, lr in grid_keys]})


CLAIMS = [
    Claim(
        milestone="adam",
        name="converges-fastest",
        title="Adam converges as fast as or faster than the baselines",
        paper=("§6.1-6.2, Figs. 1-2: on MNIST logistic regression and a 2x1000 dropout MLP, Adam's training cost "
               "falls as fast as or faster than SGD+Nesterov, AdaGrad and RMSProp"),
        paper_value="as fast or faster",
        rule=("for both models, Adam's training loss is the lowest at a quarter of the budget and within "
              f"{END_TOLERANCE:.0%} of the best baseline's at the end (every optimizer at its best rate from the same "
              "9-point grid, 1e-4 to 1, chosen on the first seed)"),
        measure=measure,
        budget_note=("the small preset narrows the MLP to 2x128 hidden units (2x1000 costs 57 ms a step on one core); "
                     "the paper preset keeps 2x1000. 88 runs: the 72-run grid on the first seed, then the best rates "
                     "on the other seeds: 18 s on 2 cores (AMD EPYC)"),
        caption=("Adam's curve is lowest early in both panels, then SGD with Nesterov momentum catches up and ends "
                 "lower: the claim's first half holds, its second does not."),
        why=("Adam leads early, but in 400 steps SGD with Nesterov momentum at its own best rate catches up and ends "
             "lower on both models"),
    ),
]
