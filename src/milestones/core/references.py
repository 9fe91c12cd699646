"""References: each claim's verdict measured on ten seeds, kept as data tied to the settings that
made it.

A reference is a file beside the claim's code, `src/milestones/<milestone>/references/<claim>.json`,
written by `milestones reproduce NAME --seeds 10 --record` from a clean git tree. It holds the
per-seed numbers and verdicts, the seeds, the command, the date, the commit (and the commit each run
was trained at, from the run store), the CPU, the versions, every run's seconds, the claim's rule
text, and each run's settings: its config as `milestones train` builds it, normalised (operational
fields such as the checkpoint cadence and TensorBoard left out, paths into the data cache written as
`$MILESTONES_CACHE/...`, so the file is the same on every machine), as a digest and as the fields in
which it differs from its preset. The hand-written "why" stays on the claim.

`check(claim, config_of)` compares a claim's current settings with its reference's: the rule text,
and the settings of the runs the claim asks for before it has trained anything
(`Claim.first_runs`). Runs whose settings depend on earlier results (a learning rate chosen on a
grid's results, steps matched to another run's FLOPs, a fine-tune from a kept model) cannot be
known before training: the check covers the first runs, and says how many it could not.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import fields_of, flatten, to_dict

# Fields that change how a run is kept or shown, never what it computes.
OPERATIONAL = ("ckpt_every", "keep_ckpts", "tensorboard", "device", "save_replay", "parallel", "loader_workers")
FOLDER = "references"


def verdict_of(k: int, n: int) -> str:
    word = "holds" if k == n else "does not hold" if k == 0 else "mixed"
    return f"{word} ({k} of {n})"


@dataclass(frozen=True)
class Reference:
    """A claim's verdict measured once on more seeds (the README's), with what measured it."""

    holds: int  # seeds on which the rule held
    seeds: int  # of how many
    command: str  # what measured it
    numbers: str  # the per-seed numbers, in words (the claim's own summary of them)
    why: str = ""  # why it holds, or does not, in miniature (written by hand, on the claim)
    seed_list: tuple[int, ...] = ()
    per_seed: tuple[dict[str, Any], ...] = ()
    date: str = ""
    commit: str = ""
    cpu: str = ""
    versions: dict[str, str] = field(default_factory=dict)
    train_minutes: float = 0.0  # its runs' training time, one core each
    rule: str = ""
    runs: tuple[dict[str, Any], ...] = ()  # {command, seconds, commit, digest, differs}
    bases: dict[str, dict[str, Any]] = field(default_factory=dict)  # "milestone/preset" -> its normalised config
    preset: str = "small"

    @property
    def verdict(self) -> str:
        return verdict_of(self.holds, self.seeds)

    def summary(self) -> dict[str, Any]:
        """What evidence.json and the report say of it."""
        return {"holds": self.holds, "seeds": self.seeds, "verdict": self.verdict, "command": self.command,
                "numbers": self.numbers, "why": self.why, "date": self.date, "commit": self.commit,
                "cpu": self.cpu}


def source_folder(milestone: str) -> Path:
    """Where a milestone's reference files live in the package (the source tree, or an installed wheel)."""
    return Path(__file__).resolve().parents[1] / milestone / FOLDER


def path_of(milestone: str, claim: str) -> Path:
    return source_folder(milestone) / f"{claim}.json"


@functools.cache
def _read(path: str, mtime: float) -> dict[str, Any] | None:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def load(milestone: str, claim: str, why: str = "") -> Reference | None:
    """The claim's recorded reference, or None when it has none (or its file cannot be read)."""
    return load_file(path_of(milestone, claim), why)


def load_file(path: Path, why: str = "") -> Reference | None:
    try:
        mtime = path.stat().st_mtime
    except OSError:
        return None
    data = _read(str(path), mtime)
    if data is None:
        return None
    return Reference(holds=data["holds"], seeds=len(data["seeds"]), command=data["command"], numbers=data["ours"],
                     why=why, seed_list=tuple(data["seeds"]), per_seed=tuple(data["per_seed"]),
                     date=data["date"], commit=data["commit"], cpu=data["cpu"], versions=data["versions"],
                     train_minutes=data["train_minutes"], rule=data["rule"], runs=tuple(data["runs"]),
                     bases=data["bases"], preset=data["preset"])


# ---------------------------------------------------------------------------------------------
# A run's settings, machine-free.


def _machine_free(value: Any) -> Any:
    from ..paths import in_cache

    if isinstance(value, str) and os.path.isabs(value):
        return in_cache(Path(value))  # a path into the data cache as `$MILESTONES_CACHE/...`
    if isinstance(value, tuple):
        return list(value)
    return value


