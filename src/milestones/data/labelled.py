"""Labelled text for fine-tuning (BERT): a TSV file a user brings, or the embedded task.

A user's file has one example per line, `text<TAB>label` or, for sentence pairs,
`text_a<TAB>text_b<TAB>label` (every line the same form; blank lines are skipped; no header).
A fifth of each label's examples (at least one) is held out for testing, chosen with a fixed
seed so every run tests on the same lines; a label needs at least two examples.

The embedded task needs no download: classify a docstring of Python's standard library by the
package it comes from. Seven packages with enough English (`PACKAGES`); a docstring that occurs
more than once (in one package or several) is kept once, under its first package. Of each
package's docstrings, in a fixed random order (seed 0), the first `test_per_class` are the test
set and the rest the labelled pool; `--labels-per-class K` then draws K of each package's pool
with the run's seed, so that the scarce-label regime is one flag and seeds vary which labels a
run sees. `--val-per-class V` draws V more of each label from what is left of the pool (after the K
labelled ones; from the whole pool without K), also with the seed: a validation set on which a run
chooses its own number of steps (`--patience`) without looking at the test set.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import UserError
from . import text as tx

PACKAGES = ("asyncio", "email", "idlelib", "importlib", "logging", "tkinter", "xml")
TEST_FRACTION = 0.2
SPLIT_SEED = 0


@dataclass
class LabelledText:
    """Examples: first texts, second texts (pairs) or None, label ids, and the label names."""

    a: list[str]
    b: list[str] | None
    y: list[int]
    names: list[str]

    def __len__(self) -> int:
        return len(self.y)

    def subset(self, idx: list[int]) -> LabelledText:
        return LabelledText([self.a[i] for i in idx], None if self.b is None else [self.b[i] for i in idx],
                            [self.y[i] for i in idx], self.names)

    def by_class(self) -> list[list[int]]:
        """Indices of each label's examples, in order."""
        rows: list[list[int]] = [[] for _ in self.names]
        for i, y in enumerate(self.y):
            rows[y].append(i)
        return rows


def read_tsv(path: str | Path) -> LabelledText:
    """A user's labelled TSV, or one line of error: a missing, empty or non-UTF-8 file, a line
    without a label, lines of two forms."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise UserError(f"--data {p} does not exist (a labelled .tsv file: text<TAB>label per line)")
    try:
        lines = p.read_bytes().decode("utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise UserError(f"{p} is not UTF-8 text (byte {e.start}); convert it, e.g. iconv -t utf-8") from None
    rows = [(n, line.split("\t")) for n, line in enumerate(lines, 1) if line.strip()]
    if not rows:
        raise UserError(f"{p} is empty: give one example per line, text<TAB>label")
    width = len(rows[0][1])
    for n, fields in rows:
        if len(fields) < 2 or not fields[-1].strip():
            raise UserError(f"{p}:{n}: no label (a line is text<TAB>label, or text_a<TAB>text_b<TAB>label)")
        if len(fields) > 3:
            raise UserError(f"{p}:{n}: {len(fields)} tab-separated fields; a line has 2 (text, label) or 3 "
                            "(text_a, text_b, label)")
        if len(fields) != width:
            raise UserError(f"{p}:{n}: {len(fields)} fields where line {rows[0][0]} has {width}; every line "
                            "must be the same form")
    names = sorted({f[-1].strip() for _, f in rows})
    index = {name: i for i, name in enumerate(names)}
    a = [f[0] for _, f in rows]
    b = [f[1] for _, f in rows] if width == 3 else None
    return LabelledText(a, b, [index[f[-1].strip()] for _, f in rows], names)


def hold_out(data: LabelledText, source: str) -> tuple[LabelledText, LabelledText]:
    """(training, test): a fifth of each label's examples (at least one) held out, fixed seed."""
    counts = Counter(data.y)
    lonely = [data.names[y] for y, n in sorted(counts.items()) if n < 2]
    if lonely:
        raise UserError(f"{source}: label {lonely[0]!r} has one example; each label needs at least two "
                        "(one to train on, one to test)")
    if len(data.names) < 2:
        raise UserError(f"{source}: every line has the label {data.names[0]!r}; a classifier needs two labels")
    g = torch.Generator().manual_seed(SPLIT_SEED)
    train, test = [], []
    for rows in data.by_class():
        order = [rows[i] for i in torch.randperm(len(rows), generator=g).tolist()]
        k = max(1, round(len(rows) * TEST_FRACTION))
        test += order[:k]
        train += order[k:]
    return data.subset(sorted(train)), data.subset(sorted(test))


