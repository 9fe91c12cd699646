"""The ten milestones: name -> paper, year, idea, and (for those built) presets, task and claims.

A built milestone's package provides, in `task.py`:
    Config           a dataclass inheriting core.config.TrainConfig
    PRESETS          {"tiny": {...}, "small": {...}, "paper": {...}} overrides of Config's defaults
    make_task(cfg)   -> core.task.Task
and, in `claim.py`:
    CLAIMS           a list of core.claims.Claim
"""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from .core.config import UserError, validate

PRESET_NAMES = ("tiny", "small", "paper")


@dataclass(frozen=True)
class Milestone:
    number: int
    name: str
    year: str
    title: str
    authors: str
    link: str
    idea: str
    claim: str
    built: bool = False

    def _module(self, part: str) -> ModuleType:
        if not self.built:
            raise UserError(f"milestone {self.name!r} is not built yet; built ones: {', '.join(built_names())}")
        return importlib.import_module(f"milestones.{self.name}.{part}")

    @property
    def task_module(self) -> ModuleType:
        return self._module("task")

    @property
    def config_cls(self) -> type:
        return self.task_module.Config

    @property
    def presets(self) -> dict[str, dict[str, Any]]:
        return self.task_module.PRESETS

    def config(self, preset: str = "small") -> Any:
        if preset not in PRESET_NAMES:
            raise UserError(f"unknown preset {preset!r}; presets are {', '.join(PRESET_NAMES)}")
        return validate(dataclasses.replace(self.config_cls(), **self.presets.get(preset, {})))

    def make_task(self, cfg: Any):
        return self.task_module.make_task(cfg)

    @property
    def claims(self) -> list:
        return list(self._module("claim").CLAIMS)


MILESTONES: list[Milestone] = [
    Milestone(1, "alexnet", "2012", "ImageNet Classification with Deep Convolutional Neural Networks",
              "Krizhevsky, Sutskever, Hinton", "https://papers.nips.cc/paper/4824",
              "A deep CNN trained on GPUs with ReLUs, dropout and augmentation wins ImageNet by a wide margin.",
              "ReLU nets train several times faster than tanh nets; dropout narrows the train/test gap.",
              built=True),
    Milestone(2, "dqn", "2013/2015", "Human-level control through deep reinforcement learning",
              "Mnih et al.", "https://www.nature.com/articles/nature14236",
              "A CNN learns Q-values from pixels and reward alone, stabilised by replay and a target network.",
              "Learns control from reward alone; replay and the target network both matter.",
              built=True),
    Milestone(3, "seq2seq", "2014", "Sequence to Sequence Learning / Neural MT by Jointly Learning to Align and Translate",
              "Sutskever, Vinyals, Le; Bahdanau, Cho, Bengio", "https://arxiv.org/abs/1409.0473",
              "An encoder-decoder RNN translates; attention lets the decoder look back at every source word.",
              "Attention keeps quality on long sentences where a fixed-vector encoder fails.",
              built=True),
    Milestone(4, "adam", "2014", "Adam: A Method for Stochastic Optimization", "Kingma, Ba",
              "https://arxiv.org/abs/1412.6980",
              "Per-parameter step sizes from bias-corrected first and second moment estimates of the gradient.",
              "Adam converges as fast as or faster than SGD+Nesterov, AdaGrad and RMSProp.",
              built=True),
    Milestone(5, "gan", "2014/2016", "Generative Adversarial Nets / DCGAN", "Goodfellow et al.; Radford et al.",
              "https://arxiv.org/abs/1406.2661",
              "A generator learns the data distribution by fooling a discriminator trained against it.",
              "All modes of a mixture covered; digits a classifier recognises.",
              built=True),
    Milestone(6, "resnet", "2015", "Deep Residual Learning for Image Recognition", "He, Zhang, Ren, Sun",
              "https://arxiv.org/abs/1512.03385",
              "Layers learn residuals F(x) added to an identity shortcut, so very deep nets train.",
              "A deeper plain net trains worse than a shallower one; residual connections reverse it.",
              built=True),
    Milestone(7, "transformer", "2017", "Attention Is All You Need", "Vaswani et al.",
              "https://arxiv.org/abs/1706.03762",
              "Self-attention replaces recurrence: every position attends to every other in parallel.",
              "Better translation than the recurrent seq2seq for the same training time.",
              built=True),
    Milestone(8, "bert", "2018", "BERT: Pre-training of Deep Bidirectional Transformers", "Devlin et al.",
              "https://arxiv.org/abs/1810.04805",
              "Pre-train a bidirectional encoder by masked language modelling, then fine-tune it.",
              "Pre-training then fine-tuning beats training from scratch when labels are scarce."),
    Milestone(9, "gpt", "2018-2020", "Language Models are Few-Shot Learners (GPT-3)", "Radford et al.; Brown et al.",
              "https://arxiv.org/abs/2005.14165",
              "A large decoder-only LM learns tasks in context from a few examples in its prompt.",
              "Loss falls smoothly with scale; few-shot accuracy rises with examples and size."),
    Milestone(10, "simclr", "2020", "A Simple Framework for Contrastive Learning of Visual Representations",
              "Chen, Kornblith, Norouzi, Hinton", "https://arxiv.org/abs/2002.05709",
              "Learn features by pulling two augmentations of an image together and pushing others apart.",
              "Self-supervised features beat a random encoder and approach supervised with few labels."),
]

_BY_NAME = {m.name: m for m in MILESTONES}


def get(name: str) -> Milestone:
    if name not in _BY_NAME:
        raise UserError(f"unknown milestone {name!r}; choose from {', '.join(_BY_NAME)}")
    return _BY_NAME[name]


def built_names() -> list[str]:
    return [m.name for m in MILESTONES if m.built]


def historical() -> list[Milestone]:
    """The ten in the order the tour walks them."""
    return sorted(MILESTONES, key=lambda m: m.number)
