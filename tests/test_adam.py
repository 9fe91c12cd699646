"""Adam: our optimizers against torch.optim (200 steps, equal weights), Adam's two code paths,
the optimizer config, the paper's networks, and the claim's protocol at the tiny preset."""

import pytest
import torch

from milestones.adam import optim as ours
from milestones.adam.model import Net, NetConfig
from milestones.optim import OptimConfig, build

from conftest import tiny_claims

OPT_PAIRS = {
    "adam": (lambda p: ours.Adam(p, lr=1e-2, weight_decay=1e-3),
             lambda p: torch.optim.Adam(p, lr=1e-2, weight_decay=1e-3)),
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
    "rmsprop-centered": (lambda p: ours.RMSProp(p, lr=2.5e-4, alpha=0.95, eps=0.01, centered=True),
                         lambda p: torch.optim.RMSprop(p, lr=2.5e-4, alpha=0.95, eps=0.01, centered=True)),
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




def test_optim_config_builds_what_it_names():
    p = [torch.zeros(2, requires_grad=True)]
    sgd = build(OptimConfig(name="sgd", lr=0.1, momentum=0.9), p)
    assert isinstance(sgd, ours.SGD) and sgd.defaults["nesterov"] and sgd.defaults["momentum"] == 0.9
    assert not build(OptimConfig(name="sgd", momentum=0.0), p).defaults["nesterov"]  # no look-ahead without momentum
    adam = build(OptimConfig(name="adam", lr=2e-4, beta1=0.5, eps=1e-9), p)
    assert adam.defaults["betas"] == (0.5, 0.999) and adam.defaults["eps"] == 1e-9
    assert build(OptimConfig(name="adagrad"), p).defaults["eps"] == 1e-10  # eps 0: the optimizer's own default
    rms = build(OptimConfig(name="rmsprop", alpha=0.95, eps=0.01), p)
    assert rms.defaults["alpha"] == 0.95 and rms.defaults["eps"] == 0.01 and rms.defaults["momentum"] == 0
    assert not rms.defaults["centered"] and build(OptimConfig(name="rmsprop_centered"), p).defaults["centered"]


def test_paper_networks():
    x = torch.randn(4, 1, 28, 28)
    assert Net(NetConfig(kind="logreg"))(x).shape == (4, 10)
    mlp = Net(NetConfig(kind="mlp", hidden=1000))
    assert mlp(x).shape == (4, 10)
    assert sum(p.numel() for p in mlp.parameters()) == 784 * 1000 + 1000 + 1000 * 1000 + 1000 + 1000 * 10 + 10


def test_claim_protocol_at_the_tiny_preset(tmp_path):
    (ev,) = tiny_claims("adam", tmp_path)
    assert len(ev.runs) == 2 * 4 * 2  # the grid on one seed: two models, four optimizers, two rates
