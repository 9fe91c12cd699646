"""The `milestones` command. Thin: parses the verb and its options, then calls runs.py (train: a run's
life) or the registry (the claims, sampling, evaluation).

    milestones list
    milestones info NAME
    milestones train NAME [--preset P] [--resume] [--out DIR] [--FIELD VALUE ...]
    milestones reproduce NAME [--preset P] [--seeds K] [--first-seed S] [--out DIR]
    milestones tour [--preset P] [--seeds K] [--first-seed S] [--only NAME,...] [--out DIR]
    milestones sample NAME --run DIR [--count N] [--out DIR] [...]
    milestones evaluate NAME --run DIR [--out DIR]
    milestones plot RUN [RUN ...] [--metric KEY ...] [--out PNG]
    milestones export NAME --run DIR --to OUT

One parser for all of it: argparse, with one option per config field (core/config.py), whose
mistakes are one line `milestones: error: ...` and exit status 2.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .core import config as C
from .errors import UserError, did_you_mean
from .paths import runs_root

USAGE = """usage: milestones VERB [ARGS]

The history of deep learning, 2012-2020, as runnable, verified programs.

verbs:
  list                                   the ten milestones, their status and verdicts
  info NAME                              the idea, the presets, every config field and the claims
  train NAME [--preset P] [--config FILE] [--resume] [--out DIR] [--FIELD VALUE ...]
                                         train with the shared trainer (presets: tiny, small, paper);
                                         a field is --model.depth 32, or --depth 32 where unambiguous;
                                         --config: a run's config.json, or your JSON or TOML fields
  reproduce NAME [--preset P] [--seeds K] [--first-seed S] [--out DIR] [--data DIR] [--fresh] [--record]
                                         run the paper's claims in miniature: per-seed verdicts,
                                         figure, evidence.json with every run's command (--data:
                                         alexnet's ReLU claim on the user's CIFAR-10); each run is
                                         kept in DIR/.runs as it ends, so the same command after a
                                         stop trains only what is missing (--fresh: all again);
                                         --record (10 seeds or more, a clean git tree) writes each
                                         claim's reference file, which list, info and the README read
  sample NAME --run DIR [--count N] [--out DIR]   use a trained run: alexnet and resnet predict test examples;
                                         dqn plays episodes and saves a GIF;
                                         gan draws a grid of samples and latent walks; seq2seq and
                                         transformer translate "SENTENCE ..." (or stdin lines),
                                         with --beam K and --attention PNG; gpt continues "PROMPT"
                                         (--run DIR or --pretrained HF_DIR), streaming tokens;
                                         bert fills [MASK]s or predicts labels; simclr draws views
                                         and a map of the test set's representation
  evaluate NAME --run DIR [--out DIR]    the test metrics of a trained run (classifiers: a confusion matrix)
  plot RUN [RUN ...] [--metric KEY] [--out PNG]
                                         overlay runs' training curves from their metrics.jsonl
  tour [--preset P] [--seeds K] [--first-seed S] [--only NAME,...] [--out DIR] [--fresh] [--check]
                                         every built milestone's claims in historical order -> a report;
                                         resumes as reproduce does (DIR/.runs); --check exits 1 when
                                         a verdict disagrees with its reference (make test-claims)
  export NAME --run DIR --to OUT         write a run in its reference library's format (gpt: a
                                         folder transformers.GPT2LMHeadModel.from_pretrained loads)

environment:
  MILESTONES_RUNS     where runs go (default ./runs)
  MILESTONES_CACHE    generated data and cached models (default ~/.cache/milestones)
  MILESTONES_WORKERS  claim runs side by side, one torch thread each (default: the cores, at most 4);
                      however many commands run, the machine trains at most one claim run per core
  MILESTONES_SLOTS    the folder of the lock files that bound them (default: in the temporary folder)

examples:
  milestones train resnet --out runs/r32 --depth 32         # then: milestones sample resnet --run runs/r32
  milestones train resnet --out runs/p32 --depth 32 --plain
  milestones plot runs/r32 runs/p32                         # the degradation problem, in your own runs
  milestones train alexnet --data ~/data/cifar-10-batches-bin --steps 5000
  milestones reproduce adam --seeds 10 --first-seed 100
  torchrun --nproc_per_node 2 -m milestones train resnet --preset small
