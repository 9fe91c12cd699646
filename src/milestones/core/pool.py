"""Claim runs side by side: a pool of worker processes, bounded machine-wide, that stops at once.

Runs go one per process with one torch thread each (two-thread torch slows many times over as soon
as another process holds a core). Two bounds apply:

- a claim's pool has `default_workers()` processes (MILESTONES_WORKERS, else the cores, at most 4);
- every claim run on the machine, in a pool or in the caller's own process, first takes one of
  `slot_count()` slots (the cores): lock files in one folder, so that two pytest workers, or a tour
  beside a `reproduce`, never train more runs at once than there are cores. A lock is the
  operating system's (flock; on Windows msvcrt.locking), so a process that dies frees its slot.

A stop is prompt: the workers ignore SIGINT (a terminal sends Ctrl-C to the whole process group;
the caller decides) and end themselves when their parent is gone, and when the caller is interrupted
(KeyboardInterrupt, or the CLI's SIGTERM handler raising) `parallel_map` kills its workers
before it re-raises, rather than waiting for the runs in flight.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import torch

Progress = Callable[[str], None]


def cores() -> int:
    """The cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def default_workers() -> int:
    """Processes a claim's runs use side by side: MILESTONES_WORKERS, else the cores (at most 4);
    never more than the machine-wide bound."""
    env = os.environ.get("MILESTONES_WORKERS", "").strip()
    if env:
        try:
            wanted = int(env)
        except ValueError:
            from ..errors import UserError

            raise UserError(f"MILESTONES_WORKERS must be a whole number, not {env!r}") from None
        return max(1, min(wanted, slot_count()))
    return max(1, min(slot_count(), 4))


def slot_count() -> int:
    """The machine-wide bound on claim runs at once: the cores."""
    return cores()


def slot_folder() -> Path:
    """Where the slots' lock files live (MILESTONES_SLOTS, else a folder of the user's in the temp dir)."""
    env = os.environ.get("MILESTONES_SLOTS")
    if env:
        return Path(env)
    user = os.environ.get("USER") or os.environ.get("USERNAME") or str(getattr(os, "getuid", lambda: "")())
    return Path(tempfile.gettempdir()) / f"milestones-slots-{user}"


def _try_lock(f: IO[bytes]) -> bool:
    if sys.platform == "win32":
        import msvcrt

        try:
            msvcrt.locking(f.fileno(), msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False
    import fcntl

    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False


def _open_slot(i: int) -> IO[bytes]:
    folder = slot_folder()
    folder.mkdir(parents=True, exist_ok=True)
    return open(folder / f"slot-{i}", "a+b")  # noqa: SIM115 - held open while the slot is held


@contextmanager
def slot(poll: float = 0.05) -> Iterator[int]:
    """Hold one of the machine's `slot_count()` slots while the block runs (waiting for one if all
    are taken); yields its number."""
    n = slot_count()
    while True:
        for i in range(n):
            f = _open_slot(i)
            if _try_lock(f):
                try:
                    yield i
                finally:
                    f.close()  # closing the file releases the lock
                return
            f.close()
        time.sleep(poll)


def slots_held() -> int:
    """How many slots are held right now, by any process (the live claim runs)."""
    held = 0
    for i in range(slot_count()):
        f = _open_slot(i)
        try:
            if _try_lock(f):
                continue
            held += 1
        finally:
            f.close()
    return held


# ---------------------------------------------------------------------------------------------


def _init_worker() -> None:
    """One torch thread; Ctrl-C is the parent's to handle; end when the parent is gone."""
    torch.set_num_threads(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = os.getppid()

    def watch() -> None:  # a parent killed outright cannot kill its workers: they notice it
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="milestones-parent-watch").start()


def _call(job: tuple[Callable[[Any], Any], Any]) -> Any:
    fn, arg = job
    with slot():
        return fn(arg)


class _Scheduler:
    """A pool of `workers` processes with at most `workers` jobs in flight: the jobs a caller waits
    for go first, jobs queued ahead (`prefetch`) fill the workers they leave idle."""

    def __init__(self, workers: int):
        self.workers = workers
        self.pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                                        initializer=_init_worker)
        self.flight: dict[tuple[Callable[[Any], Any], Any], Future] = {}
        self.done: dict[tuple[Callable[[Any], Any], Any], Future] = {}
        self.later: list[tuple[Callable[[Any], Any], Any]] = []

    def _fill(self, wanted: list[tuple[Callable[[Any], Any], Any]]) -> None:
        while len(self.flight) < self.workers:
            key = next((k for k in wanted if k not in self.flight and k not in self.done), None)
            if key is None:
                while self.later and (self.later[0] in self.flight or self.later[0] in self.done):
                    self.later.pop(0)
                if not self.later:
                    return
                key = self.later.pop(0)
            self.flight[key] = self.pool.submit(_call, key)

    def prefetch(self, keys: list[tuple[Callable[[Any], Any], Any]]) -> None:
        self.later += [k for k in keys if k not in self.flight and k not in self.done and k not in self.later]

    def get(self, keys: list[tuple[Callable[[Any], Any], Any]], done: Callable[[int], None]) -> list[Any]:
        finished = sum(k in self.done for k in set(keys))
        while True:
            self._fill(keys)
            if all(k in self.done for k in keys):
                break
            ready, _ = wait(list(self.flight.values()), return_when=FIRST_COMPLETED)
            for k in [k for k, f in self.flight.items() if f in ready]:
                self.done[k] = self.flight.pop(k)
                if k in keys:
                    finished += 1
                    done(finished)
        out = [self.done[k].result() for k in keys]
        for k in set(keys):  # the caller keeps what it needs
            del self.done[k]
        return out


