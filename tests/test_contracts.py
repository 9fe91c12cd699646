"""Contracts every built milestone keeps, parametrized over the registry."""

import math

import pytest
import torch

import milestones
from milestones import registry
from milestones.core import checkpoint
from milestones.core.config import derived_of, names_of
from milestones.core.task import Shard
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
    """(phase name, that phase's parameters) for each optimizer."""
    return [(k, [p for g in o.param_groups for p in g["params"]]) for k, o in task.build_optimizers(model).items()]


def tiny(name, steps=None, **over):
    """The tiny preset; `steps` optimizer steps (DQN counts them from its environment steps)."""
    m = registry.get(name)
    if steps is not None:
        if "steps" not in derived_of(m.config_cls):
            over["steps"] = steps
        else:  # dqn tiny: 200 steps fill replay, then 10 updates per 100 environment steps
            over["env_steps"] = 200 + 100 * math.ceil(steps / 10)
    return m, m.config("tiny", {"tensorboard": False, **over})


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
    batch = task.batch(0, Shard())
    x = first_input(batch)
    assert len(x) == cfg.batch_size
    out = call(model, batch)
    assert out.shape[0] == cfg.batch_size
    if isinstance(batch, (tuple, list)):
        assert out.dim() == 2  # (B, classes) or (B, actions)
    for phase, params in phases(task, model):
        model.zero_grad(set_to_none=True)
        loss, metrics = task.loss(model, batch, phase)
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
    c = train(m.make_task(tiny(name, steps=4, seed=1)[1]), None, verbose=False).model.state_dict()
    assert any(not torch.equal(a[k], c[k]) for k in a if a[k].is_floating_point())


@pytest.mark.parametrize("name", BUILT)
def test_checkpoint_round_trip(name, tmp_path):
    m, cfg = tiny(name, steps=3)
    task = m.make_task(cfg)
    result = train(task, tmp_path / "run", verbose=False)
    ck = checkpoint.latest(tmp_path / "run" / "ckpt")
    assert ck is not None and (ck / "COMPLETE").exists() and (ck / "model.safetensors").exists()
    meta = checkpoint.read_meta(ck, name)
    assert meta["step"] == result.step and "torch" in meta["versions"] and meta["model"]
    fresh = task.build_model()
    checkpoint.load_weights(ck, fresh)
    state = checkpoint.load_state(ck)
    assert state["step"] == result.step and set(state["optimizer"]) == set(task.build_optimizers(fresh))
    batch = task.batch(0, Shard())
    result.model.eval()
    fresh.eval()
    assert torch.equal(call(result.model, batch), call(fresh, batch))


@pytest.mark.parametrize("name", ONE_LOSS)
def test_overfits_one_batch(name):
    """The loss on one repeated batch falls far: the model, loss and optimizer are wired right."""
    dropout = {"model.dropout": 0.0} if "model.dropout" in names_of(registry.get(name).config_cls) else {}
    m, cfg = tiny(name, steps=120, schedule="constant", log_every=1, **dropout)
    task = m.make_task(cfg)
    first = {}

    def same_batch(step, shard, _f=task.batch):  # always the first batch (DQN: fixed targets too)
        if shard.micro not in first:
            first[shard.micro] = _f(0, shard)
        return first[shard.micro]

    task.batch = same_batch
    task.before_step = lambda step: None  # DQN: no acting, no target copies (a task's own steps are no-ops)
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


@pytest.mark.parametrize("name", BUILT)
def test_load_gives_the_model_the_run_evaluated(name, tmp_path):
    """milestones.load rebuilds the model from the checkpoint alone (no data), in eval mode, and it
    scores what the run's own final evaluation scored."""
    m, cfg = tiny(name, steps=3)
    task = m.make_task(cfg)
    result = train(task, tmp_path / "run", verbose=False)
    model, config = loaded = milestones.load(tmp_path / "run")
    assert not model.training and config.model == task.model_config() and loaded.milestone == name
    tokenizer = getattr(task, "tok", None) or getattr(task, "tokenizer", None)  # text milestones save theirs
    assert loaded.step == result.step and (loaded.tokenizer is not None) == (tokenizer is not None)
    again = task.evaluate(model, torch.device("cpu"))
    assert again == pytest.approx(result.final_eval, rel=1e-6), (again, result.final_eval)


@pytest.mark.slow
def test_the_wheel_ships_every_reference_file_and_runs_without_the_source(tmp_path):
    """`pip install milestones` from a wheel has the references that list, info and the tour read, and
    the licence; installed into a fresh venv, away from the source tree, it lists and trains."""
    import os
    import subprocess
    import sys
    import zipfile
    from pathlib import Path

    from conftest import ROOT

    made = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(tmp_path), str(ROOT)], capture_output=True, text=True, timeout=300)
    assert made.returncode == 0, made.stderr
    (wheel,) = tmp_path.glob("milestones-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    shipped = {n for n in names if "/references/" in n}
    ours = {p.relative_to(ROOT / "src").as_posix() for p in (ROOT / "src" / "milestones").glob("*/references/*.json")}
    assert ours and shipped == ours
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)

    # installed into a fresh venv, away from the source tree, it lists the ten and trains: the venv
    # sees this one's packages (torch and the rest) through a .pth, and nothing of the source
    import sysconfig
    import venv

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    site = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    got = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)],
                         capture_output=True, text=True, timeout=300)
    assert got.returncode == 0, got.stderr
    away = tmp_path / "elsewhere"
    away.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)} | {
        "MILESTONES_RUNS": str(away / "runs"), "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    where = subprocess.run([python, "-c", "import milestones; print(milestones.__file__)"], capture_output=True,
                           text=True, cwd=away, env=env)
    assert where.stdout.strip().startswith(str(site)), (where.stdout, where.stderr)
    listed = subprocess.run([python, "-m", "milestones", "list"], capture_output=True, text=True, cwd=away, env=env)
    assert listed.returncode == 0 and "simclr" in listed.stdout and "on 10 seeds" in listed.stdout, listed.stderr
    trained = subprocess.run([python, "-m", "milestones", "train", "adam", "--preset", "tiny", "--steps", "2",
                              "--out", "run", "--tensorboard", "false"], capture_output=True, text=True, cwd=away,
                             env=env, timeout=300)
    assert trained.returncode == 0 and (away / "run" / "curves.png").exists(), trained.stderr[-1500:]


def test_before_step_comes_once_per_optimizer_step_before_its_micro_batches(monkeypatch):
    """The trainer calls a task's before_step(step) once per optimizer step, then batch() for each
    micro-batch (where DQN acts, then samples replay)."""
    m, cfg = tiny("adam", steps=3, grad_accum=2)
    task = m.make_task(cfg)
    calls = []
    batch = task.batch
    monkeypatch.setattr(task, "before_step", lambda step: calls.append(("before", step)))
    monkeypatch.setattr(task, "batch",
                        lambda step, shard: calls.append(("batch", step, shard.micro)) or batch(step, shard))
    train(task, None, verbose=False)
    assert calls == [c for s in range(3) for c in (("before", s), ("batch", s, 0), ("batch", s, 1))]