"""


EXAMPLES = {
    "list": ["milestones list"],
    "info": ["milestones info resnet"],
    "train": ["milestones train resnet --out runs/r20 --depth 20", "milestones train resnet --out runs/r20 --resume "
              "--steps 2000", "milestones train resnet --help               (every field of resnet, with its range)"],
    "reproduce": ["milestones reproduce resnet", "milestones reproduce resnet --seeds 10 --first-seed 100"],
    "tour": ["milestones tour", "milestones tour --only resnet,gpt --out runs/two"],
    "sample": ["milestones sample gpt --run runs/chars \"def main(\" --top-k 40",
               "milestones sample gpt --help                 (gpt's sampling options)"],
    "evaluate": ["milestones evaluate resnet --run runs/plain"],
    "plot": ["milestones plot runs/plain32 runs/res32 --out plain-vs-res.png"],
    "export": ["milestones export gpt --run runs/chars --to gpt2-mine"],
}


def verb_usage(verb: str) -> str:
    """The USAGE lines of one verb (`milestones VERB --help`), its examples, and the environment."""
    lines = USAGE.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"  {verb} ") or line == f"  {verb}")
    end = start + 1
    while end < len(lines) and lines[end].startswith(" " * 10):
        end += 1
    env = lines.index("environment:")
    return "\n".join(["usage: milestones " + lines[start].strip(), *lines[start + 1:end], "",
                      "examples:", *(f"  {e}" for e in EXAMPLES[verb]), "", *lines[env:env + 6]])


def verb_help(verb: str, args: list[str]) -> str:
    """`milestones VERB [NAME] --help`: the verb's usage and examples; with a milestone, also what
    that milestone takes (sample: its options)."""
    text = verb_usage(verb)
    name = args[0] if args and not args[0].startswith("-") else None
    if name is None or verb not in ("sample", "evaluate", "export", "reproduce", "info"):
        return text
    from . import registry

    m = registry.get(name)  # a mistyped name is one line, with a did-you-mean
    module = m.sample_module if verb == "sample" and m.built else None
    if module is not None:
        options = C.describe(module.Options()).removeprefix("task:\n")  # one part: no heading
        text += f"\n\n{m.name}'s sampling options (--FIELD VALUE):\n{options}"
    return text


def _echo(text: str) -> None:
    print(text, flush=True)


def _at_least(low: int, flag: str) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise UserError(f"bad value {text!r} for {flag}: expected an integer") from None
        if v < low:
            raise UserError(f"{flag} must be at least {low}, not {v}")
        return v
    return parse


def _milestone(args: list[str], verb: str, example: str):
    from . import registry

    if not args or args[0].startswith("-"):
        raise UserError(f"{verb} needs a milestone name, e.g. milestones {verb} {example}")
    return registry.get(args[0])


def _built(m: Any) -> None:
    from . import registry

    registry.require_built(m)


def _parse(parser: C.ArgumentParser, args: list[str], cls: type | None = None, intermixed: bool = False) -> dict:
    return C.parse_options(parser, args, cls, intermixed)


# ---------------------------------------------------------------------------------------------


def cmd_list(args: list[str]) -> int:
    from . import registry
    from .core.report import last_verdicts

    _parse(C.ArgumentParser(prog="milestones list"), args)
    verdicts = last_verdicts(runs_root())
    for m in registry.historical():
        status = "built" if m.built else "not built yet"
        print(f"{m.number:>2}. {m.name:<12} {m.year:<10} {m.title}")
        print(f"    {m.authors.rstrip('.')}. {status}")
        if m.built:
            for c in m.claims:
                if c.reference is not None:
                    print(f"    {c.name}: {c.reference.verdict} on {c.reference.seeds} seeds (README)")
        for claim, ev in sorted(verdicts.get(m.name, {}).items()):
            print(f"    last run [{ev.preset}] {claim}: {ev.verdict} ({ev.ours})")
    return 0


INFO_WIDTH = 100  # characters a line of `info` holds


def _wrapped(label: str, text: str, indent: int) -> str:
    """`label` then `text`, wrapped at INFO_WIDTH with later lines indented by `indent` spaces."""
    import textwrap

    return textwrap.fill(text, INFO_WIDTH, initial_indent=label, subsequent_indent=" " * indent,
                         break_long_words=False, break_on_hyphens=False)


def cmd_info(args: list[str]) -> int:
    p = C.ArgumentParser(prog="milestones info")
    p.add_argument("name")
    m = _milestone(args, "info", "resnet")
    _parse(p, args)
    print(f"{m.name} ({m.year}): {m.title}\n{m.authors.rstrip('.')}. {m.link}\n")
    print(_wrapped("idea:  ", m.idea, 7))
    print(_wrapped("claim: ", m.claim, 7))
    if not m.built:
        print("\nstatus: not built yet")
        return 0
    print("\npresets:")
    for name, over in m.presets.items():
        print(_wrapped(f"  {name:<6} ", ", ".join(f"{k}={C.format_value(v)}" for k, v in C.flatten(over).items()), 9))
    print("\nconfig fields (values of the small preset; set one with --FIELD VALUE):")
    print(C.describe(m.config("small")))
    print("\nclaims:")
    for c in m.claims:
        print(f"  {c.name}: {c.title}")
        print(_wrapped("    paper: ", f"{c.paper} ({c.paper_value})", 6))
        print(_wrapped("    holds for a seed if: ", c.rule, 6))
        if c.reference is not None:
            r = c.reference
            print(_wrapped(f"    on {r.seeds} seeds: ", f"{r.verdict}: {r.numbers}", 6))
            print(_wrapped("      (", f"{r.command}; {r.date}, commit {r.commit}, {r.cpu}; its runs trained "
                                     f"{r.train_minutes:.0f} minutes on one core each)", 7))
            if r.why:
                print(_wrapped("    why: ", r.why, 6))
    return 0


def cmd_train(args: list[str]) -> int:
    from . import runs

    m = _milestone(args, "train", "resnet --preset tiny")
    _built(m)
    p = C.ArgumentParser(prog=f"milestones train {m.name}")
    p.add_argument("name")
    p.add_argument("--preset")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--out")
    p.add_argument("--config")
    p.add_argument("-h", "--help", action="store_true")
    C.add_options(p, m.config_cls)
    given = _parse(p, args, m.config_cls)
    preset, resume, out, config, show_help = (given.pop(k) for k in ("preset", "resume", "out", "config", "help"))
    given.pop("name")
    if show_help:
        print(f"usage: milestones train {m.name} [--preset P] [--config FILE] [--resume] [--out DIR] "
              "[--FIELD VALUE ...]\n")
        print(C.describe(m.config(preset or "small")))
        print(f"\nexamples:\n  milestones train {m.name} --preset tiny --out runs/{m.name}-try\n"
              f"  milestones train {m.name} --out runs/{m.name}-try --resume      (after a stop: continues it)")
        return 0
    runs.train(m, Path(out) if out else None, preset, resume, given, Path(config) if config else None)
    return 0


def _claim_options(p: C.ArgumentParser) -> None:
    p.add_argument("--preset", default="small")
    p.add_argument("--seeds", type=_at_least(1, "--seeds"), default=3)
    p.add_argument("--first-seed", dest="first_seed", type=_at_least(0, "--first-seed"), default=0)
    p.add_argument("--out")
    p.add_argument("--fresh", action="store_true")


def _store(out: Path, fresh: bool) -> Any:
    """The run store under a reproduce's or tour's --out (core/store.py), and its runner."""
    from . import registry
    from .core.store import RunStore

    store = RunStore.open(out / ".runs", fresh=fresh, warn=lambda line: print(line, file=sys.stderr))
    kept = sum(1 for _ in store.folder.glob("*.json")) - 1
    if kept:
        _echo(f"store  {store.folder}: {kept} runs kept by an earlier command; only the missing ones train "
              "(--fresh: all)")
    return registry.Runs(store)


def _store_line(runs: Any) -> str:
    return f"runs: {runs.store.trained} trained, {runs.store.read} read from {runs.store.folder}"


def _recorder(preset: str, seeds: int, data: bool) -> Callable[..., None]:
    """What `reproduce --record` calls after each claim: write its reference file (core/references.py)
    into the source tree, stamped with the commit, which must be clean."""
    from . import registry
    from .core import references
    from .core.provenance import commit, cpu

    if preset != "small" or data:
        raise UserError("--record records a claim's reference, which is measured at the small preset on the "
                        "embedded data: drop --preset and --data")
    if seeds < 10:
        raise UserError(f"--record needs at least 10 seeds (a reference's), not {seeds}: add --seeds 10")
    at = commit()
    if not at:
        raise UserError("--record writes the reference into the source tree: run it from a git clone of milestones")
    if at.endswith("+changes"):
        raise UserError(f"--record needs a clean tree ({at}): commit first, since the reference names the commit "
                        "that measured it")

    def config_of(run: Any) -> Any:
        return registry.get(run.milestone).config(run.preset, run.options)

    def record(claim: Any, ev: Any, runs: list[Any], records: list[dict[str, Any]]) -> None:
        path = references.record(claim, ev, runs, records, config_of, at, cpu())
        _echo(f"record {path}")
    return record


def cmd_reproduce(args: list[str]) -> int:
    from . import registry

    m = _milestone(args, "reproduce", "adam")
    p = C.ArgumentParser(prog="milestones reproduce")
    p.add_argument("name")
    _claim_options(p)
    p.add_argument("--data")
    p.add_argument("--record", action="store_true")
    o = _parse(p, args)
    preset = o.get("preset", "small")
    if preset not in registry.PRESET_NAMES:
        raise UserError(f"unknown preset {preset!r}; presets are {', '.join(registry.PRESET_NAMES)}")
    _built(m)
    recorder = _recorder(preset, o.get("seeds", 3), bool(o.get("data"))) if o.get("record") else None
    seeds = list(range(o.get("first_seed", 0), o.get("first_seed", 0) + o.get("seeds", 3)))
    data = o.get("data") or ""
    claims = m.claims
    if data:
        claims = [c for c in m.claims if c.takes_data]
        if not claims:
            raise UserError(f"{m.name}'s claims run on their embedded data only (--data is for alexnet's "
                            "relu-vs-tanh, whose miniature needs CIFAR-10)")
        data = str(Path(data).expanduser().resolve())  # the claim reads it (one line if it cannot) before any run
    out = Path(o.get("out") or runs_root() / m.name / f"reproduce-{preset}{'-data' if data else ''}")
    registry.check_packages([r for c in claims for r in c.first_runs(preset, seeds, data)])  # before any trains
    from .core.claims import ahead_of

    runs = _store(out, bool(o.get("fresh")))
    ahead = ahead_of(claims, preset, seeds, runs.prefetch, data)
    results = []
    try:
        for c in claims:
            ahead(c)
            results.append(c.run(preset, seeds, runs, out / c.name, echo=_echo, data=data, recorder=recorder))
    except (KeyboardInterrupt, Stopped):
        finished = ", ".join(f"{out / ev.claim / 'evidence.json'} ({ev.verdict})" for ev in results) or "none"
        print(f"\nmilestones: stopped; claims that finished: {finished}; {_store_line(runs)}: the same command "
              "continues", file=sys.stderr)
        raise
    print(f"\n{_store_line(runs)}")
    for ev in results:
        print(f"{ev.claim}: {ev.verdict.upper()}: {ev.ours}  -> {out / ev.claim / 'evidence.json'}")
    return 0


def cmd_tour(args: list[str]) -> int:
    from . import registry
    from .core.report import tour

    p = C.ArgumentParser(prog="milestones tour")
    _claim_options(p)
    p.add_argument("--only")
    p.add_argument("--check", action="store_true")
    o = _parse(p, args)
    preset = o.get("preset", "small")
    if preset not in registry.PRESET_NAMES:
        raise UserError(f"unknown preset {preset!r}; presets are {', '.join(registry.PRESET_NAMES)}")
    seeds = list(range(o.get("first_seed", 0), o.get("first_seed", 0) + o.get("seeds", 3)))
    out = Path(o.get("out") or runs_root() / "tour")
    if o.get("check") and preset != "small":
        raise UserError("--check compares the small preset's verdicts with the references: drop --preset")
    _refuse_to_publish_changes(out)
    only = {registry.get(n.strip()).name for n in o["only"].split(",") if n.strip()} if o.get("only") else None
    registry.check_packages([r for m in registry.historical() if m.built and (only is None or m.name in only)
                             for c in m.claims for r in c.first_runs(preset, seeds)])  # before any trains
    runs = _store(out, bool(o.get("fresh")))
    try:
        html = tour(out, registry.historical(), runs, preset=preset, seeds=seeds, only=only, echo=_echo,
                    prefetch=runs.prefetch)
    except (KeyboardInterrupt, Stopped):
        print(f"milestones: {_store_line(runs)}: the same command continues", file=sys.stderr)
        raise
    print(f"\n{_store_line(runs)}\nreport: {html}\n        {html.parent / 'report.md'}")
    return _check_tour(html.parent, registry.historical(), only) if o.get("check") else 0


def _refuse_to_publish_changes(out: Path) -> None:
    """The published tour (docs/tour of this source tree) is made only from committed code, so that
    its stamp's commit is the code that made it."""
    from .core.provenance import commit

    root = Path(__file__).resolve().parents[2]
    if (root / ".git").exists() and out.resolve() == (root / "docs" / "tour").resolve():
        at = commit()
        if at.endswith("+changes"):
            raise UserError(f"{out} is the published tour, made only from a committed tree, and this one has "
                            f"uncommitted changes ({at}): commit first, or give another --out")


