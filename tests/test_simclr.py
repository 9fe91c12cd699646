"""SimCLR: NT-Xent against lightly's NTXentLoss and an explicit loop over pairs; LARS against lightly's
LARS over 100 steps, with biases and BatchNorm in a group without decay (left out of the adaptation,
as SimCLR does); augmentations drawn per image; h and z of the network; features and linear
evaluation leave the encoder frozen (weights and BatchNorm statistics); the weighted kNN monitor
equals a direct vote; pre-training's loss falls and its kNN accuracy rises; fine-tuning from a run;
the labelled fraction; a user's images with and without class folders; bad input; SIGTERM and
resume; negatives gathered over DDP ranks; the sample figures; the claims' protocol."""

import copy
import json
import math

import pytest
import torch

from milestones import registry
from milestones.core import checkpoint
from milestones.core.trainer import train
from milestones.optim.lars import LARS
from milestones.simclr.loss import nt_xent

from conftest import assert_sigterm_resume_is_exact, cli, run_cli, tiny_claims

lightly = pytest.importorskip("lightly")


@pytest.mark.parametrize("n, temperature", [(1, 0.5), (2, 0.1), (8, 0.5), (64, 0.2)])
def test_nt_xent_equals_lightly_and_a_loop_over_pairs(n, temperature):
    from lightly.loss import NTXentLoss

    g = torch.Generator().manual_seed(n)
    z1, z2 = (torch.randn(n, 16, generator=g, dtype=torch.float64) for _ in range(2))
    ours = nt_xent(z1, z2, temperature)
    assert abs(float(ours) - float(NTXentLoss(temperature=temperature)(z1, z2))) < 1e-6
    z = torch.nn.functional.normalize(torch.cat([z1, z2]), dim=1)
    total = 0.0
    for i in range(2 * n):
        j = (i + n) % (2 * n)  # the other view of the same image
        denominator = sum(math.exp(float(z[i] @ z[k]) / temperature) for k in range(2 * n) if k != i)
        total -= math.log(math.exp(float(z[i] @ z[j]) / temperature) / denominator)
    assert abs(float(ours) - total / (2 * n)) < 1e-6


def test_nt_xent_gradients_equal_lightly():
    from lightly.loss import NTXentLoss

    z1, z2 = torch.randn(32, 8, dtype=torch.float64, requires_grad=True), torch.randn(32, 8, dtype=torch.float64)
    nt_xent(z1, z2, 0.2).backward()
    ours = z1.grad.clone()
    z1.grad = None
    NTXentLoss(temperature=0.2)(z1, z2).backward()
    assert torch.allclose(ours, z1.grad, atol=1e-9)


def test_nt_xent_refuses_a_temperature_of_zero():
    with pytest.raises(ValueError, match="temperature"):
        nt_xent(torch.randn(2, 3), torch.randn(2, 3), 0.0)


