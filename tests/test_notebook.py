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


def test_the_ipynb_is_the_percent_file_and_runs(tmp_path):
    """docs/notebooks/first_hour.ipynb (for Jupyter and Colab) holds the percent file's cells exactly,
    made by `jupytext --to ipynb docs/notebooks/first_hour.py -o docs/notebooks/first_hour.ipynb
    --update-metadata '{"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}}'`;
    its code cells, run in order as a kernel would, train and draw at the tiny preset."""
    import json

    import jupytext

    ours = json.loads((ROOT / "docs" / "notebooks" / "first_hour.ipynb").read_text())
    made = jupytext.read(ROOT / "docs" / "notebooks" / "first_hour.py")
    cells = [(c["cell_type"], "".join(c["source"])) for c in ours["cells"]]
    assert cells == [(c.cell_type, c.source) for c in made.cells], "run the jupytext command in this docstring"
    assert ours["metadata"]["kernelspec"]["name"] == "python3"
    assert all(not c.get("outputs") for c in ours["cells"] if c["cell_type"] == "code")  # no stale outputs
    script = "\n\n".join(source for kind, source in cells if kind == "code")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "FIRST_HOUR_PRESET": "tiny", "FIRST_HOUR_OUT": str(tmp_path),
           "MPLBACKEND": "Agg"}
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=600,
                       cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "32 layers, residual" in r.stdout and (tmp_path / "predictions.png").stat().st_size > 1000
