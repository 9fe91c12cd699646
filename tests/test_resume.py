"""Kill and resume: SIGTERM mid-run saves a checkpoint; --resume ends with the same weights."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

from milestones import registry
from milestones.core import checkpoint
from milestones.core.trainer import Interrupted, train

from conftest import run_cli


def _cfg(**over):
    # dropout on, so the restored RNG matters; cosine schedule, so the restored scheduler matters
    return registry.get("adam").config("tiny", {**dict(steps=24, ckpt_every=0, tensorboard=False, schedule="cosine",
                                                       warmup_steps=3), **over})


def test_sigterm_then_resume_in_process_equals_uninterrupted(tmp_path):
    m = registry.get("adam")
    full = train(m.make_task(_cfg()), tmp_path / "full", verbose=False).model.state_dict()

    task = m.make_task(_cfg())
    original = task.batch

    def batch(step, shard):
        if step == 10 and shard.micro == 0:
            os.kill(os.getpid(), signal.SIGTERM)  # arrives mid-step; the loop saves after it
        return original(step, shard)

    task.batch = batch
    with pytest.raises(Interrupted) as info:
        train(task, tmp_path / "cut", verbose=False)
    assert info.value.path is not None and checkpoint.read_meta(info.value.path, "adam")["step"] == 11
    resumed = train(m.make_task(_cfg()), tmp_path / "cut", resume=True, verbose=False).model.state_dict()
    for k in full:
        assert torch.equal(full[k], resumed[k]), k


@pytest.mark.slow
def test_sigterm_then_resume_from_the_cli(tmp_path):
    args = ["train", "adam", "--preset", "tiny", "--steps", "150", "--log-every", "1", "--eval-every", "0",
            "--hidden", "1000", "--batch-size", "128",
            "--tensorboard", "false"]
    cut = tmp_path / "cut"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    p = subprocess.Popen([sys.executable, "-m", "milestones", *args, "--out", str(cut)], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline:
        metrics = cut / "metrics.jsonl"
        if metrics.exists() and len(metrics.read_text().splitlines()) > 20:
            break
        time.sleep(0.2)
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 128 + signal.SIGTERM, err
    assert "SIGTERM received: checkpoint saved" in err
    k = checkpoint.read_meta(checkpoint.latest(cut / "ckpt"))["step"]
    assert 0 < k < 150
    assert run_cli("train", "adam", "--resume", "--out", cut).returncode == 0
    full = tmp_path / "full"
    assert run_cli(*args, "--out", full).returncode == 0
    a = load_file(str(checkpoint.latest(cut / "ckpt") / "model.safetensors"))
    b = load_file(str(checkpoint.latest(full / "ckpt") / "model.safetensors"))
    assert json.loads((checkpoint.latest(cut / "ckpt") / "meta.json").read_text())["step"] == 150
    for key in b:
        assert torch.equal(a[key], b[key]), key


def test_non_finite_loss_stops_before_the_step_and_names_the_checkpoint(tmp_path):
    m = registry.get("adam")
    task = m.make_task(_cfg(ckpt_every=5, steps=20))
    original = task.loss

    def loss(model, batch, phase):
        value, metrics = original(model, batch, phase)
        return (value * float("nan") if len(calls) >= 7 else value), metrics

    calls = []
    task.loss = lambda model, batch, phase: (calls.append(1), loss(model, batch, phase))[1]
    from milestones.core.trainer import NonFiniteLoss

    with pytest.raises(NonFiniteLoss, match="step_0000005"):
        train(task, tmp_path / "run", verbose=False)