def test_lars_equals_lightly_over_100_steps():
    from lightly.utils.lars import LARS as Reference

    torch.manual_seed(0)
    ours = torch.nn.Sequential(torch.nn.Linear(10, 20), torch.nn.BatchNorm1d(20), torch.nn.ReLU(),
                               torch.nn.Linear(20, 3))
    ref, start = copy.deepcopy(ours), copy.deepcopy(ours)

    def groups(model):  # SimCLR: no decay and no adaptation for biases and BatchNorm
        ps = list(model.parameters())
        return [{"params": [p for p in ps if p.dim() > 1]},
                {"params": [p for p in ps if p.dim() <= 1], "weight_decay": 0.0}]

    opt_ours = LARS(groups(ours), lr=0.5, momentum=0.9, weight_decay=1e-4)
    opt_ref = Reference(groups(ref), lr=0.5, momentum=0.9, weight_decay=1e-4)
    g = torch.Generator().manual_seed(1)
    for _ in range(100):
        x, y = torch.randn(32, 10, generator=g), torch.randint(0, 3, (32,), generator=g)
        for model, opt in ((ours, opt_ours), (ref, opt_ref)):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
    for p, q in zip(ours.parameters(), ref.parameters()):
        assert torch.allclose(p, q, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(ours[0].weight, start[0].weight, atol=1e-3)  # and they moved


def test_augmentations_draw_their_own_parameters_for_every_image():
    from milestones.simclr.augment import Augment

    g = torch.Generator().manual_seed(0)
    same = torch.rand(1, 3, 16, 16).expand(64, 3, 16, 16).contiguous()  # one image, 64 times
    views = Augment().images(same, g)
    assert views.shape == same.shape and 0 <= float(views.min()) and float(views.max()) <= 1
    assert len({tuple(v.flatten()[:20].tolist()) for v in views}) == 64  # 64 different views
    flipped = Augment(crop=False, jitter=False, grey=False).images(same, torch.Generator().manual_seed(1))
    mirrored = [bool(torch.allclose(v, same[0].flip(-1), atol=1e-5)) for v in flipped]
    kept = [bool(torch.allclose(v, same[0], atol=1e-5)) for v in flipped]
    assert all(m or k for m, k in zip(mirrored, kept)) and 10 < sum(mirrored) < 54  # each image its own coin
    off = Augment(crop=False, flip=False, jitter=False, grey=False).images(same, g)
    assert torch.allclose(off, same, atol=1e-5)  # every augmentation can be turned off
    signal = torch.randn(1, 1, 40).expand(32, 1, 40).contiguous()
    shifted = Augment(scale=False, noise=0.0).signals(signal, g)
    rolls = [next(s for s in range(-10, 11) if torch.equal(v[0], signal[0, 0].roll(s))) for v in shifted]
    assert len(set(rolls)) > 5
    same_again = Augment().signals(signal, torch.Generator().manual_seed(3))
    assert torch.equal(same_again, Augment().signals(signal, torch.Generator().manual_seed(3)))


@pytest.mark.parametrize("head", ["mlp", "linear", "none"])
def test_the_network_gives_h_and_z_for_signals_and_images(head):
    from milestones.resnet.model import ResNetConfig
    from milestones.simclr.model import SimCLR, SimCLRConfig

    signals = SimCLR(SimCLRConfig(head=head, n_classes=10,
                                  encoder=ResNetConfig(depth=8, style="cifar", widths=(32, 64, 128), dims=1,
                                                       in_channels=1, n_classes=1)))
    h = signals(torch.randn(4, 1, 40))
    assert h.shape == (4, 128) and signals.project(h).shape == (4, 128) and signals.classify(h).shape == (4, 10)
    assert not any(name.startswith("encoder.fc") for name, _ in signals.named_parameters())
    images = SimCLR(SimCLRConfig(head=head, encoder=ResNetConfig(depth=18, style="imagenet", small_stem=True,
                                                                 n_classes=1)))
    h = images(torch.randn(2, 3, 32, 32))
    assert h.shape == (2, 512) and images.project(h).shape == (2, 128 if head != "none" else 512)
    with pytest.raises(ValueError, match="no classifier"):
        images.classify(h)


def test_features_leave_the_encoder_frozen_in_weights_and_batchnorm_statistics():
    from milestones.resnet.model import ResNetConfig
    from milestones.simclr.evaluate import features, linear_probe
    from milestones.simclr.model import SimCLR, SimCLRConfig

    model = SimCLR(SimCLRConfig(encoder=ResNetConfig(depth=8, style="cifar", widths=(8, 8, 8), dims=1,
                                                     in_channels=1, n_classes=1))).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(64, 1, 40) * 3 + 1  # statistics far from BatchNorm's initial ones
    h = features(model, x)
    assert h.shape == (64, 8) and model.training  # eval mode inside, the caller's mode restored
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k  # running means and variances included
    y = (x.mean(dim=(1, 2)) > 1).long()
    assert 0.0 <= linear_probe(h[:48], y[:48], h[48:], y[48:]) <= 1.0


def test_knn_accuracy_equals_a_direct_vote():
    from milestones.simclr.evaluate import knn_accuracy

    g = torch.Generator().manual_seed(0)
    train_h, test_h = torch.randn(200, 6, generator=g), torch.randn(50, 6, generator=g)
    train_y, test_y = torch.randint(0, 4, (200,), generator=g), torch.randint(0, 4, (50,), generator=g)
    right = 0
    for h, y in zip(test_h, test_y):
        sims = [float(torch.nn.functional.cosine_similarity(h, t, dim=0)) for t in train_h]
        best = sorted(range(200), key=lambda i: -sims[i])[:5]
        votes = [0.0] * 4
        for i in best:
            votes[int(train_y[i])] += math.exp(sims[i] / 0.1)
        right += int(max(range(4), key=lambda c: votes[c]) == int(y))
    assert knn_accuracy(train_h, train_y, test_h, test_y, k=5, chunk=7) == right / 50
    centres = torch.randn(4, 6, generator=g) * 10
    assert knn_accuracy(centres[train_y] + train_h, train_y, centres[test_y] + test_h, test_y) == 1.0


def tiny(**over):
    m = registry.get("simclr")
    return m, m.config("tiny", {"tensorboard": False, **over})


def pretrained(tmp_path, steps=20):
    """A tiny pre-training run's folder."""
    m, cfg = tiny(steps=steps)
    train(m.make_task(cfg), tmp_path / "pre", verbose=False)
    return tmp_path / "pre"


def test_pretraining_loss_falls_and_the_knn_monitor_rises():
    m, cfg = tiny(steps=60, eval_every=20, log_every=1)
    result = train(m.make_task(cfg), None, verbose=False)
    _, losses = result.series("loss")
    assert sum(losses[-10:]) / 10 < 0.85 * sum(losses[:10]) / 10, losses
    _, knn = result.series("knn_acc", "eval")
    assert len(knn) == 3 and knn[-1] > knn[0] and knn[-1] > 0.3, knn  # ten classes: chance is 0.1
    assert {"val_loss", "val_pair_acc"} <= set(result.final_eval)


def test_the_labelled_fraction_is_the_same_share_of_every_class():
    from milestones.simclr.task import labelled_subset

    y = torch.arange(10).repeat_interleave(400)  # 4,000 labels, 400 per class
    idx = labelled_subset(y, 0.01, seed=0)
    assert len(idx) == 40 and torch.bincount(y[idx]).tolist() == [4] * 10
    assert not torch.equal(idx, labelled_subset(y, 0.01, seed=1))
    assert torch.equal(idx, labelled_subset(y, 0.01, seed=0))
    assert torch.bincount(y[labelled_subset(y, 0.0001, seed=0)]).tolist() == [1] * 10  # at least one each
    assert len(labelled_subset(y, 1.0, seed=0)) == 4000


def test_linear_evaluation_leaves_the_encoder_frozen(tmp_path):
    """The linear classifier learns; the encoder's weights and BatchNorm statistics are those of the
    pre-training run, bit for bit, after every step of training."""
    from safetensors.torch import load_file

    source = load_file(str(checkpoint.latest(pretrained(tmp_path) / "ckpt") / "model.safetensors"))
    m, cfg = tiny(objective="linear", init_from=str(tmp_path / "pre"), label_fraction=0.1, steps=40,
                  batch_size=32, eval_every=0, optim=dict(lr=1e-2))
    task = m.make_task(cfg)
    result = train(task, None, verbose=False)
    state = result.model.state_dict()
    encoder = [k for k in source if k.startswith(("encoder.", "head."))]
    assert any("running_mean" in k for k in encoder)
    for k in encoder:
        assert torch.equal(state[k], source[k]), k
    assert "classifier.weight" not in source and result.final_eval["test_acc"] > 0.2  # chance: 0.1
    assert abs(len(task.train_idx) - 400) <= 5 and len(task.val_idx) == 4000 - len(task.train_idx)
    assert result.final_eval["val_acc"] > 0.2  # the unlabelled 3,600 as a validation set


def test_fine_tuning_starts_from_the_run_and_trains_the_encoder(tmp_path):
    from safetensors.torch import load_file

    source = load_file(str(checkpoint.latest(pretrained(tmp_path) / "ckpt") / "model.safetensors"))
    m, cfg = tiny(objective="finetune", init_from=str(tmp_path / "pre"), label_fraction=0.05, steps=20,
                  batch_size=32, eval_every=0)
    task = m.make_task(cfg)
    model = task.build_model()
    assert all(torch.equal(model.state_dict()[k], v) for k, v in source.items())
    assert model.classifier is not None and not any(p.requires_grad for p in model.head.parameters())
    result = train(task, tmp_path / "tuned", verbose=False)
    conv = "encoder.conv1.weight"
    assert not torch.equal(result.model.state_dict()[conv], source[conv])
    assert {"test_acc", "train_acc", "val_acc"} <= set(result.final_eval)
    # from scratch: the same sizes, random weights
    scratch = m.make_task(tiny(objective="finetune", label_fraction=0.05, batch_size=32)[1]).build_model()
    assert scratch.state_dict()[conv].shape == source[conv].shape


def test_lars_from_the_command_line_adapts_weights_only():
    from milestones.optim import LARS as Lars

    m, cfg = tiny(optimizer="lars", lr=0.5, weight_decay=1e-6, trust=2e-3)
    task = m.make_task(cfg)
    model = task.build_model()
    opt = task.build_optimizers(model)["model"]
    assert isinstance(opt, Lars) and opt.param_groups[0]["trust_coefficient"] == 2e-3
    decayed, plain = opt.param_groups
    assert all(p.dim() >= 2 for p in decayed["params"]) and decayed["weight_decay"] == 1e-6
    assert all(p.dim() == 1 for p in plain["params"]) and plain["weight_decay"] == 0.0
    result = train(task, None, verbose=False)
    assert math.isfinite(result.series("loss")[1][-1])


def _write_images(folder, n, classes=None, size=12):
    from PIL import Image

    g = torch.Generator().manual_seed(0)
    for i in range(n):
        where = folder / classes[i % len(classes)] if classes else folder
        where.mkdir(parents=True, exist_ok=True)
        pixels = (torch.rand(size, size, 3, generator=g) * 255).to(torch.uint8)
        if classes:  # classes differ in colour
            pixels[..., i % len(classes)] = 255
        Image.fromarray(pixels.numpy()).save(where / f"{i}.png")


def test_pretraining_on_a_users_images_with_and_without_class_folders(tmp_path, capsys):
    _write_images(tmp_path / "labelled", 40, ["red", "green", "blue"])
    code, _, err = cli(capsys, "train", "simclr", "--preset", "tiny", "--data", tmp_path / "labelled", "--steps", "4",
                       "--batch-size", "8", "--out", tmp_path / "a", "--tensorboard", "false")
    assert code == 0, err
    final = [json.loads(line) for line in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()][-1]
    assert "knn_acc" in final and "val_loss" in final
    _write_images(tmp_path / "flat", 30)
    code, _, err = cli(capsys, "train", "simclr", "--preset", "tiny", "--data", tmp_path / "flat", "--steps", "4",
                       "--batch-size", "8", "--out", tmp_path / "b", "--tensorboard", "false")
    assert code == 0, err
    final = [json.loads(line) for line in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()][-1]
    assert "val_loss" in final and "knn_acc" not in final  # no labels: no kNN
    code, _, err = cli(capsys, "train", "simclr", "--preset", "tiny", "--data", tmp_path / "flat", "--objective",
                       "linear", "--batch-size", "8", "--out", tmp_path / "c")
    assert code == 2 and "needs labelled data" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("args, message", [
    (["--objective", "finetune", "--label-fraction", "0"], "--label-fraction"),
    (["--objective", "finetune", "--label-fraction", "1.5"], "--label-fraction"),
    (["--temperature", "0"], "--temperature"),
    (["--temperature", "-0.5"], "--temperature"),
    (["--batch-size", "5000"], "larger than the data set"),
    (["--objective", "finetune", "--label-fraction", "0.001", "--batch-size", "64"], "fewer than --batch-size"),
    (["--grad-accum", "2"], "--grad-accum does not apply"),
    (["--label-fraction", "0.5"], "applies to --objective linear and finetune"),
    (["--objective", "linear", "--init-from", "/no/such/run"], "/no/such/run"),
])
def test_bad_input_is_one_line(args, message, tmp_path, capsys):
    code, _, err = cli(capsys, "train", "simclr", "--preset", "tiny", *args, "--out", tmp_path / "run")
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "run").exists()


