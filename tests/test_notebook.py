"""The notebook of docs/notebooks/ runs top to bottom (at the tiny preset), so it cannot rot."""

import os
import subprocess
import sys

from conftest import ROOT


def test_the_first_hour_notebook_runs(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "FIRST_HOUR_PRESET": "tiny", "FIRST_HOUR_OUT": str(tmp_path),
           "MPLBACKEND": "Agg"}
    r = subprocess.run([sys.executable, str(ROOT / "docs" / "notebooks" / "first_hour.py")], capture_output=True,
                       text=True, env=env, timeout=600, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "32 layers, residual" in r.stdout and "test accuracy" in r.stdout
    for name in ("curves.png", "predictions.png", "plain-32/curves.png", "resnet-32/metrics.jsonl"):
        assert (tmp_path / name).stat().st_size > 1000, name
