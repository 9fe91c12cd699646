"""Configs: one dataclass per part, nested where a part owns its fields, each field declared once.

A milestone's config (e.g. `resnet.task.Config`) is a dataclass holding
  - the trainer's fields, inherited from `TrainConfig` (steps, batch size, schedule, ...);
  - the task's own fields (the data set, ...);
  - the parts the task is built from, nested: `model` (the model's config, from its model.py)
    and `optim` (the optimizer's, from optim/).
So `cfg.model.depth` is the depth the ResNet is built with and `cfg.optim.lr` the learning rate
the optimizer starts from: a field travels one straight line from the command line to its use.

A field's help is the string literal written under it (an attribute docstring). Its allowed
range is written on its type, once:

    depth: Positive[int] = 20          # at least 1
    dropout: Fraction = 0.5            # in [0, 1)
    n_classes: FromData[int] = 10      # filled in from the data when the task is built

Rules that tie fields together go in the config's `check()` method, which raises ValueError
with a message naming the fields. A value computed from other fields is a property (DQN's update
count follows from its environment-step budget); setting it is an error that names what to set.
Floats must be finite everywhere.

Presets and overrides address fields by dotted path (`model.depth`) or by the field's own name
where no other field shares it (`depth`); on the command line, `--model.depth 32` or `--depth 32`,
dashes or underscores alike. `build(cls, presets, preset, overrides)` makes a config and
validates all of it; a mistake raises `UserError` with one line naming what is allowed.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import difflib
import inspect
import json
import math
import textwrap
import typing
from collections.abc import Mapping
from dataclasses import dataclass, fields, is_dataclass
from functools import cache
from typing import Annotated, Any, Literal, TypeVar

from ..errors import UserError

# ---------------------------------------------------------------------------------------------
# Markers written on field types.


@dataclass(frozen=True)
class Range:
    """Bounds on a number (on each element of a tuple of numbers)."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None

    def ok(self, v: float) -> bool:
        return ((self.ge is None or v >= self.ge) and (self.gt is None or v > self.gt)
                and (self.le is None or v <= self.le) and (self.lt is None or v < self.lt))

    def __str__(self) -> str:
        if self.gt == 0 and self.ge is self.le is self.lt is None:
            return "positive"
        if self.ge == 0 and self.gt is self.le is self.lt is None:
            return "at least 0"
        lo = f"[{self.ge:g}" if self.ge is not None else f"({self.gt:g}" if self.gt is not None else "(-inf"
        hi = f"{self.le:g}]" if self.le is not None else f"{self.lt:g})" if self.lt is not None else "inf)"
        return f"in {lo}, {hi}"


class _FromData:
    def __repr__(self) -> str:
        return "FROM_DATA"


@dataclass(frozen=True)
class Alias:
    """One more command-line name for a field (`--optimizer` for `optim.name`)."""

    name: str


class _Resumable:
    def __repr__(self) -> str:
        return "RESUMABLE"


@dataclass(frozen=True)
class Inert:
    """The value at which a field changes nothing a run computes: what every run made before the
    field existed computed. A run's settings (core/references.py) leave the field out while it holds
    this value, so an option added later does not orphan the references measured without it.

        sync_bn: Annotated[bool, Inert(False)] = False
    """

    value: Any


FROM_DATA = _FromData()
RESUMABLE = _Resumable()
T = TypeVar("T")
Positive = Annotated[T, Range(gt=0)]
NonNegative = Annotated[T, Range(ge=0)]
Fraction = Annotated[float, Range(ge=0, lt=1)]  # dropout, momentum, Adam's betas
Probability = Annotated[float, Range(ge=0, le=1)]
FromData = Annotated[T, FROM_DATA]
Resumable = Annotated[T, RESUMABLE]  # may change when a run is resumed (learning rate, length, cadence)


# ---------------------------------------------------------------------------------------------
# The trainer's fields.

Schedule = Literal["constant", "cosine", "step", "inverse_sqrt"]


