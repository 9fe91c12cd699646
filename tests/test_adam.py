"""Adam: our optimizers against torch.optim (200 steps, equal weights), Adam's two code paths,
the optimizer config, the paper's networks, §6.1's bag of words, input dropout and L2 objective,
and the claim's protocol at the tiny preset."""

import pytest
import torch

from milestones.adam import optim as ours
from milestones.adam.model import FeatureDropout, Net, NetConfig
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


def test_feature_dropout_is_dropout_that_draws_only_for_non_zero_features():
    torch.manual_seed(0)
    x = (torch.rand(400, 500) < 0.05).float() * torch.rand(400, 500)  # sparse, with varied values
    drop = FeatureDropout(0.5)
    y = drop(x)
    assert torch.equal(y[x == 0], torch.zeros_like(y[x == 0]))  # a zero stays zero
    kept = y[x != 0] != 0
    assert torch.allclose(y[x != 0][kept], 2 * x[x != 0][kept])  # kept features scaled by 1 / (1 - p)
    assert abs(kept.float().mean().item() - 0.5) < 0.03
    dense = torch.randn(300, 400)
    assert abs((drop(dense) != 0).float().mean().item() - 0.5) < 0.01  # dense inputs alike
    assert torch.equal(drop.eval()(x), x) and torch.equal(FeatureDropout(0.0).train()(x), x)
    net = Net(NetConfig(kind="logreg", n_in=500, n_classes=3, input_dropout=0.5))
    assert isinstance(net.net[1], FeatureDropout) and net(x[:4, None]).shape == (4, 3)
    assert not any(isinstance(m, FeatureDropout) for m in Net(NetConfig(kind="logreg")).modules())


def test_bag_of_words_features_and_vocabulary():
    from milestones.data import bow

    texts = ["The cat sat", "the dog sat down", "a cat, a dog: 2 cats"]
    assert bow.words("The cat's 2 dogs_1 x9") == {"the", "cat", "s", "dogs_1", "x9"}
    vocab = bow.vocabulary(texts, size=4)
    assert vocab == ["cat", "dog", "sat", "the"]  # in the most texts first, ties alphabetical
    x = bow.features(texts, vocab)
    assert x.dtype == torch.uint8 and x.shape == (3, 1, 4)
    assert x[:, 0].tolist() == [[1, 0, 1, 1], [0, 1, 1, 1], [1, 1, 0, 0]]  # binary: "a" twice counts once


def test_the_docstring_bag_of_words_is_sparse_and_not_standardised():
    from milestones.data import bow

    d = bow.load()
    assert d.n_classes == 7 and len(d.y_train) == 2454 and len(d.y_test) == 350
    assert d.x_train.shape[1:] == d.x_test.shape[1:] == (1, 5052)  # every word of the training docstrings
    x, y = d.get(torch.arange(8))
    assert x.dtype == torch.float32 and set(x.unique().tolist()) <= {0.0, 1.0}  # served as they are
    assert d.x_train.float().mean() < 0.01  # under 1% of the features are non-zero


def test_a_users_tsv_is_a_bag_of_words(tmp_path):
    from milestones.data import bow
    from milestones.errors import UserError

    lines = [f"review {i} {'great fun' if i % 2 else 'dull and slow'}\t{'pos' if i % 2 else 'neg'}" for i in range(20)]
    (tmp_path / "r.tsv").write_text("\n".join(lines) + "\n")
    d = bow.load(tmp_path / "r.tsv")
    assert d.n_classes == 2 and len(d.y_train) == 16 and len(d.y_test) == 4
    (tmp_path / "pairs.tsv").write_text("a\tb\tx\nc\td\ty\n")
    with pytest.raises(UserError, match="sentence pairs"):
        bow.load(tmp_path / "pairs.tsv")
    with pytest.raises(UserError, match="does not exist"):
        bow.load(tmp_path / "none.tsv")


def test_l2_is_part_of_the_logged_objective(tmp_path):
    """--l2 adds (l2 / 2) * |W|^2 over the weight matrices (not the biases) to the loss the trainer
    logs and differentiates; the bag-of-words task trains from --dataset docstrings or a .tsv file."""
    from milestones.adam.task import AdamTask, Config

    task = AdamTask(Config(dataset="docstrings", l2=0.5, batch_size=8, model=NetConfig(kind="logreg")))
    model = task.build_model()
    with torch.no_grad():
        model.net[1].weight.fill_(0.1)
        model.net[1].bias.fill_(3.0)
    batch = task.examples(torch.arange(8))
    plain = AdamTask(Config(dataset="docstrings", batch_size=8, model=NetConfig(kind="logreg")))
    loss, _ = task.loss(model, batch, "train")
    base, _ = plain.loss(model, batch, "train")
    assert loss.item() == pytest.approx(base.item() + 0.25 * 0.01 * 5052 * 7, rel=1e-5)


def test_claim_protocol_at_the_tiny_preset(tmp_path):
    (ev,) = tiny_claims("adam", tmp_path)
    # the grid on one seed: three problems (3, 4 and 5 optimizers), two rates
    assert len(ev.runs) == (3 + 4 + 5) * 2
    assert set(ev.per_seed[0]) == {"seed", "holds", "convex", "sparse", "mlp"}
    assert ev.ours.startswith("the rule holds for convex on")
    assert ev.measurements["holds_by_problem"].keys() == {"convex", "sparse", "mlp"}