def settings(cfg: Any) -> dict[str, Any]:
    """A run's config as the flat {path: value} that decides its numbers, the same on every machine:
    without the operational fields, nor the fields that hold their `Inert` value (options added
    after the references were measured, at the value that computes what the runs computed then)."""
    flat = flatten(to_dict(cfg))
    inert = {f.path: f.inert[0] for f in fields_of(type(cfg)) if f.inert}
    return {k: _machine_free(v) for k, v in sorted(flat.items())
            if k not in OPERATIONAL and not (k in inert and _same(v, inert[k]))}


def _same(value: Any, inert: Any) -> bool:
    return type(value) is type(inert) and value == inert


def digest(flat: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(flat, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


def _base_key(run: Any) -> str:
    return f"{run.milestone}/{run.preset}"


# ---------------------------------------------------------------------------------------------
# Recording.


def record(claim: Any, ev: Any, runs: list[Any], records: list[dict[str, Any]], config_of: Callable[[Any], Any],
           commit: str, cpu: str, out: Path | None = None) -> Path:
    """Write the claim's reference file from a measurement (its evidence, the runs it made and their
    records); `config_of(run)` builds a run's config as `milestones train` would."""
    bases: dict[str, dict[str, Any]] = {}
    rows = []
    by_command = {r["command"]: r for r in records}
    for run in runs:
        key = _base_key(run)
        if key not in bases:
            bases[key] = settings(config_of(type(run)(run.milestone, run.preset, ())))
        flat = settings(config_of(run))
        rec = by_command.get(run.command(), {})
        rows.append({"command": run.command(), "seconds": rec.get("seconds"),
                     "commit": (rec.get("made") or {}).get("commit", commit), "digest": digest(flat),
                     "differs": {k: v for k, v in flat.items() if bases[key].get(k, object()) != v}})
    data = {"milestone": claim.milestone, "claim": claim.name, "title": claim.title, "preset": ev.preset,
            "seeds": list(ev.seeds), "holds": ev.holds, "verdict": verdict_of(ev.holds, len(ev.seeds)),
            "ours": ev.ours, "per_seed": ev.per_seed, "command": ev.reproduce,
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"),
            "commit": commit, "cpu": cpu, "versions": ev.versions,
            "train_minutes": round(sum(r["seconds"] or 0 for r in rows) / 60, 1),
            "rule": claim.rule, "runs": rows, "bases": bases}
    path = out if out is not None else path_of(claim.milestone, claim.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    from .store import jsonable

    tmp.write_text(json.dumps(data, indent=1, default=jsonable) + "\n")
    os.replace(tmp, path)
    return path


# ---------------------------------------------------------------------------------------------
# Checking.


@dataclass
class Check:
    claim: str
    problems: list[str]
    checked: int  # runs whose settings could be compared before training
    in_reference: int  # runs the reference made


def check(claim: Any, ref: Reference, config_of: Callable[[Any], Any]) -> Check:
    """Whether the claim's rule and the settings of its first runs are those its reference measured;
    each problem names the claim and the field that differs."""
    name = f"{claim.milestone}/{claim.name}"
    problems = []
    if claim.rule != ref.rule:
        problems.append(f"{name}: its rule is not the reference's: {claim.rule!r} (reference: {ref.rule!r})")
    first = claim.first_runs(ref.preset, list(ref.seed_list), evidence=True)
    if not first:
        problems.append(f"{name}: could not tell which runs it asks for first")
    known = {r["digest"] for r in ref.runs}
    for run in first:
        flat = settings(config_of(run))
        if digest(flat) in known:
            continue
        problems.append(f"{name}: {run.command()} was not measured by the reference: {_closest(flat, run, ref)}")
    return Check(name, problems, len(first), len(ref.runs))


def _closest(flat: dict[str, Any], run: Any, ref: Reference) -> str:
    """The fields in which a run differs from the nearest run of its reference."""
    base = ref.bases.get(_base_key(run))
    if base is None:
        return f"the reference has no {_base_key(run)} run"
    best: list[str] | None = None
    for r in ref.runs:
        theirs = base | r["differs"]
        diff = [k for k in sorted(set(flat) | set(theirs)) if flat.get(k) != theirs.get(k)]
        if best is None or len(diff) < len(best):
            best = [f"{k} = {flat.get(k)!r} (reference: {theirs.get(k)!r})" for k in diff]
    return "; ".join(best or []) or "no field differs (the digest's normalisation changed)"
