# %% [markdown]
# # Your first hour with `milestones`: the degradation problem, in your own runs
#
# He et al. (2015) found that a deeper *plain* network trains worse than a shallower one, and that
# residual connections reverse it. Here you train the two 32-layer nets yourself (on MNIST-1D, with
# the settings of the ResNet claim), watch their curves, load one back and look at what it predicts.
# About 15 seconds on a laptop CPU.
#
# This notebook is in the percent format: VS Code, PyCharm and Jupyter (with jupytext) open its
# `# %%` cells as notebook cells, and `python docs/notebooks/first_hour.py` runs it top to bottom;
# `first_hour.ipynb` beside it holds the same cells for Jupyter and Colab (the tests run both, so
# neither can rot). Figures go to `runs/first-hour/`.

# %%
import json
import os
from pathlib import Path

import matplotlib

if "ipykernel" not in os.environ.get("MPLBACKEND", "") and not os.environ.get("JPY_PARENT_PID"):
    matplotlib.use("Agg")  # a plain script saves its figures; a notebook shows them inline
import matplotlib.pyplot as plt
import torch

import milestones

PRESET = os.environ.get("FIRST_HOUR_PRESET", "small")  # the tests run it at "tiny", for 30 steps
STEPS = 30 if PRESET == "tiny" else 300
OUT = Path(os.environ.get("FIRST_HOUR_OUT", "runs/first-hour"))
OUT.mkdir(parents=True, exist_ok=True)

# %% [markdown]
# ## 1. Train a plain and a residual 32-layer net
#
# `milestones.train` is `milestones train` from Python: the same presets, the same options
# (`depth=32`, `plain=True`), a run folder with checkpoints, `metrics.jsonl` and `curves.png`.
# A run folder that already holds a finished run is reused, so running the cell again is instant.
# The settings are the claim's: 16 maps per stage, SGD with momentum at a constant 0.05.

# %%
SETTINGS = dict(dataset="mnist1d", widths=(16, 16, 16), steps=STEPS, eval_every=STEPS // 3, lr=0.05,
                nesterov=False, schedule="constant", warmup_steps=0, tensorboard=False)
runs = {}
for name, plain in (("plain-32", True), ("resnet-32", False)):
    folder = OUT / name
    if not (folder / "curves.png").exists():
        milestones.train("resnet", folder, preset=PRESET, depth=32, plain=plain, **SETTINGS)
    runs[name] = folder

# %% [markdown]
# ## 2. Their curves, from `metrics.jsonl`
#
# Each line of `metrics.jsonl` is one logged step: `split` is `train` (every `--log-every` steps) or
# `eval` (every `--eval-every`, and at the end). `milestones plot runs/first-hour/plain-32
# runs/first-hour/resnet-32` draws the same from the shell.

# %%
fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 3.8))
for name, folder in runs.items():
    rows = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in rows if r["split"] == "train"]
    evals = [r for r in rows if r["split"] == "eval"]
    ax.plot([r["step"] for r in train], [r["loss"] for r in train], label=name)
    bx.plot([r["step"] for r in evals], [r["test_acc"] for r in evals], "o-", label=name)
ax.set(xlabel="step", ylabel="training loss", title="The plain 32-layer net trains worse")
bx.set(xlabel="step", ylabel="test accuracy", title="...and the shortcut fixes it")
ax.legend()
bx.legend()
fig.tight_layout()
fig.savefig(OUT / "curves.png", dpi=100)

# %% [markdown]
# ## 3. Load a run back and use it
#
# `milestones.load` rebuilds the model from the checkpoint alone (its config is saved in it) and
# returns it in eval mode. The data comes from the same loader training used.

# %%
model, config = milestones.load(runs["resnet-32"])
print(f"{config.model.depth} layers, {'plain' if config.model.plain else 'residual'}, "
      f"{sum(p.numel() for p in model.parameters()):,} parameters")

from milestones.data import images  # noqa: E402  (the loaders a run's config names)

data = images.load(config.dataset, config.data, config.image_size)
x, y = data.all("test")
with torch.no_grad():
    predicted = model(x).argmax(1)
print(f"test accuracy {(predicted == y).float().mean():.1%} on {len(y):,} {data.name} examples")

# %%
fig, axes = plt.subplots(2, 6, figsize=(12, 3.6))
for i, ax in enumerate(axes.flat):
    signal = data.x_test[i]
    if signal.dim() == 2:  # MNIST-1D: a signal
        ax.plot(signal[0].float())
    else:  # an image
        ax.imshow(signal.float().permute(1, 2, 0).squeeze(-1), cmap="gray")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"{int(predicted[i])} (true {int(y[i])})", color="green" if predicted[i] == y[i] else "red")
fig.suptitle("What the residual net predicts on test examples")
fig.tight_layout()
fig.savefig(OUT / "predictions.png", dpi=100)

# %% [markdown]
# ## Where next
#
# - `milestones reproduce resnet` measures the claim on three seeds against a rule fixed in advance.
# - `milestones info resnet` lists every option; try `depth=56`, or `lr=0.01`.
# - `docs/tour/index.html` is every milestone's claims, measured.
