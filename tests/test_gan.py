"""GAN: the nets against the DCGAN reference layout, the losses, the metrics against torchmetrics,
the two-optimizer step in the shared trainer, resume, sampling and DDP."""

import math
import os
import socket
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from milestones import registry
from milestones.core import checkpoint
from milestones.core.task import Shard
from milestones.core.trainer import train
from milestones.data import mixtures
from milestones.errors import UserError
from milestones.gan import metrics
from milestones.gan.model import (
    DCGANDiscriminator,
    DCGANGenerator,
    Maxout,
    dcgan_init,
    dcgan_plan,
    discriminator_loss,
    generator_loss,
)
from milestones.gan.task import GANTask

from conftest import cli, tiny_claims


def _reference_generator(nz=100, ngf=64, nc=3):
    """The 64 px DCGAN generator as commonly written (PyTorch's DCGAN example layout)."""
    return nn.Sequential(
        nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 8), nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 4), nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),
        nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh())


def _reference_discriminator(ndf=64, nc=3):
    return nn.Sequential(
        nn.Conv2d(nc, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 2), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 4), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf * 4, ndf * 8, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 8), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False), nn.Sigmoid())


def test_dcgan_64px_equals_the_reference_layout():
    g, d = DCGANGenerator(100, (3, 64, 64), 64), DCGANDiscriminator((3, 64, 64), 64)
    dcgan_init(g)
    dcgan_init(d)
    assert sum(p.numel() for p in g.parameters()) == 3_576_704
    assert sum(p.numel() for p in d.parameters()) == 2_765_568
    rg, rd = _reference_generator(), _reference_discriminator()
    rg.load_state_dict(g.net.state_dict())
    missing = rd.load_state_dict(d.net.state_dict(), strict=True)
    assert not missing.missing_keys
    for m in (g, d, rg, rd):
        m.eval()
    z = torch.randn(4, 100)
    x = g(z)
    assert x.shape == (4, 3, 64, 64) and x.abs().max() <= 1
    torch.testing.assert_close(x, rg(z.view(4, 100, 1, 1)), atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(torch.sigmoid(d(x)), rd(x).flatten(), atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("size,plan", [(8, (4, 1)), (28, (7, 2)), (32, (4, 3)), (64, (4, 4))])
def test_dcgan_sizes(size, plan):
    assert dcgan_plan(size) == plan
    g, d = DCGANGenerator(16, (1, size, size), 8), DCGANDiscriminator((1, size, size), 8)
    x = g(torch.randn(3, 16))
    assert x.shape == (3, 1, size, size) and d(x).shape == (3,)


def test_dcgan_refuses_sizes_it_cannot_build():
    with pytest.raises(ValueError, match="--image-size"):
        dcgan_plan(5)
    with pytest.raises(ValueError, match="square"):
        DCGANGenerator(8, (1, 32, 28), 8)


def test_dcgan_init_follows_the_paper():
    g = DCGANGenerator(100, (1, 28, 28), 64)
    dcgan_init(g)
    w = torch.cat([m.weight.flatten() for m in g.modules() if isinstance(m, nn.ConvTranspose2d)])
    assert abs(w.mean()) < 1e-3 and abs(w.std() - 0.02) < 1e-3
    gamma = torch.cat([m.weight for m in g.modules() if isinstance(m, nn.BatchNorm2d)])
    assert abs(gamma.mean() - 1) < 5e-3 and abs(gamma.std() - 0.02) < 5e-3


def test_losses_equal_their_definitions():
    real, fake = torch.randn(50), torch.randn(50)
    bce = F.binary_cross_entropy_with_logits
    torch.testing.assert_close(discriminator_loss(real, fake),
                               bce(real, torch.ones(50)) + bce(fake, torch.zeros(50)))
    torch.testing.assert_close(generator_loss(fake), -torch.log(torch.sigmoid(fake)).mean())
    torch.testing.assert_close(generator_loss(fake, "minimax"), torch.log(1 - torch.sigmoid(fake)).mean())
    # the saturation the 2014 paper describes: with D sure a sample is fake, the minimax gradient vanishes
    sure = torch.tensor([-10.0], requires_grad=True)
    generator_loss(sure, "minimax").backward()
    g_minimax = sure.grad.abs().item()
    sure.grad = None
    generator_loss(sure).backward()
    assert g_minimax < 1e-4 < sure.grad.abs().item()


def test_maxout_is_the_max_of_its_pieces():
    m = Maxout(5, 3, pieces=4)
    x = torch.randn(7, 5)
    pieces = (x @ m.linear.weight.T + m.linear.bias).view(7, 4, 3)  # (B, pieces, units)
    torch.testing.assert_close(m(x), torch.stack([pieces[:, k] for k in range(4)]).max(0).values)


# -- data and metrics ----------------------------------------------------------------------------


def test_mixtures_and_mode_coverage():
    ring = mixtures.ring8()
    assert torch.allclose(ring.centers.norm(dim=1), torch.full((8,), 2.0))
    pts = ring.sample(2500, torch.Generator().manual_seed(0))
    assert pts.shape == (2500, 2)
    full = metrics.mode_coverage(pts, ring)
    # in 2-D, P(|x - mode| <= 3 sigma) = 1 - exp(-9/2) = 98.9%: the most a perfect generator scores
    assert full["modes"] == 8 and abs(full["hq"] - (1 - math.exp(-4.5))) < 0.01
    collapsed = ring.centers[3] + ring.std * torch.randn(2500, 2)  # all mass on one mode
    assert metrics.mode_coverage(collapsed, ring)["modes"] == 1
    assert metrics.mode_coverage(torch.zeros(2500, 2), ring) == {"modes": 0.0, "hq": 0.0}
    grid = mixtures.get("grid25")
    assert grid.n_modes == 25 and metrics.mode_coverage(grid.sample(5000), grid)["modes"] == 25
    with pytest.raises(UserError, match="unknown mixture"):
        mixtures.get("ring9")


def test_frechet_distance_equals_torchmetrics():
    from torchmetrics.image.fid import FrechetInceptionDistance

    class Flatten(nn.Module):
        num_features = 12

        def forward(self, x):
            return x.flatten(1).double()

    torch.manual_seed(0)
    a = torch.randn(400, 3, 2, 2)
    b = 0.7 * torch.randn(300, 3, 2, 2) + 0.3
    fid = FrechetInceptionDistance(feature=Flatten(), normalize=True)
    fid.update(a, real=True)
    fid.update(b, real=False)
    theirs = float(fid.compute())
    ours = metrics.frechet_distance(*metrics.gaussian_stats(b.flatten(1)), *metrics.gaussian_stats(a.flatten(1)))
    assert math.isclose(ours, theirs, rel_tol=1e-4), (ours, theirs)
    same = metrics.gaussian_stats(a.flatten(1))
    assert abs(metrics.frechet_distance(*same, *same)) < 1e-6


def test_classifier_score_bounds():
    confident_uniform = torch.eye(10).repeat(10, 1)
    assert math.isclose(metrics.classifier_score(confident_uniform), 10, rel_tol=1e-6)
    assert math.isclose(metrics.classifier_score(torch.full((50, 10), 0.1)), 1, rel_tol=1e-6)
    one_class = torch.zeros(50, 10)
    one_class[:, 3] = 1
    assert math.isclose(metrics.classifier_score(one_class), 1, rel_tol=1e-6)


# -- the task in the shared trainer -----------------------------------------------------------


def _ring(**over):
    base = dict(dataset="ring8", arch="mlp", width=64, layers=2, z_dim=2, batch_size=128, lr=1e-3,
                steps=10, schedule="constant", log_every=1, eval_every=0, tensorboard=False)
    return registry.get("gan").config("tiny", {**base, **over})


def test_the_digit_classifier_is_the_same_whatever_the_thread_count(tmp_path, monkeypatch):
    """Every GAN run's scores come from the cached digit classifier, trained by whichever process
    needs it first (a tour's main process on every core, or a claim's worker on one): trained on one
    thread always, it is the same file either way, and the caller's thread count is left as it was."""
    from milestones.data import images

    data = images.load("digits")
    threads = torch.get_num_threads()
    made = []
    for n in (2, 1):
        monkeypatch.setenv("MILESTONES_CACHE", str(tmp_path / f"cache{n}"))
        torch.set_num_threads(n)
        try:
            made.append(metrics.judge_network(data).state_dict())
            assert torch.get_num_threads() == n
        finally:
            torch.set_num_threads(threads)
    assert all(torch.equal(made[0][k], made[1][k]) for k in made[0])


def test_one_step_updates_d_on_its_phase_and_g_on_its_own():
    task = GANTask(_ring(steps=1))
    torch.manual_seed(0)
    model = task.build_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    opts = task.build_optimizers(model)
    assert list(opts) == ["d", "g"]
    batch = task.batch(0, Shard())
    loss, _ = task.loss(model, batch, "d")
    loss.backward()
    assert all(p.grad is None for p in model.generator.parameters())  # fakes are made without grad
    opts["d"].step()
    model.zero_grad(set_to_none=True)
    after_d = model.state_dict()
    assert all(torch.equal(before[k], after_d[k]) for k in before if k.startswith("generator"))
    assert any(not torch.equal(before[k], after_d[k]) for k in before if k.startswith("discriminator"))
    with pytest.raises(ValueError, match="phases"):
        task.loss(model, batch, "x")


def test_trainer_logs_each_phase_and_resume_is_exact(tmp_path):
    full = train(GANTask(_ring(steps=12)), tmp_path / "full", verbose=False)
    row = [r for r in full.history if r["split"] == "train"][-1]
    assert {"loss_d", "loss_g", "d_real", "d_fake"} <= set(row)
    assert math.isclose(row["loss"], row["loss_d"] + row["loss_g"], rel_tol=1e-6)
    state = checkpoint.load_state(checkpoint.latest(tmp_path / "full" / "ckpt"))
    assert set(state["optimizer"]) == {"d", "g"} and set(state["scheduler"]) == {"d", "g"}
    train(GANTask(_ring(steps=5)), tmp_path / "cut", verbose=False)
    resumed = train(GANTask(_ring(steps=12)), tmp_path / "cut", resume=True, verbose=False)
    a, b = full.model.state_dict(), resumed.model.state_dict()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_each_net_learns_with_the_other_frozen():
    """The wiring of each phase: D alone separates real from fixed fakes; G alone fools a fixed D."""
    task = GANTask(_ring(steps=1))
    torch.manual_seed(0)
    model = task.build_model()
    opts = task.build_optimizers(model)
    batch = task.batch(0, Shard())
    for phase in ("d", "g"):
        losses = []
        for _ in range(150):
            loss, _ = task.loss(model, batch, phase)
            loss.backward()
            opts[phase].step()
            model.zero_grad(set_to_none=True)
            losses.append(loss.item())
        assert sum(losses[-10:]) < 0.5 * sum(losses[:10]), (phase, losses[0], losses[-1])


def test_samples_improve_on_the_ring():
    """The smoke test: from no sample near a mode at init to several modes reached in 600 steps."""
    task = GANTask(_ring(steps=600, eval_every=0))
    torch.manual_seed(0)
    before = task.evaluate(task.build_model().eval(), torch.device("cpu"))
    after = train(task, None, verbose=False).final_eval
    assert before == {"modes": 0.0, "hq": 0.0} and after["hq"] > 0.05 and after["modes"] >= 2, (before, after)


def test_bad_configs_are_one_clear_line():
    with pytest.raises(UserError, match="needs images"):
        GANTask(_ring(arch="dcgan"))
    with pytest.raises(UserError, match="mnist1d"):
        registry.get("gan").config("small", {"dataset": "mnist1d"})


def test_image_folder_data(tmp_path):
    from PIL import Image

    for c in ("a", "b"):
        (tmp_path / c).mkdir()
        for i in range(10):
            Image.fromarray((torch.rand(32, 32) * 255).byte().numpy()).save(tmp_path / c / f"{i}.png")
    task = GANTask(registry.get("gan").config("tiny", dict(data=str(tmp_path), width=8, z_dim=8, batch_size=8)))
    assert task.model_config().arch == "dcgan" and task.shape == (1, 32, 32)
    x = task.batch(0, Shard())["real"]
    assert x.shape == (8, 1, 32, 32) and x.min() >= -1 and x.max() <= 1


# -- CLI and DDP --------------------------------------------------------------------------------


def test_cli_train_then_sample_images_and_scatter(tmp_path, capsys):
    out = tmp_path / "run"
    code, _, err = cli(capsys, "train", "gan", "--preset", "tiny", "--out", out, "--tensorboard", "false")
    assert code == 0, err
    code, stdout, err = cli(capsys, "sample", "gan", "--run", out, "--count", "16")
    assert code == 0, err
    for name in ("grid.png", "interpolation.png"):
        assert (out / "samples" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "the classifier reads them as" in stdout
    ring = tmp_path / "ring"
    code, _, err = cli(capsys, "train", "gan", "--preset", "tiny", "--dataset", "ring8", "--z-dim", "2", "--out", ring,
                       "--tensorboard", "false")
    assert code == 0, err
    code, stdout, err = cli(capsys, "sample", "gan", "--run", ring)
    assert code == 0 and "modes covered" in stdout, err
    assert (ring / "samples" / "scatter.png").stat().st_size > 1000
    code, _, err = cli(capsys, "sample", "gan", "--run", ring, "extra")
    assert code == 2 and "unexpected argument" in err


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_process_gloo_dcgan_trains(tmp_path):
    """Two discriminator passes through batch norm per step under DDP (broadcast_buffers=False),
    with gradient accumulation (no_sync on both parts between micro-batches)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = tmp_path / "ddp"
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                        "--master_port", str(_free_port()), "-m", "milestones", "train", "gan", "--preset", "tiny",
                        "--steps", "4", "--grad-accum", "2", "--eval-every", "0", "--out", str(out),
                        "--tensorboard", "false"],
                       env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    ck = checkpoint.latest(out / "ckpt")
    assert checkpoint.read_meta(ck, "gan")["step"] == 4
    state = checkpoint.load_state(ck)
    assert set(state["optimizer"]) == {"d", "g"}


def test_training_the_judge_leaves_the_random_generators_alone(tmp_path, monkeypatch):
    """The judge is trained the first time a GAN run evaluates; the run must go on as if it was cached."""
    from milestones.data import images

    monkeypatch.setenv("MILESTONES_CACHE", str(tmp_path))
    monkeypatch.setattr(metrics, "JUDGE_STEPS", 3)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    metrics.judge_network(images.digits())
    assert torch.equal(torch.get_rng_state(), before)
    assert list(tmp_path.glob("gan-judge-*.safetensors"))


def test_claims_protocol_at_the_tiny_preset(tmp_path):
    tiny_claims("gan", tmp_path)
