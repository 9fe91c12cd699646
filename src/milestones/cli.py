"""The `milestones` command. Thin: parses the verb and its options, then calls the registry.

    milestones list
    milestones info NAME
    milestones train NAME [--preset P] [--resume] [--out DIR] [--field value ...]
    milestones reproduce NAME [--preset P] [--seeds K] [--out DIR]
    milestones tour [--preset P] [--seeds K] [--out DIR]

A user mistake prints one line `milestones: error: ...` and exits with status 2.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Callable

from .core.config import UserError

USAGE = """usage: milestones VERB [ARGS]

The history of deep learning, 2012-2020, as runnable, verified programs.

verbs:
  list                                   the ten milestones, their status and last verdicts
  info NAME                              the idea, the presets and every config field
  train NAME [--preset P] [--resume] [--out DIR] [--FIELD VALUE ...]
                                         train with the shared trainer (presets: tiny, small, paper)
  reproduce NAME [--preset P] [--seeds K] [--out DIR]
                                         run the paper's claims in miniature: verdict, figure, evidence.json
  sample NAME --run DIR [--count N] [--out DIR]   use a trained run: dqn plays episodes and saves a GIF;
                                         gan draws a grid of samples and latent walks; seq2seq and
                                         transformer translate "SENTENCE ..." (or stdin lines),
                                         with --beam K and --attention PNG
  tour [--preset P] [--seeds K] [--out DIR]
                                         every built milestone's claims in historical order -> a report

examples:
  milestones train resnet --preset small --depth 32 --plain
  milestones train alexnet --data ~/data/cifar-10-batches-bin --variant small --steps 5000
  milestones reproduce adam --seeds 3
  torchrun --nproc_per_node 2 -m milestones train resnet --preset small
