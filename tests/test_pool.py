"""Claim runs side by side (core/pool.py): one machine-wide bound on live runs, whichever process
asks, and a prompt stop on Ctrl-C or SIGTERM, with the tour's report of what finished."""

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from milestones.core import pool

from conftest import ROOT, run_cli

# Two of these side by side are two pytest workers (or a tour beside a reproduce): each asks for a
# pool as wide as the machine, and every job notes when it ran.
SCRIPT = textwrap.dedent("""
    import json, os, sys, time
    from milestones.core import pool

    def job(i):
        start = time.time()
        time.sleep(0.4)
        return os.getpid(), start, time.time(), pool.slots_held()

    if __name__ == "__main__":
        n = pool.slot_count()
        print(json.dumps(pool.parallel_map(job, list(range(3 * n)), workers=n)))
""")


def _overlap(intervals):
    """The most intervals live at one moment."""
    edges = sorted([(a, 1) for a, b in intervals] + [(b, -1) for a, b in intervals], key=lambda e: (e[0], e[1]))
    live = peak = 0
    for _, d in edges:
        live += d
        peak = max(peak, live)
    return peak


@pytest.mark.slow
def test_two_processes_asking_for_pools_never_run_more_claim_runs_than_cores(tmp_path):
    """Each process asks for as many workers as there are cores; the live runs of both together,
    counted from when each job started and ended, never exceed the cores (two here, by CPU
    affinity), and do reach them."""
    script = tmp_path / "jobs.py"
    script.write_text(SCRIPT)
    cpus = sorted(os.sched_getaffinity(0))[:2] if hasattr(os, "sched_getaffinity") else []
    env = {**os.environ, "MILESTONES_SLOTS": str(tmp_path / "slots"), "PYTHONPATH": str(ROOT / "src")}

    def pin():
        if cpus:
            os.sched_setaffinity(0, cpus)

    procs = [subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env, preexec_fn=pin) for _ in range(2)]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        results += json.loads(out)
    bound = max(1, len(cpus))
    assert len(results) == 2 * 3 * bound
    assert len({pid for pid, *_ in results}) >= 2  # the jobs ran in worker processes
    assert _overlap([(a, b) for _, a, b, _ in results]) == bound
    assert max(held for *_, held in results) <= bound


def test_an_inline_run_holds_a_slot_too(tmp_path, monkeypatch):
    monkeypatch.setenv("MILESTONES_SLOTS", str(tmp_path / "slots"))
    assert pool.slots_held() == 0
    assert pool.parallel_map(lambda i: pool.slots_held(), [0, 1], workers=1) == [1, 1]
    assert pool.slots_held() == 0


def test_the_workers_setting_is_bounded_by_the_cores(monkeypatch):
    monkeypatch.setenv("MILESTONES_WORKERS", "64")
    assert pool.default_workers() == min(64, pool.slot_count())
    monkeypatch.setenv("MILESTONES_WORKERS", "lots")
    from milestones.errors import UserError

    with pytest.raises(UserError, match="MILESTONES_WORKERS"):
        pool.default_workers()


def _as_from_a_terminal() -> None:
    """In the child before exec: SIGINT delivered and handled, as a terminal's Ctrl-C finds it. An
    ignored or blocked SIGINT survives exec, and Python leaves an ignored one ignored; a test worker
    may have inherited either (a fresh-clone run once ignored both SIGINT tests' signals)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT])


def _start(tmp_path, *args):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MILESTONES_WORKERS": "2", "PYTHONUNBUFFERED": "1",
           "MILESTONES_SLOTS": str(tmp_path / "slots")}
    return subprocess.Popen([sys.executable, "-m", "milestones", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True,
                            preexec_fn=_as_from_a_terminal)


def _signals(pid: int) -> str:
    """The process's signal masks (ignored, blocked, caught), for a failure's message."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return "(no /proc status)"
    return " ".join(x for x in lines if x.startswith(("SigIgn", "SigBlk", "SigCgt")))


def _wait_for(proc, seen, count=1, timeout=240):
    """Lines of the process's output up to the `count`th that contains `seen`."""
    lines, t0 = [], time.time()
    while time.time() - t0 < timeout:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if sum(seen in x for x in lines) >= count:
            return lines
    raise AssertionError(f"never printed {seen!r}:\n{''.join(lines)}")


def _group_gone(pgid, timeout=10.0):
    t0 = time.time()
    while time.time() - t0 < timeout:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


@pytest.mark.slow
@pytest.mark.parametrize("sig,to_group", [(signal.SIGTERM, True), (signal.SIGINT, False)],
                         ids=["sigterm-to-the-group", "sigint-to-the-main-process"])
