"""`--parallel fsdp` (FSDP2 over gloo on the CPU): two processes train the losses one process
trains, with each block's weights and Adam state sharded; checkpoints are DCP shards that
`--resume` reads back (a SIGTERM then --resume equals an uninterrupted run), and `milestones.load`
and `export` gather them into one model."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from milestones.core import checkpoint

pytestmark = pytest.mark.slow

GPT = ["train", "gpt", "--preset", "tiny", "--steps", "20", "--log-every", "1", "--eval-every", "10",
       "--grad-accum", "2", "--grad-clip", "1.0", "--batch-size", "8", "--dropout", "0", "--tensorboard", "false",
       "--parallel", "fsdp"]
BERT = ["train", "bert", "--preset", "tiny", "--steps", "20", "--log-every", "1", "--eval-every", "10",
        "--batch-size", "8", "--dropout", "0", "--tensorboard", "false", "--parallel", "fsdp"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def _one(args, out):
    return subprocess.run([sys.executable, "-m", "milestones", *args, "--out", str(out)], env=ENV,
                          capture_output=True, text=True, timeout=300)


def _two(args, out, port, **kw):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(port),
           "-m", "milestones", *args, "--out", str(out)]
    if kw.get("popen"):
        return subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
    return subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=300)


def _losses(run):
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [r["loss"] for r in rows if r["split"] == "train"], [r for r in rows if r["split"] == "eval"]


@pytest.mark.parametrize("args", [GPT, BERT], ids=["gpt", "bert"])
def test_two_sharded_processes_train_what_one_process_trains(tmp_path, args):
    r1 = _one(args, tmp_path / "one")
    assert r1.returncode == 0, r1.stderr[-3000:]
    r2 = _two(args, tmp_path / "two", 29541 if args is GPT else 29542)
    assert r2.returncode == 0, r2.stderr[-3000:]
    one, one_eval = _losses(tmp_path / "one")
    two, two_eval = _losses(tmp_path / "two")
    assert len(one) == len(two) == 20
    assert max(abs(a - b) for a, b in zip(one, two)) < 1e-6, list(zip(one, two))
    assert one_eval and [sorted(e) for e in one_eval] == [sorted(e) for e in two_eval]
    # the checkpoint holds shards, one file per rank, and no model.safetensors
    last = checkpoint.latest(tmp_path / "two" / "ckpt")
    assert checkpoint.is_sharded(last) and not (last / "model.safetensors").exists()
    assert len(list((last / checkpoint.SHARDED).glob("*.distcp"))) == 2
    # gathered into one model in one process: the same weights the one-process run ended with
    from milestones import load

    a, b = load(tmp_path / "one").model.state_dict(), load(tmp_path / "two").model.state_dict()
    assert set(a) == set(b)
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-5), (k, (a[k] - b[k]).abs().max())
    # the two ranks' shards resumed by one process (DCP reshards them), and a fine-tune started from them
    name = args[1]
    r = _one(["train", name, "--resume", "--steps", "22"], tmp_path / "two")
    assert r.returncode == 0 and "resuming" in r.stderr, r.stderr[-2000:]
    assert checkpoint.read_meta(checkpoint.latest(tmp_path / "two" / "ckpt"))["step"] == 22


def test_sigterm_then_resume_of_a_sharded_run_equals_an_uninterrupted_one(tmp_path):
    args = [*GPT, "--steps", "40", "--eval-every", "0"]
    full = _two(args, tmp_path / "full", 29543)
    assert full.returncode == 0, full.stderr[-3000:]
    cut = tmp_path / "cut"
    p = _two([*args, "--ckpt-every", "0"], cut, 29544, popen=True)
    deadline = time.time() + 120
    while time.time() < deadline:
        m = cut / "metrics.jsonl"
        if m.exists() and len(m.read_text().splitlines()) >= 12:
            break
        time.sleep(0.1)
    os.killpg(p.pid, signal.SIGTERM)  # every rank, as a cluster's scheduler stops a job
    _, err = p.communicate(timeout=120)
    assert "checkpoint saved" in err, err[-3000:]
    step = checkpoint.read_meta(checkpoint.latest(cut / "ckpt"))["step"]
    assert 0 < step < 40
    resumed = _two(["train", "gpt", "--resume"], cut, 29545)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    a, b = _losses(tmp_path / "full")[0], _losses(cut)[0]
    assert a[-1] == b[-1]
    from milestones import load

    x, y = load(tmp_path / "full").model.state_dict(), load(cut).model.state_dict()
    for k in x:
        assert torch.equal(x[k], y[k]), k


def test_a_sharded_run_exports_and_resumes_in_one_process(tmp_path, capsys):
    from conftest import cli

    run = tmp_path / "run"
    r = _one([*GPT, "--steps", "5"], run)  # one process: no sharding, but the checkpoint format is FSDP's
    assert r.returncode == 0, r.stderr[-2000:]
    assert checkpoint.is_sharded(checkpoint.latest(run / "ckpt"))
    code, _, err = cli(capsys, "train", "gpt", "--resume", "--steps", "8", "--out", run)
    assert code == 0, err
    assert checkpoint.read_meta(checkpoint.latest(run / "ckpt"))["step"] == 8
    code, out, err = cli(capsys, "export", "gpt", "--run", run, "--to", tmp_path / "hf")
    assert code == 0, err
    assert (tmp_path / "hf" / "model.safetensors").is_file()
    code, _, err = cli(capsys, "train", "gpt", "--preset", "tiny", "--init-from", run, "--steps", "2",
                       "--tensorboard", "false", "--out", tmp_path / "tuned")
    assert code == 0, err
    shard = next((checkpoint.latest(run / "ckpt") / checkpoint.SHARDED).glob("*.distcp"))
    shard.write_bytes(shard.read_bytes()[:100])  # damaged: both readers say so in one line
    for args in (("export", "gpt", "--run", run, "--to", tmp_path / "hf2"),
                 ("train", "gpt", "--resume", "--steps", "12", "--out", run)):
        code, _, err = cli(capsys, *args)
        assert code == 2 and "cannot read the shards in" in err and "damaged or truncated" in err, err
    code, _, err = cli(capsys, "train", "gpt", "--resume", "--parallel", "ddp", "--steps", "9", "--out", run)
    assert code == 2 and "parallel" in err
    code, _, err = cli(capsys, "train", "resnet", "--preset", "tiny", "--parallel", "fsdp", "--out", tmp_path / "r")
    assert code == 2 and "--parallel fsdp: resnet's model is not sharded (GPT's and BERT's are)" in err
