"""Runs, checkpoints and failures: SIGTERM mid-run saves and --resume ends with the same weights;
resuming with overrides; restarting a run killed before its first checkpoint; signals before
training and during the final evaluation; the NaN guard's last good checkpoint; durability."""

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from milestones import registry
from milestones.core import checkpoint
from milestones.core.trainer import Interrupted, train

from conftest import cli, run_cli


def _cfg(**over):
    # dropout on, so the restored RNG matters; cosine schedule, so the restored scheduler matters
    return registry.get("adam").config("tiny", {**dict(steps=24, ckpt_every=0, tensorboard=False, schedule="cosine",
                                                       warmup_steps=3), **over})


@pytest.mark.parametrize("amp", ["off", "fp16"])  # fp16: the loss scale comes back from the checkpoint too
def test_sigterm_then_resume_in_process_equals_uninterrupted(tmp_path, amp):
    m = registry.get("adam")
    full = train(m.make_task(_cfg(amp=amp)), tmp_path / "full", verbose=False).model.state_dict()

    task = m.make_task(_cfg(amp=amp))
    original = task.batch

    def batch(step, shard):
        if step == 10 and shard.micro == 0:
            os.kill(os.getpid(), signal.SIGTERM)  # arrives mid-step; the loop saves after it
        return original(step, shard)

    task.batch = batch
    with pytest.raises(Interrupted) as info:
        train(task, tmp_path / "cut", verbose=False)
    assert info.value.path is not None and checkpoint.read_meta(info.value.path, "adam")["step"] == 11
    resumed = train(m.make_task(_cfg(amp=amp)), tmp_path / "cut", resume=True, verbose=False).model.state_dict()
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


# -- resuming with overrides, restarting, signals at the edges, poisoned checkpoints, durability ------


