"""Bag-of-words features of labelled text: the sparse problem of Adam's §6.1 (Kingma & Ba 2015).

The paper: IMDB movie reviews "pre-processed into bag-of-words (BoW) feature vectors including the
first 10,000 most frequent words", a "highly sparse" input, on which logistic regression tests
how an optimizer learns rare features; 50% dropout noise on the inputs during training (Wang &
Manning 2013) prevents over-fitting.

Here: the embedded docstring task of data/labelled.py stands in for IMDB (7 packages of Python's
standard library; its labelled pool of 2,454 docstrings trains, its 350 test docstrings test), or a
labelled TSV a user brings (`text<TAB>label`; a fifth of each label held out, as for BERT). Words
are runs of letters, digits and underscores starting with a letter, lower-cased; the vocabulary is
the training split's `VOCAB` most frequent words (ties in alphabetical order); a document's vector
holds 1 for each vocabulary word it contains (binary features, as Wang & Manning's). The vectors
are not standardised: centring them would make every feature non-zero, and their sparsity is the
point of the experiment.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import cache
from pathlib import Path

import torch

from ..errors import UserError
from . import labelled
from .images import ImageData

VOCAB = 10_000  # the paper's "10,000 most frequent words"
TEST_PER_CLASS = 50  # the docstring task's test docstrings per package (BERT's)
WORD = re.compile(r"[a-z][a-z0-9_]*")


def words(text: str) -> set[str]:
    """The distinct words of a text."""
    return set(WORD.findall(text.lower()))


def vocabulary(texts: list[str], size: int = VOCAB) -> list[str]:
    """The `size` words found in the most texts (ties in alphabetical order)."""
    counts = Counter(w for t in texts for w in words(t))
    return sorted(counts, key=lambda w: (-counts[w], w))[:size]


def features(texts: list[str], vocab: list[str]) -> torch.Tensor:
    """Binary bag-of-words vectors, (N, 1, V) uint8: 1 where the text contains the word."""
    index = {w: i for i, w in enumerate(vocab)}
    x = torch.zeros(len(texts), 1, len(vocab), dtype=torch.uint8)
    for n, t in enumerate(texts):
        cols = [index[w] for w in words(t) if w in index]
        x[n, 0, cols] = 1
    return x


class BagOfWords(ImageData):
    """A train/test split of bag-of-words vectors, (N, 1, V), served as they are (not standardised)."""

    def __post_init__(self) -> None:
        self.mean = torch.zeros(1, 1)
        self.std = torch.ones(1, 1)

    @property
    def peak(self) -> float:
        return 1.0

    def get(self, idx: torch.Tensor, split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
        x, y = (self.x_train, self.y_train) if split == "train" else (self.x_test, self.y_test)
        return x[idx].float(), y[idx]


def from_text(name: str, train: labelled.LabelledText, test: labelled.LabelledText, size: int = VOCAB) -> BagOfWords:
    vocab = vocabulary(train.a, size)
    return BagOfWords(name, features(train.a, vocab), torch.tensor(train.y), features(test.a, vocab),
                      torch.tensor(test.y), len(train.names))


def load(path: str | Path = "", size: int = VOCAB) -> BagOfWords:
    """The docstring task's bag of words, or that of a user's labelled TSV file (one line of error
    for a file it cannot read: see labelled.read_tsv)."""
    if path:
        source = str(path)
        data = labelled.read_tsv(path)
        if data.b is not None:
            raise UserError(f"{source} has sentence pairs (3 fields a line); a bag of words takes one text a line: "
                            "text<TAB>label")
        train, test = labelled.hold_out(data, source)
        return from_text(Path(path).name, train, test, size)
    return docstrings(size)


@cache  # built once per process
def docstrings(size: int = VOCAB) -> BagOfWords:
    """The embedded task: docstrings by package (pool to train, test set to test)."""
    pool, test = labelled.docstring_task(TEST_PER_CLASS)
    return from_text("docstrings", pool, test, size)