@dataclass
class RunConfig:
    """What the trainer reads from every milestone's config, except how long the run is."""

    batch_size: Positive[int] = 128
    """Global batch size (split across DDP ranks and gradient-accumulation micro-batches)."""
    schedule: Resumable[Schedule] = "cosine"
    """Learning-rate schedule after warm-up: constant, cosine decay to zero, /10 at 50% and 75%, or
    inverse_sqrt (the Transformer's: peak * sqrt(warmup_steps / step) after warm-up)."""
    warmup_steps: Resumable[NonNegative[int]] = 0
    """Linear warm-up steps from zero to the peak learning rate."""
    grad_accum: Resumable[Positive[int]] = 1
    """Gradient-accumulation micro-batches per optimizer step."""
    grad_clip: Resumable[NonNegative[float]] = 0.0
    """Clip the global gradient norm to this value (0: no clipping)."""
    ckpt_every: Resumable[NonNegative[int]] = 0
    """Write a checkpoint every this many steps (0: only at the end and on SIGTERM/SIGINT)."""
    keep_ckpts: Resumable[Positive[int]] = 2
    """How many checkpoints to keep in ckpt/ (oldest removed first)."""
    log_every: Resumable[Positive[int]] = 10
    """Write training metrics every this many steps."""
    seed: NonNegative[int] = 0
    """Random seed for weights, data order and dropout."""
    device: Resumable[Literal["auto", "cpu", "cuda", "mps"]] = "auto"
    """Where to train: auto picks cuda, then mps, then cpu."""
    amp: Resumable[Literal["auto", "off", "bf16", "fp16"]] = "auto"
    """Mixed precision: auto is bf16 autocast on a CUDA GPU that supports it, fp16 with a gradient
    scaler on one that does not (T4, V100), and off elsewhere (bf16 is slow on most CPUs)."""
    parallel: Literal["ddp", "fsdp"] = "ddp"
    """How the processes of a torchrun share the model: ddp keeps a whole copy on every rank; fsdp
    shards each block's weights, gradients and optimizer state over the ranks (FSDP2), for models
    that do not fit one GPU with their Adam state (GPT, BERT). Its checkpoints are sharded (DCP)."""
    tensorboard: Resumable[bool] = True
    """Write TensorBoard scalars beside metrics.jsonl."""

    def check(self) -> None:
        if self.batch_size % self.grad_accum:
            raise ValueError(f"--batch-size {self.batch_size} must be divisible by --grad-accum {self.grad_accum}")


@dataclass
class TrainConfig(RunConfig):
    """A run measured in optimizer steps (DQN measures its run in environment steps instead)."""

    steps: Resumable[Positive[int]] = 1000
    """Optimizer steps to train for."""
    eval_every: Resumable[NonNegative[int]] = 0
    """Evaluate every this many steps (0: only at the end)."""


@dataclass
class BatchNormConfig:
    """The field of every config whose model has batch norm (ResNet, GAN, SimCLR): one flag, one meaning."""

    sync_bn: Annotated[bool, Inert(False)] = False
    """Under DDP on CUDA, batch norm normalises over the global batch (SyncBatchNorm; SimCLR's "global
    BN", §2.2) instead of each rank's part of it. CPU (gloo) runs keep each rank's statistics."""


# ---------------------------------------------------------------------------------------------
# Fields, read from the classes.


@dataclass(frozen=True)
class Field:
    path: str  # "model.depth"
    tp: Any  # the plain type (markers stripped); tuple[int, ...] keeps its element type
    doc: str
    range: Range | None
    from_data: bool
    aliases: tuple[str, ...]
    resumable: bool = False
    inert: tuple[Any, ...] = ()  # (value,) for a field marked Inert(value); () otherwise

    @property
    def name(self) -> str:
        return self.path.rsplit(".", 1)[-1]


