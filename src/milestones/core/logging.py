"""Run logging on rank 0: a progress bar, metrics.jsonl and TensorBoard scalars.

The progress bar (tqdm) shows only on a terminal; elsewhere (CI, a pipe, a log file) a plain
line is printed every tenth of the run so long work still shows it is alive.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from tqdm import tqdm


class RunLogger:
    """Writes what a training run measured. Silent and file-less when `enabled` is False."""

    def __init__(self, run_dir: Path | None, total_steps: int, start_step: int = 0,
                 enabled: bool = True, tensorboard: bool = True, desc: str = "train",
                 verbose: bool = True):
        self.enabled = enabled
        self.run_dir = run_dir
        self.total = total_steps
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
                             file=sys.stderr)

    def log(self, step: int, split: str, metrics: dict[str, float]) -> None:
        row = {"step": step, "split": split, **{k: float(v) for k, v in metrics.items()},
               "time": round(time.time() - self._t0, 3)}
        self.history.append(row)
        if not self.enabled:
            return
        if self._file is not None:
            self._file.write(json.dumps(row) + "\n")
            self._file.flush()
        if self._tb is not None:
            for k, v in metrics.items():
                self._tb.add_scalar(f"{split}/{k}", float(v), step)
        if self._bar is not None:
            self._bar.set_postfix({k: f"{v:.4g}" for k, v in list(metrics.items())[:6]}, refresh=False)
        elif self.verbose and (split != "train" or step >= self._next_line):
            shown = " ".join(f"{k}={v:.4g}" for k, v in list(metrics.items())[:6])
            print(f"[{split} {step}/{self.total}] {shown}", file=sys.stderr, flush=True)
            if split == "train":
                self._next_line = step + max(1, self.total // 10)

    def advance(self, n: int = 1) -> None:
        if self._bar is not None:
            self._bar.update(n)

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
