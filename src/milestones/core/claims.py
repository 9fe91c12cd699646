"""Claims: a paper's result, our rule for it in miniature, and a verdict computed seed by seed.

A `Claim` states up front what the paper reports and the rule that decides, for one seed,
whether it holds in miniature. Its `measure(ctx)` asks for training runs, each a `Run`: a preset
plus overrides of one milestone's config, exactly what `milestones train NAME --preset P
--FIELD VALUE ...` trains, so every run can be replayed from its command. The runs come back as
records (the training history, the final evaluation, and what the milestone's `probe` measured
on the trained model). `measure` applies the rule to each seed and returns the per-seed
verdicts; `Claim.run` counts them: "holds (n of n)", "mixed (k of n)" or "does not hold (0 of n)",
writes `evidence.json` (with every run's command) and the figure, and compares the count with the
claim's `Reference`, its verdict measured once on ten seeds for the README.

Runs are executed by a runner the caller supplies (the registry's: it may train any milestone,
so one claim can compare against another milestone's runs without importing its code). Runs of
a claim go side by side (core/pool.py), one process per core with one torch thread each, never more
runs at once on the machine than it has cores; a replay command therefore starts with
OMP_NUM_THREADS=1, which gives the same numbers bit for bit.
"""

from __future__ import annotations

import json
import math
import os
import shlex
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .config import flatten, to_args
from .logging import series as logged_series
from .pool import Progress, default_workers
from .references import Reference, verdict_of
from .references import load as load_reference
from .store import Record, jsonable  # Record: command, history, final, step, seconds, probe

# ---------------------------------------------------------------------------------------------
# Runs and their records.


@dataclass(frozen=True)
class Run:
    """One training run: `milestones train <milestone> --preset <preset> <overrides>`."""

    milestone: str
    preset: str
    overrides: tuple[tuple[str, Any], ...] = ()

    @staticmethod
    def of(milestone: str, preset: str, overrides: Mapping[str, Any] | None = None, **more: Any) -> Run:
        """Overrides as a dict (dotted paths or nested dicts) and/or keywords, kept in sorted order so
        that two claims asking for the same run name it the same way (and share it)."""
        items = flatten(overrides or {}) | flatten(more)  # merged path by path: model=... adds to, not replaces
        return Run(milestone, preset, tuple(sorted((k, tuple(v) if isinstance(v, list) else v)
                                                   for k, v in items.items())))

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.overrides)

    @property
    def seed(self) -> int:
        return int(self.options.get("seed", 0))

    def command(self) -> str:
        """The command that trains this run again, with the same numbers."""
        words = ["milestones", "train", self.milestone, "--preset", self.preset, *to_args(self.options)]
        return "OMP_NUM_THREADS=1 " + shlex.join(words)


Runner = Callable[[list[Run], int, "Progress | None"], list[Record]]  # (runs, processes, progress) -> records
Prefetch = Callable[[list[Run], int], None]  # (runs, processes): queue runs to train while others finish


class _Asked(Exception):
    def __init__(self, runs: list[Run]):
        self.runs = runs


def series(record: Record, key: str, split: str = "train") -> tuple[list[int], list[float]]:
    """(steps, values) of one logged metric of a claim run's record."""
    return logged_series(record["history"], key, split)


@dataclass
class Context:
    """What a claim's `measure` gets: the preset, the seeds, and a way to train runs."""

    preset: str
    seeds: list[int]
    runner: Runner
    workers: int = 2
    runs_made: list[Record] = field(default_factory=list)
    asked: list[Run] = field(default_factory=list)  # the runs of runs_made, in the same order
    data: str = ""  # a folder of the user's data, for a claim that can run on it (Claim.takes_data)
    progress: Progress | None = None  # where "run k/N done" lines go

    def train(self, runs: list[Run]) -> list[Record]:
        """Train (or fetch) runs without counting them as this claim's evidence (another claim's runs
        started beside this one's, to keep every core busy)."""
        return self.runner(runs, self.workers, self.progress)

    def runs(self, runs: list[Run]) -> list[Record]:
        """Train (or fetch, if this process trained them already) the runs, in order."""
        records = self.train(runs)
        known = {r["command"] for r in self.runs_made}
        for run, record in zip(runs, records):
            if record["command"] not in known:
                known.add(record["command"])
                self.runs_made.append(record)
                self.asked.append(run)
        return records


