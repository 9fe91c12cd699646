"""Atomic checkpoints: model.safetensors + state.pt + meta.json, and resume discovery.

A checkpoint is a folder `ckpt/step_000123/`:

    model.safetensors  the weights (no pickle)
    state.pt           optimizer, schedule, step, every RNG; loaded only with weights_only=True
    sharded/           instead of model.safetensors and the optimizer's state, under `--parallel
                       fsdp`: each rank's shards of both, written by torch.distributed.checkpoint
                       (DCP), which reads them back on this or another number of
                       ranks, or gathered whole in one process (`milestones.load`,
                       `export`, `--init-from`)
    meta.json          milestone, config, step, library versions
    COMPLETE           written last: a folder without it is ignored

It is written to `ckpt/.tmp-step_000123/`, every file and the folder flushed to the disk
(fsync), and renamed into place, the parent folder flushed too: a crash, a kill or a power loss
mid-write never leaves a half checkpoint where `--resume` would find it, and a COMPLETE marker
never survives without its data. Leftovers of an interrupted write are removed when a run starts.
"""

from __future__ import annotations

import errno
import json
import os
import pickle
import random
import shutil
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_model, save_model

from ..errors import UserError
from .config import from_dict

MARKER = "COMPLETE"
SHARDED = "sharded"  # a checkpoint's folder of DCP shards (FSDP)


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

    from ..version import __version__

    return {"milestones": __version__, "torch": torch.__version__, "python": sys.version.split()[0],
            "safetensors": safetensors.__version__, "numpy": np.__version__}


def fsync(path: Path) -> None:
    """Flush a file or a folder (its entries) to the disk. A folder is flushed wherever the OS allows
    it: Windows refuses to open one (PermissionError), and some file systems refuse to flush one
    (EINVAL); there the rename that published it is as durable as that system makes it, and the
    files inside were flushed one by one. A file that cannot be flushed is an error."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except PermissionError:
        if path.is_dir():
            return
        raise
    try:
        os.fsync(fd)
    except OSError as e:
        if not (path.is_dir() and e.errno in (errno.EINVAL, errno.EBADF, errno.EACCES, errno.EPERM)):
            raise
    finally:
        os.close(fd)


def read_json(path: Path, missing: str) -> Any:
    """A JSON file's content; one line (`missing` when there is no such file) when it cannot be."""
    if not path.is_file():
        raise UserError(missing)
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise UserError(f"{path} is damaged (not JSON)") from None


def is_reference_folder(path: Path) -> bool:
    """A reference library's model folder (config.json, no checkpoints of ours), not a run of ours."""
    return (path / "config.json").is_file() and not (path / "ckpt").exists() and not (path / "meta.json").exists()


def read_reference_config(folder: Path, model_type: str, name: str) -> dict[str, Any]:
    """A Hugging Face folder's config.json, which must describe a `model_type` model, or one line."""
    hf = read_json(folder / "config.json", f"{folder} has no config.json (a Hugging Face model folder has one)")
    if not isinstance(hf, dict) or hf.get("model_type") != model_type:
        kind = hf.get("model_type") if isinstance(hf, dict) else None
        raise UserError(f"{folder} holds a {kind!r} model, not {name} (model_type {model_type!r})")
    return hf


def read_run_weights(path: Path, milestone: str) -> tuple[Path, dict[str, Any], dict[str, torch.Tensor]]:
    """(checkpoint folder, meta, weights) of a run of `milestone` (its folder or one checkpoint),
    or one line saying why not: what `--init-from` reads from a run of ours."""
    from safetensors.torch import load_file

    folder = resolve(path)
    meta = read_meta(folder, milestone)
    if is_sharded(folder):
        return folder, meta, read_sharded(folder)
    try:
        return folder, meta, load_file(str(folder / "model.safetensors"))
    except (SafetensorError, OSError) as e:
        raise UserError(f"{folder / 'model.safetensors'} is damaged: {str(e).splitlines()[0][:120]}") from None


def read_reference_weights(folder: Path) -> dict[str, torch.Tensor]:
    """The tensors of a reference library's model folder (`model.safetensors`; pickles are never
    read), or one line saying why not."""
    from safetensors.torch import load_file

    weights = folder / "model.safetensors"
    if not weights.is_file():
        other = [p.name for p in folder.glob("*.bin")]
        hint = f" ({', '.join(other)} is a pickle, which this program does not read)" if other else ""
        raise UserError(f"{folder} has no model.safetensors{hint}")
    try:
        return load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as e:
        raise UserError(f"{weights} is damaged or truncated: {str(e).splitlines()[0][:120]}") from None


