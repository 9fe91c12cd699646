"""Typed dataclass configs: presets, command-line overrides, validation with clear errors.

Every milestone's config is a dataclass that inherits `TrainConfig` (the fields the shared
trainer reads) and adds its own. A field's help text is the string literal written on the
line after it, the way attribute docstrings are written:

    lr: float = 1e-3
    \"\"\"Peak learning rate.\"\"\"

Overrides come from the command line as `--field value` (dashes or underscores). An unknown
field or a value of the wrong type raises `UserError` with one line naming what is allowed.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import json
import textwrap
import typing
from dataclasses import dataclass, fields
from functools import lru_cache
from typing import Any, Literal


class UserError(Exception):
    """A mistake of the user's: the CLI prints this one line and exits with status 2."""


@dataclass
class TrainConfig:
    """The fields every milestone's training run has; the shared trainer reads these."""

    steps: int = 1000
    """Optimizer steps to train for."""
    batch_size: int = 128
    """Global batch size (split across DDP ranks and gradient-accumulation micro-batches)."""
    lr: float = 1e-3
    """Peak learning rate."""
    weight_decay: float = 0.0
    """Weight decay."""
    schedule: Literal["constant", "cosine", "step", "inverse_sqrt"] = "cosine"
    """Learning-rate schedule after warm-up: constant, cosine decay to zero, /10 at 50% and 75%, or
    inverse_sqrt (the Transformer's: peak * sqrt(warmup_steps / step) after warm-up)."""
    warmup_steps: int = 0
    """Linear warm-up steps from zero to the peak learning rate."""
    grad_accum: int = 1
    """Gradient-accumulation micro-batches per optimizer step."""
    grad_clip: float = 0.0
    """Clip the global gradient norm to this value (0: no clipping)."""
    eval_every: int = 0
    """Evaluate every this many steps (0: only at the end)."""
    ckpt_every: int = 0
    """Write a checkpoint every this many steps (0: only at the end and on SIGTERM/SIGINT)."""
    keep_ckpts: int = 2
    """How many checkpoints to keep in ckpt/ (oldest removed first)."""
    log_every: int = 10
    """Write training metrics every this many steps."""
    seed: int = 0
    """Random seed for weights, data order and dropout."""
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    """Where to train: auto picks cuda, then mps, then cpu."""
    amp: Literal["auto", "off", "bf16"] = "auto"
    """Mixed precision: auto is bf16 autocast on CUDA and off elsewhere (bf16 is slow on most CPUs)."""
    data: str = ""
    """Path to data a user brings (empty: the embedded default)."""
    tensorboard: bool = True
    """Write TensorBoard scalars beside metrics.jsonl."""


# ---------------------------------------------------------------------------------------------
# Field documentation, read from the class source (attribute docstrings).


@lru_cache(maxsize=None)
def field_docs(cls: type) -> dict[str, str]:
    """Map field name -> the docstring written under it, over the class and its bases."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
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


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def type_name(tp: Any) -> str:
    if typing.get_origin(tp) is Literal:
        return "{" + ",".join(str(a) for a in typing.get_args(tp)) + "}"
    if typing.get_origin(tp) in (tuple, list):
        return "comma-separated " + type_name(typing.get_args(tp)[0])
    return getattr(tp, "__name__", str(tp))


def parse_value(name: str, tp: Any, text: str) -> Any:
    """Convert one command-line string to the field's type, or raise UserError."""
    origin = typing.get_origin(tp)
    try:
        if origin is Literal:
            allowed = typing.get_args(tp)
            for a in allowed:
                if str(a) == text:
                    return a
            raise ValueError
        if origin in (tuple, list):
            (inner, *_rest) = typing.get_args(tp)
            items = [parse_value(name, inner, t.strip()) for t in text.split(",") if t.strip()]
            return tuple(items) if origin is tuple else items
        if tp is bool:
            low = text.lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if tp is int:
            return int(text)
        if tp is float:
            return float(text)
        if tp is str:
            return text
    except ValueError:
        raise UserError(f"bad value {text!r} for --{name.replace('_', '-')}: "
                        f"expected {type_name(tp)}") from None
    raise UserError(f"--{name} cannot be set from the command line")


def config_fields(cls: type) -> list[str]:
    return [f.name for f in fields(cls)]


def apply_overrides(cfg: Any, args: list[str]) -> Any:
    """Return a copy of `cfg` with `--field value` pairs from `args` applied."""
    hints = _hints(type(cfg))
    names = config_fields(type(cfg))
    changes: dict[str, Any] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--"):
            raise UserError(f"unexpected argument {arg!r}: options are written --field value")
        key, eq, val = arg[2:].partition("=")
        name = key.replace("-", "_")
        if name not in names:
            allowed = ", ".join("--" + n.replace("_", "-") for n in names)
            raise UserError(f"unknown option --{key}; this config has: {allowed}")
        if not eq:
            if hints[name] is bool and (i + 1 >= len(args) or args[i + 1].startswith("--")):
                val = "true"  # a bare boolean flag
            elif i + 1 >= len(args):
                raise UserError(f"--{key} needs a value ({type_name(hints[name])})")
            else:
                i += 1
                val = args[i]
        changes[name] = parse_value(name, hints[name], val)
        i += 1
    return validate(dataclasses.replace(cfg, **changes))


def validate(cfg: Any) -> Any:
    """Range checks shared by every config; milestones may add a `check()` method."""
    for name in ("steps", "batch_size", "grad_accum", "keep_ckpts"):
        if getattr(cfg, name, 1) < 1:
            raise UserError(f"--{name.replace('_', '-')} must be at least 1")
    for name in ("lr", "weight_decay", "grad_clip", "warmup_steps", "eval_every", "ckpt_every"):
        if getattr(cfg, name, 0) < 0:
            raise UserError(f"--{name.replace('_', '-')} must not be negative")
    if cfg.batch_size % cfg.grad_accum:
        raise UserError("--batch-size must be divisible by --grad-accum")
    check = getattr(cfg, "check", None)
    if check is not None:
        check()
    return cfg


def to_dict(cfg: Any) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def from_dict(cls: type, data: dict[str, Any]) -> Any:
    """Rebuild a config saved with `to_dict` (lists become tuples where the field is a tuple)."""
    hints = _hints(cls)
    kw = {}
    for name in config_fields(cls):
        if name in data:
            v = data[name]
            if typing.get_origin(hints[name]) is tuple and isinstance(v, list):
                v = tuple(v)
            kw[name] = v
    return cls(**kw)


def describe(cls: type, cfg: Any) -> str:
    """Help text for a config: one line per field with its type, value and docstring."""
    docs = field_docs(cls)
    hints = _hints(cls)
    lines = []
    for name in config_fields(cls):
        value = getattr(cfg, name)
        lines.append(f"  --{name.replace('_', '-'):<18} {type_name(hints[name]):<22} "
                     f"= {json.dumps(value) if not isinstance(value, tuple) else ','.join(map(str, value))}")
        if docs.get(name):
            lines.append(f"      {docs[name]}")
    return "\n".join(lines)
