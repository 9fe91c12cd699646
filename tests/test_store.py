"""The run store (core/store.py): a claim run's record kept as its run ends, read back by the same
command, refused when another torch wrote it, and never a half-written or stale record."""

import json

import pytest
import torch

from milestones import registry
from milestones.core.claims import Run
from milestones.core.store import RunStore
from milestones.errors import UserError

RUN = Run.of("resnet", "tiny", seed=3, steps=4)


def test_a_record_is_kept_and_read_back_as_it_was(tmp_path):
    store = RunStore.open(tmp_path / ".runs")
    runs = registry.Runs(store)
    (fresh,) = runs([RUN], workers=1)
    assert store.trained == 1 and store.read == 0
    assert store.path(RUN.command()).exists()
    registry._RECORDS.pop(RUN)  # a new process: only the store knows the run
    again = registry.Runs(RunStore.open(tmp_path / ".runs"))
    (read,) = again([RUN], workers=1)
    assert again.store.read == 1 and again.store.trained == 0
    assert read == fresh and read["made"]["torch"] == torch.__version__


def test_a_damaged_or_foreign_record_trains_again(tmp_path):
    store = RunStore.open(tmp_path / ".runs")
    path = store.path(RUN.command())
    path.write_text('{"command": "milestones train resnet", "hist')  # cut mid-write
    assert store.get(RUN.command()) is None
    path.write_text(json.dumps({"command": "another command"}))
    assert store.get(RUN.command()) is None


def test_a_record_whose_kept_model_is_gone_trains_again(tmp_path):
    store = RunStore.open(tmp_path / ".runs")
    kept = tmp_path / "kept"
    store.put({"command": RUN.command(), "probe": {"folder": str(kept)}})
    assert store.get(RUN.command()) is None
    (kept / "ckpt" / "step_4").mkdir(parents=True)
    (kept / "ckpt" / "step_4" / "COMPLETE").write_text("")
    assert store.get(RUN.command())["probe"]["folder"] == str(kept)


def test_another_torch_is_refused_and_fresh_starts_over(tmp_path):
    store = RunStore.open(tmp_path / ".runs")
    store.put({"command": RUN.command()})
    header = tmp_path / ".runs" / "store.json"
    header.write_text(json.dumps({"torch": "1.0.0", "commit": "abc"}))
    with pytest.raises(UserError, match=r"torch 1\.0\.0.*--fresh"):
        RunStore.open(tmp_path / ".runs")
    store = RunStore.open(tmp_path / ".runs", fresh=True)
    assert store.get(RUN.command()) is None
    assert json.loads(header.read_text())["torch"] == torch.__version__


def test_another_commit_is_reused_with_a_warning(tmp_path):
    store = RunStore.open(tmp_path / ".runs")
    store.put({"command": RUN.command()})
    header = tmp_path / ".runs" / "store.json"
    header.write_text(json.dumps({"torch": torch.__version__, "commit": "0000000"}))
    said = []
    store = RunStore.open(tmp_path / ".runs", warn=said.append)
    assert store.get(RUN.command()) is not None
    assert len(said) == 1 and "commit 0000000" in said[0] and "--fresh" in said[0]


def test_a_damaged_header_is_one_line(tmp_path):
    RunStore.open(tmp_path / ".runs")
    (tmp_path / ".runs" / "store.json").write_text("{not json")
    with pytest.raises(UserError, match="damaged.*--fresh"):
        RunStore.open(tmp_path / ".runs")
    assert RunStore.open(tmp_path / ".runs", fresh=True).folder.is_dir()
