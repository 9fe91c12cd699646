"""The supervised image recipes' augmentation (data/augment.py, `--augment.*`): each image its own
crop, flip and lighting, a pure function of (seed, step, place in the global batch); evaluation
sees none (the centre crop where training crops); ResNet-20's and AlexNet's paper presets run it
on a user's CIFAR-10 files and ImageFolder."""

import numpy as np
import pytest
import torch
from PIL import Image

from milestones import registry
from milestones.core.task import Shard
from milestones.data.augment import ImageAugment, principal_components
from milestones.data.images import channel_moments

from conftest import cifar_bin, cli


def _covariance(x):
    """The channels' covariance of images x (N, C, H, W)."""
    return channel_moments([x.transpose(0, 1).reshape(x.shape[1], -1).numpy()])[1]


def _same_image(n=64, c=3, size=8):
    torch.manual_seed(0)
    return torch.randn(1, c, size, size).expand(n, c, size, size).contiguous()


def test_each_image_gets_its_own_view_and_the_same_keys_the_same_view():
    x = _same_image()
    aug = ImageAugment(pad=2, flip=True, lighting=0.1)
    coloured = torch.randn(100, 3, 8, 8) * torch.tensor([3.0, 1.0, 0.3])[None, :, None, None]
    comps = principal_components(_covariance(coloured))
    keys = torch.arange(64)
    views = aug(x, 0, keys, comps)
    assert views.shape == x.shape
    distinct = {tuple(v.flatten().tolist()) for v in views}
    assert len(distinct) == 64  # lighting alone makes each one its own
    assert torch.equal(views, aug(x, 0, keys, comps))  # a pure function of (seed, key)
    assert torch.equal(views[10:20], aug(x[10:20], 0, keys[10:20], comps))  # whatever batch draws it
    assert not torch.equal(views, aug(x, 1, keys, comps)) and not torch.equal(views, aug(x, 0, keys + 64, comps))


def test_crops_are_windows_of_the_padded_image_or_its_mirror():
    x = _same_image(n=200, c=1)
    views = ImageAugment(pad=2, flip=True)(x, 3, torch.arange(200))
    padded = torch.nn.functional.pad(x[0], (2, 2, 2, 2))
    windows = {}
    for r in range(5):
        for c in range(5):
            w = padded[:, r:r + 8, c:c + 8]
            windows[(r, c, False)] = w
            windows[(r, c, True)] = w.flip(2)
    seen = set()
    for v in views:
        match = [k for k, w in windows.items() if torch.equal(v, w)]
        assert match, "a view that is no window of the padded image"
        seen.add(match[0])
    assert len(seen) > 25 and {k[2] for k in seen} == {False, True}  # many offsets, both orientations


def test_lighting_shifts_each_image_by_one_colour_along_the_principal_components():
    x = torch.randn(500, 3, 6, 6) * torch.tensor([2.0, 1.0, 0.5])[None, :, None, None]
    values, vectors = comps = principal_components(_covariance(x))
    assert torch.allclose(values.sort().values, torch.tensor([0.25, 1.0, 4.0]), rtol=0.1)
    shift = ImageAugment(lighting=0.1)(x, 0, torch.arange(500), comps) - x  # (B, C, H, W)
    assert torch.allclose(shift, shift[:, :, :1, :1].expand_as(shift), atol=1e-6)  # one colour per image
    a = torch.linalg.solve(vectors, shift[:, :, 0, 0].T).T / values  # the per-image alphas, (B, C)
    assert abs(float(a.std()) - 0.1) < 0.01 and abs(float(a.mean())) < 0.01


def test_the_problems_are_said_before_training():
    assert ImageAugment().problem((1, 40)) is None  # nothing asked: nothing to say
    assert "signals" in ImageAugment(flip=True).problem((1, 40))
    assert "larger than the images (32x32 px)" in ImageAugment(crop=40).problem((3, 32, 32))
    assert ImageAugment(pad=4, crop=40).problem((3, 32, 32)) is None


@pytest.mark.parametrize("name", ["resnet", "alexnet"])
def test_training_batches_are_augmented_and_evaluation_is_not(name):
    m = registry.get(name)
    plain = m.make_task(m.config("tiny", {}))
    opts = dict(pad=1, flip=True, crop=6) if name == "alexnet" else dict(pad=2, flip=True, lighting=0.1)
    task = m.make_task(m.config("tiny", dict(augment=opts)))
    x0, y0 = plain.batch(5, Shard())
    x, y = task.batch(5, Shard())
    assert torch.equal(y, y0) and not torch.equal(x, task.augment.centre(x0))
    # the shards of accumulation and of DDP ranks are the parts of one process's batch
    parts = [task.batch(5, Shard(micro, 2, rank, 2)) for micro in range(2) for rank in range(2)]
    assert torch.equal(torch.cat([p[0] for p in parts]), x) and torch.equal(torch.cat([p[1] for p in parts]), y)
    # evaluation: the test images as they are (their centre where training crops)
    xt, yt = task.inputs("test")
    xt0, yt0 = plain.data.all("test")
    assert torch.equal(yt, yt0) and torch.equal(xt, task.augment.centre(xt0))
    assert xt.shape[1:] == task.input_shape == x.shape[1:]
    assert task.model_config() == m.make_task(m.config("tiny", {})).model_config() or name == "alexnet"


def test_resnet20_trains_on_a_cifar10_folder_with_the_paper_recipe(tmp_path, capsys):
    data = cifar_bin(tmp_path / "cifar", (("data_batch_1.bin", 64), ("test_batch.bin", 20)))
    code, out, err = cli(capsys, "train", "resnet", "--preset", "paper", "--data", data, "--steps", "3",
                         "--batch-size", "16", "--log-every", "1", "--eval-every", "0", "--ckpt-every", "0",
                         "--tensorboard", "false", "--out", tmp_path / "run")
    assert code == 0, err
    cfg = registry.get("resnet").config("paper", {})
    assert (cfg.augment.pad, cfg.augment.flip, cfg.model.depth) == (4, True, 20)
    from milestones import load

    model, config = load(tmp_path / "run")
    assert config.augment == cfg.augment
    assert sum(p.numel() for p in model.parameters()) == 269_722  # ResNet-20: 0.27M (Table 6)


@pytest.mark.slow
def test_alexnet_trains_on_256_px_images_with_the_paper_recipe(tmp_path, capsys):
    rng = np.random.default_rng(0)
    data = tmp_path / "folder"
    for split, n in (("train", 4), ("test", 2)):
        for label in ("cat", "dog"):
            (data / split / label).mkdir(parents=True)
            for i in range(n):
                Image.fromarray(rng.integers(0, 255, (300, 280, 3), dtype=np.uint8)).save(
                    data / split / label / f"{i}.png")
    code, out, err = cli(capsys, "train", "alexnet", "--preset", "paper", "--data", data, "--steps", "1",
                         "--batch-size", "4", "--eval-every", "0", "--ckpt-every", "0", "--tensorboard", "false",
                         "--out", tmp_path / "run")
    assert code == 0, err
    from milestones import load

    model, config = load(tmp_path / "run")
    assert (config.image_size, config.augment.crop, config.augment.lighting) == (256, 224, 0.1)
    assert model(torch.zeros(1, 3, 224, 224)).shape == (1, 2)