class _Probe(Context):
    """A context whose `train` (runs started for another claim, results unused) does nothing."""

    def train(self, runs: list[Run]) -> list[Record]:
        return []

    def runs(self, runs: list[Run]) -> list[Record]:
        return self.runner(runs, self.workers, None)


# ---------------------------------------------------------------------------------------------
# What a claim measures, and what it concludes.


@dataclass
class Measured:
    """What a claim's `measure` returns: one verdict per seed, and what backs it."""

    per_seed: list[dict[str, Any]]  # {"seed": s, "holds": bool, ...the seed's numbers}
    ours: str  # our headline numbers, in words, beside the paper's
    measurements: dict[str, Any]
    figure: Callable[[Path], None] | None = None  # draws the PNG to the given path
    note: str = ""
    examples: list[str] = field(default_factory=list)  # what a trained model produced (translations, text, ...)


SMOKE_PRESETS = ("tiny",)  # presets that test the protocol: their runs are too short to be evidence
SMOKE_VERDICT = "n/a (tiny)"
SMOKE_WARNING = ("the tiny preset is a smoke test of the protocol (runs of seconds): its numbers are not "
                 "evidence, so its verdicts show as n/a (tiny); run the small preset for the claims")


def reproduce_command(milestone: str, preset: str, seeds: list[int], data: str = "") -> str:
    """The `milestones reproduce` command that measures a claim again on the same seeds (with
    milestone "", the `milestones tour` command that measures them all)."""
    words = ["milestones", "reproduce", milestone] if milestone else ["milestones", "tour"]
    if preset != "small":
        words += ["--preset", preset]
    if data:
        words += ["--data", data]
    if seeds != [0, 1, 2]:
        words += ["--seeds", str(len(seeds))] + (["--first-seed", str(seeds[0])] if seeds[0] else [])
    return shlex.join(words)


def consistent(k: int, n: int, ref: Reference, level: float = 0.025) -> bool:
    """Whether holding on k of n seeds agrees with the reference, within sampling noise: with the
    chance that a seed holds estimated from the reference as (holds + 1) / (seeds + 2), a count as
    low (or as high) as k must have probability at least `level` (a two-sided binomial test at 5%).
    A reference of 10 of 10 then allows 2 of 3 but not 1 of 3; 0 of 10 allows 1 of 3 but not 2;
    a mixed reference allows more. A reference that saw one outcome only also disagrees with seeds
    that never show it: on one seed (the tests' check) a 10-of-10 reference needs that seed to hold,
    0 of 10 needs it to fail, and a mixed one allows either. (Other CPUs round differently, and a
    seed at a rule's edge can fall either way: this is the margin for it.)"""
    if (ref.holds == ref.seeds and k == 0) or (ref.holds == 0 and k == n):
        return False
    p = (ref.holds + 1) / (ref.seeds + 2)
    pmf = [math.comb(n, i) * p ** i * (1 - p) ** (n - i) for i in range(n + 1)]
    return min(sum(pmf[:k + 1]), sum(pmf[k:])) >= level


def disagreements(ev: Evidence, ref: Reference, cpu: str, torch_version: str) -> tuple[list[str], bool]:
    """What `tour --check` finds wrong with a claim's evidence at the small preset: a verdict not
    `consistent` with its reference; and, on the reference's own CPU and torch, where the seeds
    both measured are replays, any seed whose numbers differ from the reference's. Also whether
    it could compare numbers (the same CPU and torch)."""
    from .store import as_json

    name = f"{ev.milestone}/{ev.claim}"
    problems = []
    if not consistent(ev.holds, len(ev.seeds), ref):
        problems.append(f"{name}: {ev.verdict} on seeds {_span(ev.seeds)} is not consistent with the reference's "
                        f"{ref.verdict}")
    same = ref.cpu == cpu and ref.versions.get("torch") == torch_version
    if same:
        theirs = {p["seed"]: p for p in ref.per_seed}
        for mine in as_json(ev.per_seed):
            other = theirs.get(mine["seed"])
            if other is not None and mine != other:
                keys = sorted(k for k in set(mine) | set(other) if mine.get(k) != other.get(k))
                problems.append(f"{name}: seed {mine['seed']} did not replay the reference's numbers (same CPU and "
                                f"torch): " + "; ".join(f"{k} {mine.get(k)!r} vs {other.get(k)!r}" for k in keys))
    return problems, same


