"""THE training loop, shared by every milestone.

A milestone supplies a `Task` (model, optimizer, batches, loss, evaluation); this loop owns
everything else: device, seeding, bf16 autocast on CUDA, gradient accumulation and clipping,
the warm-up + cosine (step, inverse-sqrt) schedule, eval cadence, checkpoints and `--resume`,
SIGTERM/SIGINT (save, then exit), the non-finite-loss guard, DDP and logging.

A task with several optimizers (GAN: the discriminator's and the generator's) returns them as
a dict from `build_optimizer`; one training step then runs a phase per optimizer, in the dict's
order, each on the same micro-batches: the task's `loss(model, batch, phase)` for that phase,
backward, clipping over that optimizer's parameters, its step, and every gradient cleared.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from . import checkpoint as ckpt
from . import distributed
from .config import TrainConfig, UserError, to_dict
from .logging import RunLogger
from .task import Task


class NonFiniteLoss(RuntimeError):
    """The loss became NaN or infinite; training stopped before the optimizer step."""


class Interrupted(RuntimeError):
    """SIGTERM or SIGINT arrived; a checkpoint was written and training stopped."""

    def __init__(self, signum: int, path: Path | None):
        self.signum, self.path = signum, path
        name = signal.Signals(signum).name
        super().__init__(f"{name} received: checkpoint saved to {path}" if path
                         else f"{name} received: stopped (this run writes no checkpoints)")


@dataclass
class Result:
    model: nn.Module
    history: list[dict[str, Any]]
    final_eval: dict[str, float]
    run_dir: Path | None
    step: int
    seconds: float
    checkpoint: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def series(self, key: str, split: str = "train") -> tuple[list[int], list[float]]:
        rows = [r for r in self.history if r["split"] == split and key in r]
        return [r["step"] for r in rows], [r[key] for r in rows]


def pick_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda was asked for but no CUDA GPU is available")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise UserError("--device mps was asked for but MPS is not available")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def lr_factor(cfg: TrainConfig, step: int) -> float:
    """Multiplier on the peak learning rate at `step` (0-based): linear warm-up, then the schedule."""
    if cfg.warmup_steps and step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    if cfg.schedule == "constant":
        return 1.0
    if cfg.schedule == "inverse_sqrt":  # Vaswani et al. 2017 eq. 3, scaled so that its peak is 1
        return math.sqrt(max(1, cfg.warmup_steps) / (step + 1))
    progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    if cfg.schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
    return 0.1 ** (int(progress >= 0.5) + int(progress >= 0.75))  # "step": /10 at 50% and 75%


def autocast_context(cfg: TrainConfig, device: torch.device) -> contextlib.AbstractContextManager:
    use_bf16 = cfg.amp == "bf16" or (cfg.amp == "auto" and device.type == "cuda")
    if not use_bf16:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


class _SignalCatcher:
    """Records SIGTERM/SIGINT so the loop can save at a step boundary instead of dying mid-write."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._old: dict[int, Any] = {}

    def __enter__(self) -> _SignalCatcher:
        if threading.current_thread() is threading.main_thread():
            for s in (signal.SIGTERM, signal.SIGINT):
                self._old[s] = signal.signal(s, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signum is not None:  # a second signal: stop now
            raise KeyboardInterrupt
        self.signum = signum

    def __exit__(self, *exc: Any) -> None:
        for s, h in self._old.items():
            signal.signal(s, h)


def train(task: Task, run_dir: Path | None = None, resume: bool = False, verbose: bool = True,
          meta: dict[str, Any] | None = None) -> Result:
    """Train `task` for `task.cfg.steps` steps. With `run_dir=None` nothing is written to disk."""
    cfg = task.cfg
    device = pick_device(cfg.device)
    d = distributed.setup(device.type)
    if device.type == "cuda" and d.enabled:
        device = torch.device("cuda", d.local_rank)
    writes = run_dir is not None and d.main
    meta = {"milestone": task.name, "config": to_dict(cfg), **(meta or {})}

    seed_everything(cfg.seed)
    model = task.build_model().to(device)
    built = task.build_optimizer(model)
    multi = not isinstance(built, torch.optim.Optimizer)
    optimizers: dict[str, torch.optim.Optimizer] = dict(built) if multi else {"main": built}  # type: ignore[arg-type]
    if not optimizers:
        raise ValueError(f"{task.name}: build_optimizer returned no optimizer")
    schedulers = {k: torch.optim.lr_scheduler.LambdaLR(o, lambda s: lr_factor(cfg, s)) for k, o in optimizers.items()}
    start = 0
    last_ckpt: Path | None = None
    ckpt_root = run_dir / "ckpt" if run_dir is not None else None

    if resume:
        if ckpt_root is None:
            raise UserError("--resume needs a run folder (--out DIR)")
        last_ckpt = ckpt.resolve(run_dir)  # type: ignore[arg-type]
        ckpt.read_meta(last_ckpt, task.name)
        ckpt.load_weights(last_ckpt, model, device)
        state = ckpt.load_state(last_ckpt)
        _load_per_optimizer(optimizers, state["optimizer"], multi, "optimizer", last_ckpt)
        _load_per_optimizer(schedulers, state["scheduler"], multi, "scheduler", last_ckpt)
        start = int(state["step"])
        task.load_state_dict(state.get("task", {}))
        task.load_files(last_ckpt)
        if d.main:
            ckpt.set_rng_state(state["rng"])
        else:  # only rank 0's generators are saved; other ranks continue from a fresh stream
            seed_everything(cfg.seed + 1000 * d.rank + start)
    elif d.enabled:
        seed_everything(cfg.seed + d.rank)  # distinct dropout masks per rank; weights come from rank 0

    if writes:
        run_dir.mkdir(parents=True, exist_ok=True)  # type: ignore[union-attr]
        (run_dir / "config.json").write_text(json.dumps(meta, indent=2, default=str))  # type: ignore[operator]

    task.attach(model, device)
    train_model: nn.Module = model
    if d.enabled:
        train_model = task.wrap_ddp(model, [device.index] if device.type == "cuda" else None)

    log = RunLogger(run_dir if writes else None, cfg.steps, start, enabled=d.main,
                    tensorboard=cfg.tensorboard, desc=task.name, verbose=verbose)
    amp = autocast_context(cfg, device)

    def save(step: int) -> Path | None:
        nonlocal last_ckpt
        if writes:
            state = {"optimizer": _per_optimizer(optimizers, multi), "scheduler": _per_optimizer(schedulers, multi),
                     "step": step, "rng": ckpt.rng_state(), "task": task.state_dict()}
            last_ckpt = ckpt.save(ckpt_root, step, model, state, meta, keep=cfg.keep_ckpts,  # type: ignore[arg-type]
                                  extra=task.save_files)
        distributed.barrier(d)
        return last_ckpt

    t0 = time.time()
    final_eval: dict[str, float] = {}
    step = start
    try:
        with _SignalCatcher() as signals:
            model.train()
            while step < cfg.steps:
                loss_sum = 0.0
                sums: dict[str, float] = {}
                batches: list[Any] = []  # the step's micro-batches, shared by its phases
                for phase, optimizer in optimizers.items():
                    phase_loss = 0.0
                    for micro in range(cfg.grad_accum):
                        if micro < len(batches):
                            batch = batches[micro]
                        else:
                            batch = Task.to_device(task.batch(step, micro, d), device)
                            if multi:
                                batches.append(batch)
                        sync = micro == cfg.grad_accum - 1 or not d.enabled
                        ctx = contextlib.nullcontext() if sync else train_model.no_sync()  # type: ignore[operator]
                        with ctx:
                            with amp:
                                loss, metrics = (task.loss(train_model, batch, phase) if multi
                                                 else task.loss(train_model, batch))
                            (loss / cfg.grad_accum).backward()
                        phase_loss += loss.detach().float().item() / cfg.grad_accum
                        for k, v in metrics.items():
                            sums[k] = sums.get(k, 0.0) + float(v) / cfg.grad_accum
                    loss_sum += phase_loss
                    if multi:
                        sums[f"loss_{phase}"] = phase_loss
                    bad = distributed.any_rank(not math.isfinite(phase_loss), d, device)
                    if bad:
                        for o in optimizers.values():
                            o.zero_grad(set_to_none=True)
                        where = f"last good checkpoint: {last_ckpt}" if last_ckpt else "no checkpoint was written yet"
                        what = f"{phase} loss" if multi else "loss"
                        raise NonFiniteLoss(f"{what} became {phase_loss} at step {step}; stopped before the "
                                            f"optimizer step ({where}). Try a lower --lr or --grad-clip.")
                    if cfg.grad_clip > 0:
                        params = [p for g in optimizer.param_groups for p in g["params"]]
                        gnorm = torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
                        sums["grad_norm" + (f"_{phase}" if multi else "")] = float(gnorm)
                    optimizer.step()
                    for o in optimizers.values():  # a phase's backward may reach other optimizers' parameters
                        o.zero_grad(set_to_none=True)
                lr = next(iter(optimizers.values())).param_groups[0]["lr"]
                for scheduler in schedulers.values():
                    scheduler.step()
                step += 1
                log.advance()
                if step % cfg.log_every == 0 or step == cfg.steps:
                    log.log(step, "train", {"loss": loss_sum, **sums, "lr": lr})
                if cfg.eval_every and step % cfg.eval_every == 0 and step < cfg.steps:
                    log.log(step, "eval", _evaluate(task, model, device, d))
                    model.train()
                if cfg.ckpt_every and step % cfg.ckpt_every == 0 and step < cfg.steps:
                    save(step)
                if distributed.any_rank(task.should_stop(step, {"loss": loss_sum, **sums}), d, device):
                    break
                stop = distributed.any_rank(signals.signum is not None, d, device)
                if stop:
                    path = save(step)
                    log.message(f"stopped at step {step}; resume with --resume")
                    raise Interrupted(signals.signum or signal.SIGTERM, path)
            final_eval = _evaluate(task, model, device, d)
            log.log(step, "eval", final_eval)
            if start < cfg.steps or last_ckpt is None:
                save(step)
    finally:
        log.close()
    return Result(model=model, history=log.history, final_eval=final_eval, run_dir=run_dir, step=step,
                  seconds=time.time() - t0, checkpoint=last_ckpt)


def _per_optimizer(objs: dict[str, Any], multi: bool) -> Any:
    """State dicts for state.pt: the optimizer's (or scheduler's) own, or one per name for several."""
    return {k: o.state_dict() for k, o in objs.items()} if multi else objs["main"].state_dict()


def _load_per_optimizer(objs: dict[str, Any], saved: Any, multi: bool, what: str, path: Path) -> None:
    if not multi:
        objs["main"].load_state_dict(saved)
        return
    if not isinstance(saved, dict) or set(saved) != set(objs):
        have = sorted(saved) if isinstance(saved, dict) else "one"
        raise UserError(f"checkpoint {path} holds {what} state for {have}, this run has {sorted(objs)}")
    for k, o in objs.items():
        o.load_state_dict(saved[k])


def _evaluate(task: Task, model: nn.Module, device: torch.device, d: distributed.Dist) -> dict[str, float]:
    """Evaluation runs on rank 0 with the unwrapped model; the other ranks wait."""
    out: dict[str, float] = {}
    if d.main:
        model.eval()
        with torch.no_grad():
            out = {k: float(v) for k, v in task.evaluate(model, device).items()}
        model.train()
    distributed.barrier(d)
    return out
