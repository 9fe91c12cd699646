"""The ten milestones: name -> paper, year, idea, and (for those built) config, task and claims.

A built milestone's package provides, in `task.py`:
    Config           its config dataclass (the trainer's fields, the task's, `model` and `optim`)
    PRESETS          {"tiny": {...}, "small": {...}, "paper": {...}}: overrides of Config's defaults
    TASK             its core.task.Task subclass; TASK(cfg) loads the data
                     or, where the config picks among several tasks (bert, gpt, simclr: --objective,
                     --dataset): make_task(cfg, resume_from), MODEL (the model class they all build),
                     WATCH (the metrics of them all) and, for text, saved_tokenizer(folder)
in `claim.py`:
    CLAIMS           a list of core.claims.Claim
    probe(task, result, run)   (optional) what a claim run records from the trained model
and, if it has one, in `sample.py` the `sample` verb: Options, INPUTS and sample().

This module also trains claim runs (`execute`, `runner`): it is above every milestone, so one
milestone's claim may compare against another's runs by naming them, never importing them.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from .core import config as C
from .core import pool
from .core.claims import Record, Run
from .core.pool import Progress
from .core.store import RunStore, as_json
from .errors import UserError, did_you_mean

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
        require_built(self)
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

    def config(self, preset: str = "small", overrides: Mapping[str, Any] | None = None) -> Any:
        """The preset's config with `overrides` (by field path or name) applied, all validated."""
        if preset not in PRESET_NAMES:
            raise UserError(f"unknown preset {preset!r}; presets are {', '.join(PRESET_NAMES)}")
        presets_for = getattr(self.task_module, "presets_for", None)  # presets that depend on an override
        presets = presets_for(C.resolve(self.config_cls, overrides or {})) if presets_for else self.presets
        return C.build(self.config_cls, presets, preset, overrides)

    def check_packages(self, cfg: Any) -> None:
        """One line naming the pip command if `cfg` needs an optional package that is missing (the task
        module's `check_packages`, where it has one)."""
        check = getattr(self.task_module, "check_packages", None)
        if check is not None:
            check(cfg)

    def make_task(self, cfg: Any, resume_from: Path | None = None):
        """The task for `cfg` (the task module's `make_task` where the config picks among several tasks,
        else its TASK); resuming from a checkpoint, built from its files (the tokenizer)."""
        make = getattr(self.task_module, "make_task", None)
        if make is not None:
            return make(cfg, resume_from)
        task_cls = self.task_module.TASK
        return task_cls.for_resume(cfg, resume_from) if resume_from is not None else task_cls(cfg)

    @property
    def model_class(self) -> type:
        """The model every run of this milestone builds (`MODEL`, or TASK's)."""
        return getattr(self.task_module, "MODEL", None) or self.task_module.TASK.model_class

    @property
    def watch(self) -> tuple[str, ...]:
        """The metrics its curves show, for any of its tasks (`WATCH`, or TASK's)."""
        return getattr(self.task_module, "WATCH", None) or self.task_module.TASK.watch

    def saved_tokenizer(self, folder: Path) -> Any:
        """The tokenizer a checkpoint folder of this milestone holds (text milestones), or None."""
        mod = self.task_module
        read = getattr(mod, "saved_tokenizer", None) or getattr(getattr(mod, "TASK", None), "saved_tokenizer", None)
        return read(folder) if read is not None else None

    @property
    def claim_module(self) -> ModuleType:
        return self._module("claim")

    @property
    def claims(self) -> list:
        return list(self.claim_module.CLAIMS)

    @property
    def export_module(self) -> ModuleType | None:
        """`convert.py` with `export(model, out, tokenizer)`: the run in a reference library's format."""
        if not self.built or importlib.util.find_spec(f"milestones.{self.name}.convert") is None:
            return None
        module = self._module("convert")
        return module if hasattr(module, "export") else None

    @property
    def sample_module(self) -> ModuleType | None:
        if not self.built or importlib.util.find_spec(f"milestones.{self.name}.sample") is None:
            return None
        return self._module("sample")


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
    Milestone(3, "seq2seq", "2014",
              "Sequence to Sequence Learning / Neural MT by Jointly Learning to Align and Translate",
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
              "Pre-training then fine-tuning beats training from scratch when labels are scarce.",
              built=True),
    Milestone(9, "gpt", "2018-2020", "Language Models are Few-Shot Learners (GPT-3)", "Radford et al.; Brown et al.",
              "https://arxiv.org/abs/2005.14165",
              "A large decoder-only LM learns tasks in context from a few examples in its prompt.",
              "Loss falls smoothly with scale; few-shot accuracy rises with examples and size.",
              built=True),
    Milestone(10, "simclr", "2020", "A Simple Framework for Contrastive Learning of Visual Representations",
              "Chen, Kornblith, Norouzi, Hinton", "https://arxiv.org/abs/2002.05709",
              "Learn features by pulling two augmentations of an image together and pushing others apart.",
              "Self-supervised features beat a random encoder and approach supervised with few labels.",
              built=True),
]