@dataclass
class Evidence:
    milestone: str
    claim: str
    title: str
    paper: str
    paper_value: str
    rule: str
    ours: str
    verdict: str  # "holds (3 of 3)", "mixed (1 of 3)", "does not hold (0 of 3)"; "n/a (tiny)" at tiny
    holds: int  # seeds on which the rule held (counted at every preset, even where the verdict is n/a)
    preset: str
    seeds: list[int]
    seconds: float
    per_seed: list[dict[str, Any]]
    runs: list[str]  # the command of every run the claim made
    measurements: dict[str, Any]
    reference: dict[str, Any] | None = None
    consistent: bool | None = None  # with the reference, when there is one
    figure: str | None = None
    note: str = ""
    budget_note: str = ""
    versions: dict[str, str] = field(default_factory=dict)
    caption: str = ""  # what to look at in the figure
    examples: list[str] = field(default_factory=list)
    reproduce: str = ""  # the command that measures it again
    data: str = ""  # the user's data the claim ran on, if any
    run_seconds: float = 0.0  # the training seconds of its runs (one core each), however they were shared

    @property
    def outcome(self) -> str:
        """holds, mixed, does not hold, or n/a (a smoke-test preset)."""
        return self.verdict.split(" (")[0]

    def write(self, out_dir: Path) -> Path:
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / "evidence.json"
        tmp = out_dir / ".evidence.json.tmp"
        tmp.write_text(json.dumps(asdict(self), indent=2, default=jsonable))
        os.replace(tmp, path)
        return path

    @staticmethod
    def read(path: Path) -> Evidence:
        return Evidence(**json.loads(path.read_text()))


