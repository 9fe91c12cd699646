"""Parity with the reference implementations: torch.optim, torchvision's AlexNet and ResNets."""

import pytest
import torch
import torchvision

from milestones.adam import optim as ours
from milestones.alexnet.model import AlexNet, AlexNetConfig, LocalResponseNorm
from milestones.alexnet.model import load_torchvision as load_alexnet
from milestones.resnet.model import cifar_resnet, resnet
from milestones.resnet.model import load_torchvision as load_resnet

OPT_PAIRS = {
    "adam": (lambda p: ours.Adam(p, lr=1e-2, weight_decay=1e-3), lambda p: torch.optim.Adam(p, lr=1e-2, weight_decay=1e-3)),
    "adam-loop": (lambda p: ours.Adam(p, lr=1e-2, weight_decay=1e-3, foreach=False),
                  lambda p: torch.optim.Adam(p, lr=1e-2, weight_decay=1e-3, foreach=False)),
    "amsgrad": (lambda p: ours.Adam(p, lr=1e-2, amsgrad=True), lambda p: torch.optim.Adam(p, lr=1e-2, amsgrad=True)),
    "amsgrad-loop": (lambda p: ours.Adam(p, lr=1e-2, amsgrad=True, foreach=False),
                     lambda p: torch.optim.Adam(p, lr=1e-2, amsgrad=True, foreach=False)),
    "adamw": (lambda p: ours.AdamW(p, lr=1e-2), lambda p: torch.optim.AdamW(p, lr=1e-2)),
    "adamw-loop": (lambda p: ours.AdamW(p, lr=1e-2, foreach=False), lambda p: torch.optim.AdamW(p, lr=1e-2)),
    "adamax": (lambda p: ours.AdaMax(p, lr=1e-2), lambda p: torch.optim.Adamax(p, lr=1e-2)),
    "sgd-nesterov": (lambda p: ours.SGD(p, lr=1e-2, momentum=0.9, nesterov=True, weight_decay=1e-4),
                     lambda p: torch.optim.SGD(p, lr=1e-2, momentum=0.9, nesterov=True, weight_decay=1e-4)),
    "adagrad": (lambda p: ours.AdaGrad(p, lr=1e-2), lambda p: torch.optim.Adagrad(p, lr=1e-2)),
    "rmsprop": (lambda p: ours.RMSProp(p, lr=1e-3), lambda p: torch.optim.RMSprop(p, lr=1e-3)),
    "rmsprop-momentum": (lambda p: ours.RMSProp(p, lr=1e-3, momentum=0.9),
                         lambda p: torch.optim.RMSprop(p, lr=1e-3, momentum=0.9)),
    "adadelta": (lambda p: ours.AdaDelta(p), lambda p: torch.optim.Adadelta(p)),
}


def _train_200(make_opt):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(10, 20), torch.nn.Tanh(), torch.nn.Linear(20, 3))
    opt = make_opt(net.parameters())
    g = torch.Generator().manual_seed(1)
    for _ in range(200):
        x, y = torch.randn(32, 10, generator=g), torch.randint(0, 3, (32,), generator=g)
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    return torch.cat([p.detach().flatten() for p in net.parameters()])


@pytest.mark.parametrize("name", OPT_PAIRS)
def test_optimizer_matches_torch_optim_over_200_steps(name):
    mine, ref = OPT_PAIRS[name]
    a, b = _train_200(mine), _train_200(ref)
    assert torch.allclose(a, b, rtol=1e-6, atol=1e-7), (a - b).abs().max()
    assert not torch.allclose(a, _train_200(lambda p: torch.optim.SGD(p, lr=0.0)))  # it did move


def test_adam_without_bias_correction_differs_early():
    torch.manual_seed(0)
    w = torch.zeros(3, requires_grad=True)
    w.grad = torch.ones(3)
    with_bc, without = ours.Adam([w], lr=0.1), None
    with_bc.step()
    step_with = -w.detach().clone()
    w2 = torch.zeros(3, requires_grad=True)
    w2.grad = torch.ones(3)
    without = ours.Adam([w2], lr=0.1, bias_correction=False)
    without.step()
    # with correction the first step is lr * sign(g); without, m/sqrt(v) = 0.1/sqrt(0.001) = 3.16
    assert torch.allclose(step_with, torch.full((3,), 0.1), atol=1e-6)
    assert torch.allclose(-w2.detach(), torch.full((3,), 0.1 * 0.1 / 0.001 ** 0.5), rtol=1e-4)


@pytest.mark.parametrize("kw", [{}, {"bias_correction": False}, {"amsgrad": True, "weight_decay": 0.1},
                                {"decoupled": True, "weight_decay": 0.1}])
