"""Atomic checkpoints: model.safetensors + state.pt + meta.json, and resume discovery.

A checkpoint is a folder `ckpt/step_000123/`:

    model.safetensors  the weights (no pickle)
    state.pt           optimizer, schedule, step, every RNG; loaded only with weights_only=True
    meta.json          milestone, config, step, library versions
    COMPLETE           written last: a folder without it is ignored

It is written to `ckpt/.tmp-step_000123/` and renamed into place, so a crash or a kill
mid-write never leaves a half checkpoint where `--resume` would find it.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_model, save_model

from ..errors import UserError

MARKER = "COMPLETE"


@dataclass
class Loaded:
    """A trained model and what came with it: what `milestones.load` returns. It unpacks as
    `model, config = milestones.load(path)`; `config.model` is the model's config as built (with
    what came from the data filled in)."""

    model: torch.nn.Module
    config: Any
    checkpoint: Path
    milestone: str
    step: int
    tokenizer: Any = None  # the run's tokenizer, for text milestones

    def __iter__(self):
        yield self.model
        yield self.config


def rng_state() -> dict[str, Any]:
    """Every random generator the training loop touches, in a weights_only-loadable form."""
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {"keys": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "gauss": float(np_state[4])},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(_as_tuple(state["python"]))
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["gauss"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _as_tuple(x: Any) -> Any:
    return tuple(_as_tuple(v) for v in x) if isinstance(x, (list, tuple)) else x


def versions() -> dict[str, str]:
    import safetensors

    from .. import __version__

    return {"milestones": __version__, "torch": torch.__version__, "python": sys.version.split()[0],
            "safetensors": safetensors.__version__, "numpy": np.__version__}


def save(ckpt_root: Path, step: int, model: torch.nn.Module, state: dict[str, Any],
         meta: dict[str, Any], keep: int = 2, extra: Callable[[Path], None] | None = None) -> Path:
    """Write one checkpoint atomically and keep only the newest `keep`. `extra(folder)` may add
    files (a task's large state) before the completion marker is written."""
    ckpt_root.mkdir(parents=True, exist_ok=True)
    name = f"step_{step:07d}"
    final = ckpt_root / name
    tmp = ckpt_root / f".tmp-{name}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    save_model(model, str(tmp / "model.safetensors"))
    torch.save(state, tmp / "state.pt")
    (tmp / "meta.json").write_text(json.dumps({**meta, "step": step, "versions": versions()},
                                              indent=2, default=str))
    if extra is not None:
        extra(tmp)
    with open(tmp / MARKER, "w") as f:
        f.write(str(step))
        f.flush()
        os.fsync(f.fileno())
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    for old in complete_checkpoints(ckpt_root)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def complete_checkpoints(ckpt_root: Path) -> list[Path]:
    """Finished checkpoints, oldest first."""
    if not ckpt_root.is_dir():
        return []
    found = [p for p in ckpt_root.iterdir() if p.is_dir() and p.name.startswith("step_")
             and (p / MARKER).exists()]
    return sorted(found, key=lambda p: p.name)


def latest(ckpt_root: Path) -> Path | None:
    found = complete_checkpoints(ckpt_root)
    return found[-1] if found else None


def resolve(path: Path) -> Path:
    """A run folder, its ckpt/ folder or one checkpoint folder -> the checkpoint to load."""
    if not path.exists():
        raise UserError(f"checkpoint path {path} does not exist")
    if (path / MARKER).exists():
        return path
    for root in (path / "ckpt", path):
        found = latest(root)
        if found is not None:
            return found
    unfinished = [p for root in (path / "ckpt", path) if root.is_dir()
                  for p in root.iterdir() if p.name.startswith(("step_", ".tmp-"))]
    if (path / "model.safetensors").exists() or unfinished:
        raise UserError(f"{path} holds an unfinished checkpoint (no {MARKER} marker); "
                        "it was interrupted while writing and cannot be resumed")
    raise UserError(f"no finished checkpoint under {path}")


def read_meta(ckpt: Path, milestone: str | None = None) -> dict[str, Any]:
    try:
        meta = json.loads((ckpt / "meta.json").read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise UserError(f"checkpoint {ckpt} has no readable meta.json ({e.__class__.__name__})") from None
    if milestone is not None and meta.get("milestone") != milestone:
        raise UserError(f"checkpoint {ckpt} belongs to milestone {meta.get('milestone')!r}, "
                        f"not {milestone!r}")
    return meta


def load_weights(ckpt: Path, model: torch.nn.Module, device: torch.device | str = "cpu") -> None:
    try:
        missing, unexpected = load_model(model, str(ckpt / "model.safetensors"), strict=False,
                                         device=str(device))
    except (SafetensorError, OSError, RuntimeError, ValueError) as e:
        raise UserError(f"cannot read weights in {ckpt}: {str(e).splitlines()[0]}") from None
    if missing or unexpected:
        raise UserError(f"weights in {ckpt} do not fit this model "
                        f"({len(missing)} missing, {len(unexpected)} unexpected tensors); "
                        "was it trained with another config?")


def load_state(ckpt: Path) -> dict[str, Any]:
    try:
        return torch.load(ckpt / "state.pt", map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any failure here means a damaged file
        raise UserError(f"cannot read {ckpt / 'state.pt'}: {str(e).splitlines()[0][:200]}") from None
