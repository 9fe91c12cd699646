"""What the benchmark scripts share: timing two implementations side by side."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def interleaved(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median seconds of each function, after one warm-up call each, the repeats interleaved (ours,
    theirs, ours, ...) so that drift in the machine's speed hits both alike."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    for fn in fns.values():  # warm-up
        fn()
    for _ in range(repeats):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def arguments(doc: str):  # noqa: ANN201 (an argparse.Namespace)
    """--threads (torch's, pinned for both sides), --repeats and --skip (comma-separated parts)."""
    import argparse

    import torch

    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=9)
    p.add_argument("--skip", default="")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    args.skip = set(args.skip.split(",")) - {""}
    return args