def docstring_task(test_per_class: int) -> tuple[LabelledText, LabelledText]:
    """(labelled pool, test set) of the embedded task: docstrings labelled by package."""
    seen: set[str] = set()
    by_package: dict[str, list[str]] = {p: [] for p in PACKAGES}
    for package, doc in tx.docstring_corpus():
        if doc in seen:
            continue
        seen.add(doc)
        if package in by_package:
            by_package[package].append(doc)
    g = torch.Generator().manual_seed(SPLIT_SEED)
    pool, test = LabelledText([], None, [], list(PACKAGES)), LabelledText([], None, [], list(PACKAGES))
    for y, package in enumerate(PACKAGES):
        docs = by_package[package]
        if len(docs) <= test_per_class:
            raise UserError(f"the standard library's {package} has {len(docs)} distinct docstrings, not more "
                            f"than --test-per-class {test_per_class}")
        order = [docs[i] for i in torch.randperm(len(docs), generator=g).tolist()]
        for part, texts in ((test, order[:test_per_class]), (pool, order[test_per_class:])):
            part.a += texts
            part.y += [y] * len(texts)
    return pool, test


def _draw(data: LabelledText, k: int, g: torch.Generator, source: str, option: str, what: str) -> list[int]:
    """Indices of K examples of each label, drawn with `g`, in order; `what` names the examples
    in the error ("training examples of {name}")."""
    idx = []
    for y, rows in enumerate(data.by_class()):
        if len(rows) < k:
            raise UserError(f"{option} {k}: {source} has only {len(rows)} {what.format(name=repr(data.names[y]))}")
        idx += [rows[i] for i in torch.randperm(len(rows), generator=g)[:k].tolist()]
    return sorted(idx)


def per_class(data: LabelledText, k: int, seed: int, source: str) -> LabelledText:
    """K examples of each label, drawn with `seed` (the scarce-label regime)."""
    return data.subset(_draw(data, k, torch.Generator().manual_seed(seed), source, "--labels-per-class",
                             "training examples of {name}"))


def labelled_and_validation(pool: LabelledText, k: int, v: int, seed: int,
                            source: str) -> tuple[LabelledText, LabelledText | None]:
    """(training, validation or None): K of each label drawn with `seed` (all of the pool with K 0),
    then V of each label from the rest of the pool, drawn with seed + 1; with K 0 the training
    examples are what the validation set leaves. The K drawn are the same with or without V."""
    if not v:
        return (per_class(pool, k, seed, source) if k else pool), None
    train_idx = _draw(pool, k, torch.Generator().manual_seed(seed), source, "--labels-per-class",
                      "training examples of {name}") if k else []
    taken = set(train_idx)
    rest_idx = [i for i in range(len(pool)) if i not in taken]
    rest = pool.subset(rest_idx)
    if not k:  # each label keeps at least one example to train on
        for y, rows in enumerate(rest.by_class()):
            if len(rows) <= v:
                raise UserError(f"--val-per-class {v}: {source} has only {len(rows)} training examples of "
                                f"{pool.names[y]!r}; it needs {v} for validation and one to train on")
    what = "examples of {name} left after the labelled ones" if k else "training examples of {name}"
    val_idx = [rest_idx[i] for i in _draw(rest, v, torch.Generator().manual_seed(seed + 1), source,
                                          "--val-per-class", what)]
    if not k:
        chosen = set(val_idx)
        train_idx = [i for i in range(len(pool)) if i not in chosen]
    return pool.subset(train_idx), pool.subset(val_idx)
