"""Contracts every built milestone keeps, parametrized over the registry."""

import dataclasses

import pytest
import torch

from milestones import registry
from milestones.core import checkpoint
from milestones.core.distributed import Dist
from milestones.core.trainer import train

BUILT = registry.built_names()
# Adversarial training has no single loss that falls: GAN's phases are checked one at a time in
# test_gan.py (each net's loss falls with the other frozen; the samples improve).
ONE_LOSS = [n for n in BUILT if n != "gan"]


def first_input(batch):
    """What the model is called on: x of an (x, y) batch, or the first tensor of a dict batch."""
    return batch[0] if isinstance(batch, (tuple, list)) else next(iter(batch.values()))


def call(model, batch):
    """The model on a batch: translation models take (source, target input) for teacher forcing."""
    if isinstance(batch, dict) and "tgt_in" in batch:
        return model(batch["src"], batch["tgt_in"])
    return model(first_input(batch))


def phases(task, model):
    """(phase name or None, that phase's parameters) for one or several optimizers."""
    built = task.build_optimizer(model)
    if isinstance(built, torch.optim.Optimizer):
        return [(None, [p for g in built.param_groups for p in g["params"]])]
    return [(k, [p for g in o.param_groups for p in g["params"]]) for k, o in built.items()]


def tiny(name, **over):
    m = registry.get(name)
    cfg = dataclasses.replace(m.config("tiny"), tensorboard=False, **over)
    return m, cfg


def test_registry_lists_all_ten_in_order():
    names = [m.name for m in registry.historical()]
    assert names == ["alexnet", "dqn", "seq2seq", "adam", "gan", "resnet", "transformer", "bert", "gpt", "simclr"]
    assert set(BUILT) >= {"alexnet", "adam", "resnet"}
    for m in registry.MILESTONES:
        assert m.year and m.title and m.authors and m.link.startswith("https://") and m.idea


@pytest.mark.parametrize("name", BUILT)
def test_forward_backward_shapes(name):
    m, cfg = tiny(name)
    task = m.make_task(cfg)
    torch.manual_seed(0)
    model = task.build_model()
    task.attach(model, torch.device("cpu"))  # as the trainer does before the first batch
    batch = task.batch(0, 0, Dist())
    x = first_input(batch)
    assert len(x) == cfg.batch_size
    out = call(model, batch)
    assert out.shape[0] == cfg.batch_size
    if isinstance(batch, (tuple, list)):
        assert out.dim() == 2  # (B, classes) or (B, actions)
    for phase, params in phases(task, model):
        model.zero_grad(set_to_none=True)
        loss, metrics = task.loss(model, batch) if phase is None else task.loss(model, batch, phase)
        assert loss.dim() == 0 and torch.isfinite(loss)
        loss.backward()
        grads = [p.grad for p in params if p.requires_grad]
        assert grads and all(g is not None and torch.isfinite(g).all() for g in grads), phase


@pytest.mark.parametrize("name", BUILT)
def test_deterministic_under_a_seed(name):
    m, cfg = tiny(name, steps=4)
    a = train(m.make_task(cfg), None, verbose=False).model.state_dict()
    b = train(m.make_task(cfg), None, verbose=False).model.state_dict()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    c = train(m.make_task(dataclasses.replace(cfg, seed=1)), None, verbose=False).model.state_dict()
    assert any(not torch.equal(a[k], c[k]) for k in a if a[k].is_floating_point())


@pytest.mark.parametrize("name", BUILT)
def test_checkpoint_round_trip(name, tmp_path):
    m, cfg = tiny(name, steps=3)
    task = m.make_task(cfg)
    result = train(task, tmp_path / "run", verbose=False)
    ck = checkpoint.latest(tmp_path / "run" / "ckpt")
    assert ck is not None and (ck / "COMPLETE").exists() and (ck / "model.safetensors").exists()
    meta = checkpoint.read_meta(ck, name)
    assert meta["step"] == 3 and meta["config"]["steps"] == 3 and "torch" in meta["versions"]
    fresh = task.build_model()
    checkpoint.load_weights(ck, fresh)
    state = checkpoint.load_state(ck)
    assert state["step"] == 3 and "optimizer" in state and "rng" in state
    batch = task.batch(0, 0, Dist())
    result.model.eval()
    fresh.eval()
    assert torch.equal(call(result.model, batch), call(fresh, batch))


@pytest.mark.parametrize("name", ONE_LOSS)
def test_overfits_one_batch(name):
    """The loss on one repeated batch falls far: the model, loss and optimizer are wired right."""
    m, cfg = tiny(name, steps=120, schedule="constant", log_every=1)
    if hasattr(cfg, "dropout"):
        cfg = dataclasses.replace(cfg, dropout=0.0)
    task = m.make_task(cfg)
    first = {}

    def same_batch(step, micro, d, _f=task.batch):  # always the first batch (DQN: fixed targets too)
        if micro not in first:
            first[micro] = _f(0, micro, d)
        return first[micro]

    task.batch = same_batch
    result = train(task, None, verbose=False)
    _, losses = result.series("loss")
    assert losses[-1] < 0.25 * losses[0], (losses[0], losses[-1])


@pytest.mark.parametrize("name", ONE_LOSS)
def test_training_loss_falls(name):
    """The tiny preset's smoke test: mean loss over the last steps is below the first steps'."""
    m, cfg = tiny(name, steps=40, log_every=1)
    result = train(m.make_task(cfg), None, verbose=False)
    _, losses = result.series("loss")
    assert sum(losses[-8:]) / 8 < 0.9 * sum(losses[:8]) / 8, losses
