"""SimCLR (being built: its loss, optimizer, augmentations, network and evaluation so far; not yet
in the registry): NT-Xent against lightly's NTXentLoss and an explicit loop over pairs; LARS against
lightly's LARS over 100 steps, with biases and BatchNorm in a group without decay (left out of the
adaptation, as SimCLR does); augmentations drawn per image; h and z of the network; features leave the encoder frozen
(weights and BatchNorm statistics); the weighted kNN monitor equals a direct vote."""

import copy
import math

import pytest
import torch

from milestones.optim.lars import LARS
from milestones.simclr.loss import nt_xent

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
