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

if TYPE_CHECKING:
    from .core.checkpoint import Loaded

__version__ = "0.1.0"
__all__ = ["load", "train", "__version__"]


def train(name: str, out: str | Path, preset: str = "small", resume: bool = False, **overrides: object) -> Path:
    """Train milestone `name` into the run folder `out`, exactly as `milestones train NAME --out OUT
    --preset P --FIELD VALUE ...` does (progress, checkpoints, metrics.jsonl, curves.png), and return
    the folder. Overrides name fields as the command line does, with `_` or `.`: `depth=20`,
    `lr=1e-3`, `model={"plain": True}`. A mistake raises `milestones.errors.UserError`."""
    from .cli import cmd_train
    from .core.config import flatten, to_args

    words = [name, "--out", str(out), *(["--resume"] if resume else ["--preset", preset])]
    cmd_train(words + to_args(flatten(overrides)))
    return Path(out)


def load(path: str | Path, device: str = "cpu") -> Loaded:
    """The model of a run folder's latest finished checkpoint (or of one checkpoint folder), in
    eval mode on `device`, with its config. It unpacks as `model, config = load(path)`; the
    result also has `.checkpoint`, `.milestone`, `.step` and, for text milestones, `.tokenizer`.
    `config.model` is the model's config as built (what came from the data filled in), so no
    data is needed to rebuild it. A path that is not a finished checkpoint of this program raises
    `milestones.errors.UserError` with one line saying why."""
    import dataclasses

    import torch

    from . import registry
    from .core import checkpoint as ckpt
    from .core import config as C
    from .core.checkpoint import Loaded
    from .errors import UserError

    folder = ckpt.resolve(Path(path).expanduser())
    meta = ckpt.read_meta(folder)
    if not isinstance(meta.get("milestone"), str) or "config" not in meta or "model" not in meta:
        raise UserError(f"{folder / 'meta.json'} does not describe a run of this version of milestones "
                        "(no milestone, config or model); retrain it")
    m = registry.get(meta["milestone"])
    cfg = C.from_dict(m.config_cls, meta["config"], f"{folder / 'meta.json'} config")
    model_cfg = C.from_dict(type(cfg.model), meta["model"], f"{folder / 'meta.json'} model")
    cfg = dataclasses.replace(cfg, model=model_cfg)
    try:
        model = m.model_class(model_cfg)
    except (ValueError, TypeError) as e:
        raise UserError(f"cannot rebuild the model of {folder}: {e}") from None
    dev = torch.device(device)
    ckpt.load_weights(folder, model, dev)
    tokenizer = m.task_module.TASK.saved_tokenizer(folder)
    return Loaded(model.to(dev).eval(), cfg, folder, m.name, int(meta.get("step", 0)), tokenizer)
