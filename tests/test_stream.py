"""`--stream`: an ImageFolder tree decoded from disk by DataLoader workers as batches are drawn
(data/stream.py). A small folder trains what the in-memory path trains (the same losses, with or
without workers, resumed or not); memory does not grow with the folder; what the in-memory path
reads from every image comes from a sample."""

import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from milestones import registry
from milestones.data import images, stream

from conftest import cifar_bin, cli


def _folder(root, n, size, seed=0):
    rng = np.random.default_rng(seed)
    for i in range(n):
        c = i % 4
        (root / f"class{c}").mkdir(parents=True, exist_ok=True)
        a = rng.integers(0, 60, (size, size, 3)).astype(np.uint8)
        a[:, :, c % 3] += np.uint8(40 * c)
        Image.fromarray(a).save(root / f"class{c}" / f"{i}.png")
    return root


def _losses(run):
    import json

    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [r["loss"] for r in rows if r["split"] == "train"], [r["test_acc"] for r in rows if r["split"] == "eval"]


def test_a_streamed_folder_trains_what_the_in_memory_path_trains(tmp_path, capsys):
    data = _folder(tmp_path / "folder", 200, 16)
    args = ["train", "resnet", "--preset", "tiny", "--data", data, "--steps", "12", "--log-every", "1",
            "--batch-size", "16", "--eval-every", "6", "--tensorboard", "false", "--augment.pad", "2",
            "--augment.flip", "true", "--augment.lighting", "0.1"]
    runs = {}
    for name, opts in (("memory", []), ("workers", ["--stream", "true", "--loader-workers", "2"]),
                       ("here", ["--stream", "true", "--loader-workers", "0"])):
        code, _, err = cli(capsys, *args, *opts, "--out", tmp_path / name)
        assert code == 0, err
        assert ("streaming 160 training and 40 test images" in err) == (name != "memory")
        runs[name] = _losses(tmp_path / name)
    for name in ("workers", "here"):  # the sample is the whole folder here: the same mean and std, to rounding
        assert np.allclose(runs[name][0], runs["memory"][0], rtol=1e-5), name
        assert runs[name][1] == runs["memory"][1]
    # stopped at step 6 and resumed: the loader starts over at the step the run resumes from
    code, _, err = cli(capsys, *args, "--stream", "true", "--steps", "6", "--out", tmp_path / "cut")
    assert code == 0, err
    code, _, err = cli(capsys, "train", "resnet", "--resume", "--steps", "12", "--out", tmp_path / "cut")
    assert code == 0, err
    assert _losses(tmp_path / "cut")[0] == runs["workers"][0]


def test_the_sample_stands_for_the_folder(tmp_path):
    data = _folder(tmp_path / "folder", 120, 12)
    whole = images.load_path(data)
    streamed = stream.FolderImages(data)
    assert streamed.shape == whole.shape and streamed.n_classes == whole.n_classes
    assert torch.allclose(streamed.mean, whole.mean) and torch.allclose(streamed.std, whole.std)
    assert torch.equal(streamed.y_train, whole.y_train) and torch.equal(streamed.y_test, whole.y_test)
    idx = torch.tensor([3, 0, 50])
    assert torch.equal(streamed.decode(idx), whole.x_train[idx])
    assert torch.allclose(streamed.get(idx)[0], whole.get(idx)[0], atol=1e-5)
    few = stream.FolderImages(data, sample=20)  # the statistics of 20 of the training images, fixed ones
    pick = np.sort(np.random.default_rng(0).choice(len(whole.y_train), 20, replace=False))
    x = whole.x_train[torch.from_numpy(pick)].float()
    assert few.sampled == 20 and torch.allclose(few.mean.flatten(), x.mean(dim=(0, 2, 3)))
    assert torch.allclose(few.std.flatten(), x.std(dim=(0, 2, 3)), rtol=1e-5)
    # an image of another size than the sample's is brought to theirs; --image-size resizes every one
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(data / "class0" / "odd.png")
    odd = stream.FolderImages(data)
    assert odd.shape in ((3, 12, 12), (3, 32, 32))
    assert stream.FolderImages(data, size=8).decode(torch.arange(4)).shape == (4, 3, 8, 8)


MEASURE = """
import sys
from milestones import registry
from milestones.core.task import Shard
m = registry.get("resnet")
cfg = m.config("tiny", dict(data=sys.argv[1], stream=sys.argv[2] == "true", loader_workers=0, batch_size=16))
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # the peak resident memory counts from here: building the task and drawing a batch
task = m.make_task(cfg)
task.batch(0, Shard())
print(next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM")))
"""


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="measures with Linux's /proc")
def test_memory_does_not_grow_with_the_folder(tmp_path):
    small, big = _folder(tmp_path / "small", 2500, 64), _folder(tmp_path / "big", 5000, 64, seed=1)

    def peak_mb(folder, streamed):
        out = subprocess.run([sys.executable, "-c", MEASURE, str(folder), str(streamed).lower()], text=True,
                             capture_output=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
        assert out.returncode == 0, out.stderr[-2000:]
        return int(out.stdout.split()[-1]) / 1024

    streamed = peak_mb(big, True) - peak_mb(small, True)
    in_memory = peak_mb(big, False) - peak_mb(small, False)
    assert in_memory > 100, in_memory  # 2,500 more 64 px images (31 MB), and their float copy for the mean
    assert streamed < 20, streamed


def test_what_streaming_does_not_take_is_one_line(tmp_path, capsys):
    data = _folder(tmp_path / "folder", 40, 8)
    code, _, err = cli(capsys, "train", "alexnet", "--preset", "tiny", "--data", data, "--stream", "true",
                       "--inputs", "mean_image", "--out", tmp_path / "a")
    assert code == 2 and "--inputs mean_image needs the training images in memory" in err
    code, _, err = cli(capsys, "train", "resnet", "--preset", "tiny", "--stream", "true", "--loader-workers", "-1",
                       "--out", tmp_path / "b")
    assert code == 2 and "--loader-workers must be at least 0" in err
    assert stream.load(str(cifar_bin(tmp_path / "cifar"))) is None  # CIFAR-10's files are read whole
    assert registry.get("alexnet").config("paper", {}).stream