def test_adam_foreach_and_loop_agree_with_mixed_dtypes(kw):
    """The list-op path buckets tensors by (device, dtype); both paths give the same weights."""
    def run(foreach):
        torch.manual_seed(0)
        ps = [torch.randn(5, 3, requires_grad=True), torch.randn(7, dtype=torch.float64, requires_grad=True),
              torch.randn(2, requires_grad=True)]
        opt = ours.Adam(ps, lr=0.05, foreach=foreach, **kw)
        for i in range(20):
            for j, p in enumerate(ps):
                p.grad = None if (i + j) % 5 == 0 else torch.sin(p.detach() * (i + 1)) + 0.1 * j
            opt.step()
        return [p.detach() for p in ps], opt.state_dict()

    (a, sa), (b, sb) = run(True), run(False)
    for x, y in zip(a, b):
        assert torch.allclose(x, y, rtol=1e-6, atol=1e-7)
    assert [s["step"].item() for s in sa["state"].values()] == [s["step"].item() for s in sb["state"].values()]


def test_optimizer_rejects_bad_hyperparameters():
    p = [torch.zeros(2, requires_grad=True)]
    with pytest.raises(ValueError):
        ours.Adam(p, lr=-1)
    with pytest.raises(ValueError):
        ours.Adam(p, betas=(0.9, 1.0))
    with pytest.raises(ValueError):
        ours.SGD(p, nesterov=True, momentum=0)


def test_alexnet_parameter_counts():
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(AlexNet(AlexNetConfig.paper())) == 60_965_224  # the 2012 two-tower net
    assert count(AlexNet(AlexNetConfig.torchvision())) == 61_100_840 == count(torchvision.models.alexnet())


def test_alexnet_loads_torchvision_weights_with_equal_logits():
    torch.manual_seed(0)
    ref = torchvision.models.alexnet().eval()
    model = AlexNet(AlexNetConfig.torchvision()).eval()
    load_alexnet(model, ref.state_dict())
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        assert torch.allclose(model(x), ref(x), atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError):
        load_alexnet(AlexNet(AlexNetConfig.paper()), ref.state_dict())


def test_alexnet_paper_net_shapes_and_towers():
    model = AlexNet(AlexNetConfig.paper())
    convs = [m for m in model.features if isinstance(m, torch.nn.Conv2d)]
    assert [c.groups for c in convs] == [1, 2, 1, 2, 2]  # conv3 sees both towers (§3.2)
    assert model(torch.randn(1, 3, 224, 224)).shape == (1, 1000)
    assert AlexNet(AlexNetConfig.small())(torch.randn(2, 1, 28, 28)).shape == (2, 10)
    assert AlexNet(AlexNetConfig.small(in_channels=3, input_size=32))(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_lrn_equals_torch_with_alpha_times_n():
    x = torch.randn(2, 96, 13, 13)
    ref = torch.nn.LocalResponseNorm(5, alpha=5 * 1e-4, beta=0.75, k=2.0)
    assert torch.allclose(LocalResponseNorm(5, 1e-4, 0.75, 2.0)(x), ref(x), atol=1e-6)


@pytest.mark.parametrize("depth,params", [(18, 11_689_512), (34, 21_797_672), (50, 25_557_032),
                                          (101, 44_549_160), (152, 60_192_808)])
def test_resnet_parameter_counts_equal_torchvision(depth, params):
    assert sum(p.numel() for p in resnet(depth).parameters()) == params
    ref = getattr(torchvision.models, f"resnet{depth}")()
    assert sum(p.numel() for p in ref.parameters()) == params


@pytest.mark.parametrize("depth", [18, 50])
def test_resnet_loads_torchvision_weights_with_equal_logits(depth):
    torch.manual_seed(0)
    ref = getattr(torchvision.models, f"resnet{depth}")()
    # non-trivial batch-norm statistics, so the comparison covers them
    for m in ref.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    ref.eval()
    model = resnet(depth).eval()
    load_resnet(model, ref.state_dict())
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        assert torch.allclose(model(x), ref(x), atol=1e-4, rtol=1e-4)


def test_cifar_resnets_and_plain_twins():
    counts = {d: sum(p.numel() for p in cifar_resnet(d).parameters()) for d in (20, 32, 44, 56, 110)}
    assert 0.26e6 < counts[20] < 0.28e6  # the paper: 0.27M
    assert 1.6e6 < counts[110] < 1.8e6  # the paper: 1.7M
    for d in (20, 56):
        plain = cifar_resnet(d, residual=False)
        assert sum(p.numel() for p in plain.parameters()) == counts[d]  # option A adds no parameters
        assert plain(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    with pytest.raises(ValueError):
        cifar_resnet(21)


def test_residual_block_is_identity_when_its_branch_is_zero():
    from milestones.resnet.model import BasicBlock

    block = BasicBlock(8, 8).eval()
    torch.nn.init.zeros_(block.bn2.weight)  # F(x) = 0
    x = torch.rand(2, 8, 6, 6)  # non-negative, so the final ReLU keeps it
    assert torch.allclose(block(x), x)
    plain = BasicBlock(8, 8, residual=False).eval()
    torch.nn.init.zeros_(plain.bn2.weight)
    assert torch.allclose(plain(x), torch.zeros_like(x))