def _rows(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_resume_with_overrides_takes_effect_and_is_recorded(tmp_path, capsys):
    run = tmp_path / "run"
    code, _, err = cli(capsys, "train", "adam", "--preset", "tiny", "--steps", "10", "--log-every", "1",
                       "--schedule", "constant", "--out", run, "--tensorboard", "false")
    assert code == 0, err
    code, _, err = cli(capsys, "train", "adam", "--resume", "--out", run, "--steps", "16", "--lr", "0.0005",
                       "--eval-every", "4", "--ckpt-every", "3", "--log-every", "1")
    assert code == 0, err
    assert "milestones: resuming " in err and "at step 10 of 16" in err  # where it picks up, said once
    rows = _rows(run)
    lrs = {r["step"]: r["lr"] for r in rows if r["split"] == "train"}
    assert lrs[10] == 3e-3 and lrs[11] == lrs[16] == 5e-4  # the new learning rate from the first resumed step
    assert [r["step"] for r in rows if r["split"] == "eval"][-3:] == [12, 16, 16][-3:] or \
        12 in [r["step"] for r in rows if r["split"] == "eval"]  # the new evaluation cadence
    assert {p.name for p in (run / "ckpt").glob("step_*")} >= {"step_0000015", "step_0000016"}  # and checkpoints
    saved = json.loads((run / "config.json").read_text())
    assert saved["config"]["steps"] == 16 and saved["config"]["optim"]["lr"] == 5e-4
    assert saved["preset"] == "tiny"  # not the default preset
    (change,) = saved["history"]
    assert change["step"] == 10 and change["changed"]["optim.lr"] == ["0.003", "0.0005"]
    assert change["changed"]["steps"] == ["10", "16"]
    assert checkpoint.load_state(checkpoint.latest(run / "ckpt"))["optimizer"]["model"]["param_groups"][0]["lr"] \
        == 5e-4
    for bad, message in ((["--hidden", "32"], "--model.hidden cannot change when a run is resumed"),
                         (["--dataset", "mnist5k"], "--dataset cannot change"),
                         (["--preset", "small"], "--preset small differs from the run's own (tiny)")):
        code, _, err = cli(capsys, "train", "adam", "--resume", "--out", run, *bad)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_the_command_that_started_a_run_resumes_it(tmp_path, capsys):
    """The up-arrow after Ctrl-C: the same command with --resume at the end (its preset, its fields at
    the values the run has, a changed length) continues the run; nothing is recorded as changed but
    the length."""
    run = tmp_path / "run"
    def command(steps):
        return ["train", "adam", "--preset", "tiny", "--steps", steps, "--hidden", "32", "--out", run,
                "--tensorboard", "false"]

    code, _, err = cli(capsys, *command("6"))
    assert code == 0, err
    code, _, err = cli(capsys, *command("8"), "--resume")
    assert code == 0 and "at step 6 of 8" in err, err
    saved = json.loads((run / "config.json").read_text())
    assert saved["preset"] == "tiny" and [list(h["changed"]) for h in saved["history"]] == [["steps"]]
    assert max(r["step"] for r in _rows(run)) == 8


def test_a_run_killed_before_its_first_checkpoint_can_start_again(tmp_path, capsys):
    run = tmp_path / "run"
    code, _, err = cli(capsys, "train", "adam", "--preset", "tiny", "--steps", "4", "--out", run,
                       "--tensorboard", "false")
    assert code == 0, err
    # what a SIGKILL while the first checkpoint was being written leaves
    (run / "ckpt" / "step_0000004" / "COMPLETE").unlink()
    (run / "ckpt" / ".tmp-step_0000002").mkdir()
    for args in (["--resume"], ["--preset", "tiny", "--steps", "4"]):
        code, _, err = cli(capsys, "train", "adam", *args, "--out", run, "--tensorboard", "false")
        assert code == 0, err
        assert "starting it again" in err
        assert sorted(p.name for p in (run / "ckpt").iterdir()) == ["step_0000004"]  # leftovers gone
        assert [r["step"] for r in _rows(run) if r["split"] == "train"] == [4]  # one run's metrics, not two
        (run / "ckpt" / "step_0000004" / "COMPLETE").unlink()


def test_sigterm_during_the_final_evaluation_keeps_the_run(tmp_path):
    task = registry.get("adam").make_task(_cfg(steps=6))
    original = task.evaluate

    def evaluate(model, device):
        os.kill(os.getpid(), signal.SIGTERM)  # arrives during the final evaluation
        return original(model, device)

    task.evaluate = evaluate
    with pytest.raises(Interrupted) as info:
        train(task, tmp_path / "run", verbose=False)
    assert info.value.signum == signal.SIGTERM
    assert checkpoint.read_meta(info.value.path, "adam")["step"] == 6  # saved before evaluating


def test_sigterm_before_training_starts_is_one_line(tmp_path, capsys, monkeypatch):
    m = registry.get("adam")
    original = type(m).make_task

    def make_task(self, cfg, resume_from=None):
        os.kill(os.getpid(), signal.SIGTERM)  # while the data loads
        return original(self, cfg, resume_from)

    monkeypatch.setattr(type(m), "make_task", make_task)
    code, _, err = cli(capsys, "train", "adam", "--preset", "tiny", "--out", tmp_path / "run")
    assert code == 128 + signal.SIGTERM and not (tmp_path / "run").exists()
    assert err.strip() == "milestones: SIGTERM received before training started: stopped, no checkpoint written"


def test_the_last_good_checkpoint_is_good(tmp_path, capsys):
    """A learning rate that blows the weights up: the checkpoints of the diverging weights are moved
    aside, and the one named as last good resumes (with a sane learning rate) without NaN."""
    run = tmp_path / "run"
    code, _, err = cli(capsys, "train", "adam", "--preset", "tiny", "--optimizer", "sgd", "--lr", "0.01",
                       "--steps", "6", "--ckpt-every", "2", "--eval-every", "0", "--out", run, "--tensorboard", "false")
    assert code == 0, err
    code, _, err = cli(capsys, "train", "adam", "--resume", "--out", run, "--lr", "1e4", "--steps", "60",
                       "--ckpt-every", "1")
    said, stopped = err.strip().splitlines()  # where it resumed, then the one line that says why it stopped
    assert code == 1 and said.startswith("milestones: resuming ") and said.endswith("at step 6 of 60"), err
    err = stopped
    assert "last good checkpoint: " in err and "resume with a lower --lr" in err and "moved aside: poisoned" in err
    named = Path(err.split("last good checkpoint: ")[1].split(";")[0].split(")")[0])
    assert checkpoint.latest(run / "ckpt") == named and checkpoint.step_of(named) == 6
    code, _, err = cli(capsys, "train", "adam", "--resume", "--out", run, "--lr", "0.001", "--steps", "12")
    assert code == 0, err  # the named checkpoint trains on
    # the case: every checkpoint of a run at lr 1e30 is poisoned, and none is named good
    code, _, err = cli(capsys, "train", "adam", "--preset", "tiny", "--lr", "1e30", "--ckpt-every", "1",
                       "--out", tmp_path / "wild", "--tensorboard", "false")
    assert code == 1 and "no good checkpoint was written" in err, err
    assert checkpoint.latest(tmp_path / "wild" / "ckpt") is None


def test_checkpoints_are_flushed_to_the_disk(tmp_path, monkeypatch):
    """Every file of a checkpoint, its folder and the folder it is renamed into are fsynced."""
    flushed = []
    real = os.fsync

    def fsync(fd):
        flushed.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    task = registry.get("transformer").make_task(registry.get("transformer").config("tiny", {"steps": 2}))
    train(task, tmp_path / "run", verbose=False)
    ck = tmp_path / "run" / "ckpt"
    tmp = str(ck / ".tmp-step_0000002")
    for name in ("model.safetensors", "state.pt", "meta.json", "tokenizer.json", "COMPLETE"):
        assert f"{tmp}/{name}" in flushed, name
    assert tmp in flushed and str(ck) in flushed and str(tmp_path / "run") in flushed  # folders (config.json's)


def test_a_folder_the_os_will_not_flush_is_skipped_not_fatal(tmp_path, monkeypatch):
    """Windows refuses to open a folder (PermissionError), and some file systems refuse to flush one:
    a run still starts, trains and checkpoints, every file is flushed, and the folders are skipped.
    A file that cannot be opened is still an error."""
    real_open, flushed = os.open, []

    def windows_open(path, flags, *args):
        if os.path.isdir(path):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *args)

    real_fsync = os.fsync

    def fsync(fd):
        flushed.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "open", windows_open)
    monkeypatch.setattr(os, "fsync", fsync)
    task = registry.get("adam").make_task(registry.get("adam").config("tiny", {"steps": 2, "tensorboard": False}))
    train(task, tmp_path / "run", verbose=False)
    done = checkpoint.latest(tmp_path / "run" / "ckpt")
    assert done is not None and (done / "COMPLETE").exists()
    assert any(f.endswith("model.safetensors") for f in flushed) and not any(os.path.isdir(f) for f in flushed)

    def no_flush(fd):
        if os.path.isdir(os.readlink(f"/proc/self/fd/{fd}")):
            raise OSError(errno.EINVAL, "Invalid argument")
        real_fsync(fd)

    monkeypatch.setattr(os, "open", real_open)
    monkeypatch.setattr(os, "fsync", no_flush)
    checkpoint.fsync(tmp_path / "run")  # a folder: skipped
    monkeypatch.setattr(os, "open", lambda *a: (_ for _ in ()).throw(PermissionError(13, "denied")))
    with pytest.raises(PermissionError):
        checkpoint.fsync(done / "meta.json")


def test_resuming_a_finished_run_says_so(tmp_path, capsys):
    run = tmp_path / "run"
    code, _, err = cli(capsys, "train", "adam", "--preset", "tiny", "--steps", "6", "--out", run,
                       "--tensorboard", "false")
    assert code == 0, err
    code, out, err = cli(capsys, "train", "adam", "--resume", "--out", run)
    assert code == 0 and "finished at step 6 of 6: nothing to train" in err, err
    assert sum(1 for r in _rows(run) if r["split"] == "train" and r["step"] > 6) == 0