def _check_tour(out: Path, milestones: list[Any], only: set[str] | None) -> int:
    """`tour --check`: exit 1 when a claim's verdict is not consistent with its reference, or (on the
    reference's CPU and torch) a seed's numbers differ from the reference's."""
    import torch

    from .core.claims import Evidence, disagreements
    from .core.provenance import cpu

    problems, replayed, checked = [], 0, 0
    for m in milestones:
        if not m.built or (only is not None and m.name not in only):
            continue
        for c in m.claims:
            ref = c.reference
            if ref is None:
                problems.append(f"{m.name}/{c.name}: no reference recorded")
                continue
            found, same = disagreements(Evidence.read(out / m.name / c.name / "evidence.json"), ref, cpu(),
                                        torch.__version__)
            problems += found
            replayed += same
            checked += 1
    for line in problems:
        print(f"check: {line}")
    print(f"check: {checked - len({p.split(':')[0] for p in problems})} of {checked} claims agree with their "
          f"references; {replayed} were measured on their references' CPU and torch, where the seeds both "
          "measured must give the same numbers")
    return 1 if problems else 0


def cmd_sample(args: list[str]) -> int:

    m = _milestone(args, "sample", "dqn --run runs/dqn/RUN")
    module = m.sample_module
    if module is None:
        raise UserError(f"{m.name} has nothing to sample (it compares optimizers): see milestones evaluate "
                        f"{m.name} --run DIR and milestones plot RUN ...")
    p = C.ArgumentParser(prog=f"milestones sample {m.name}")
    p.add_argument("name")
    p.add_argument("--run")
    p.add_argument("--count", type=_at_least(1, "--count"))
    p.add_argument("--out")
    if module.INPUTS:
        p.add_argument("inputs", nargs="*")
    C.add_options(p, module.Options)
    given = _parse(p, args, module.Options, intermixed=bool(module.INPUTS))
    run, count, out, inputs = (given.pop(k, None) for k in ("run", "count", "out", "inputs"))
    given.pop("name")
    opts = C.validate(C.apply(module.Options(), given))
    pretrained = getattr(opts, "pretrained", "")
    if run is not None and pretrained:
        raise UserError("give --run DIR or --pretrained DIR, not both")
    if run is None and not pretrained:
        raise UserError(f"sample needs --run DIR, a run folder of {m.name} (see milestones train {m.name})")
    if pretrained:
        loaded = module.load_pretrained(opts)
        default_out = Path(pretrained) / "samples"
    else:
        loaded = _load_run(m, run)
        default_out = Path(run) / "samples"
    module.sample(loaded, opts, list(inputs or []), count, Path(out) if out else default_out)
    return 0


