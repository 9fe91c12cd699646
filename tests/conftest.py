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
    """Runs and caches go to a temporary folder, never the working tree; claims run their runs
    in the test's own process unless a test asks for workers."""
    monkeypatch.setenv("MILESTONES_RUNS", str(tmp_path / "runs"))
    cache = os.environ.get("MILESTONES_TEST_CACHE", str(ROOT / ".pytest_cache" / "data"))
    monkeypatch.setenv("MILESTONES_CACHE", cache)
    monkeypatch.setenv("MILESTONES_WORKERS", "1")
    yield


def pytest_collection_modifyitems(config, items):
    """The claims first, so that the test workers start on them and finish on short tests (a claim
    left for last keeps one core busy while the other waits). Each claim test trains in its own
    worker's process, so under pytest-xdist the claims are dealt out, longest first, to the worker
    with the least claim time so far (their seconds at one seed, `CLAIM_SECONDS` in test_claims.py),
    and each worker's share starts the slice of the collection that xdist's first split hands it
    (worksteal: worker i gets the next len(pending) // workers-left tests); idle workers then steal
    short tests from the ends of the others' queues."""
    claims = [i for i in items if i.get_closest_marker("claims")]
    rest = [i for i in items if not i.get_closest_marker("claims")]
    workers = int(getattr(config, "workerinput", {}).get("workercount", 1))
    if workers <= 1 or not claims:
        items[:] = claims + rest
        return

    def seconds(item):
        costs = getattr(item.module, "CLAIM_SECONDS", {})
        return sum(costs.get(name, 60) for name in item.callspec.params.get("names", [])) if hasattr(
            item, "callspec") else 60

    lanes, load = [[] for _ in range(workers)], [0.0] * workers
    for item in sorted(claims, key=seconds, reverse=True):
        j = load.index(min(load))
        lanes[j].append(item)
        load[j] += seconds(item)
    ordered, left = [], len(items)
    for j, lane in enumerate(lanes):
        size = left // (workers - j)  # what worksteal's first split sends worker j
        left -= size
        take = max(0, size - len(lane))
        ordered += lane + rest[:take]
        rest = rest[take:]
    items[:] = ordered + rest


def run_cli(*args, env=None, timeout=600, cwd=None, input=None):
    """`python -m milestones ARGS` in a subprocess with one torch thread (`input`: its standard input)."""
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", "MILESTONES_WORKERS": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "milestones", *map(str, args)], capture_output=True, text=True,
                          env=full_env, timeout=timeout, cwd=cwd, input=input)


def cli(capsys, *args):
    """The CLI in this process (a subprocess spends seconds importing torch): (exit status, stdout, stderr)."""
    from milestones import cli as command

    with pytest.raises(SystemExit) as exit_info:
        command.main([str(a) for a in args])
    out = capsys.readouterr()
    return exit_info.value.code or 0, out.out, out.err


def tiny_claims(name, tmp_path):
    """A milestone's claims at the tiny preset on one seed: the protocol, not the result."""
    from milestones import registry

    m = registry.get(name)
    evidence = [c.run("tiny", [0], registry.runner, tmp_path / c.name) for c in m.claims]
    for c, ev in zip(m.claims, evidence):
        assert (tmp_path / c.name / "evidence.json").exists()
        assert (tmp_path / c.name / "figure.png").stat().st_size > 1000
        assert ev.verdict == "n/a (tiny)" and ev.holds in (0, 1) and len(ev.per_seed) == 1  # a smoke test
        assert ev.runs and all(r.startswith("OMP_NUM_THREADS=1 milestones train ") for r in ev.runs)
        assert ev.consistent is None  # the reference is for the small preset
        assert_replays(ev.runs[-1], tmp_path / f"replay-{c.name}")
    return evidence


def assert_replays(command, out):
    """A claim run trained again from its command (`milestones train ...`, as evidence.json gives it)
    logs the same losses, step for step, as the record the claim read."""
    import json
    import shlex

    from milestones import cli as command_line
    from milestones import registry

    record = next(r for run, r in registry._RECORDS.items() if run.command() == command)
    words = shlex.split(command)
    assert words[:3] == ["OMP_NUM_THREADS=1", "milestones", "train"], command
    with pytest.raises(SystemExit) as exit_info:
        command_line.main([*words[2:], "--out", str(out), "--tensorboard", "false"])
    assert not exit_info.value.code, command

    def losses(rows):
        return [{k: v for k, v in r.items() if "loss" in k} for r in rows if r["split"] == "train"]

    replayed = losses(json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines())
    assert replayed and any(replayed), f"no losses logged by {command}"
    assert replayed == losses(record["history"]), f"{command} did not replay its losses"


def bad_reference_folders(tmp_path, ok, other_type):
    """Folders a reference-weights importer must refuse, each with the words its one line says:
    another architecture, no weights file, a truncated one (copied from the good folder `ok`)."""
    import json

    wrong = tmp_path / "wrong"
    wrong.mkdir()
    (wrong / "config.json").write_text(json.dumps({"model_type": other_type}))
    missing = tmp_path / "missing"
    missing.mkdir()
    (missing / "config.json").write_text((ok / "config.json").read_text())
    truncated = tmp_path / "truncated"
    truncated.mkdir()
    (truncated / "config.json").write_text((ok / "config.json").read_text())
    data = (ok / "model.safetensors").read_bytes()
    (truncated / "model.safetensors").write_bytes(data[: len(data) // 2])
    return [(wrong, "not "), (missing, "has no model.safetensors"), (truncated, "damaged or truncated")]


def assert_sigterm_resume_is_exact(name, overrides, stop_at, tmp_path):
    """Train `name` at the tiny preset with `overrides` straight through, and again with SIGTERM sent
    before step `stop_at`, then resumed from the checkpoint the signal wrote (the task rebuilt from
    it, as the CLI does): the two final weights must be equal bit for bit."""
    import signal

    from milestones import registry
    from milestones.core import checkpoint
    from milestones.core.trainer import Interrupted, train

    m = registry.get(name)
    cfg = m.config("tiny", dict(tensorboard=False, **overrides))
    full = train(m.make_task(cfg), tmp_path / "full", verbose=False).model.state_dict()
    task = m.make_task(cfg)
    original = task.batch

    def batch(step, shard):
        if step == stop_at:
            os.kill(os.getpid(), signal.SIGTERM)
        return original(step, shard)

    task.batch = batch
    with pytest.raises(Interrupted):
        train(task, tmp_path / "cut", verbose=False)
    resumed_task = m.make_task(cfg, resume_from=checkpoint.latest(tmp_path / "cut" / "ckpt"))
    resumed = train(resumed_task, tmp_path / "cut", resume=True, verbose=False).model.state_dict()
    for k in full:
        assert torch.equal(full[k], resumed[k]), k


def cifar_bin(folder, counts=(("data_batch_1.bin", 300), ("test_batch.bin", 50)), seed=0):
    """A folder of CIFAR-10's binary files with random images and labels (`counts`: file name, rows)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for name, n in counts:
        rows = np.concatenate([rng.integers(0, 10, (n, 1)), rng.integers(0, 255, (n, 3072))], axis=1)
        (folder / name).write_bytes(rows.astype(np.uint8).tobytes())
    return folder
