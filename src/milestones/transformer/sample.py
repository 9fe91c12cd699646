"""`milestones sample transformer --run DIR "four hundred and twelve"`: translate with a trained
run (arguments or standard input; `--beam K`; `--attention PNG` draws the last decoder layer's
attention over the source, averaged over heads). The same command as seq2seq's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..seq2seq.sample import run_sample
from .task import TransformerTask


def sample(cfg: Any, checkpoint: Path, count: int | None, out: Path, args: list[str]) -> None:
    run_sample(TransformerTask, cfg, checkpoint, count, out, args)