def write_json(path: Path, obj: Any) -> None:
    """Write a JSON file atomically (a temporary file, flushed, renamed into place)."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w") as f:
        f.write(json.dumps(obj, indent=2, default=str))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync(path.parent)


def save(ckpt_root: Path, step: int, model: torch.nn.Module | None, state: dict[str, Any],
         meta: dict[str, Any], keep: int = 2, extra: Callable[[Path], None] | None = None,
         protect: Path | None = None) -> Path:
    """Write one checkpoint atomically and durably, and keep only the newest `keep` (and `protect`,
    the last one known good). `extra(folder)` may add files (a task's tokenizer, DQN's replay
    buffer, FSDP's shards) before the completion marker; `model` None writes no model.safetensors
    (the shards hold the weights)."""
    ckpt_root.mkdir(parents=True, exist_ok=True)
    name = f"step_{step:07d}"
    final = ckpt_root / name
    tmp = ckpt_root / f".tmp-{name}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    if model is not None:
        save_model(model, str(tmp / "model.safetensors"))
    torch.save(state, tmp / "state.pt")
    (tmp / "meta.json").write_text(json.dumps({**meta, "step": step, "versions": versions()},
                                              indent=2, default=str))
    if extra is not None:
        extra(tmp)
    for f in [*tmp.iterdir(), *((tmp / SHARDED).iterdir() if (tmp / SHARDED).is_dir() else ())]:
        fsync(f)  # every file on the disk before the marker says they are there
    with open(tmp / MARKER, "w") as f:
        f.write(str(step))
        f.flush()
        os.fsync(f.fileno())
    fsync(tmp)
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    fsync(ckpt_root)
    for old in complete_checkpoints(ckpt_root)[:-keep]:
        if protect is None or old.name != protect.name:
            shutil.rmtree(old, ignore_errors=True)
    return final


def step_of(checkpoint: Path) -> int:
    return int(checkpoint.name.removeprefix("step_"))


def remove_unfinished(ckpt_root: Path) -> list[Path]:
    """Delete what an interrupted write left (temporary folders, folders without the marker)."""
    if not ckpt_root.is_dir():
        return []
    gone = [p for p in ckpt_root.iterdir()  # .tmp-step_N, and .tmp-shards-step_N (FSDP's shards being written)
            if p.is_dir() and (p.name.startswith(".tmp-") or p.name.startswith("step_") and not (p / MARKER).exists())]
    for p in gone:
        shutil.rmtree(p, ignore_errors=True)
    return gone


def quarantine(checkpoint: Path) -> Path:
    """Move a checkpoint whose weights gave a NaN loss out of --resume's way: ckpt/poisoned-step_N."""
    dest = checkpoint.with_name(f"poisoned-{checkpoint.name}")
    if dest.exists():
        shutil.rmtree(dest)
    os.replace(checkpoint, dest)
    fsync(checkpoint.parent)
    return dest


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
    if (path / "model.safetensors").exists() or (path / SHARDED).exists() or unfinished:
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


def read_model_config(folder: Path, meta: dict[str, Any], cls: type) -> Any:
    """The model's config (as built: what came from the data filled in) that a checkpoint's meta.json
    records, as a `cls`; one line naming the file if it does not fit."""
    return from_dict(cls, meta.get("model", {}), f"{folder / 'meta.json'} model")


def is_sharded(ckpt: Path) -> bool:
    """Whether a checkpoint holds FSDP's shards (DCP) rather than model.safetensors."""
    return (ckpt / SHARDED).is_dir()


def read_sharded(ckpt: Path, part: str = "model") -> dict[str, torch.Tensor]:
    """One part ("model") of a sharded checkpoint, gathered whole in this process: every tensor at
    its full shape, whatever number of ranks wrote it."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.api import CheckpointException  # a BaseException: caught by name
    from torch.distributed.checkpoint.metadata import TensorStorageMetadata

    folder = str(ckpt / SHARDED)
    try:
        metadata = dcp.FileSystemReader(folder).read_metadata()
        full = {key.removeprefix(part + "."): torch.empty(m.size, dtype=m.properties.dtype)
                for key, m in metadata.state_dict_metadata.items()
                if key.startswith(part + ".") and isinstance(m, TensorStorageMetadata)}
        with warnings.catch_warnings():  # DCP warns that it runs without a process group: intended here
            warnings.simplefilter("ignore")
            dcp.load({part: full}, checkpoint_id=folder)
    except (Exception, CheckpointException) as e:  # noqa: BLE001 - a damaged or partial folder of shards
        raise UserError(f"cannot read the shards in {ckpt / SHARDED}: {shard_error(e)}") from None
    return full


def shard_error(e: BaseException) -> str:
    """What went wrong reading shards, in words: DCP wraps each rank's error in its own exception."""
    failures = getattr(e, "failures", None)
    if isinstance(failures, dict) and failures:
        err = next(iter(failures.values()))
        if isinstance(err, tuple):  # (exception, traceback) in some versions
            err = err[0]
        said = str(err).splitlines()[0][:120] if str(err) else ""
        return f"a file of them is damaged or truncated ({type(err).__name__}{': ' + said if said else ''})"
    return str(e).splitlines()[0][:160] if str(e) else type(e).__name__


def load_weights(ckpt: Path, model: torch.nn.Module, device: torch.device | str = "cpu") -> None:
    if is_sharded(ckpt):
        weights = read_sharded(ckpt)
        mine = model.state_dict()
        if set(weights) != set(mine) or any(weights[k].shape != mine[k].shape for k in mine):
            raise UserError(f"weights in {ckpt} do not fit this model; was it trained with another config?")
        model.load_state_dict(weights)
        model.to(device)
        return
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
    path = ckpt / "state.pt"
    try:
        with warnings.catch_warnings():  # torch warns about foreign pickle protocols before refusing them
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        # weights_only refused a Python object: no checkpoint of ours holds one
        raise UserError(f"{path} is not a checkpoint this program wrote: it holds Python objects, "
                        "which are never loaded (refused)") from None
    except Exception as e:  # noqa: BLE001 - any other failure here means a damaged file
        raise UserError(f"cannot read {path}: {str(e).splitlines()[0][:200]}") from None
    if not isinstance(state, dict) or not {"step", "optimizer", "rng"} <= set(state):
        raise UserError(f"{path} is not a checkpoint this program wrote (it lacks the step, optimizer or RNG state)")
    return state
