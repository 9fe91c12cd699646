"""milestones: the history of deep learning, 2012-2020, as ten runnable, verified programs.

From Python, training and a trained run are one call each:

    import milestones
    run = milestones.train("resnet", "runs/r20", depth=20)             # what `milestones train` does
    model, config = milestones.load(run)                               # a run folder or a checkpoint
    logits = model(x)                                                  # eval mode, on the device asked for
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .version import __version__

if TYPE_CHECKING:
    from .core.checkpoint import Loaded

__all__ = ["load", "train", "__version__"]


def train(name: str, out: str | Path, preset: str = "small", resume: bool = False, config: str | Path | None = None,
          **overrides: object) -> Path:
    """Train milestone `name` into the run folder `out`, exactly as `milestones train NAME --out OUT
    --preset P [--config FILE] --FIELD VALUE ...` does (progress, checkpoints, metrics.jsonl,
    curves.png), and return the folder. Overrides name fields as the command line does, with `_` or
    `.`: `depth=20`, `lr=1e-3`, `model={"plain": True}`; `config` is a run's config.json or a JSON or
    TOML file of fields, under the overrides. A mistake raises `milestones.errors.UserError`."""
    from .runs import train_named

    return train_named(name, out, preset, resume, overrides, config)


def load(path: str | Path, device: str = "cpu") -> Loaded:
    """The model of a run folder's latest finished checkpoint (or of one checkpoint folder), in
    eval mode on `device`, with its config. It unpacks as `model, config = load(path)`; the
    result also has `.checkpoint`, `.milestone`, `.step` and, for text milestones, `.tokenizer`.
    `config.model` is the model's config as built (what came from the data filled in), so no
    data is needed to rebuild it. A path that is not a finished checkpoint of this program raises
    `milestones.errors.UserError` with one line saying why."""
    from .runs import load as load_run

    return load_run(path, device)