def test_init_from_a_run_of_another_milestone_is_one_line(tmp_path, capsys):
    code, _, err = cli(capsys, "train", "resnet", "--preset", "tiny", "--steps", "2", "--out", tmp_path / "resnet",
                       "--tensorboard", "false")
    assert code == 0, err
    code, _, err = cli(capsys, "train", "simclr", "--preset", "tiny", "--objective", "linear", "--init-from",
                       tmp_path / "resnet", "--out", tmp_path / "run")
    assert code == 2 and "resnet" in err and len(err.strip().splitlines()) == 1, err


def test_sigterm_then_resume_equals_an_uninterrupted_run(tmp_path):
    """The views of every step, the RNG and the optimizer must all come back."""
    assert_sigterm_resume_is_exact("simclr", dict(steps=12), 5, tmp_path)


def test_sigterm_then_resume_of_fine_tuning_from_a_run(tmp_path):
    run = pretrained(tmp_path, steps=5)
    assert_sigterm_resume_is_exact("simclr", dict(steps=10, objective="finetune", init_from=str(run),
                                                  label_fraction=0.05, batch_size=32), 4, tmp_path / "ft")


def _gather_worker(rank, world, port, folder):
    import os

    import torch.distributed as dist

    from milestones.simclr.task import gathered

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    torch.manual_seed(0)
    net = torch.nn.Linear(6, 4)
    ddp = torch.nn.parallel.DistributedDataParallel(net)
    x1, x2 = torch.randn(8, 6, generator=torch.Generator().manual_seed(1)).chunk(2), \
        torch.randn(8, 6, generator=torch.Generator().manual_seed(2)).chunk(2)
    z1, z2 = ddp(x1[rank]), ddp(x2[rank])
    nt_xent(gathered(z1), gathered(z2), 0.5).backward()
    if rank == 0:
        torch.save(net.weight.grad, folder / "grad.pt")
    dist.destroy_process_group()