def _load_run(m: Any, run: str) -> Any:
    """The latest finished checkpoint of a run folder (or one checkpoint) of milestone `m`."""
    from .runs import load

    loaded = load(Path(run))
    if loaded.milestone != m.name:
        raise UserError(f"{run} is a run of {loaded.milestone!r}, not {m.name!r}")
    return loaded


def cmd_evaluate(args: list[str]) -> int:
    import torch

    from .core import checkpoint as ckpt

    m = _milestone(args, "evaluate", "resnet --run runs/resnet/RUN")
    _built(m)
    p = C.ArgumentParser(prog=f"milestones evaluate {m.name}")
    p.add_argument("name")
    p.add_argument("--run")
    p.add_argument("--out")
    o = _parse(p, args)
    if not o.get("run"):
        raise UserError(f"evaluate needs --run DIR, a run folder of {m.name} (see milestones train {m.name})")
    loaded = _load_run(m, o["run"])
    meta = ckpt.read_meta(loaded.checkpoint)
    cfg = C.validate(C.from_dict(m.config_cls, meta["config"], f"{loaded.checkpoint / 'meta.json'} config"))
    task = m.make_task(cfg, resume_from=loaded.checkpoint)  # the run's data (and tokenizer), as it trained
    device = torch.device("cpu")
    task.attach(loaded.model, device)
    with torch.no_grad():
        metrics = task.test_metrics(loaded.model, device)
    print(f"{m.name}: {loaded.checkpoint} (step {loaded.step})")
    for k, v in metrics.items():
        print(f"  {k:<22} {float(v):.6g}")
    predictions = getattr(task, "predictions", None)
    if predictions is not None:
        from .tasks.classification_sample import confusion_figure

        y, pred, n = predictions(loaded.model, device)
        out = Path(o["out"]) if o.get("out") else Path(o["run"]) / "evaluation"
        path = confusion_figure(y, pred, n, out / "confusion.png",
                                f"{m.name}, step {loaded.step}: test accuracy {float((y == pred).float().mean()):.1%}")
        print(f"confusion matrix: {path}")
    return 0