def _docs(cls: type) -> dict[str, str]:
    """Field name -> the string literal written under it, over the class and its bases."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not is_dataclass(klass):
            continue
        try:
            source = textwrap.dedent(inspect.getsource(klass))
        except (OSError, TypeError):
            continue
        body = ast.parse(source).body[0].body  # type: ignore[attr-defined]
        for node, nxt in zip(body, body[1:]):
            if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                    and isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant)
                    and isinstance(nxt.value.value, str)):
                docs[node.target.id] = " ".join(nxt.value.value.split())
    return docs


def _unwrap(tp: Any) -> tuple[Any, list[Any]]:
    """Annotated[X, m1, m2] -> (X, [m1, m2]), through nesting."""
    markers: list[Any] = []
    while typing.get_origin(tp) is Annotated:
        tp, *extra = typing.get_args(tp)
        markers += extra
    return tp, markers


def is_config(tp: Any) -> bool:
    return isinstance(tp, type) and is_dataclass(tp)


@cache
def fields_of(cls: type) -> tuple[Field, ...]:
    """Every leaf field of a config class, nested parts included, by dotted path."""
    hints = typing.get_type_hints(cls, include_extras=True)
    docs = _docs(cls)
    out: list[Field] = []
    for f in fields(cls):
        tp, markers = _unwrap(hints[f.name])
        if is_config(tp):
            out += [dataclasses.replace(sub, path=f"{f.name}.{sub.path}") for sub in fields_of(tp)]
            continue
        rng = next((m for m in markers if isinstance(m, Range)), None)
        if typing.get_origin(tp) is tuple:  # ranges on the element type: tuple[Positive[int], ...]
            inner, inner_markers = _unwrap(typing.get_args(tp)[0])
            tp = tuple[inner, ...]  # type: ignore[valid-type]
            rng = rng or next((m for m in inner_markers if isinstance(m, Range)), None)
        out.append(Field(f.name, tp, docs.get(f.name, ""), rng, FROM_DATA in markers,
                         tuple(m.name for m in markers if isinstance(m, Alias)), RESUMABLE in markers,
                         tuple(m.value for m in markers if isinstance(m, Inert))[:1]))
    return tuple(out)


@cache
def derived_of(cls: type) -> dict[str, str]:
    """Properties of a config (and its nested parts) by dotted path -> their docstring."""
    out: dict[str, str] = {}
    for name, attr in inspect.getmembers(cls):
        if isinstance(attr, property):
            out[name] = " ".join((attr.__doc__ or "computed from other fields").split())
    hints = typing.get_type_hints(cls, include_extras=True)
    for f in fields(cls):
        tp, _ = _unwrap(hints[f.name])
        if is_config(tp):
            out.update({f"{f.name}.{k}": v for k, v in derived_of(tp).items()})
    return out


def parts_of(cls: type) -> dict[str, type]:
    """The nested config classes by field name: {"model": ResNetConfig, "optim": OptimConfig}."""
    hints = typing.get_type_hints(cls, include_extras=True)
    return {f.name: _unwrap(hints[f.name])[0] for f in fields(cls) if is_config(_unwrap(hints[f.name])[0])}


@cache
def names_of(cls: type) -> dict[str, str]:
    """Every name a field may be given by (path, and its own name where unambiguous) -> its path.
    Derived values map to themselves too, so setting one can be refused with its reason."""
    leaves = [(f.path, f.name, f.aliases) for f in fields_of(cls)] + \
             [(p, p.rsplit(".", 1)[-1], ()) for p in derived_of(cls)]
    counts: dict[str, int] = {}
    for _, name, aliases in leaves:
        for n in (name, *aliases):
            counts[n] = counts.get(n, 0) + 1
    out: dict[str, str] = {}
    for path, name, aliases in leaves:
        out[path] = path
        for n in aliases or (name,):  # a field with an alias goes by it, not by its bare name
            if counts[n] == 1:
                out.setdefault(n, path)
    return out


def options_of(cls: type) -> dict[str, list[str]]:
    """The command-line spellings of each field (and computed value), by path:
    {"model.depth": ["--model.depth", "--depth"]}."""
    out: dict[str, list[str]] = {}
    for name, path in names_of(cls).items():
        out.setdefault(path, []).append("--" + _opt(name))
    return out


def field(cls: type, path: str) -> Field:
    for f in fields_of(cls):
        if f.path == path:
            return f
    raise KeyError(path)


def resolve_name(cls: type, name: str) -> str:
    """A user's spelling of a field (`d-model`, `model.d_model`) -> its dotted path, or UserError."""
    key = name.replace("-", "_")
    names = names_of(cls)
    if key in names:
        path = names[key]
        derived = derived_of(cls)
        if path in derived:
            raise UserError(f"--{_opt(path)} is computed, not set: {derived[path]}")
        if field(cls, path).from_data:
            raise UserError(f"--{_opt(path)} comes from the data and cannot be set")
        return path
    ambiguous = [f.path for f in fields_of(cls) if f.name == key]
    if len(ambiguous) > 1:
        raise UserError(f"--{name} is ambiguous: say {' or '.join('--' + _opt(p) for p in ambiguous)}")
    close = difflib.get_close_matches(key, list(names), n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join('--' + _opt(c) for c in close)}?" if close else ""
    raise UserError(f"unknown option --{name}{hint} (milestones info NAME lists every option)")


