"""Images decoded from disk as batches are drawn: an ImageFolder tree of any size in bounded memory.

`--stream true` (the classifiers: AlexNet, ResNet, Adam) keeps an ImageFolder tree's file names and
labels, not its pixels (`FolderImages`). What the in-memory path computes over the whole training
set comes from a fixed sample of it instead (SAMPLE images, the same for every run on the folder):
grey or colour, the size when `--image-size` is not given, and each channel's mean and standard
deviation (float64 sums, one image at a time) and their covariance (for PCA lighting).

Training batches come through `StepLoader`: a torch DataLoader whose workers (`--loader-workers`)
make each step's batch, decoded, standardised and augmented, ahead of the step that takes it. The
batch of a step is the same function of (seed, step) as in memory (the sampler's indices, the
augmentation's draws keyed by place), so a resumed run, DDP ranks and gradient accumulation see
what one uninterrupted process would; a run on a folder small enough to be its own sample computes
what the in-memory path computes, to float rounding. Evaluation decodes its split in chunks the
same way. Memory holds the prefetched batches, never the folder.

Other formats (MNIST's IDX files, CIFAR-10) are one or a few files read whole: they are read into
memory as before.
"""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ..errors import UserError
from . import images

SAMPLE = 2000  # training images that stand for the folder: mode, size, mean, std, covariance


class FolderImages:
    """An ImageFolder tree's split, decoded on demand; `get` serves what ImageData.get serves."""

    peak = 255.0

    def __init__(self, root: Path, size: int | None = None, sample: int = SAMPLE):
        ftr, ytr, fte, yte, k = images.image_folder_files(root)
        self.name = root.name
        # as one numpy array of bytes each, not lists of str: a forked worker reading a list would touch
        # every string's reference count and copy the whole list into its own memory
        self.files = {"train": np.array([os.fsencode(f) for f in ftr]), "test": np.array([os.fsencode(f) for f in fte])}
        self.y_train, self.y_test = torch.tensor(ytr, dtype=torch.long), torch.tensor(yte, dtype=torch.long)
        self.n_classes = k
        pick = np.sort(np.random.default_rng(0).choice(len(ftr), min(sample, len(ftr)), replace=False))
        headers = [_header(ftr[i]) for i in pick]  # (mode, size), without decoding the pixels
        self.gray = all(mode in images.GRAY_MODES for mode, _ in headers)
        sizes = {size for _, size in headers}
        # as the in-memory path: --image-size, else the images' own size when they share one, else 32
        self.side: int | None = size or (None if len(sizes) == 1 else 32)
        self.wh: tuple[int, int] = (self.side, self.side) if self.side else next(iter(sizes))
        c = 1 if self.gray else 3
        mean, cov = images.channel_moments(  # one image in memory at a time, each (C, H W)
            self._array(images.open_image(ftr[i])).reshape(c, -1) for i in pick)
        self.mean = torch.tensor(mean, dtype=torch.float32)[:, None, None]  # (C, 1, 1)
        self.std = torch.tensor(np.sqrt(np.diag(cov)), dtype=torch.float32).clamp_min(1e-6)[:, None, None]
        self.covariance = cov / np.outer(self.std.flatten(), self.std.flatten())  # of the standardised channels
        self.sampled = len(pick)

    @property
    def shape(self) -> tuple[int, ...]:
        return (1 if self.gray else 3, self.wh[1], self.wh[0])

    def _array(self, im: Any) -> np.ndarray:
        if self.side is None and im.size != self.wh:  # an image the sample did not show: to the others' size
            from PIL import Image

            im = im.resize(self.wh, Image.BILINEAR)
        return images.to_array(im, self.gray, self.side)

    def decode(self, idx: torch.Tensor, split: str = "train") -> torch.Tensor:
        """uint8 (B, C, H, W) of the images at `idx`."""
        files = self.files[split]
        return torch.from_numpy(np.stack([self._array(images.open_image(Path(os.fsdecode(files[i]))))
                                          for i in idx.tolist()]))

    def get(self, idx: torch.Tensor, split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
        y = self.y_train if split == "train" else self.y_test
        return (self.decode(idx, split).float() - self.mean) / self.std, y[idx]

    def all(self, split: str = "test") -> tuple[torch.Tensor, torch.Tensor]:
        n = len(self.y_train if split == "train" else self.y_test)
        return self.get(torch.arange(n), split)

    def subset(self, n_train: int) -> FolderImages:
        out = object.__new__(FolderImages)
        out.__dict__.update(self.__dict__)
        out.files = {"train": self.files["train"][:n_train], "test": self.files["test"]}
        out.y_train = self.y_train[:n_train]
        return out



def _header(f: Path) -> tuple[str, tuple[int, int]]:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(f) as im:  # reads the header only
            return im.mode, im.size
    except (UnidentifiedImageError, OSError) as e:
        raise UserError(f"cannot read image {f}: {e}") from None


def load(path: str, size: int = 0) -> FolderImages | None:
    """The folder streamed when it is an ImageFolder tree; None for formats read whole (IDX, CIFAR-10)."""
    root = Path(path).expanduser()
    if not root.is_dir():
        return None  # images.load says why, in one line
    if (images._find(root, ["train-images-idx3-ubyte", "train-images.idx3-ubyte"])
            or any((root / f).exists() for f in ("test_batch.bin", "data_batch_1.bin", "test_batch", "data_batch_1"))):
        return None
    data = FolderImages(root, size or None)
    print(f"milestones: streaming {len(data.y_train):,} training and {len(data.y_test):,} test images from {root} "
          f"({'x'.join(map(str, data.shape))}; mean and std from {data.sampled:,} of them)", file=sys.stderr)
    return data


# ---------------------------------------------------------------------------------------------
# Batches made ahead by worker processes.


class _Made(Dataset):
    """Item k is make(k): a step's batch, or an evaluation chunk."""

    def __init__(self, make: Callable[[int], Any]):
        self.make = make

    def __len__(self) -> int:
        return sys.maxsize

    def __getitem__(self, k: int) -> Any:
        return self.make(k)


def _one_thread(_: int) -> None:
    torch.set_num_threads(1)  # the workers decode side by side; the training step keeps its threads


def made_ahead(make: Callable[[int], Any], keys: Iterator[int] | range, workers: int) -> Iterator[Any]:
    """make(k) for each k of `keys`, in order, made by `workers` processes (at most the cores) ahead of
    their use (0: here)."""
    workers = min(workers, os.cpu_count() or 1)
    loader = DataLoader(_Made(make), sampler=keys, batch_size=None, num_workers=workers,  # type: ignore[arg-type]
                        prefetch_factor=2 if workers else None, worker_init_fn=_one_thread if workers else None)
    return iter(loader)


class StepLoader:
    """make(step) for consecutive steps, made ahead; a step out of sequence (a resume) starts over there."""

    def __init__(self, make: Callable[[int], Any], workers: int):
        self.make, self.workers = make, workers
        self._next: int | None = None
        self._items: Iterator[Any] | None = None

    def get(self, step: int) -> Any:
        if self._next != step or self._items is None:
            self._items = made_ahead(self.make, itertools.count(step), self.workers)  # type: ignore[arg-type]
        self._next = step + 1
        return next(self._items)

