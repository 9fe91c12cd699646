"""A run's life, for the `train` verb and `milestones.train` alike: where a new run goes, starting it,
resuming it (which fields may change, and the config's history of changes), the lock that lets one
process train a run folder, the end of a run (curves.png and what to try next), and loading a
trained run back.

It sits above the registry (it finds a milestone by name) and below the CLI and the Python API,
which both call it: the CLI parses, this module decides, the trainer (core/trainer.py) trains, and
core/checkpoint.py reads and writes the files. What resume means is said here (which fields may
change, which step it picks up at, a run with no finished checkpoint starting again); the trainer
only applies it to the restored state (a changed learning rate becomes the schedule's base rate).
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import shutil
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import registry
from .core import config as C
from .errors import UserError
from .paths import runs_root

if TYPE_CHECKING:
    from .core.checkpoint import Loaded
    from .core.trainer import Result


def train(m: Any, out: Path | None, preset: str | None, resume: bool, given: dict[str, Any],
          config_file: Path | None = None) -> tuple[Result, Any]:
    """Start (or with `resume`, continue) a run of milestone `m` in `out` (a new folder under runs/
    when None), with the config fields `given` (parsed values, by path or short name) over the
    preset's (or, resumed, over the run's own), train it to its end, and draw its curves. Returns
    the trainer's result and the task. Every check comes before anything is written. Resumed, the
    command that started the run is accepted again: its preset, and any field at the value the run
    has; another preset, or a changed field that cannot change mid-run, is one line. The fields of
    `config_file` (`file_overrides`) come first, `given` on top: a new run starts from them, and a
    resumed run takes them as it takes options."""
    from .core import checkpoint as ckpt
    from .core.trainer import train as train_task

    from_file: dict[str, Any] = {}
    if config_file is not None:
        from_file, preset = file_overrides(m, config_file, preset)
    given = {**from_file, **C.resolve(m.config_cls, given)}  # by path; the options over the file
    if resume:
        run_dir = out if out is not None else latest_run(m.name)
        saved, saved_cfg = saved_run(m, run_dir, "cannot resume: ")
        if preset is not None and preset != saved.get("preset"):
            raise UserError(f"--preset {preset} differs from the run's own ({saved.get('preset')}): a resumed run "
                            "keeps its config (change a field with --FIELD VALUE, or start a new run with --out)")
        cfg, changed = resumed_config(m, saved_cfg, given)
        finished = ckpt.latest(run_dir / "ckpt")
        history = list(saved.get("history", []))
        if changed:
            history.append({"step": ckpt.step_of(finished) if finished else 0,
                            "changed": {k: [C.format_value(a), C.format_value(b)] for k, (a, b) in changed.items()}})
        if finished is None:  # killed while writing its first checkpoint: nothing to lose
            print(f"milestones: {run_dir} has no finished checkpoint (it was stopped before its first was "
                  "written): starting it again from step 0", file=sys.stderr)
            resume = False
        task = m.make_task(cfg, resume_from=finished)  # loads and checks the data before anything is written
        lock = RunLock(run_dir)  # before anything in the folder changes: one process trains a run
        if not resume:
            clear_run(run_dir)
        meta = {"preset": saved.get("preset"), "history": history}
    else:
        preset = preset or "small"
        cfg = m.config(preset, given)
        run_dir = out if out is not None else default_out(m.name)
        check_out(run_dir)
        if ckpt.latest(run_dir / "ckpt") is not None:
            raise UserError(f"{run_dir} already holds a run; use --resume to continue it or choose another --out")
        task = m.make_task(cfg)  # loads and checks the data before anything is written
        lock = RunLock(run_dir)
        if (run_dir / "config.json").exists():
            print(f"milestones: {run_dir} holds a run with no finished checkpoint: starting it again",
                  file=sys.stderr)
            clear_run(run_dir)
        meta = {"preset": preset, "history": []}
    with lock:
        result = train_task(task, run_dir, resume=resume, meta=meta)
    if result.run_dir is not None and is_rank0():
        shown = ", ".join(f"{k} {v:.4g}" for k, v in result.final_eval.items())
        print(f"{m.name}: step {result.step}, {shown}")
        print(f"run folder: {result.run_dir}  (checkpoint {result.checkpoint})")
        after_training(m, result.run_dir, type(task).watch, task.progress(result.step)[2])
    return result, task


def file_overrides(m: Any, path: Path, preset: str | None) -> tuple[dict[str, Any], str | None]:
    """The fields a config file sets, by path, and the preset to start from: a run's own config.json
    (every field; its preset unless `preset` is given) or a file a user wrote, JSON or TOML, of
    fields nested (`{"model": {"depth": 20}}`) or dotted (`"model.depth" = 20`), by any name the
    command line takes. What comes from the data or is computed is left out of a run's file and
    refused in a user's; every value is checked as an option's is. One line when it cannot be used."""
    import json

    where = f"--config {path}"
    try:
        text = path.expanduser().read_text()
    except FileNotFoundError:
        raise UserError(f"{where}: no such file") from None
    except (IsADirectoryError, UnicodeDecodeError):
        raise UserError(f"{where}: not a text file (a config.json, or a .toml)") from None
    try:
        if path.suffix == ".toml":
            import tomllib

            data: Any = tomllib.loads(text)
        else:
            data = json.loads(text)
    except ValueError as e:  # json's and tomllib's decode errors
        raise UserError(f"{where}: not {'TOML' if path.suffix == '.toml' else 'JSON'} ({str(e).splitlines()[0]})") \
            from None
    if not isinstance(data, dict):
        raise UserError(f"{where}: not a mapping of config fields")
    cls = m.config_cls
    skip: set[str] = set()
    if "milestone" in data and isinstance(data.get("config"), dict):  # a run's own config.json
        if data["milestone"] != m.name:
            raise UserError(f"{where} is a run of {data['milestone']!r}, not {m.name!r}")
        preset = preset or data.get("preset")
        data = data["config"]
        skip = set(C.derived_of(cls)) | {f.path for f in C.fields_of(cls) if f.from_data}
    out: dict[str, Any] = {}
    try:
        for name, value in C.flatten(data).items():
            if name not in skip:  # resolve: the name (unknown, computed, from the data: refused) and the value
                out.update(C.resolve(cls, {name: tuple(value) if isinstance(value, list) else value}))
    except UserError as e:
        raise UserError(f"{where}: {e}") from None
    return out, preset


def train_named(name: str, out: str | Path, preset: str = "small", resume: bool = False,
                overrides: Mapping[str, Any] | None = None, config: str | Path | None = None) -> Path:
    """`train` for the Python API: the milestone by name, the overrides as Python values (`depth=20`,
    `model={"plain": True}`), checked as the command line checks them."""
    m = registry.get(name)
    registry.require_built(m)
    parser = C.ArgumentParser(prog=f"milestones.train({m.name!r})")
    C.add_options(parser, m.config_cls)
    given = C.parse_options(parser, C.to_args(C.flatten(dict(overrides or {}))), m.config_cls)
    train(m, Path(out), None if resume else preset, resume, given, Path(config) if config else None)
    return Path(out)


def after_training(m: Any, run_dir: Path, watch: tuple[str, ...], unit: str) -> None:
    """curves.png, and the commands to try next."""
    from .core import curves

    try:
        path = curves.draw([(run_dir.name, curves.read_metrics(run_dir))], watch, run_dir / "curves.png",
                           f"{m.name}: {run_dir}")
        print(f"curves: {path}")
    except (UserError, OSError) as e:  # a picture is never worth failing a finished run
        print(f"milestones: no curves.png ({e})", file=sys.stderr)
    run = shlex.quote(str(run_dir))
    steps = [f"milestones evaluate {m.name} --run {run}"]
    if m.sample_module is not None and getattr(m.sample_module, "applies", lambda _: True)(run_dir):
        steps.append(f"milestones sample {m.name} --run {run}")
    steps.append(f"milestones plot {run} OTHER_RUN ...        (overlay runs' curves)")
    if (run_dir / "tb").is_dir():
        steps.append(f"tensorboard --logdir {run}/tb")
    length, what = ("--env-steps", "environment steps") if unit == "env_steps" else ("--steps", "steps")
    steps.append(f"milestones train {m.name} --out {run} --resume {length} N   (train on, to N {what})")
    print("next:\n" + "\n".join(f"  {c}" for c in steps))


def resumed_config(m: Any, saved: Any, given: dict[str, Any]) -> tuple[Any, dict[str, tuple[Any, Any]]]:
    """The saved config with the overrides a resumed run may take (the learning rate and the other
    optimizer settings, the length of the run, the cadences, ...: the fields marked Resumable);
    another field that would change is refused."""
    cls = m.config_cls
    changes = C.resolve(cls, given)
    changed = {k: (C.get(saved, k), v) for k, v in changes.items() if C.get(saved, k) != v}
    fixed = [k for k in changed if not C.field(cls, k).resumable]
    if fixed:
        k = fixed[0]
        raise UserError(f"--{k.replace('_', '-')} cannot change when a run is resumed (it is "
                        f"{C.format_value(changed[k][0])}); start a new run with --out to change it")
    return C.validate(C.apply(saved, changes)), changed


def check_out(run_dir: Path) -> None:
    """--out must be a folder this process can create and write, outside any other run."""
    if run_dir.exists() and not run_dir.is_dir():
        raise UserError(f"--out {run_dir} is a file; give a folder for the run")
    base = run_dir
    while not base.exists():
        base = base.parent
    if not base.is_dir():
        raise UserError(f"--out {run_dir}: {base} is a file, so no folder can be made under it")
    if not os.access(base, os.W_OK | os.X_OK):
        raise UserError(f"--out {run_dir}: {base} is not writable")
    for above in run_dir.resolve().parents:
        if (above / "config.json").is_file() and (above / "metrics.jsonl").exists():
            raise UserError(f"--out {run_dir} lies inside the run {above}; give a folder outside it")


def clear_run(run_dir: Path) -> None:
    """What a run that never finished a checkpoint left: start it again from nothing."""
    shutil.rmtree(run_dir / "ckpt", ignore_errors=True)
    shutil.rmtree(run_dir / "tb", ignore_errors=True)
    for name in ("metrics.jsonl", "config.json"):
        (run_dir / name).unlink(missing_ok=True)


def saved_run(m: Any, run_dir: Path, prefix: str = "") -> tuple[dict[str, Any], Any]:
    """The config.json of a run folder of milestone `m`, checked for shape, and its config."""
    from .core.checkpoint import read_json

    cfg_file = run_dir / "config.json"
    try:
        saved = read_json(cfg_file, f"{run_dir} has no config.json (is it a run folder?)")
    except UserError as e:
        raise UserError(f"{prefix}{e}") from None
    if not isinstance(saved, dict) or not isinstance(saved.get("config"), dict):
        raise UserError(f"{prefix}{cfg_file} is not a run's config (no 'config' mapping)")
    if saved.get("milestone") != m.name:
        raise UserError(f"{run_dir} is a run of {saved.get('milestone')!r}, not {m.name!r}")
    try:
        return saved, C.validate(C.from_dict(m.config_cls, saved["config"], str(cfg_file)))
    except UserError as e:
        raise UserError(f"{prefix}{cfg_file}: {e}") from None


def is_rank0() -> bool:
    return os.environ.get("RANK", "0") == "0"


class RunLock:
    """`run_dir/.lock`, holding the process id of the one command training the run (rank 0's): a
    second `train` into the same folder is refused in one line instead of writing over the first's
    files. Taken when made, released when the training ends, however it ends; a lock whose process
    is gone (killed outright) is taken over."""

    def __init__(self, run_dir: Path):
        self.path = run_dir / ".lock"
        if not is_rank0():
            return
        run_dir.mkdir(parents=True, exist_ok=True)
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                try:
                    pid = int(self.path.read_text().strip() or 0)
                except (OSError, ValueError):
                    pid = 0
                if pid and _alive(pid):
                    raise UserError(f"{run_dir} is being trained by process {pid}; wait for it to end, or give "
                                    f"another --out (if no such process trains it, delete {self.path})") from None
                self.path.unlink(missing_ok=True)
                continue
            with os.fdopen(fd, "w") as f:
                f.write(str(os.getpid()))
            return

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc: object) -> None:
        if is_rank0():
            self.path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    """Whether process `pid` exists (on Windows, where signal 0 is not a probe, assumed so)."""
    if os.name == "nt":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def default_out(name: str) -> Path:
    """A new run's folder when --out is not given: runs/NAME/TIME, or runs/NAME-TIME when runs/NAME
    is itself a run (a run is never written inside another)."""
    root, stamp = runs_root() / name, time.strftime("%Y%m%d-%H%M%S")
    base = runs_root() / f"{name}-{stamp}" if (root / "config.json").exists() else root / stamp
    path, n = base, 1
    while path.exists():  # two runs started within the same second
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def latest_run(name: str) -> Path:
    """The run of `name` written last among runs/NAME itself, the runs in it and runs/NAME-*."""
    root = runs_root() / name
    places = [root, *(root.iterdir() if root.is_dir() else []),
              *(runs_root().glob(f"{name}-*") if runs_root().is_dir() else [])]
    runs = sorted([p for p in places if (p / "config.json").exists()],
                  key=lambda p: (p / "config.json").stat().st_mtime)
    if not runs:
        raise UserError(f"no run of {name} to resume under {runs_root()} ({name}, {name}/*, {name}-*); give --out DIR")
    return runs[-1]


def load(path: str | Path, device: str = "cpu") -> Loaded:
    """The model of a run folder's latest finished checkpoint (or of one checkpoint folder), in
    eval mode on `device`, with its config (`milestones.load`'s documentation says the rest)."""
    import torch

    from .core import checkpoint as ckpt
    from .core.checkpoint import Loaded

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
    tokenizer = m.saved_tokenizer(folder)
    return Loaded(model.to(dev).eval(), cfg, folder, m.name, int(meta.get("step", 0)), tokenizer)