def _opt(path: str) -> str:
    return path.replace("_", "-")


# ---------------------------------------------------------------------------------------------
# Values: from text, to text, checked.


def type_name(tp: Any) -> str:
    if typing.get_origin(tp) is Literal:
        return "{" + ",".join(str(a) for a in typing.get_args(tp)) + "}"
    if typing.get_origin(tp) is tuple:
        return "comma-separated " + type_name(typing.get_args(tp)[0])
    return getattr(tp, "__name__", str(tp))


def parse_value(f: Field, text: str) -> Any:
    """One command-line string -> the field's type, checked; or UserError."""
    tp = f.tp
    try:
        if typing.get_origin(tp) is tuple:
            inner = typing.get_args(tp)[0]
            if text.strip().lower() in ("", "none", "()"):
                return check_value(f, ())
            items = [_parse_scalar(inner, t.strip()) for t in text.split(",") if t.strip()]
            return check_value(f, tuple(items))
        return check_value(f, _parse_scalar(tp, text))
    except ValueError:
        raise UserError(f"bad value {text!r} for --{_opt(f.path)}: expected {type_name(tp)}") from None


def _parse_scalar(tp: Any, text: str) -> Any:
    if typing.get_origin(tp) is Literal:
        for a in typing.get_args(tp):
            if str(a) == text:
                return a
        raise ValueError(text)
    if tp is bool:
        low = text.lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise ValueError(text)
    if tp is int:
        try:
            return int(text)
        except ValueError:
            x = float(text)  # 1e6 is a fine way to write a million steps
            if not x.is_integer():
                raise
            return int(x)
    if tp is float:
        return float(text)
    if tp is str:
        return text
    raise ValueError(f"no parser for {tp}")


def format_value(v: Any) -> str:
    """A value as the command line writes it (parse_value reads it back exactly)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (tuple, list)):
        return ",".join(format_value(x) for x in v)
    if isinstance(v, float):
        return repr(v)
    return str(v)


def check_value(f: Field, v: Any) -> Any:
    """The value if it fits the field's type and range, else UserError."""
    where = f"--{_opt(f.path)}"
    items = v if typing.get_origin(f.tp) is tuple else (v,)
    inner = typing.get_args(f.tp)[0] if typing.get_origin(f.tp) is tuple else f.tp
    if typing.get_origin(f.tp) is tuple and not isinstance(v, tuple):
        raise UserError(f"{where} must be a tuple, not {v!r}")
    for x in items:
        if typing.get_origin(inner) is Literal:
            if x not in typing.get_args(inner):
                raise UserError(f"bad value {x!r} for {where}: expected {type_name(inner)}")
            continue
        if inner is bool and not isinstance(x, bool) or inner is str and not isinstance(x, str):
            raise UserError(f"bad value {x!r} for {where}: expected {type_name(inner)}")
        if inner in (int, float):
            if isinstance(x, bool) or not isinstance(x, (int, float)) or (inner is int and not isinstance(x, int)):
                raise UserError(f"bad value {x!r} for {where}: expected {type_name(inner)}")
            if not math.isfinite(x):
                raise UserError(f"{where} must be a finite number, not {x}")
            if f.range is not None and not f.range.ok(x):
                raise UserError(f"{where} must be {f.range}, not {format_value(x)}")
    if inner is float and not isinstance(v, tuple):
        return float(v)
    return v


# ---------------------------------------------------------------------------------------------
# Building configs: defaults, then a preset, then overrides; then every rule checked once.


def flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"model": {"depth": 8}, "steps": 20} -> {"model.depth": 8, "steps": 20}."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, Mapping):
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def settable(cfg: Any) -> dict[str, Any]:
    """A config's fields that a preset may set (those not filled in from the data), as a dict:
    a preset can then take a whole named architecture, `model=settable(AlexNetConfig.paper())`."""
    return {f.path: get(cfg, f.path) for f in fields_of(type(cfg)) if not f.from_data}