def cmd_plot(args: list[str]) -> int:
    from . import registry
    from .core import curves

    p = C.ArgumentParser(prog="milestones plot")
    p.add_argument("runs", nargs="*")
    p.add_argument("--out")
    p.add_argument("--metric", action="append")
    o = _parse(p, args, intermixed=True)
    folders = [Path(r) for r in o.get("runs") or []]
    if not folders:
        raise UserError("plot needs one or more run folders, e.g. milestones plot runs/resnet/A runs/resnet/B")
    runs, watch, names = [], [], []
    for folder in folders:
        if not folder.is_dir():
            raise UserError(f"{folder} is not a run folder (no such folder)")
        rows = curves.read_metrics(folder)
        saved = _read_config(folder)
        name = saved.get("milestone", "")
        if name in registry.built_names():
            watch += [k for k in registry.get(name).watch if k not in watch]
        names.append(name)
        label = folder.name if [f.name for f in folders].count(folder.name) == 1 else str(folder)
        runs.append((label, rows))
    out = Path(o["out"]) if o.get("out") else Path("plot.png")
    title = " vs ".join(sorted(set(n for n in names if n))) or "runs"
    path = curves.draw(runs, tuple(watch) or ("loss",), out, title, only=o.get("metric"))
    print(f"wrote {path}")
    return 0


