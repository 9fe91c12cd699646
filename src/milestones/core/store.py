"""The run store: every claim run's record, kept as soon as the run ends, so that an interrupted
`reproduce` or `tour` continues where it stopped.

A store is a folder (`<out>/.runs/` of a reproduce or a tour) with one JSON file per run, named by
a digest of the run's command (`milestones train NAME --preset P --FIELD VALUE ...`, every setting
that is not the preset's), and `store.json`, what made it: the torch version and the source's
commit. The worker that trained a run writes its record there atomically (a temporary file,
flushed, renamed into place) the moment the run ends, not when the batch of runs it belongs to
ends; the same command with the same `--out` reads the store first and trains only what is missing.
A claim's measure then runs on the stored records, so its evidence and figure are what an
uninterrupted command gives: records are always handed to a claim as JSON gives them back, stored
or fresh.

What makes a record stale:
- a change of any setting: the command, hence the file's name, differs, so the run trains again;
- a kept model (`keep_model`: a pre-training run's model, which fine-tuning runs start from) that is
  gone from the data cache: the run trains again and keeps it anew;
- another torch version: its kernels round differently, so the numbers would not be the ones this
  machine gives. The store is refused with one line, and `--fresh` starts it over. (Refusing,
  rather than reusing with a warning, keeps every piece of evidence made by one torch.)
- another commit of the source: reused, with a warning. Most commits change no run's numbers, a
  change of settings is caught by the command already, and a 10-seed measurement that takes hours
  must survive the commits made while it runs; each record names the commit that trained it, and a
  code change that alters numbers without altering settings is what `--fresh` is for.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch

from ..errors import UserError
from .provenance import commit

Record = dict[str, Any]
HEADER = "store.json"


def jsonable(x: Any) -> Any:
    """What `json.dumps` cannot write, as it is written: tensors and numpy values as numbers/lists."""
    if hasattr(x, "tolist"):  # tensors, numpy arrays and scalars
        return x.tolist()
    if hasattr(x, "item"):
        return x.item()
    return str(x)


def as_json(record: Record) -> Record:
    """The record as it reads back from its file (tuples as lists, tensors as lists of numbers)."""
    return json.loads(json.dumps(record, default=jsonable))


def key(command: str) -> str:
    """A run's file name in the store: a digest of its command."""
    return hashlib.sha256(command.encode()).hexdigest()[:24]


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _kept_model_gone(record: Record) -> bool:
    from ..paths import expand

    folder = (record.get("probe") or {}).get("folder")
    return bool(folder) and not any((expand(folder) / "ckpt").glob("step_*/COMPLETE"))


class RunStore:
    """The records of one reproduce's or tour's runs, one file each, under `folder`."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.read = 0  # records this command took from the store
        self.trained = 0  # runs this command trained (and stored)

    @classmethod
    def open(cls, folder: Path, fresh: bool = False, warn: Any = None) -> RunStore:
        """The store in `folder`, made if missing (emptied first with `fresh`). One line (UserError)
        when it was written by another torch; `warn` gets one line when by another commit."""
        folder = Path(folder)
        if fresh and folder.exists():
            shutil.rmtree(folder)
        header = folder / HEADER
        made = {"torch": torch.__version__, "commit": commit()}
        if header.is_file():
            try:
                old = json.loads(header.read_text())
            except (OSError, ValueError):
                old = None
            if not isinstance(old, dict):
                raise UserError(f"{header} is damaged, so what trained the runs in {folder} is unknown: give "
                                "--fresh to train them again (or another --out)")
            runs = sum(1 for _ in folder.glob("*.json")) - 1
            if old.get("torch") != made["torch"]:
                raise UserError(f"{folder} holds {runs} runs trained with torch {old.get('torch')}, and this is "
                                f"torch {made['torch']}: their numbers would differ; give --fresh to train them "
                                "again (or another --out)")
            if old.get("commit") != made["commit"] and warn is not None and runs:
                warn(f"milestones: reusing {runs} stored runs of {folder} trained at commit "
                     f"{old.get('commit') or '?'} (this is {made['commit'] or '?'}); a run whose settings "
                     "changed trains again; --fresh trains them all again")
        else:
            folder.mkdir(parents=True, exist_ok=True)
            _write_atomic(header, json.dumps(made, indent=2))
        return cls(folder)

    def path(self, command: str) -> Path:
        return self.folder / f"{key(command)}.json"

    def get(self, command: str) -> Record | None:
        """The stored record of the run with this command; None if there is none, if its file is
        damaged (a run stopped mid-write leaves only a temporary file, so this is another cause),
        or if the model it kept is gone."""
        path = self.path(command)
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(record, dict) or record.get("command") != command or _kept_model_gone(record):
            return None
        return record

    def put(self, record: Record) -> Record:
        """Keep a run's record (atomically); returns it as it reads back."""
        record = as_json(record | {"made": {"torch": torch.__version__, "commit": commit()}})
        _write_atomic(self.path(record["command"]), json.dumps(record))
        return record


# ---------------------------------------------------------------------------------------------
# Kept models: a claim run's trained model, for later runs to start from.


def kept_model_folder(run: Any) -> Path:
    """Where `keep_model` leaves a claim run's model (`run`: a claims.Run): a folder in the data cache
    named by the run's milestone, seed and a hash of its command."""
    from ..paths import cache_dir

    key = hashlib.sha256(run.command().encode()).hexdigest()[:16]
    return cache_dir() / f"{run.milestone}-kept" / f"seed{run.seed}-{key}"


def keep_model(task: Any, result: Any, run: Any) -> Path:
    """Save a claim run's trained model as a checkpoint (what `milestones train --out` writes), for
    later runs to start from (`--init-from`, a pre-training run's fine-tuning runs). Written anew by
    every run, atomically: a folder left by older code is replaced."""
    from . import checkpoint as ckpt
    from .config import to_dict

    folder = kept_model_folder(run)
    work = folder.with_name(f"{folder.name}.tmp-{os.getpid()}")
    old = folder.with_name(f"{folder.name}.old-{os.getpid()}")
    shutil.rmtree(work, ignore_errors=True)
    meta = {"milestone": run.milestone, "config": to_dict(task.cfg), "model": to_dict(task.model_config()),
            "command": run.command()}
    ckpt.save(work / "ckpt", result.step, result.model, {}, meta, extra=task.save_files)
    if folder.exists():
        os.replace(folder, old)
    try:
        os.rename(work, folder)
    except OSError:  # another process saved the same run at the same moment: the same weights
        shutil.rmtree(work, ignore_errors=True)
    shutil.rmtree(old, ignore_errors=True)
    return folder