def test_a_reproduce_stops_within_seconds_workers_and_all(tmp_path, sig, to_group):
    """ResNet's small runs take a minute each; a signal a few seconds into them ends the command and
    every worker within seconds, with the signal's exit status."""
    proc = _start(tmp_path, "reproduce", "resnet", "--seeds", "1", "--out", tmp_path / "r")
    try:
        _wait_for(proc, "rule ")
        time.sleep(4)  # the workers are training
        masks = _signals(proc.pid)
        (os.killpg if to_group else os.kill)(proc.pid, sig)
        t0 = time.time()
        rest = proc.communicate(timeout=30)[0]
        assert time.time() - t0 < 15, f"{masks}\n{rest}"
        assert proc.returncode == 128 + sig, rest
        assert _group_gone(proc.pid), "a worker outlived the command"
        assert "stopped" in rest
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


@pytest.mark.slow
def test_ctrl_c_stops_a_tour_and_reports_the_claims_that_finished(tmp_path):
    """Ctrl-C (SIGINT to the process group) after the tour's first claim: exit status 130 within
    seconds, no worker left, and index.html and report.md with that claim, marked as interrupted."""
    out = tmp_path / "tour"
    proc = _start(tmp_path, "tour", "--preset", "tiny", "--seeds", "2", "--only", "alexnet,gan", "--out", out)
    try:
        _wait_for(proc, "verdict:")
        _wait_for(proc, "rule ")  # the second claim has started
        masks = _signals(proc.pid)
        os.killpg(proc.pid, signal.SIGINT)
        t0 = time.time()
        rest = proc.communicate(timeout=30)[0]
        assert time.time() - t0 < 15, f"{masks}\n{rest}"
        assert proc.returncode == 130, rest
        assert _group_gone(proc.pid), "a worker outlived the tour"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    report = (out / "report.md").read_text()
    assert "Interrupted" in report and "SIGINT" in report
    assert "relu-vs-tanh" in report
    assert "not measured: the tour was interrupted" in report  # gan never finished
    assert "| resnet (2015) |" in report and "not in this tour" in report  # left out by --only
    assert "Interrupted" in (out / "index.html").read_text()
    assert (out / "alexnet" / "relu-vs-tanh" / "evidence.json").exists()


def _timed(i):
    start = time.time()
    time.sleep(1.0)  # long enough that a loaded machine returns the first call before jobs 3 and 4 end
    return i, start


@pytest.mark.slow
def test_prefetched_jobs_run_on_the_workers_the_awaited_ones_leave_idle(tmp_path, monkeypatch):
    """The tour queues the next claim's first runs: they wait behind the runs being waited for, start
    as soon as a worker is free, and a later call takes their results instead of running them again."""
    monkeypatch.setenv("MILESTONES_SLOTS", str(tmp_path / "slots"))
    try:
        pool.prefetch(_timed, [3, 4, 5], 2)
        scheduler = pool._schedulers[2]
        submitted = []  # the order jobs reach the workers (start times across loaded processes can race)
        submit = scheduler.pool.submit
        scheduler.pool.submit = lambda f, key: submitted.append(key[1]) or submit(f, key)
        first = pool.parallel_map(_timed, [1, 2], 2)
        started = {job for _, job in [*scheduler.flight, *scheduler.done]}
        later = pool.parallel_map(_timed, [3, 4, 5], 2)
    finally:
        pool.close()
    assert [i for i, _ in first] == [1, 2] and [i for i, _ in later] == [3, 4, 5]
    assert submitted == [1, 2, 3, 4, 5]  # the awaited jobs went first, each job once
    assert 3 in started and 5 not in started  # a freed worker took a queued job before the first call returned


def _numbers(folder: Path) -> dict:
    """What a claim concluded, without the time it took."""
    ev = json.loads((folder / "evidence.json").read_text())
    return {k: ev[k] for k in ("per_seed", "measurements", "ours", "verdict", "holds", "runs")}