def _read_config(folder: Path) -> dict[str, Any]:
    from .core.checkpoint import read_json

    saved = read_json(folder / "config.json", f"{folder} has no config.json (is it a run folder?)")
    return saved if isinstance(saved, dict) else {}


def cmd_export(args: list[str]) -> int:

    m = _milestone(args, "export", "gpt --run runs/gpt/RUN --to gpt2-folder")
    _built(m)
    module = m.export_module
    if module is None:
        raise UserError(f"{m.name} has no export format; gpt exports to Hugging Face transformers")
    p = C.ArgumentParser(prog=f"milestones export {m.name}")
    p.add_argument("name")
    p.add_argument("--run")
    p.add_argument("--to")
    o = _parse(p, args)
    if not o.get("run") or not o.get("to"):
        raise UserError(f"export needs --run DIR (a run of {m.name}) and --to OUT (the folder to write)")
    loaded = _load_run(m, o["run"])
    out = Path(o["to"])
    if out.exists() and not out.is_dir():
        raise UserError(f"--to {out} is a file; give a folder")
    if out.is_dir() and any(out.iterdir()):
        raise UserError(f"--to {out} is not empty; give a new folder")
    module.export(loaded.model, out, loaded.tokenizer)
    print(f"wrote {out}: {', '.join(sorted(p.name for p in out.iterdir()))}")
    if loaded.tokenizer is not None and getattr(loaded.tokenizer, "kind", "") == "char":
        print("(the run's character tokenizer has no transformers form: encode text as the run's tokenizer.json "
              "says, one id per character)")
    return 0


