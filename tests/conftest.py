"""Shared fixtures. Every test process runs torch on one thread: tests and claims start
processes side by side on two cores, and two-thread torch slows many times over then."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)
os.environ.setdefault("OMP_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """Runs and caches go to a temporary folder, never the working tree."""
    monkeypatch.setenv("MILESTONES_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("MILESTONES_CACHE", os.environ.get("MILESTONES_TEST_CACHE", str(ROOT / ".pytest_cache" / "data")))
    yield


def run_cli(*args, env=None, timeout=600, cwd=None, input=None):
    """`python -m milestones ARGS` in a subprocess with one torch thread (`input`: its standard input)."""
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", "MILESTONES_WORKERS": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "milestones", *map(str, args)], capture_output=True, text=True,
                          env=full_env, timeout=timeout, cwd=cwd, input=input)
