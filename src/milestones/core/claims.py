"""Claims: a paper's result, our threshold for it in miniature, and a verdict from measurements.

A `Claim` states up front what the paper reports and what we require to say it holds. Its
`measure` function runs the experiment over several seeds and returns the measurements plus
a verdict computed from them; `run()` times it, writes `evidence.json` and the figure, and
returns the `Evidence`. Nothing here decides a verdict: each claim computes its own from
numbers, against the threshold it printed before measuring.

Seeds (and other independent runs) go to `parallel_map`, which uses one process per core with
one torch thread each: two-thread torch slows many times over as soon as another process
holds a core.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import statistics
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch


@dataclass
class Measured:
    """What a claim's `measure` returns."""

    holds: bool
    ours: str  # our headline number, in words, beside the paper's
    measurements: dict[str, Any]
    figure: Callable[[Path], None] | None = None  # draws the PNG to the given path
    note: str = ""


@dataclass
class Evidence:
    milestone: str
    claim: str
    title: str
    paper: str
    paper_value: str
    threshold: str
    ours: str
    holds: bool
    verdict: str
    preset: str
    seeds: list[int]
    seconds: float
    measurements: dict[str, Any]
    figure: str | None = None
    note: str = ""
    budget_note: str = ""
    versions: dict[str, str] = field(default_factory=dict)

    def write(self, out_dir: Path) -> Path:
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / "evidence.json"
        tmp = out_dir / ".evidence.json.tmp"
        tmp.write_text(json.dumps(asdict(self), indent=2, default=_jsonable))
        os.replace(tmp, path)
        return path

    @staticmethod
    def read(path: Path) -> Evidence:
        return Evidence(**json.loads(path.read_text()))


def _jsonable(x: Any) -> Any:
    if isinstance(x, torch.Tensor):
        return x.tolist()
    if hasattr(x, "item"):
        return x.item()
    return str(x)


@dataclass
class Claim:
    milestone: str
    name: str  # slug, used for folder names
    title: str
    paper: str  # what the paper reports, in words (section/figure)
    paper_value: str  # the paper's headline number
    threshold: str  # the rule that makes the verdict "holds", fixed before measuring
    measure: Callable[..., Measured]  # measure(preset=, seeds=, workers=) -> Measured
    budget_note: str = ""  # said in the report when the claim needs longer than ~90 s

    def run(self, preset: str = "small", seeds: int = 3, out_dir: Path | None = None,
            workers: int | None = None, echo: Callable[[str], None] | None = None) -> Evidence:
        from .checkpoint import versions

        say = echo or (lambda s: None)
        say(f"claim  {self.milestone}/{self.name}: {self.title}")
        say(f"paper  {self.paper} ({self.paper_value})")
        say(f"rule   {self.threshold}")
        t0 = time.time()
        global _progress
        _progress = say if echo is not None else None
        try:
            m = self.measure(preset=preset, seeds=list(range(seeds)), workers=workers or default_workers())
        finally:
            _progress = None
        seconds = time.time() - t0
        ev = Evidence(milestone=self.milestone, claim=self.name, title=self.title, paper=self.paper,
                      paper_value=self.paper_value, threshold=self.threshold, ours=m.ours, holds=bool(m.holds),
                      verdict="holds" if m.holds else "does not hold", preset=preset,
                      seeds=list(range(seeds)), seconds=round(seconds, 1), measurements=m.measurements,
                      note=m.note, budget_note=self.budget_note, versions=versions())
        if out_dir is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
            if m.figure is not None:
                fig_path = out_dir / "figure.png"
                m.figure(fig_path)
                ev.figure = str(fig_path)
            ev.write(out_dir)
        say(f"ours   {ev.ours}")
        say(f"verdict: {ev.verdict.upper()}  ({seconds:.0f} s)")
        return ev


# ---------------------------------------------------------------------------------------------
# Running independent jobs side by side.


def default_workers() -> int:
    env = os.environ.get("MILESTONES_WORKERS")
    if env:
        return max(1, int(env))
    return max(1, min(os.cpu_count() or 1, 4))


def _init_worker() -> None:
    torch.set_num_threads(1)


def _call(job: tuple[Callable[..., Any], dict[str, Any]]) -> Any:
    fn, kwargs = job
    return fn(**kwargs)


_progress: Callable[[str], None] | None = None  # set by Claim.run: where "run k/N done" lines go


def parallel_map(fn: Callable[..., Any], jobs: list[dict[str, Any]], workers: int) -> list[Any]:
    """fn(**job) for each job, in `workers` spawned processes (inline when workers == 1).
    Results come back in the order of `jobs`; progress is echoed as jobs finish."""
    t0 = time.time()

    every = max(1, len(jobs) // 10)  # about ten lines however many jobs

    def done(k: int) -> None:
        if _progress is not None and (k % every == 0 or k == len(jobs)):
            _progress(f"       run {k}/{len(jobs)} done ({time.time() - t0:.0f} s)")

    if workers <= 1 or len(jobs) <= 1:
        out = []
        for job in jobs:
            out.append(fn(**job))
            done(len(out))
        return out
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=ctx,
                             initializer=_init_worker) as pool:
        futures = [pool.submit(_call, (fn, job)) for job in jobs]
        for k, _ in enumerate(as_completed(futures), 1):
            done(k)
        return [f.result() for f in futures]


def median(xs: list[float]) -> float:
    return float(statistics.median(xs))


# ---------------------------------------------------------------------------------------------
# Figures.


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