def test_negatives_gathered_over_ranks_give_the_gradient_of_one_batch(tmp_path):
    """Two gloo ranks, each with half the batch: gathering z (with its gradient) and DDP's averaging
    give the gradient one process computes on the whole batch."""
    import torch.multiprocessing as mp

    mp.spawn(_gather_worker, args=(2, 29561, tmp_path), nprocs=2, join=True)
    torch.manual_seed(0)
    net = torch.nn.Linear(6, 4)
    x1 = torch.randn(8, 6, generator=torch.Generator().manual_seed(1))
    x2 = torch.randn(8, 6, generator=torch.Generator().manual_seed(2))
    nt_xent(net(x1), net(x2), 0.5).backward()
    assert torch.allclose(torch.load(tmp_path / "grad.pt"), net.weight.grad, atol=1e-6)


@pytest.mark.slow
def test_two_gloo_ranks_train_linear_evaluation_as_one_process_and_pretraining_runs(tmp_path):
    import os
    import subprocess
    import sys

    from safetensors.torch import load_file

    run = pretrained(tmp_path, steps=5)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    linear = ["--objective", "linear", "--init-from", str(run), "--label-fraction", "0.1", "--batch-size", "32"]
    for args, port in ((linear, "29562"), ([], "29563")):
        out = {}
        for n in (1, 2):
            base = ([sys.executable, "-m", "milestones"] if n == 1 else
                    [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", port,
                     "-m", "milestones"])
            folder = tmp_path / f"{port}-{n}"
            r = subprocess.run([*base, "train", "simclr", "--preset", "tiny", "--steps", "3", *args, "--out",
                                str(folder), "--tensorboard", "false"], env=env, capture_output=True, text=True,
                               timeout=300)
            assert r.returncode == 0, r.stderr[-3000:]
            out[n] = load_file(str(checkpoint.latest(folder / "ckpt") / "model.safetensors"))
        if args:  # the frozen encoder has no per-rank BatchNorm statistics: equal to one process
            for k in out[1]:
                assert torch.allclose(out[1][k], out[2][k], atol=1e-6), k