def get(cfg: Any, path: str) -> Any:
    for part in path.split("."):
        cfg = getattr(cfg, part)
    return cfg


def apply(cfg: Any, changes: Mapping[str, Any]) -> Any:
    """A copy of `cfg` with values set by dotted path (values already of the field's type)."""
    top: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {}
    for path, v in changes.items():
        head, _, rest = path.partition(".")
        if rest:
            nested.setdefault(head, {})[rest] = v
        else:
            top[head] = v
    for head, sub in nested.items():
        top[head] = apply(getattr(cfg, head), sub)
    return dataclasses.replace(cfg, **top)


def resolve(cls: type, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Overrides keyed by any spelling, values typed or as text -> {path: typed, checked value}."""
    out: dict[str, Any] = {}
    for name, v in flatten(overrides).items():
        path = resolve_name(cls, name)
        f = field(cls, path)
        out[path] = parse_value(f, v) if isinstance(v, str) and f.tp is not str else check_value(f, v)
    return out


def validate(cfg: Any) -> Any:
    """Check every field's type and range, then each part's `check()`, innermost first."""
    for f in fields_of(type(cfg)):
        if not f.from_data:
            check_value(f, get(cfg, f.path))
    _check_rules(cfg)
    return cfg


def _check_rules(cfg: Any) -> None:
    for name in parts_of(type(cfg)):
        _check_rules(getattr(cfg, name))
    check = getattr(cfg, "check", None)
    if check is not None:
        try:
            check()
        except ValueError as e:
            raise UserError(str(e)) from None


def build(cls: type, presets: Mapping[str, Mapping[str, Any]], preset: str,
          overrides: Mapping[str, Any] | None = None) -> Any:
    """Defaults, then the preset, then the overrides; validated."""
    if preset not in presets:
        raise UserError(f"unknown preset {preset!r}; presets are {', '.join(presets)}")
    cfg = apply(cls(), resolve(cls, presets[preset]))
    return validate(apply(cfg, resolve(cls, overrides or {})))


# ---------------------------------------------------------------------------------------------
# The one parser: argparse, with one option per field.


class ArgumentParser(argparse.ArgumentParser):
    """argparse, whose mistakes are UserErrors (one line, exit status 2) instead of a usage block."""

    def __init__(self, **kw: Any):
        super().__init__(add_help=False, allow_abbrev=False, **kw)

    def error(self, message: str) -> typing.NoReturn:
        if message.startswith("argument ") and message.endswith(": expected one argument"):
            flags = message[len("argument "):-len(": expected one argument")]
            raise UserError(f"{flags.split('/')[-1]} needs a value")
        raise UserError(message.replace("argument ", "", 1))


def _normalise(args: list[str]) -> list[str]:
    """--model.d_model and --model.d-model are one option."""
    out = []
    for a in args:
        if a.startswith("--"):
            key, eq, val = a.partition("=")
            a = key.replace("_", "-") + eq + val
        out.append(a)
    return out


def add_options(parser: argparse.ArgumentParser, cls: type) -> None:
    """One option per field of `cls` (`--model.depth` and, where unambiguous, `--depth`), each
    storing its typed value under the field's path only when given (so the caller sees exactly
    what was set). Derived and data-filled fields are options that refuse with their reason."""
    spellings = options_of(cls)
    for f in fields_of(cls):
        flags = spellings[f.path]
        kw: dict[str, Any] = dict(dest=f.path, default=argparse.SUPPRESS, metavar=type_name(f.tp).upper(),
                                  type=_refuser(cls, f.path) if f.from_data else (lambda t, f=f: parse_value(f, t)))
        if f.tp is bool:
            kw.update(nargs="?", const=True)  # `--plain` alone means true
        parser.add_argument(*flags, **kw)
    for path in derived_of(cls):
        parser.add_argument(*spellings[path], dest=path, default=argparse.SUPPRESS, nargs="?",
                            type=_refuser(cls, path))


def _refuser(cls: type, path: str) -> Any:
    def refuse(_text: str) -> Any:
        resolve_name(cls, path)  # raises with the reason
    return refuse


def parse_options(parser: argparse.ArgumentParser, args: list[str], cls: type | None = None,
                  intermixed: bool = False) -> dict[str, Any]:
    """The options given, by dest; an unknown option or stray word is one clear UserError."""
    args = _normalise(args)
    if intermixed:
        ns, extra = parser.parse_known_intermixed_args(args)
    else:
        ns, extra = parser.parse_known_args(args)
    for a in extra:
        if a.startswith("--") and cls is not None:
            name = a[2:].partition("=")[0]
            resolve_name(cls, name)  # raises: unknown, ambiguous, computed or from the data
            # a bare boolean derived/data field (`--steps` with no value) ends up here too
            raise UserError(f"--{name} needs a value")
        if a.startswith("-"):
            raise UserError(f"unknown option {a}")
        raise UserError(f"unexpected argument {a!r}")
    given = vars(ns)
    if cls is not None:  # a computed or data-filled option given with no value never reached its refuser
        refused = set(derived_of(cls)) | {f.path for f in fields_of(cls) if f.from_data}
        for path in refused & set(given):
            resolve_name(cls, path)
    return given


def to_args(overrides: Mapping[str, Any]) -> list[str]:
    """{path: value} -> the command-line words that set them (`--model.depth 32`)."""
    out: list[str] = []
    for path, v in overrides.items():
        out += [f"--{_opt(path)}", format_value(v)]
    return out


# ---------------------------------------------------------------------------------------------
# Saving, loading, describing.


def to_dict(cfg: Any) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def from_dict(cls: type, data: Mapping[str, Any], where: str = "config") -> Any:
    """Rebuild a config saved with `to_dict`; a field of the wrong shape is a UserError naming it."""
    if not isinstance(data, Mapping):
        raise UserError(f"{where} is not a mapping of config fields")
    hints = typing.get_type_hints(cls, include_extras=True)
    kw: dict[str, Any] = {}
    for f in fields(cls):
        if f.name not in data:
            continue
        tp, _ = _unwrap(hints[f.name])
        v = data[f.name]
        if is_config(tp):
            kw[f.name] = from_dict(tp, v, f"{where}.{f.name}")
            continue
        if typing.get_origin(tp) is tuple and isinstance(v, list):
            v = tuple(v)
        kw[f.name] = v
    try:
        return cls(**kw)
    except TypeError as e:
        raise UserError(f"{where} does not fit {cls.__name__}: {e}") from None


def _fill(doc: str, width: int = 100) -> str:
    """A field's docstring as lines of at most `width` characters, indented under its field."""
    return textwrap.fill(doc, width, initial_indent=" " * 6, subsequent_indent=" " * 6, break_long_words=False,
                         break_on_hyphens=False)


