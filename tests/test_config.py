"""The config layer: one dataclass per part, fields by path or by name, ranges on the types, values
from the data, computed values, presets, and the one argparse-based parser."""

from dataclasses import dataclass, field
from typing import Literal

import pytest

from milestones import registry
from milestones.core import config as C
from milestones.core.config import Fraction, FromData, Positive, TrainConfig
from milestones.errors import UserError


@dataclass
class _Model:
    depth: Positive[int] = 20
    """Layers."""
    dropout: Fraction = 0.5
    """Dropout."""
    widths: tuple[Positive[int], ...] = (16, 32)
    """Maps per stage."""
    n_classes: FromData[int] = 10
    """From the data."""

    def check(self) -> None:
        if self.depth % 2:
            raise ValueError("--model.depth must be even")


@dataclass
class _Other:
    dropout: Fraction = 0.1
    """Another part's dropout, so `--dropout` is ambiguous."""


@dataclass
class _Config(TrainConfig):
    kind: Literal["a", "b"] = "a"
    """A choice."""
    model: _Model = field(default_factory=_Model)
    other: _Other = field(default_factory=_Other)

    @property
    def half(self) -> int:
        """Half the steps: set --steps instead."""
        return self.steps // 2


PRESETS = {"tiny": dict(steps=10, model=dict(depth=4)), "small": {}}


def test_fields_by_path_and_by_unambiguous_name():
    names = C.names_of(_Config)
    assert names["depth"] == names["model.depth"] == "model.depth"
    assert "dropout" not in names and names["other.dropout"] == "other.dropout"
    cfg = C.build(_Config, PRESETS, "tiny", {"depth": "8", "model.widths": "4,8,16", "other.dropout": 0.2})
    assert (cfg.steps, cfg.model.depth, cfg.model.widths, cfg.other.dropout) == (10, 8, (4, 8, 16), 0.2)
    with pytest.raises(UserError, match="--dropout is ambiguous: say --model.dropout or --other.dropout"):
        C.build(_Config, PRESETS, "tiny", {"dropout": 0.1})


@pytest.mark.parametrize("overrides,message", [
    ({"depth": 0}, "--model.depth must be positive, not 0"),
    ({"depth": "x"}, "bad value 'x' for --model.depth: expected int"),
    ({"depth": 3}, "--model.depth must be even"),
    ({"model.dropout": 1.0}, r"--model.dropout must be in \[0, 1\), not 1.0"),
    ({"widths": "4,-1"}, "--model.widths must be positive"),
    ({"grad_clip": float("inf")}, "--grad-clip must be a finite number, not inf"),
    ({"grad_clip": "nan"}, "--grad-clip must be a finite number, not nan"),
    ({"kind": "c"}, r"expected \{a,b\}"),
    ({"n_classes": 3}, "comes from the data"),
    ({"half": 3}, "--half is computed, not set: Half the steps: set --steps instead."),
    ({"dpeth": 3}, "unknown option --dpeth; did you mean --depth"),
    ({"batch_size": 10, "grad_accum": 3}, "--batch-size 10 must be divisible by --grad-accum 3"),
])
def test_every_bad_value_is_one_clear_error(overrides, message):
    with pytest.raises(UserError, match=message):
        C.build(_Config, PRESETS, "small", overrides)


def test_the_parser_gives_only_what_was_set():
    p = C.ArgumentParser(prog="test")
    C.add_options(p, _Config)
    assert C.parse_options(p, ["--depth", "6", "--other.dropout=0.3", "--tensorboard"], _Config) == \
        {"model.depth": 6, "other.dropout": 0.3, "tensorboard": True}
    assert C.parse_options(p, ["--model.widths", "2,4", "--batch_size", "8", "--tensorboard", "false"], _Config) == \
        {"model.widths": (2, 4), "batch_size": 8, "tensorboard": False}
    for args, message in ((["--half", "2"], "computed"), (["--half"], "computed"),
                          (["--steps"], "--steps needs a value"),
                          (["--stepz", "2"], "did you mean --steps"), (["stray"], "unexpected argument 'stray'")):
        with pytest.raises(UserError, match=message):
            C.parse_options(p, args, _Config)


def test_values_round_trip_through_the_command_line():
    for f in C.fields_of(_Config):
        if not f.from_data:
            v = C.get(_Config(), f.path)
            assert C.parse_value(f, C.format_value(v)) == v, f.path
    cfg = C.build(_Config, PRESETS, "tiny")
    assert C.from_dict(_Config, C.to_dict(cfg)) == cfg
    with pytest.raises(UserError, match="is not a mapping"):
        C.from_dict(_Config, ["not", "a", "dict"])


def test_every_milestone_config_is_described_and_its_presets_are_valid():
    for m in registry.historical():
        if m.built:
            for preset in registry.PRESET_NAMES:
                cfg = m.config(preset)
                assert C.validate(cfg) is cfg
            text = C.describe(m.config("small"))
            for f in C.fields_of(m.config_cls):
                assert f.doc, f"{m.name}: --{f.path} has no docstring"
                assert f.path in text or f.path.replace("_", "-") in text