def test_sample_draws_views_and_the_embedding(tmp_path, capsys):
    run = pretrained(tmp_path, steps=3)
    code, out, err = cli(capsys, "sample", "simclr", "--run", run, "--method", "pca", "--count", "3")
    assert code == 0, err
    for name in ("views.png", "embedding.png"):
        assert (run / "samples" / name).stat().st_size > 5000
    assert "kNN accuracy" in out


def test_claim_protocol_at_the_tiny_preset(tmp_path):
    evidence = tiny_claims("simclr", tmp_path)
    few = next(ev for ev in evidence if ev.claim == "few-labels")
    assert any("--init-from" in r for r in few.runs) and any("--objective finetune" in r for r in few.runs)
    # each seed's gain is the mean over its labelled draws, each draw fine-tuned and trained from scratch
    assert {r.split("--label-draw ")[1].split()[0] for r in few.runs if "--label-draw" in r} == {"0", "1"}
    (row,) = few.per_seed
    assert len(row["gains"]) == 2 and row["gain"] == pytest.approx(sum(row["gains"]) / 2, abs=0.051)
    features = next(ev for ev in evidence if ev.claim == "features")
    assert not any("--objective finetune" in r for r in features.runs)  # the probes' claims need no fine-tunes


def test_label_draws_are_other_subsets_of_the_same_seed(tmp_path):
    from milestones.simclr.task import Config, FineTuning

    def subset(**kw):
        return FineTuning(Config(objective="finetune", dataset="digits", label_fraction=0.05, batch_size=8,
                               **kw)).train_idx

    first = subset(seed=3)
    assert torch.equal(first, subset(seed=3, label_draw=0))
    assert not torch.equal(first, subset(seed=3, label_draw=1))
    assert not torch.equal(subset(seed=3, label_draw=1), subset(seed=3, label_draw=2))
    with pytest.raises(ValueError, match="--label-draw applies to"):
        Config(objective="pretrain", label_draw=1).check()


@pytest.mark.slow
def test_reproduce_tiny_in_a_subprocess(tmp_path):
    r = run_cli("reproduce", "simclr", "--preset", "tiny", "--seeds", "1", "--out", tmp_path / "claims")
    assert r.returncode == 0, r.stderr[-2000:]
    for name in ("features", "few-labels", "head", "composition"):
        assert f"{name}:" in r.stdout and (tmp_path / "claims" / name / "figure.png").exists()