def describe(cfg: Any) -> str:
    """Help for a config, part by part (the task's fields, the model's, the optimizer's, the
    trainer's): one line per field with its options, type, range and value, then its docstring."""
    cls = type(cfg)
    spellings = options_of(cls)
    trainer = {f.name for f in fields(TrainConfig)} if issubclass(cls, TrainConfig) else set()
    groups: dict[str, list[str]] = {}
    for f in fields_of(cls):
        part = f.path.split(".")[0] if "." in f.path else ("trainer" if f.path in trainer else "task")
        value = get(cfg, f.path)
        shown = format_value(value) if not isinstance(value, str) else json.dumps(value)
        flags = " ".join(spellings[f.path])
        kind = type_name(f.tp) + (f", {f.range}" if f.range else "") + (", on resume too" if f.resumable else "")
        if f.from_data:
            flags, kind = f"({f.path})", "from the data"
        lines = groups.setdefault(part, [])
        line = f"  {flags:<34} {kind:<30} = {shown}"
        if len(line) > 100:  # a long list of choices goes under the field, wrapped
            line = f"  {flags:<34} {'':<30} = {shown}\n{_fill(kind)}"
        lines.append(line)
        if f.doc:
            lines.append(_fill(f.doc))
    for path, doc in derived_of(cls).items():
        part = path.split(".")[0] if "." in path else "trainer"
        groups.setdefault(part, []).append(f"  ({path}) computed = {get(cfg, path)}\n{_fill(doc)}")
    order = ["task", *[k for k in groups if k not in ("task", "trainer")], "trainer"]
    return "\n".join(f"{part}:\n" + "\n".join(groups[part]) for part in order if part in groups)
