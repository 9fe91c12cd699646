"""AlexNet's claims in miniature, on MNIST-1D (4,000 training signals, generated offline).

1. ReLU vs tanh (§3.1, Fig. 1): "a four-layer convolutional neural network with ReLUs reaches
   a 25% training error rate on CIFAR-10 six times faster than an equivalent network with tanh
   neurons. The learning rates for each network were chosen independently to make training as
   fast as possible. No regularization of any kind was employed."
   Ours: the same four-layer CNN (three 1-D convs of 32/64/64 maps, max-pooling, one linear
   layer) with each activation, no dropout, no LRN, SGD with Nesterov momentum 0.9, batch 128;
   each activation takes, per seed, its fastest learning rate from one shared grid. Training
   error is the mean minibatch error over the last epoch (31 steps), as the paper plots it per
   epoch. A run that diverges never reaches the target.
2. Dropout (§4.2): "Without dropout, our network exhibits substantial overfitting."
   Ours: the four-layer CNN with a hidden FC layer, trained on 1,000 signals with and without
   dropout 0.5 in front of the FC layers; the gap is training accuracy minus test accuracy.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..core.claims import Claim, Measured, median, parallel_map, pyplot
from ..core.classify import ClassificationTask
from ..core.trainer import NonFiniteLoss, train
from ..data import images
from ..adam import optim
from .model import AlexNet, AlexNetConfig
from .task import Config

TARGET_ERROR = 0.25
WINDOW = 31  # one epoch of 4,000 signals at batch 128
MIN_SPEEDUP = 1.5
MAX_GAP_RATIO = 0.75

SETTINGS = {
    "tiny": dict(lrs=(0.03,), cap=40, dropout_steps=30, n_train=256),
    "small": dict(lrs=(0.01, 0.03, 0.1), cap=1500, dropout_steps=600, n_train=1000),
    "paper": dict(lrs=(0.003, 0.01, 0.03, 0.1), cap=5000, dropout_steps=3000, n_train=1000),
}


def optim_for(model: torch.nn.Module, lr: float) -> torch.optim.Optimizer:
    return optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True)


def four_layer_cnn(activation: str, fc: tuple[int, ...] = (), dropout: float = 0.0) -> AlexNet:
    return AlexNet(AlexNetConfig(in_channels=1, n_classes=10, channels=(32, 64, 64), kernels=(5, 5, 3),
                                 strides=(1, 1, 1), paddings=(2, 2, 1), groups=(1, 1, 1), pool_after=(0, 1),
                                 lrn=False, fc=fc, dropout=dropout, activation=activation, input_size=40,
                                 conv1d=True))


class _UntilTarget(ClassificationTask):
    """Stops once the mean minibatch training error over the last epoch reaches the target."""

    errors: list[float]

    def should_stop(self, step: int, metrics: dict[str, float]) -> bool:
        self.errors.append(1.0 - metrics["acc"])
        return len(self.errors) >= WINDOW and sum(self.errors[-WINDOW:]) / WINDOW <= TARGET_ERROR

    def evaluate(self, model, device):
        return {}


def _relu_job(activation: str, lr: float, seed: int, cap: int) -> dict:
    cfg = Config(steps=cap, batch_size=128, lr=lr, schedule="constant", log_every=1, seed=seed, tensorboard=False)
    task = _UntilTarget("alexnet", cfg, images.mnist1d(), lambda: four_layer_cnn(activation),
                        lambda m: optim_for(m, lr))
    task.errors = []
    try:
        result = train(task, None, verbose=False)
        reached = len(task.errors) >= WINDOW and sum(task.errors[-WINDOW:]) / WINDOW <= TARGET_ERROR
        steps = result.step if reached else None
    except NonFiniteLoss:
        steps = None
    return {"activation": activation, "lr": lr, "seed": seed, "steps": steps, "errors": task.errors}


def measure_relu(preset: str, seeds: list[int], workers: int) -> Measured:
    s = SETTINGS[preset]
    jobs = [dict(activation=a, lr=lr, seed=seed, cap=s["cap"]) for seed in seeds for a in ("relu", "tanh")
            for lr in s["lrs"]]
    runs = parallel_map(_relu_job, jobs, workers)
    best: dict[tuple[str, int], dict] = {}
    for r in runs:
        key = (r["activation"], r["seed"])
        cost = r["steps"] if r["steps"] is not None else float("inf")
        if key not in best or cost < (best[key]["steps"] or float("inf")):
            best[key] = r
    per_seed = []
    for seed in seeds:
        relu, tanh = best[("relu", seed)], best[("tanh", seed)]
        r_steps = relu["steps"] or float("inf")
        t_steps = tanh["steps"] or float("inf")
        speedup = t_steps / r_steps if r_steps != float("inf") else 0.0
        per_seed.append({"seed": seed, "relu_steps": relu["steps"], "relu_lr": relu["lr"],
                         "tanh_steps": tanh["steps"], "tanh_lr": tanh["lr"], "speedup": speedup})
    speedups = [p["speedup"] for p in per_seed]
    med = median(speedups)
    every = all(p["speedup"] > 1.0 for p in per_seed)
    holds = every and med >= MIN_SPEEDUP
    ours = (f"median {med:.2f}x faster to {TARGET_ERROR:.0%} training error "
            f"(per seed: {', '.join(f'{x:.2f}x' for x in speedups)})")
    curves = {a: best[(a, seeds[0])] for a in ("relu", "tanh")}

    def figure(path: Path) -> None:
        plt = pyplot()
        fig, ax = plt.subplots(figsize=(6, 4))
        for a, style in (("relu", "-"), ("tanh", "--")):
            errs = torch.tensor(curves[a]["errors"])
            if len(errs) >= WINDOW:
                smooth = errs.unfold(0, WINDOW, 1).mean(1)
                ax.plot(range(WINDOW, len(errs) + 1), smooth, style,
                        label=f"{a} (lr {curves[a]['lr']}, {curves[a]['steps'] or 'not reached'} steps)")
        ax.axhline(TARGET_ERROR, color="gray", lw=0.8)
        ax.set_xlabel("training step")
        ax.set_ylabel("training error (mean over the last epoch)")
        ax.set_title(f"ReLU vs tanh, 4-layer CNN on MNIST-1D (seed {seeds[0]})")
        ax.legend()
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)

    return Measured(holds=holds, ours=ours, figure=figure,
                    measurements={"per_seed": per_seed, "median_speedup": med, "relu_faster_every_seed": every,
                                  "lr_grid": list(s["lrs"]), "target_error": TARGET_ERROR, "step_cap": s["cap"]})


def _dropout_job(dropout: float, seed: int, steps: int, n_train: int) -> dict:
    cfg = Config(steps=steps, batch_size=128, lr=0.03, schedule="constant", log_every=10, seed=seed,
                 tensorboard=False)
    data = images.mnist1d().subset(n_train)
    task = ClassificationTask("alexnet", cfg, data, lambda: four_layer_cnn("relu", fc=(256,), dropout=dropout),
                              lambda m: optim_for(m, 0.03), eval_train_examples=n_train)
    ev = train(task, None, verbose=False).final_eval
    return {"dropout": dropout, "seed": seed, "train_acc": ev["train_acc"], "test_acc": ev["test_acc"],
            "gap": ev["train_acc"] - ev["test_acc"]}


def measure_dropout(preset: str, seeds: list[int], workers: int) -> Measured:
    s = SETTINGS[preset]
    jobs = [dict(dropout=p, seed=seed, steps=s["dropout_steps"], n_train=s["n_train"])
            for seed in seeds for p in (0.0, 0.5)]
    runs = parallel_map(_dropout_job, jobs, workers)
    gap = {p: median([r["gap"] for r in runs if r["dropout"] == p]) for p in (0.0, 0.5)}
    test = {p: median([r["test_acc"] for r in runs if r["dropout"] == p]) for p in (0.0, 0.5)}
    ratio = gap[0.5] / gap[0.0] if gap[0.0] > 0 else float("inf")
    holds = gap[0.0] > 0 and ratio <= MAX_GAP_RATIO
    ours = (f"median train-test gap {gap[0.0]:.1%} without dropout, {gap[0.5]:.1%} with "
            f"(ratio {ratio:.2f}); test accuracy {test[0.0]:.1%} -> {test[0.5]:.1%}")

    def figure(path: Path) -> None:
        plt = pyplot()
        fig, ax = plt.subplots(figsize=(6, 4))
        for i, p in enumerate((0.0, 0.5)):
            rs = [r for r in runs if r["dropout"] == p]
            ax.bar([i - 0.2], [median([r["train_acc"] for r in rs])], 0.4, color="C0", label="train" if i == 0 else None)
            ax.bar([i + 0.2], [median([r["test_acc"] for r in rs])], 0.4, color="C1", label="test" if i == 0 else None)
        ax.set_xticks([0, 1], ["no dropout", "dropout 0.5"])
        ax.set_ylim(0.5, 1.01)
        ax.set_ylabel("accuracy (median over seeds)")
        ax.set_title(f"Dropout on {s['n_train']} MNIST-1D signals")
        ax.legend()
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)

    return Measured(holds=holds, ours=ours, figure=figure,
                    measurements={"runs": runs, "median_gap": {str(k): v for k, v in gap.items()},
                                  "gap_ratio": ratio, "n_train": s["n_train"], "steps": s["dropout_steps"]})


CLAIMS = [
    Claim("alexnet", "relu-vs-tanh", "ReLUs train faster than tanh units",
          "§3.1 Fig. 1: a 4-layer CNN reached 25% training error on CIFAR-10 six times faster with ReLU",
          "6x", f"ReLU reaches {TARGET_ERROR:.0%} training error in fewer steps than tanh in every seed and the "
          f"median speed-up is at least {MIN_SPEEDUP}x (each activation keeps its fastest lr from one grid)",
          measure_relu, budget_note="18 runs (2 activations x 3 learning rates x 3 seeds), each stopped at the "
                                    "target: about a minute on 2 cores"),
    Claim("alexnet", "dropout-gap", "Dropout narrows the train/test gap",
          "§4.2: without dropout the network overfits substantially", "overfitting without dropout",
          f"the median train-minus-test accuracy gap with dropout 0.5 is at most {MAX_GAP_RATIO} times "
          "the gap without dropout", measure_dropout,
          budget_note="6 runs of 600 steps: about 80 s on 2 cores"),
]