_BY_NAME = {m.name: m for m in MILESTONES}


def get(name: str) -> Milestone:
    """The milestone called `name`, in any case (`ResNet` is resnet)."""
    if name.lower() in _BY_NAME:
        return _BY_NAME[name.lower()]
    raise UserError(f"unknown milestone {name!r}{did_you_mean(name, _BY_NAME)}; choose from {', '.join(_BY_NAME)}")


def check_packages(runs: list[Run]) -> None:
    """Every optional package these runs need is installed, or one line naming the first missing one's
    pip command, before any of them trains."""
    for run in runs:
        m = get(run.milestone)
        m.check_packages(m.config(run.preset, run.options))


def built_names() -> list[str]:
    return [m.name for m in MILESTONES if m.built]


def require_built(m: Milestone) -> None:
    """One line when `m` has no code yet."""
    if not m.built:
        raise UserError(f"milestone {m.name!r} is not built yet; built ones: {', '.join(built_names())}")


def historical() -> list[Milestone]:
    """The ten in the order the tour walks them."""
    return sorted(MILESTONES, key=lambda m: m.number)


# ---------------------------------------------------------------------------------------------
# Training claim runs.


def execute(run: Run) -> Record:
    """Train one claim run exactly as `milestones train` would (same config path, no files
    written), and record its history, final evaluation and the milestone's probe, as JSON gives it
    back (so a record is the same whether fresh or read from a store). A run whose loss became NaN
    or infinite is recorded as diverged, with its history up to then."""
    from .core.trainer import NonFiniteLoss, Trainer

    m = get(run.milestone)
    task = m.make_task(m.config(run.preset, run.options))
    trainer = Trainer(task, None, verbose=False)
    record: Record = {"command": run.command(), "diverged": False}
    try:
        result = trainer.run()
    except NonFiniteLoss as e:
        return as_json(record | {"diverged": str(e), "history": trainer.log.history, "final": {},
                                 "step": trainer.step, "seconds": None, "probe": {}})
    probe = getattr(m.claim_module, "probe", None)
    return as_json(record | {"history": result.history, "final": result.final_eval, "step": result.step,
                             "seconds": round(result.seconds, 2),
                             "probe": probe(task, result, run) if probe else {}})


def execute_and_store(job: tuple[Run, str]) -> Record:
    """Train a run and keep its record in the store folder at once (in the worker that trained it)."""
    run, folder = job
    return RunStore(Path(folder)).put(execute(run))


_RECORDS: dict[Run, Record] = {}  # the runs this process has trained: claims that share runs train them once


class Runs:
    """The runner of a reproduce or a tour: claim runs trained side by side (core/pool.py), claims
    that share runs training them once, and with a `store`, every record kept there by the worker as
    its run ends and read back instead of training again (core/store.py)."""

    def __init__(self, store: RunStore | None = None):
        self.store = store
        self.queued: set[Run] = set()  # runs this runner queued ahead: the pool hands their records back

    def _known(self, runs: list[Run]) -> list[Run]:
        """The runs neither this process nor the store has: those to train."""
        todo = []
        for r in dict.fromkeys(runs):
            if r in _RECORDS:
                if self.store is not None and not self.store.path(r.command()).exists():
                    self.store.put(_RECORDS[r])  # trained here before this store was opened
                continue
            stored = self.store.get(r.command()) if self.store is not None and r not in self.queued else None
            if stored is not None:
                _RECORDS[r] = stored
                self.store.read += 1  # type: ignore[union-attr]
            else:
                todo.append(r)
        return todo

    def _jobs(self, runs: list[Run]) -> tuple[Any, list[Any]]:
        if self.store is None:
            return execute, runs
        return execute_and_store, [(r, str(self.store.folder)) for r in runs]

    def __call__(self, runs: list[Run], workers: int, progress: Progress | None = None) -> list[Record]:
        """The records of `runs`, training (side by side) those this process and the store lack."""
        todo = self._known(runs)
        fn, jobs = self._jobs(todo)
        for r, record in zip(todo, pool.parallel_map(fn, jobs, workers, progress)):
            _RECORDS[r] = record
        if self.store is not None:
            self.store.trained += len(todo)
        return [_RECORDS[r] for r in runs]

    def prefetch(self, runs: list[Run], workers: int) -> None:
        """Queue runs on the workers that the runs being waited for leave idle (the next claim's, while
        this one finishes); a later call takes their records."""
        todo = self._known(runs)
        self.queued.update(todo)
        fn, jobs = self._jobs(todo)
        pool.prefetch(fn, jobs, workers)


def runner(runs: list[Run], workers: int, progress: Progress | None = None) -> list[Record]:
    """The records of `runs`, training (side by side) those this process has not trained yet."""
    return Runs()(runs, workers, progress)


def prefetch(runs: list[Run], workers: int) -> None:
    """Queue runs on the idle workers, for `runner` to take their records later."""
    Runs().prefetch(runs, workers)