@dataclass
class Claim:
    milestone: str
    name: str  # slug, used for folder names
    title: str
    paper: str  # what the paper reports, in words (section/figure)
    paper_value: str  # the paper's headline number
    rule: str  # the rule that decides, for one seed, whether the claim holds; fixed before measuring
    measure: Callable[[Context], Measured]
    why: str = ""  # why it holds, or does not, in miniature: the reference's reading, written by hand
    budget_note: str = ""  # what the claim costs at the small preset (the report says it for that preset only)
    caption: str = ""  # one line under the figure: what to look at
    takes_data: str = ""  # what data a user may bring (`reproduce --data`) where the embedded data falls short

    @property
    def reference(self) -> Reference | None:
        """The verdict on ten seeds, recorded as data (core/references.py): for the README, the
        report and the tests; None until it is recorded."""
        return load_reference(self.milestone, self.name, self.why)

    def first_runs(self, preset: str, seeds: list[int], data: str = "", evidence: bool = False) -> list[Run]:
        """The runs the claim's measure asks for first (those that depend on nothing), found by
        calling it with a runner that stops it there; [] if it cannot tell. With `evidence`, the
        first runs it counts as its evidence (`ctx.runs`), passing over runs it only starts to keep
        the cores busy (`ctx.train`, another claim's)."""
        def ask(runs: list[Run], workers: int, progress: Any = None) -> list[Record]:
            raise _Asked(list(runs))

        ctx = _Probe(preset, list(seeds), ask, 1, data=data) if evidence else Context(preset, list(seeds), ask, 1,
                                                                                          data=data)
        try:
            self.measure(ctx)
        except _Asked as asked:
            return asked.runs
        except Exception:  # noqa: BLE001 - a claim that fails here fails for real when it runs
            return []
        return []

    def run(self, preset: str, seeds: list[int], runner: Runner, out_dir: Path | None = None,
            workers: int | None = None, echo: Callable[[str], None] | None = None, data: str = "",
            recorder: Callable[[Any, Evidence, list[Run], list[Record]], None] | None = None) -> Evidence:
        """Measure the claim on `seeds` (on the user's `data` folder, for a claim that takes it), count
        the verdict, and write evidence.json and the figure into `out_dir`; `recorder(claim, evidence,
        runs, records)` then writes it as the claim's reference."""
        from .checkpoint import versions

        if data and not self.takes_data:
            raise ValueError(f"{self.milestone}/{self.name} runs on its embedded data only")

        say = echo or (lambda s: None)
        say(f"claim  {self.milestone}/{self.name}: {self.title}")
        say(f"paper  {self.paper} ({self.paper_value})")
        say(f"rule   {self.rule} (per seed; seeds {_span(seeds)})")
        if preset in SMOKE_PRESETS:
            say(f"note   {SMOKE_WARNING}")
        t0 = time.time()
        ctx = Context(preset, list(seeds), runner, workers or default_workers(), data=data,
                      progress=say if echo is not None else None)
        m = self.measure(ctx)
        seconds = time.time() - t0
        k = sum(bool(p["holds"]) for p in m.per_seed)
        n = len(m.per_seed)
        verdict = SMOKE_VERDICT if preset in SMOKE_PRESETS else verdict_of(k, n)
        ev = Evidence(milestone=self.milestone, claim=self.name, title=self.title, paper=self.paper,
                      paper_value=self.paper_value, rule=self.rule, ours=m.ours, verdict=verdict,
                      holds=k, preset=preset, seeds=list(seeds), seconds=round(seconds, 1), per_seed=m.per_seed,
                      runs=[r["command"] for r in ctx.runs_made], measurements=m.measurements, note=m.note,
                      budget_note=self.budget_note if preset == "small" else "", versions=versions(),
                      caption=self.caption, examples=list(m.examples),
                      reproduce=reproduce_command(self.milestone, preset, list(seeds), data), data=data,
                      run_seconds=round(sum(r.get("seconds") or 0 for r in ctx.runs_made), 1))
        if self.reference is not None and not data:  # the reference was measured on the embedded data
            ev.reference = self.reference.summary()
            ev.consistent = consistent(k, n, self.reference) if preset == "small" else None
        if out_dir is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
            if m.figure is not None:
                fig_path = out_dir / "figure.png"
                m.figure(fig_path)
                ev.figure = str(fig_path)
            ev.write(out_dir)
        if recorder is not None:
            recorder(self, ev, ctx.asked, ctx.runs_made)
        say(f"ours   {ev.ours}")
        ref = f"; on {self.reference.seeds} seeds at the small preset: {self.reference.verdict}" \
            if self.reference else ""
        counted = f" (the rule held on {k} of {n}: not evidence)" if preset in SMOKE_PRESETS else ""
        say(f"verdict: {ev.verdict.upper()}{counted}{ref}  ({seconds:.0f} s)")
        return ev


def ahead_of(claims: list[Any], preset: str, seeds: list[int], prefetch: Prefetch | None,
             data: str = "") -> Callable[[Any], None]:
    """`ahead(claim)`, called as each of `claims` starts: queues the next claim's first runs, so
    that they train on the workers this claim's last runs leave idle."""
    following = {id(a): b for a, b in zip(claims, claims[1:])}

    def ahead(claim: Any) -> None:
        nxt = following.get(id(claim))
        if prefetch is not None and nxt is not None:
            prefetch(nxt.first_runs(preset, seeds, data), default_workers())
    return ahead


def _span(seeds: list[int]) -> str:
    if len(seeds) > 2 and seeds == list(range(seeds[0], seeds[-1] + 1)):
        return f"{seeds[0]}-{seeds[-1]}"
    return ", ".join(map(str, seeds))


def median(xs: list[float]) -> float:
    return float(statistics.median(xs))
