"""Two-process DDP over gloo: the same global batch gives the same weights as one process."""

import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from milestones.core import checkpoint

pytestmark = pytest.mark.slow

ARGS = ["train", "adam", "--preset", "tiny", "--model.kind", "logreg", "--optimizer", "sgd", "--momentum", "0",
        "--steps", "5", "--lr", "0.1", "--batch-size", "32", "--tensorboard", "false"]


def test_two_process_gloo_equals_one_process(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    one, two = tmp_path / "one", tmp_path / "two"
    r1 = subprocess.run([sys.executable, "-m", "milestones", *ARGS, "--out", str(one)], env=env,
                        capture_output=True, text=True, timeout=300)
    assert r1.returncode == 0, r1.stderr
    r2 = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                         "--master_port", "29533", "-m", "milestones", *ARGS, "--out", str(two)], env=env,
                        capture_output=True, text=True, timeout=300)
    assert r2.returncode == 0, r2.stderr[-3000:]
    a = load_file(str(checkpoint.latest(one / "ckpt") / "model.safetensors"))
    b = load_file(str(checkpoint.latest(two / "ckpt") / "model.safetensors"))
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-6), (k, (a[k] - b[k]).abs().max())
    assert not torch.equal(a[next(iter(a))], torch.zeros_like(a[next(iter(a))]))
    # only rank 0 writes: one metrics file, one checkpoint folder per save
    assert len(list((two / "ckpt").glob("step_*"))) == 1
