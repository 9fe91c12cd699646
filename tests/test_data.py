"""Embedded data sets and the loaders for formats a user brings, on small files written here."""

import gzip
import pickle
import struct

import numpy as np
import pytest
import torch

from milestones.core.config import UserError
from milestones.data import images


def test_embedded_sets():
    d = images.digits()
    assert d.shape == (1, 8, 8) and d.n_classes == 10 and len(d.y_train) + len(d.y_test) == 1797
    m = images.mnist5k()
    assert m.shape == (1, 28, 28) and len(m.y_train) == 4000 and len(m.y_test) == 1000
    assert torch.bincount(m.y_test).tolist() == [100] * 10  # stratified, fixed
    x, y = m.get(torch.arange(8))
    assert x.dtype == torch.float32 and abs(float(m.all("train")[0].mean())) < 0.05
    s = images.mnist1d()
    assert s.shape == (1, 40) and len(s.y_train) == 4000 and len(s.y_test) == 1000


def _idx(path, arr, code=0x08, gz=False):
    header = struct.pack(">BBBB", 0, 0, code, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    data = header + arr.astype(">u1" if code == 0x08 else arr.dtype).tobytes()
    path.write_bytes(gzip.compress(data) if gz else data)


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_idx_folder(tmp_path, gz):
    rng = np.random.default_rng(0)
    sfx = ".gz" if gz else ""
    _idx(tmp_path / f"train-images-idx3-ubyte{sfx}", rng.integers(0, 255, (20, 28, 28)), gz=gz)
    _idx(tmp_path / f"train-labels-idx1-ubyte{sfx}", rng.integers(0, 10, 20), gz=gz)
    _idx(tmp_path / f"t10k-images-idx3-ubyte{sfx}", rng.integers(0, 255, (6, 28, 28)), gz=gz)
    _idx(tmp_path / f"t10k-labels-idx1-ubyte{sfx}", np.arange(6) % 10, gz=gz)
    d = images.load_path(tmp_path)
    assert d.shape == (1, 28, 28) and len(d.y_train) == 20 and d.y_test.tolist() == [0, 1, 2, 3, 4, 5]


def test_truncated_idx_is_a_clear_error(tmp_path):
    _idx(tmp_path / "train-images-idx3-ubyte", np.zeros((4, 28, 28)))
    raw = (tmp_path / "train-images-idx3-ubyte").read_bytes()
    (tmp_path / "train-images-idx3-ubyte").write_bytes(raw[:-100])
    with pytest.raises(UserError, match="truncated"):
        images.read_idx(tmp_path / "train-images-idx3-ubyte")


def test_cifar_binary(tmp_path):
    rng = np.random.default_rng(0)
    for name, n in (("data_batch_1.bin", 10), ("test_batch.bin", 4)):
        rows = np.concatenate([rng.integers(0, 10, (n, 1)), rng.integers(0, 255, (n, 3072))], axis=1)
        (tmp_path / name).write_bytes(rows.astype(np.uint8).tobytes())
    d = images.load_path(tmp_path)
    assert d.shape == (3, 32, 32) and len(d.y_train) == 10 and len(d.y_test) == 4


def test_cifar_python_through_the_restricted_unpickler(tmp_path):
    rng = np.random.default_rng(0)
    for name, n in (("data_batch_1", 10), ("test_batch", 4)):
        batch = {b"data": rng.integers(0, 255, (n, 3072)).astype(np.uint8), b"labels": list(range(n))}
        (tmp_path / name).write_bytes(pickle.dumps(batch, protocol=2))
    d = images.load_path(tmp_path)
    assert d.shape == (3, 32, 32) and d.y_test.tolist() == [0, 1, 2, 3]


class _Evil:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_restricted_unpickler_refuses_code(tmp_path, capsys):
    (tmp_path / "data_batch_1").write_bytes(pickle.dumps({b"data": _Evil(), b"labels": [0]}))
    (tmp_path / "test_batch").write_bytes(pickle.dumps({b"data": _Evil(), b"labels": [0]}))
    with pytest.raises(UserError, match="refusing"):
        images.load_path(tmp_path)
    assert "must never run" not in capsys.readouterr().out


def test_image_folder(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in ("cat", "dog"):
        (tmp_path / c).mkdir()
        for i in range(10):
            Image.fromarray(rng.integers(0, 255, (12, 12, 3)).astype(np.uint8)).save(tmp_path / c / f"{i}.png")
    d = images.load_path(tmp_path)
    assert d.shape == (3, 12, 12) and d.n_classes == 2 and len(d.y_train) == 16 and len(d.y_test) == 4
    d = images.load(name="mnist5k", path=str(tmp_path), size=8)
    assert d.shape == (3, 8, 8)


def test_missing_and_bad_paths(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        images.load_path(tmp_path / "nope")
    (tmp_path / "f.txt").write_text("x")
    with pytest.raises(UserError, match="is a file"):
        images.load_path(tmp_path / "f.txt")
    with pytest.raises(UserError, match="no images"):
        images.load_path(tmp_path.joinpath("empty").mkdir() or tmp_path / "empty")
