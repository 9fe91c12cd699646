"""Run logging on rank 0: a progress bar, metrics.jsonl and TensorBoard scalars.

The progress bar (tqdm) shows only on a terminal; elsewhere (CI, a pipe, a log file) a plain
line is printed every tenth of the run so long work still shows it is alive. The bar counts what
the task counts (optimizer steps; environment steps for DQN) and shows the task's watched metrics
first, the last evaluation's among them; each evaluation also prints a line of its own.
TensorBoard's x-axis is the same count.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from tqdm import tqdm


def series(rows: list[dict[str, Any]], key: str, split: str = "train") -> tuple[list[int], list[float]]:
    """(steps, values) of one logged metric among a run's rows (metrics.jsonl's, or a Result's history):
    the rows of `split` ("train" or "eval") that have `key`."""
    kept = [r for r in rows if r["split"] == split and key in r]
    return [r["step"] for r in kept], [r[key] for r in kept]


class RunLogger:
    """Writes what a training run measured. Silent and file-less when `enabled` is False."""

    def __init__(self, run_dir: Path | None, total_steps: int, start_step: int = 0,
                 enabled: bool = True, tensorboard: bool = True, desc: str = "train",
                 verbose: bool = True, unit: str = "step", watch: tuple[str, ...] = ("loss",)):
        self.enabled = enabled
        self.run_dir = run_dir
        self.total = total_steps
        self.unit = unit  # what total_steps counts: "step", or "env_steps" (a row then records it too)
        self.position = start_step
        self.watch = watch
        self._last_eval: dict[str, float] = {}
        self.history: list[dict[str, Any]] = []
        self._file = None
        self._tb = None
        self._bar = None
        self._t0 = time.time()
        self._next_line = 0
        self.verbose = verbose and enabled
        if not enabled:
            return
        if run_dir is not None:
            run_dir.mkdir(parents=True, exist_ok=True)
            self._file = open(run_dir / "metrics.jsonl", "a")
            if tensorboard:
                try:
                    from torch.utils.tensorboard import SummaryWriter

                    self._tb = SummaryWriter(log_dir=str(run_dir / "tb"))
                except ImportError:  # tensorboard is optional at run time
                    self._tb = None
        if self.verbose and sys.stderr.isatty():
            self._bar = tqdm(total=total_steps, initial=start_step, desc=desc, dynamic_ncols=True,
                             file=sys.stderr, unit=" env steps" if unit == "env_steps" else " steps",
                             unit_scale=unit == "env_steps")

    def log(self, step: int, split: str, metrics: dict[str, float]) -> None:
        row = {"step": step, "split": split, **{k: float(v) for k, v in metrics.items()},
               "time": round(time.time() - self._t0, 3)}
        if self.unit != "step":
            row.setdefault(self.unit, float(self.position))
        self.history.append(row)
        if not self.enabled:
            return
        if self._file is not None:
            self._file.write(json.dumps(row) + "\n")
            self._file.flush()
        if self._tb is not None:
            for k, v in metrics.items():
                self._tb.add_scalar(f"{split}/{k}", float(v), self.position)
        if split != "train":
            self._last_eval = {k: float(v) for k, v in metrics.items()}
            self.message(f"[{split} at {self._where(step)}] {self._shown(metrics, 8)}")
        elif self._bar is not None:
            last = {k: v for k, v in self._last_eval.items() if k in self.watch and k not in metrics}
            self._bar.set_postfix_str(self._shown({**metrics, **last}, 5), refresh=False)
        elif self.verbose and self.position >= self._next_line:
            print(f"[{split} {self._where(step)}] {self._shown(metrics, 6)}", file=sys.stderr, flush=True)
            self._next_line = self.position + max(1, self.total // 10)

    def _where(self, step: int) -> str:
        if self.unit == "step":
            return f"step {step}/{self.total}"
        return f"step {step}, {self.position:,}/{self.total:,} {self.unit.replace('_', ' ')}"

    def _shown(self, metrics: dict[str, float], most: int) -> str:
        """The watched metrics first, then the others, up to `most`."""
        keys = [k for k in self.watch if k in metrics] + [k for k in metrics if k not in self.watch]
        return " ".join(f"{k}={metrics[k]:.4g}" for k in keys[:most])

    def advance_to(self, position: int) -> None:
        """The bar's count is now `position` (steps done, or the task's own unit)."""
        if self._bar is not None and position > self.position:
            self._bar.update(position - self.position)
        self.position = position

    def message(self, text: str) -> None:
        if not self.verbose:
            return
        if self._bar is not None:
            self._bar.write(text, file=sys.stderr)
        else:
            print(text, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        if self._file is not None:
            self._file.close()
        if self._tb is not None:
            self._tb.close()