"""


def runs_root() -> Path:
    return Path(os.environ.get("MILESTONES_RUNS", "runs"))


def _take(args: list[str], flag: str, default: str | None = None, is_bool: bool = False) -> str | None:
    """Remove `flag` (and its value) from args; return the value (or 'true' for a bool flag)."""
    for i, a in enumerate(args):
        if a == flag or a.startswith(flag + "="):
            if is_bool:
                del args[i]
                return "true"
            if "=" in a:
                del args[i]
                return a.split("=", 1)[1]
            if i + 1 >= len(args) or args[i + 1].startswith("--"):
                raise UserError(f"{flag} needs a value")
            value = args[i + 1]
            del args[i:i + 2]
            return value
    return default


def _no_extra(args: list[str], verb: str) -> None:
    if args:
        raise UserError(f"unexpected argument {args[0]!r} for '{verb}'; see milestones --help")


def _int(text: str, flag: str, low: int = 1) -> int:
    try:
        v = int(text)
    except ValueError:
        raise UserError(f"bad value {text!r} for {flag}: expected an integer") from None
    if v < low:
        raise UserError(f"{flag} must be at least {low}")
    return v


def _echo(text: str) -> None:
    print(text, flush=True)


# ---------------------------------------------------------------------------------------------


def cmd_list(args: list[str]) -> int:
    from . import registry
    from .core.report import last_verdicts

    _no_extra(args, "list")
    verdicts = last_verdicts(runs_root())
    for m in registry.historical():
        status = "built" if m.built else "not built yet"
        print(f"{m.number:>2}. {m.name:<12} {m.year:<10} {m.title}")
        print(f"    {m.authors.rstrip('.')}. {status}")
        for claim, ev in sorted(verdicts.get(m.name, {}).items()):
            print(f"    last verdict [{ev.preset}] {claim}: {ev.verdict} ({ev.ours})")
    return 0


def cmd_info(args: list[str]) -> int:
    from . import registry
    from .core.config import describe

    if not args:
        raise UserError("info needs a milestone name; see milestones list")
    m = registry.get(args.pop(0))
    _no_extra(args, "info")
    print(f"{m.name} ({m.year}): {m.title}\n{m.authors.rstrip('.')}. {m.link}\n\nidea:  {m.idea}\nclaim: {m.claim}")
    if not m.built:
        print("\nstatus: not built yet")
        return 0
    print("\npresets:")
    for p, over in m.presets.items():
        print(f"  {p:<6} {', '.join(f'{k}={v}' for k, v in over.items())}")
    print("\nconfig fields (defaults of the small preset; override with --field value):")
    print(describe(m.config_cls, m.config("small")))
    print("\nclaims:")
    for c in m.claims:
        print(f"  {c.name}: {c.title}\n    paper: {c.paper} ({c.paper_value})\n    holds if: {c.threshold}")
    return 0


def cmd_train(args: list[str]) -> int:
    from . import registry
    from .core import config as C
    from .core.trainer import train

    if not args or args[0].startswith("-"):
        raise UserError("train needs a milestone name, e.g. milestones train resnet --preset tiny")
    m = registry.get(args.pop(0))
    if not m.built:
        raise UserError(f"milestone {m.name!r} is not built yet; built ones: {', '.join(registry.built_names())}")
    if "--help" in args or "-h" in args:
        print(f"usage: milestones train {m.name} [--preset P] [--resume] [--out DIR] [--field value ...]\n")
        print(C.describe(m.config_cls, m.config("small")))
        return 0
    preset = _take(args, "--preset", "small")
    resume = _take(args, "--resume", is_bool=True) == "true"
    out = _take(args, "--out")
    if resume:
        run_dir = Path(out) if out else _latest_run(m.name)
        cfg = C.apply_overrides(_saved_config(m, run_dir, "cannot resume: "), args)
    else:
        cfg = C.apply_overrides(m.config(preset or "small"), args)
        run_dir = Path(out) if out else runs_root() / m.name / time.strftime("%Y%m%d-%H%M%S")
        if (run_dir / "ckpt").exists():
            raise UserError(f"{run_dir} already holds a run; use --resume to continue it or choose another --out")
    task = m.make_task(cfg)  # loads and checks the data before anything is written
    result = train(task, run_dir, resume=resume, meta={"preset": preset})
    if result.run_dir is not None and _is_rank0():
        shown = ", ".join(f"{k} {v:.4g}" for k, v in result.final_eval.items())
        print(f"{m.name}: step {result.step}, {shown}")
        print(f"run folder: {result.run_dir}  (checkpoint {result.checkpoint})")
    return 0


def _saved_config(m, run_dir: Path, prefix: str = ""):
    """The config a run of milestone `m` was started with, read from its config.json."""
    from .core import config as C

    cfg_file = run_dir / "config.json"
    if not cfg_file.is_file():
        raise UserError(f"{prefix}{run_dir} has no config.json (is it a run folder?)")
    try:
        saved = json.loads(cfg_file.read_text())
    except json.JSONDecodeError:
        raise UserError(f"{prefix}{cfg_file} is damaged") from None
    if saved.get("milestone") != m.name:
        raise UserError(f"{run_dir} is a run of {saved.get('milestone')!r}, not {m.name!r}")
    return C.from_dict(m.config_cls, saved["config"])


def _is_rank0() -> bool:
    return os.environ.get("RANK", "0") == "0"


def _latest_run(name: str) -> Path:
    root = runs_root() / name
    runs = sorted([p for p in root.iterdir() if (p / "config.json").exists()], key=lambda p: p.stat().st_mtime) \
        if root.is_dir() else []
    if not runs:
        raise UserError(f"no run of {name} to resume under {root}; give --out DIR")
    return runs[-1]


def cmd_reproduce(args: list[str]) -> int:
    from . import registry

    if not args or args[0].startswith("-"):
        raise UserError("reproduce needs a milestone name, e.g. milestones reproduce adam")
    m = registry.get(args.pop(0))
    preset = _take(args, "--preset", "small") or "small"
    if preset not in registry.PRESET_NAMES:
        raise UserError(f"unknown preset {preset!r}; presets are {', '.join(registry.PRESET_NAMES)}")
    seeds = _int(_take(args, "--seeds", "3") or "3", "--seeds")
    out = Path(_take(args, "--out") or runs_root() / m.name / f"reproduce-{preset}")
    _no_extra(args, "reproduce")
    if not m.built:
        raise UserError(f"milestone {m.name!r} is not built yet; built ones: {', '.join(registry.built_names())}")
    results = [c.run(preset, seeds, out / c.name, echo=_echo) for c in m.claims]
    print()
    for ev in results:
        print(f"{ev.claim}: {ev.verdict.upper()}: {ev.ours}  -> {out / ev.claim / 'evidence.json'}")
    return 0


def cmd_tour(args: list[str]) -> int:
    from .core.report import tour

    preset = _take(args, "--preset", "small") or "small"
    seeds = _int(_take(args, "--seeds", "3") or "3", "--seeds")
    out = Path(_take(args, "--out") or runs_root() / "tour")
    _no_extra(args, "tour")
    from . import registry

    if preset not in registry.PRESET_NAMES:
        raise UserError(f"unknown preset {preset!r}; presets are {', '.join(registry.PRESET_NAMES)}")
    html = tour(out, preset=preset, seeds=seeds, echo=_echo)
    print(f"\nreport: {html}\n        {html.parent / 'report.md'}")
    return 0


def cmd_sample(args: list[str]) -> int:
    import importlib
    import importlib.util

    from . import registry
    from .core import checkpoint as ckpt

    if not args or args[0].startswith("-"):
        raise UserError("sample needs a milestone name, e.g. milestones sample dqn --run runs/dqn/RUN")
    m = registry.get(args.pop(0))
    run = _take(args, "--run")
    count = _take(args, "--count")
    out = _take(args, "--out")
    if not m.built or importlib.util.find_spec(f"milestones.{m.name}.sample") is None:
        raise UserError(f"{m.name} has nothing to sample: sampling comes with the generative "
                        "milestones (gan, seq2seq, transformer, gpt) and dqn")
    if run is None:
        raise UserError(f"sample needs --run DIR, a run folder of {m.name} (see milestones train {m.name})")
    run_dir = Path(run)
    cfg = _saved_config(m, run_dir)
    checkpoint = ckpt.resolve(run_dir)
    ckpt.read_meta(checkpoint, m.name)
    module = importlib.import_module(f"milestones.{m.name}.sample")
    module.sample(cfg, checkpoint, _int(count, "--count") if count else None,
                  Path(out) if out else run_dir / "samples", args)
    return 0


VERBS: dict[str, Callable[[list[str]], int]] = {
    "list": cmd_list, "info": cmd_info, "train": cmd_train, "reproduce": cmd_reproduce,
    "tour": cmd_tour, "sample": cmd_sample,
}


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(USAGE)
        sys.exit(0)
    if args[0] == "--version":
        from . import __version__

        print(__version__)
        sys.exit(0)
    verb = args.pop(0)
    from .core.trainer import Interrupted, NonFiniteLoss

    try:
        if verb not in VERBS:
            raise UserError(f"unknown verb {verb!r}; verbs are {', '.join(VERBS)}")
        code = VERBS[verb](args)
    except UserError as e:
        print(f"milestones: error: {e}", file=sys.stderr)
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
    sys.exit(code)
