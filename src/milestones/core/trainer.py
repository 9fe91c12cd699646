"""THE training loop, shared by every milestone.

A milestone supplies a `Task` (model, optimizers, batches, loss, evaluation); the `Trainer` owns
everything else: device, seeding, autocast (`--amp`: bf16, or fp16 with a loss scaler per
optimizer), the shards of each step's batch (gradient accumulation and the ranks of DDP or of
FSDP, `--parallel`), `--sync-bn`, clipping, the warm-up then cosine (step, inverse-sqrt) schedule,
evaluation cadence, checkpoints (sharded under FSDP) and `--resume`, SIGTERM/SIGINT (save, then
exit), the non-finite-loss guard and logging.

A task's optimizers come as a dict by name. Most tasks have one; GAN has two, and then each step
runs one phase per optimizer in the dict's order (the discriminator's, then the generator's), each
on the same micro-batches: the task's loss for that phase, backward, clipping over that
optimizer's parameters, its step, and every gradient cleared.

    result = Trainer(task, run_dir).run()          # or train(task, run_dir)
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import shutil
import signal
import sys
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import torch
from torch import nn

from ..errors import UserError
from . import checkpoint as ckpt
from . import distributed
from .config import RunConfig, to_dict
from .logging import RunLogger, series
from .task import Shard, Task, to_device


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
        return series(self.history, key, split)


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


def lr_factor(cfg: Any, step: int) -> float:
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


def amp_dtype(cfg: RunConfig, device: torch.device) -> torch.dtype | None:
    """The autocast dtype `--amp` asks for: auto is bf16 on a CUDA GPU that has it, fp16 (with a
    gradient scaler) on one that does not (T4, V100), and full precision elsewhere."""
    if cfg.amp == "auto":
        if device.type != "cuda":
            return None
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return {"off": None, "bf16": torch.bfloat16, "fp16": torch.float16}[cfg.amp]


def autocast_context(cfg: RunConfig, device: torch.device) -> contextlib.AbstractContextManager:
    dtype = amp_dtype(cfg, device)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


# fp16: a step whose gradients overflow at the loss scale is skipped and the scale halved. This many
# skipped in a row (the scale down by 2**32) means the gradients are not finite at any scale.
MAX_SKIPPED = 32


def local(p: torch.Tensor) -> torch.Tensor:
    """This rank's part of a parameter (FSDP's are DTensors), or the parameter itself."""
    return p.to_local() if hasattr(p, "to_local") else p


def shard_model(model: nn.Module, units: list[nn.Module]) -> None:
    """FSDP2: each unit (a transformer block) sharded on its own, so that only one block's weights
    are gathered whole at a time, then the rest of the model (embeddings, heads) as the root."""
    from torch.distributed.fsdp import fully_shard

    for unit in units:
        fully_shard(unit)
    fully_shard(model)


def sync_batch_norm(model: nn.Module, cfg: Any, d: distributed.Dist, device: torch.device) -> bool:
    """`--sync-bn`: under DDP on CUDA, every batch norm of `model` becomes a SyncBatchNorm, in place
    (sharing its parameters and buffers, so the optimizers and checkpoints are unchanged); True when
    it did. torch's SyncBatchNorm runs on CUDA only: a CPU run says so once and keeps each rank's."""
    if not getattr(cfg, "sync_bn", False) or not d.enabled:
        return False
    if device.type != "cuda":
        if d.main:
            print("milestones: --sync-bn applies under DDP on CUDA; this run on the CPU keeps each rank's batch "
                  "statistics", file=sys.stderr)
        return False
    for name, child in list(model.named_children()):
        setattr(model, name, nn.SyncBatchNorm.convert_sync_batchnorm(child))
    return True


class _SignalCatcher:
    """Records SIGTERM/SIGINT so the loop can save at a step boundary instead of dying mid-write.
    Once the last checkpoint is written (`saved` set), a signal stops the run at once. A run that
    writes nothing (a claim run) has nothing to save: it leaves the signals to its caller
    (`active=False`), which stops at once."""

    def __init__(self, active: bool = True) -> None:
        self.active = active
        self.signum: int | None = None
        self.saved: Path | None = None
        self.stop_now = False
        self._old: dict[int, Any] = {}

    def __enter__(self) -> _SignalCatcher:
        if self.active and threading.current_thread() is threading.main_thread():
            for s in (signal.SIGTERM, signal.SIGINT):
                self._old[s] = signal.signal(s, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signum is not None:  # a second signal: stop now
            raise KeyboardInterrupt
        self.signum = signum
        if self.stop_now:  # the run is saved: nothing is lost by stopping mid-evaluation
            raise Interrupted(signum, self.saved)

    def __exit__(self, *exc: Any) -> None:
        for s, h in self._old.items():
            signal.signal(s, h)


class Trainer:
    """Trains `task` for `task.cfg.steps` optimizer steps. With `run_dir=None` nothing is written."""

    def __init__(self, task: Task, run_dir: Path | None = None, resume: bool = False, verbose: bool = True,
                 meta: dict[str, Any] | None = None):
        self.task, self.cfg = task, task.cfg
        cfg = self.cfg
        self.device = pick_device(cfg.device)
        self.dist = d = distributed.setup(self.device.type)
        if self.device.type == "cuda" and d.enabled:
            self.device = torch.device("cuda", d.local_rank)
        self.run_dir = run_dir
        self.writes = run_dir is not None and d.main
        self.meta = {"milestone": task.name, "config": to_dict(cfg), "model": to_dict(task.model_config()),
                     **(meta or {})}

        seed_everything(cfg.seed)
        self.model = task.build_model().to(self.device)
        # --parallel fsdp: checkpoints of shards (DCP) in any case; the model sharded over the ranks
        # (every rank built the same weights from the same seed) before its optimizers are built
        self.sharded = cfg.parallel == "fsdp"
        if self.sharded:
            units = task.fsdp_units(self.model)
            if units is None:
                raise UserError(f"--parallel fsdp: {task.name}'s model is not sharded (GPT's and BERT's are); "
                                "use --parallel ddp")
            if d.enabled:
                shard_model(self.model, units)
        self.optimizers = task.build_optimizers(self.model)
        if not self.optimizers:
            raise ValueError(f"{task.name}: build_optimizers returned no optimizer")
        self.schedulers = {k: torch.optim.lr_scheduler.LambdaLR(o, lambda s: lr_factor(cfg, s))
                           for k, o in self.optimizers.items()}
        self.step = self.start = 0
        self.last_ckpt: Path | None = None
        self._saved_at: int | None = None  # the step of the last save, on every rank (rank 0 alone writes)
        # The NaN guard names a checkpoint that is good: one whose weights gave a finite training loss,
        # not above ten times the run's first (the checkpoint a run resumed from counts as good).
        self.good_ckpt: Path | None = None
        self._unverified: Path | None = None  # the newest checkpoint, until the next step's loss judges it
        self._first_loss: float | None = None
        if resume:
            self._restore()
            if self.writes:  # said once the checkpoint has been read (a damaged one is its own one line)
                done, total, unit = task.progress(self.step)
                say = (f"{run_dir} finished at {unit} {done:,} of {total:,}: nothing to train; its results follow "
                       f"(train on with --resume --steps N)" if done >= total else
                       f"resuming {run_dir} at {unit} {done:,} of {total:,}")
                print(f"milestones: {say}", file=sys.stderr)
        elif d.enabled:
            seed_everything(cfg.seed + d.rank)  # distinct dropout masks per rank; weights come from rank 0

        if self.writes:
            run_dir.mkdir(parents=True, exist_ok=True)  # type: ignore[union-attr]
            ckpt.remove_unfinished(run_dir / "ckpt")  # type: ignore[operator]
            ckpt.write_json(run_dir / "config.json", self.meta)  # type: ignore[operator]
        task.attach(self.model, self.device)
        self.train_model: nn.Module = self.model
        sync_batch_norm(self.model, cfg, d, self.device)
        if d.enabled and not self.sharded:
            self.train_model = task.wrap_ddp(self.model, [self.device.index] if self.device.type == "cuda" else None)
        done, total, unit = task.progress(self.start)
        self.log = RunLogger(run_dir if self.writes else None, total, done, enabled=d.main,
                             tensorboard=cfg.tensorboard, desc=task.name, verbose=verbose, unit=unit,
                             watch=task.watch)
        self.amp = autocast_context(cfg, self.device)
        # fp16 autocast needs its loss scaled so that small gradients do not flush to zero: one scaler
        # per optimizer, each stepping (or skipping) its own phase
        fp16 = amp_dtype(cfg, self.device) == torch.float16
        if fp16 and self.sharded and d.enabled:  # each rank sees its shards' gradients: one verdict for all
            from torch.distributed.fsdp.sharded_grad_scaler import ShardedGradScaler as Scaler
        else:
            Scaler = torch.amp.GradScaler  # noqa: N806
        self.scalers = {k: Scaler(self.device.type) for k in self.optimizers} if fp16 else {}
        self._in_a_row = {k: 0 for k in self.optimizers}  # fp16 steps skipped in a row, per optimizer
        self._skipped = {k: 0 for k in self.optimizers}  # and in the whole run (a checkpoint keeps it)
        if resume and self.scalers:
            self._restore_scalers()
        self._evaluated: tuple[int, dict[str, float]] | None = None  # the last evaluation: (step, metrics)

    # -- the loop ---------------------------------------------------------------------------------
    def run(self) -> Result:
        t0 = time.time()
        final_eval: dict[str, float] = {}
        try:
            with _SignalCatcher(active=self.run_dir is not None) as signals:
                self.model.train()
                while self.step < self.cfg.steps:
                    metrics = self._step_or_say()
                    self.step += 1
                    if self.after_step(metrics, signals):
                        break
                if self._saved_at != self.step:
                    self.save()  # first the checkpoint, then the final evaluation: a kill loses no training
                if signals.signum is not None:
                    raise Interrupted(signals.signum, self.last_ckpt)
                signals.saved, signals.stop_now = self.last_ckpt, True
                if self._evaluated is not None and self._evaluated[0] == self.step:
                    final_eval = self._evaluated[1]  # the task stopped at an evaluation: it is the final one
                else:
                    final_eval = self.evaluate()
                    self.log.log(self.step, "eval", final_eval)
        finally:
            self.log.close()
        return Result(model=self.model, history=self.log.history, final_eval=final_eval, run_dir=self.run_dir,
                      step=self.step, seconds=time.time() - t0, checkpoint=self.last_ckpt)

    def _step_or_say(self) -> dict[str, float]:
        """A training step; a kernel that fp16 autocast lacks on the CPU (torch's CPU LSTM has none)
        is said in one line, not as a trace from inside torch."""
        try:
            return self.train_step()
        except RuntimeError as e:
            if (isinstance(e, (NonFiniteLoss, Interrupted)) or self.device.type != "cpu"
                    or amp_dtype(self.cfg, self.device) != torch.float16):
                raise
            said = str(e).splitlines()[0].split(". ")[0][:150]
            raise UserError(f"--amp fp16 on the CPU: torch has no fp16 CPU kernel for a part of this model ({said}); "
                            "use --amp bf16 or off on the CPU, fp16 on a CUDA GPU") from None

    def train_step(self) -> dict[str, float]:
        """One optimizer step per phase, all phases on the same micro-batches."""
        cfg, d = self.cfg, self.dist
        t0 = time.perf_counter()
        self.task.before_step(self.step)
        batches = [to_device(self.task.batch(self.step, Shard(m, cfg.grad_accum, d.rank, d.world)), self.device)
                   for m in range(cfg.grad_accum)]
        metrics: dict[str, float] = {"loss": 0.0}
        for i, (phase, optimizer) in enumerate(self.optimizers.items()):
            suffix = f"_{phase}" if len(self.optimizers) > 1 else ""
            loss = distributed.all_reduce_mean(self._forward_backward(phase, batches, metrics), self.dist, self.device)
            self._guard(phase, loss)
            if i == 0:
                self._judge_last_checkpoint(loss)
            metrics["loss"] += loss
            if suffix:
                metrics["loss" + suffix] = loss
            self.optimizer_step(optimizer, metrics, suffix, phase)
        metrics["lr"] = next(iter(self.optimizers.values())).param_groups[0]["lr"]
        metrics.update(self.task.throughput(time.perf_counter() - t0))
        return metrics

    def _forward_backward(self, phase: str, batches: list[Any], metrics: dict[str, float]) -> float:
        """Gradients of the phase's loss summed over the micro-batches (times the loss scale, under
        fp16); returns its mean."""
        n, total = len(batches), 0.0
        scaler = self.scalers.get(phase)
        for m, batch in enumerate(batches):
            last = m == n - 1
            sync = contextlib.nullcontext() if last or not self.dist.enabled else self._no_sync()
            with sync:  # DDP all-reduces (FSDP reduce-scatters) gradients only after the last micro-batch
                with self.amp:
                    loss, extra = self.task.loss(self.train_model, batch, phase)
                (scaler.scale(loss / n) if scaler else loss / n).backward()
            total += loss.detach().float().item() / n
            for k, v in extra.items():
                metrics[k] = metrics.get(k, 0.0) + float(v) / n
        return total

    def _no_sync(self) -> contextlib.AbstractContextManager:
        if not self.sharded:
            return self.train_model.no_sync()
        model = self.model

        @contextlib.contextmanager
        def held() -> Any:
            model.set_requires_gradient_sync(False)  # type: ignore[operator]
            try:
                yield
            finally:
                model.set_requires_gradient_sync(True)  # type: ignore[operator]
        return held()

    def _judge_last_checkpoint(self, loss: float) -> None:
        """The first loss on the newest checkpoint's weights decides whether it is good."""
        if self._first_loss is None:
            self._first_loss = loss
        if self._unverified is not None and math.isfinite(loss) and abs(loss) <= 10 * max(abs(self._first_loss), 1e-3):
            self.good_ckpt = self._unverified
        self._unverified = None

    def _guard(self, phase: str, loss: float) -> None:
        """Stop before the optimizer step if the loss is NaN or infinite."""
        if distributed.any_rank(not math.isfinite(loss), self.dist, self.device):
            for o in self.optimizers.values():
                o.zero_grad(set_to_none=True)
            what = f"{phase} loss" if len(self.optimizers) > 1 else "loss"
            self._diverged(f"{what} became {loss} at step {self.step}, before its optimizer step")

    def _diverged(self, what: str) -> NoReturn:
        """Stop, naming the last good checkpoint; checkpoints saved after it (of weights that went on
        to a NaN or exploding loss) are moved aside as ckpt/poisoned-step_N, out of --resume's way."""
        moved = []
        if self.writes:
            for path in ckpt.complete_checkpoints(self.run_dir / "ckpt"):  # type: ignore[operator]
                if self.good_ckpt is None or ckpt.step_of(path) > ckpt.step_of(self.good_ckpt):
                    moved.append(ckpt.quarantine(path).name)
            self.last_ckpt = self.good_ckpt
        where = f"last good checkpoint: {self.good_ckpt}" if self.good_ckpt else "no good checkpoint was written"
        aside = f"; moved aside: {', '.join(moved)}" if moved else ""
        raise NonFiniteLoss(f"{what} ({where}{aside}). {self._advice()}")

    def _advice(self) -> str:
        """What to try, from what the weights look like."""
        biggest = max((float(local(p).detach().abs().max()) for p in self.model.parameters() if local(p).numel()),
                      default=0.0)
        lrs = sorted({g["lr"] for o in self.optimizers.values() for g in o.param_groups})
        if not math.isfinite(biggest) or biggest > 1e6:
            return (f"The weights grew out of range (largest |w| {biggest:.3g}): the learning rate "
                    f"({', '.join(f'{lr:.3g}' for lr in lrs)}) is too high; resume with a lower --lr, or set "
                    "--grad-clip.")
        return (f"The weights are in range (largest |w| {biggest:.3g}), so the loss overflowed on this batch: "
                "check the data, or resume with a lower --lr or --grad-clip.")

    def optimizer_step(self, optimizer: torch.optim.Optimizer, metrics: dict[str, float], suffix: str,
                       phase: str = "model") -> None:
        """Clip this optimizer's gradients, step it, and clear every gradient (a phase's backward
        may reach parameters of the other optimizers: G's loss runs through D). Under fp16 the
        gradients are unscaled first, and a step whose gradients overflowed is skipped (logged as
        `skipped`: the steps skipped so far, with the new `loss_scale`); too many in a row stop the run
        as the NaN guard does."""
        scaler = self.scalers.get(phase)
        if scaler:
            scaler.unscale_(optimizer)
        if self.cfg.grad_clip > 0:
            params = [p for g in optimizer.param_groups for p in g["params"]]
            norm = torch.nn.utils.clip_grad_norm_(params, self.cfg.grad_clip)
            metrics["grad_norm" + suffix] = float(norm.full_tensor() if hasattr(norm, "full_tensor") else norm)
        if scaler:
            before = scaler.get_scale()
            scaler.step(optimizer)  # skipped when a gradient is inf or NaN
            scaler.update()
            skipped = scaler.get_scale() < before
            self._in_a_row[phase] = self._in_a_row[phase] + 1 if skipped else 0
            self._skipped[phase] += skipped
            metrics["loss_scale" + suffix] = scaler.get_scale()
            metrics["skipped" + suffix] = float(self._skipped[phase])
        else:
            optimizer.step()
        for o in self.optimizers.values():
            o.zero_grad(set_to_none=True)
        if scaler and self._in_a_row[phase] >= MAX_SKIPPED:
            what = f"{phase} gradients" if len(self.optimizers) > 1 else "gradients"
            self._diverged(f"the {what} were NaN or infinite on {MAX_SKIPPED} fp16 steps in a row, up to step "
                           f"{self.step}, at loss scales down to {scaler.get_scale():.3g}")

    def after_step(self, metrics: dict[str, float], signals: _SignalCatcher) -> bool:
        """The schedule, logging, evaluation, checkpoints, early stop and signals after a step.
        True ends training (the task asked to stop)."""
        cfg, step = self.cfg, self.step
        with warnings.catch_warnings():  # a step fp16 skipped did not call optimizer.step(): expected
            warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step\\(\\)` before")
            for scheduler in self.schedulers.values():
                scheduler.step()
        self.log.advance_to(self.task.progress(step)[0])
        if step % cfg.log_every == 0 or step == cfg.steps:
            self.log.log(step, "train", metrics)
        if cfg.eval_every and step % cfg.eval_every == 0 and step < cfg.steps:
            self._evaluated = (step, self.evaluate())
            self.log.log(step, "eval", self._evaluated[1])
            self.model.train()
        if cfg.ckpt_every and step % cfg.ckpt_every == 0 and step < cfg.steps:
            self.save()
        if distributed.any_rank(self.task.should_stop(step, metrics), self.dist, self.device):
            self.log.message(f"stopped at step {step} of {cfg.steps}: {self.task.stop_reason()}")
            return True
        if distributed.any_rank(signals.signum is not None, self.dist, self.device):
            path = self.save()
            self.log.message(f"stopped at step {step}; resume with --resume")
            raise Interrupted(signals.signum or signal.SIGTERM, path)
        return False

    def evaluate(self) -> dict[str, float]:
        """Evaluation runs on rank 0 with the unwrapped model; the other ranks wait. A sharded model
        (FSDP) needs every rank for a forward pass: each rank evaluates, on the same data."""
        out: dict[str, float] = {}
        if self.dist.main or self.sharded:
            self.model.eval()
            with torch.no_grad():
                out = {k: float(v) for k, v in self.task.evaluate(self.model, self.device).items()}
            self.model.train()
        distributed.barrier(self.dist)
        return out

    # -- checkpoints --------------------------------------------------------------------------------
    def save(self) -> Path | None:
        """A checkpoint of the current step, unless the weights are NaN or infinite: then training
        stops, naming the last good one."""
        self._saved_at = self.step
        finite = all(bool(torch.isfinite(local(p)).all()) for p in self.model.parameters())
        if distributed.any_rank(not finite, self.dist, self.device):
            self._diverged(f"the weights became NaN or infinite by step {self.step}; they were not saved")
        if self.sharded:
            return self._save_sharded()
        if self.writes:
            self.last_ckpt = ckpt.save(self.run_dir / "ckpt", self.step, self.model, self._state(), self.meta,  # type: ignore[operator]
                                       keep=self.cfg.keep_ckpts, extra=self.task.save_files, protect=self.good_ckpt)
            self._unverified = self.last_ckpt
        distributed.barrier(self.dist)
        return self.last_ckpt

    def _state(self) -> dict[str, Any]:
        """What state.pt holds: all but the weights (and, for FSDP, the optimizers' state)."""
        state = {"optimizer": {k: ("sharded" if self.sharded else o.state_dict()) for k, o in self.optimizers.items()},
                 "scheduler": {k: s.state_dict() for k, s in self.schedulers.items()},
                 "step": self.step, "rng": ckpt.rng_state(), "task": self.task.state_dict()}
        if self.scalers:
            state["amp"] = {"scaler": {k: s.state_dict() for k, s in self.scalers.items()},
                            "skipped": dict(self._skipped)}
        return state

    def _save_sharded(self) -> Path | None:
        """FSDP's checkpoint: every rank writes its shards of the weights and the optimizers' state
        (DCP) into a folder beside the checkpoints; rank 0 then moves it into the checkpoint it
        writes as any other (state.pt, meta.json, the marker last)."""
        import torch.distributed.checkpoint as dcp
        from torch.distributed.checkpoint.state_dict import get_state_dict

        root = self.run_dir / "ckpt" if self.run_dir is not None else None
        staging = root / f".tmp-shards-step_{self.step:07d}" if root is not None else None
        if self.writes:
            if staging.exists():  # type: ignore[union-attr]
                shutil.rmtree(staging)  # type: ignore[arg-type]
            staging.mkdir(parents=True)  # type: ignore[union-attr]
        distributed.barrier(self.dist)
        if staging is not None:
            weights, optimizer = get_state_dict(self.model, list(self.optimizers.values()))
            with warnings.catch_warnings():  # one process: DCP says it runs without a process group
                warnings.simplefilter("ignore", UserWarning)
                dcp.save({"model": weights, "optim": optimizer}, checkpoint_id=str(staging))
        distributed.barrier(self.dist)
        if self.writes:
            self.last_ckpt = ckpt.save(root, self.step, None, self._state(), self.meta,  # type: ignore[arg-type]
                                       keep=self.cfg.keep_ckpts, protect=self.good_ckpt,
                                       extra=lambda folder: (os.replace(staging, folder / ckpt.SHARDED),  # type: ignore[arg-type]
                                                             self.task.save_files(folder)))
            self._unverified = self.last_ckpt
        distributed.barrier(self.dist)
        return self.last_ckpt

    def _load_sharded(self, path: Path) -> None:
        """The weights and the optimizers' state from a checkpoint's shards, on this run's ranks
        (DCP reshards them: the number of ranks may differ from the run that wrote them)."""
        import torch.distributed.checkpoint as dcp
        from torch.distributed.checkpoint.api import CheckpointException  # a BaseException: caught by name
        from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict

        opts = list(self.optimizers.values())
        weights, optimizer = get_state_dict(self.model, opts)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                dcp.load({"model": weights, "optim": optimizer}, checkpoint_id=str(path / ckpt.SHARDED))
        except (Exception, CheckpointException) as e:  # noqa: BLE001 - damaged shards, or another model's
            raise UserError(f"cannot read the shards in {path / ckpt.SHARDED}: {ckpt.shard_error(e)}") from None
        set_state_dict(self.model, opts, model_state_dict=weights, optim_state_dict=optimizer)

    def _restore(self) -> None:
        if self.run_dir is None:
            raise UserError("--resume needs a run folder (--out DIR)")
        path = self.last_ckpt = self.good_ckpt = ckpt.resolve(self.run_dir)
        self._saved_at = ckpt.step_of(path)
        ckpt.read_meta(path, self.task.name)
        sharded = ckpt.is_sharded(path)
        if sharded != self.sharded:
            raise UserError(f"checkpoint {path} was written by a run with --parallel {'fsdp' if sharded else 'ddp'}; "
                            f"resume it with that")
        state = ckpt.load_state(path)
        if sharded:
            self._load_sharded(path)
        else:
            ckpt.load_weights(path, self.model, self.device)
        # the config decides the hyper-parameters (a resumed run may change them: --lr, --steps, ...);
        # the checkpoint brings the optimizers' state (Adam's moments, momentum buffers) and the step
        fresh = {k: [{h: v for h, v in g.items() if h != "params"} for g in o.param_groups]
                 for k, o in self.optimizers.items()}
        parts = (("scheduler", self.schedulers),) if sharded else (("optimizer", self.optimizers),
                                                                    ("scheduler", self.schedulers))
        for what, objs in parts:
            saved = state.get(what)
            if not isinstance(saved, dict) or set(saved) != set(objs):
                have = sorted(saved) if isinstance(saved, dict) else "none"
                raise UserError(f"checkpoint {path} holds {what} state for {have}, this run has {sorted(objs)}")
            for k, o in objs.items():
                try:
                    o.load_state_dict(saved[k])
                except (ValueError, KeyError, TypeError) as e:
                    raise UserError(f"checkpoint {path}: its {what} state does not fit this run ({e})") from None
        self.step = self.start = int(state["step"])
        for k, o in self.optimizers.items():
            scheduler = self.schedulers[k]
            scheduler.base_lrs = [g["initial_lr"] for g in fresh[k]]
            for group, new in zip(o.param_groups, fresh[k]):
                group.update(new)  # the configured peak learning rate as initial_lr, and every other setting
                group["lr"] = group["initial_lr"] * lr_factor(self.cfg, scheduler.last_epoch)
        self.task.load_state_dict(state.get("task", {}))
        self.task.load_files(path)
        self._amp_state = state.get("amp") or {}
        if self.dist.main:
            ckpt.set_rng_state(state["rng"])
        else:  # only rank 0's generators are saved; other ranks continue from a fresh stream
            seed_everything(self.cfg.seed + 1000 * self.dist.rank + self.step)


    def _restore_scalers(self) -> None:
        """fp16's loss scales from the checkpoint (a run that was not fp16 until now starts fresh ones)."""
        for k, scaler in self.scalers.items():
            if k in self._amp_state.get("scaler", {}):
                scaler.load_state_dict(self._amp_state["scaler"][k])
                self._skipped[k] = int(self._amp_state["skipped"][k])


def train(task: Task, run_dir: Path | None = None, resume: bool = False, verbose: bool = True,
          meta: dict[str, Any] | None = None) -> Result:
    """Train `task`; with `run_dir=None` nothing is written to disk."""
    return Trainer(task, run_dir, resume, verbose, meta).run()