_schedulers: dict[int, _Scheduler] = {}  # kept between calls: a fresh pool costs seconds of imports


def _scheduler(workers: int) -> _Scheduler:
    if workers not in _schedulers:
        _schedulers[workers] = _Scheduler(workers)
    return _schedulers[workers]


def _kill(pool: ProcessPoolExecutor) -> None:
    """End a pool now: its workers are killed, not waited for."""
    for p in list((getattr(pool, "_processes", None) or {}).values()):
        try:
            p.kill()
        except (OSError, AttributeError):
            pass
    pool.shutdown(wait=False, cancel_futures=True)


@atexit.register
def close() -> None:
    """End every kept pool (at exit, and after an interruption)."""
    for scheduler in _schedulers.values():
        _kill(scheduler.pool)
    _schedulers.clear()


def prefetch(fn: Callable[[Any], Any], jobs: list[Any], workers: int) -> None:
    """Queue fn(job) for each job in the kept pool of `workers` without waiting: the next
    `parallel_map` calls start them on the workers their own jobs leave idle, and a later
    `parallel_map` over the same jobs takes their results. Nothing happens with one worker."""
    if workers > 1 and jobs:
        _scheduler(workers).prefetch([(fn, job) for job in jobs])


@contextmanager
def one_thread() -> Iterator[None]:
    """Torch on one thread inside, as in a claim run's worker, then as many as before: CPU kernels
    round differently with the number of threads, so what must equal a worker's result (a run, or a
    model every run uses) is computed on one."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def parallel_map(fn: Callable[[Any], Any], jobs: list[Any], workers: int,
                 progress: Progress | None = None) -> list[Any]:
    """fn(job) for each (hashable) job, in `workers` spawned processes of one torch thread each
    (inline, also on one thread, when workers == 1), each job holding a machine-wide slot while it
    runs. Results come back in the order of `jobs`; `progress` gets about ten "run k/N done"
    lines. The processes are kept for the next call (they hold their imports and loaded data),
    and jobs queued by `prefetch` run on the workers these leave idle. An interruption kills them
    at once and propagates."""
    t0 = time.time()
    every = max(1, len(jobs) // 10)  # about ten lines however many jobs

    def done(k: int) -> None:
        if progress is not None and (k % every == 0 or k == len(jobs)):
            progress(f"       run {k}/{len(jobs)} done ({time.time() - t0:.0f} s)")

    if workers <= 1 or (len(jobs) <= 1 and workers not in _schedulers):
        with one_thread():
            out = []
            for job in jobs:
                out.append(_call((fn, job)))
                done(len(out))
            return out
    scheduler = _scheduler(workers)
    try:
        return scheduler.get([(fn, job) for job in jobs], done)
    except BaseException:
        _schedulers.pop(workers, None)  # a broken or interrupted pool is not reused
        _kill(scheduler.pool)
        raise