@pytest.mark.slow
def test_a_stopped_reproduce_continues_where_it_stopped(tmp_path):
    """Ctrl-C to the process group while a tiny reproduce trains its 12 runs, then the same command:
    it trains only the runs the first one had not finished, and its evidence equals an uninterrupted
    command's, number for number."""
    out = tmp_path / "r"
    proc = _start(tmp_path, "reproduce", "resnet", "--preset", "tiny", "--out", out)
    try:
        _wait_for(proc, "run 4/12 done")
        os.killpg(proc.pid, signal.SIGINT)
        rest = proc.communicate(timeout=30)[0]
        assert proc.returncode == 130, rest
        assert "the same command continues" in rest
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    stored = len(list((out / ".runs").glob("*.json"))) - 1  # the header is store.json
    assert 4 <= stored < 12
    env = {"MILESTONES_WORKERS": "2", "MILESTONES_SLOTS": str(tmp_path / "slots")}
    again = run_cli("reproduce", "resnet", "--preset", "tiny", "--out", out, env=env)
    assert again.returncode == 0, again.stderr
    assert f"{stored} runs kept by an earlier command" in again.stdout
    assert f"runs: {12 - stored} trained, {stored} read from" in again.stdout
    whole = run_cli("reproduce", "resnet", "--preset", "tiny", "--out", tmp_path / "whole", env=env)
    assert whole.returncode == 0, whole.stderr
    assert "runs: 12 trained, 0 read from" in whole.stdout
    assert _numbers(out / "degradation") == _numbers(tmp_path / "whole" / "degradation")
    once_more = run_cli("reproduce", "resnet", "--preset", "tiny", "--out", out, env=env)
    assert "runs: 0 trained, 12 read from" in once_more.stdout
    assert _numbers(out / "degradation") == _numbers(tmp_path / "whole" / "degradation")


def _busy(pgids, last, interval):
    """Processes of the given process groups that used at least a fifth of a core since `last`
    (pid -> CPU ticks), and the ticks now."""
    now, busy = {}, []
    hz = os.sysconf("SC_CLK_TCK")
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) not in pgids:  # the process group
            continue
        pid = int(stat.parent.name)
        now[pid] = int(fields[11]) + int(fields[12])  # utime + stime
        if pid in last and (now[pid] - last[pid]) / hz >= 0.2 * interval:
            busy.append(pid)
    return busy, now


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads CPU times from /proc")
def test_two_commands_never_train_more_processes_than_cores(tmp_path):
    """Two reproduces side by side, each with a pool as wide as the machine: four workers, of which
    only as many as there are cores may train at once (the others wait for a slot, idle). Counted
    from the CPU time each process uses, every half second once both have trained runs (so imports
    are over): a process trains when it used a fifth of a core in three half seconds running (a
    worker handing over its slot at the end of a run is busy in one, its successor in the next)."""
    cores = pool.slot_count()
    procs = [_start(tmp_path, "reproduce", "resnet", "--preset", "tiny", "--seeds", "8", "--out", tmp_path / name)
             for name in ("a", "b")]
    try:
        for p in procs:
            _wait_for(p, "run 3/32 done")
        pgids = {p.pid for p in procs}
        windows, (_, last) = [], _busy(pgids, {}, 0.5)
        while any(p.poll() is None for p in procs):
            time.sleep(0.5)
            busy, last = _busy(pgids, last, 0.5)
            windows.append({pid for pid in busy if pid not in pgids})  # the workers, not the commands
        for p in procs:
            rest = p.communicate(timeout=300)[0]
            assert p.returncode == 0, rest
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
    training = [len(a & b & c) for a, b, c in zip(windows, windows[1:], windows[2:])]
    assert training and max(training) <= cores, windows
    assert max(training) >= 1, windows


@pytest.mark.slow
def test_sigterm_stops_a_tour_and_the_same_command_continues(tmp_path):
    """SIGTERM to a tour after its first claim: exit status 143 within seconds, no worker left, the
    report of that claim; the same command then trains only the runs it had not kept."""
    out = tmp_path / "tour"
    args = ("tour", "--preset", "tiny", "--seeds", "2", "--only", "alexnet,gan", "--out", out)
    proc = _start(tmp_path, *args)
    try:
        _wait_for(proc, "verdict:")
        _wait_for(proc, "rule ")  # the second claim has started
        os.kill(proc.pid, signal.SIGTERM)
        t0 = time.time()
        rest = proc.communicate(timeout=30)[0]
        assert time.time() - t0 < 15, rest
        assert proc.returncode == 143, rest
        assert _group_gone(proc.pid), "a worker outlived the tour"
        assert "SIGTERM" in (out / "report.md").read_text()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    kept = len(list((out / ".runs").glob("*.json"))) - 1
    assert kept >= 1
    again = run_cli(*args, env={"MILESTONES_WORKERS": "2", "MILESTONES_SLOTS": str(tmp_path / "slots")})
    assert again.returncode == 0, again.stderr
    trained, read = map(int, re.search(r"^runs: (\d+) trained, (\d+) read from", again.stdout, re.M).groups())
    assert read == kept and trained >= 1
    assert "Interrupted" not in (out / "report.md").read_text()