class Stopped(Exception):
    """SIGTERM arrived outside a training run that saves (which takes over the signals itself): a
    tour or a reproduce stops at once (core/pool.py ends its workers)."""

    def __init__(self, signum: int):
        self.signum = signum


def _stopped(signum: int, frame: Any) -> None:
    raise Stopped(signum)


VERBS: dict[str, Callable[[list[str]], int]] = {
    "list": cmd_list, "info": cmd_info, "train": cmd_train, "reproduce": cmd_reproduce,
    "tour": cmd_tour, "sample": cmd_sample, "evaluate": cmd_evaluate, "plot": cmd_plot, "export": cmd_export,
}


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(USAGE)
        sys.exit(0)
    if args[0] == "--version":
        from .version import __version__

        print(__version__)
        sys.exit(0)
    verb = args.pop(0)
    try:  # torch loads here (a second or more): Ctrl-C now ends as quietly as later
        from .core.trainer import Interrupted, NonFiniteLoss
    except KeyboardInterrupt:
        print("milestones: interrupted", file=sys.stderr)
        sys.exit(130)

    previous = signal.signal(signal.SIGTERM, _stopped)  # until training starts (the trainer then saves first)
    try:
        if verb not in VERBS:
            from . import registry

            names = [m.name for m in registry.MILESTONES]
            hint = did_you_mean(verb, VERBS) or (
                f"; a milestone? milestones info {verb.lower()}" if verb.lower() in names else
                did_you_mean(verb, names).replace("; did you mean ", "; a milestone? milestones info ").rstrip("?"))
            raise UserError(f"unknown verb {verb!r}{hint}; verbs are {', '.join(VERBS)}")
        wants_help = any(a in ("-h", "--help") for a in args)
        if wants_help and (verb != "train" or not args or args[0].startswith("-")):  # train NAME: its fields
            print(verb_help(verb, args))
            code = 0
        else:
            code = VERBS[verb](args)
    except UserError as e:
        print(f"milestones: error: {e}", file=sys.stderr)
        code = 2
    except Stopped as e:
        what = ("before training started: stopped, no checkpoint written" if verb == "train" else
                "stopped")
        print(f"milestones: {signal.Signals(e.signum).name} received {what}", file=sys.stderr)
        code = 128 + e.signum
    except BrokenPipeError:  # the reader went away (`milestones info gan | head -1`): end quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 0
    except OSError as e:  # a path that cannot be read or written: one line naming it
        where = f"{e.filename}: " if e.filename else ""
        print(f"milestones: error: {where}{e.strerror or e}", file=sys.stderr)
        code = 2
    except NonFiniteLoss as e:
        print(f"milestones: {e}", file=sys.stderr)
        code = 1
    except Interrupted as e:
        print(f"milestones: {e}", file=sys.stderr)
        code = 128 + e.signum
    except KeyboardInterrupt:
        print("milestones: interrupted", file=sys.stderr)
        code = 130
    finally:
        from .core import distributed

        distributed.teardown()
        signal.signal(signal.SIGTERM, previous)
        pool = sys.modules.get("milestones.core.pool")
        if pool is not None:  # end the claim workers now: at exit, Python would wait for each to wind down
            pool.close()
    sys.exit(code)
