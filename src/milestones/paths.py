"""Where the package keeps what it makes: the data cache and the runs folder.

    MILESTONES_CACHE  generated data sets and cached judge networks (default ~/.cache/milestones)
    MILESTONES_RUNS   run folders, claim evidence and the tour page (default ./runs)
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """The data cache, created on first use."""
    path = Path(os.environ.get("MILESTONES_CACHE") or Path.home() / ".cache" / "milestones")
    path.mkdir(parents=True, exist_ok=True)
    return path


def runs_root() -> Path:
    """The folder that holds run folders: runs/<milestone>/<time>/."""
    return Path(os.environ.get("MILESTONES_RUNS", "runs"))


CACHE_VAR = "$MILESTONES_CACHE"


def in_cache(path: Path) -> str:
    """A path in the data cache written as `$MILESTONES_CACHE/...`, so that a command naming it (a
    fine-tuning run's --init-from a kept model) is the same on every machine; others as they are."""
    try:
        rest = Path(path).resolve().relative_to(cache_dir().resolve())
    except ValueError:
        return str(path)
    return f"{CACHE_VAR}/{rest.as_posix()}"


def expand(path: str) -> Path:
    """A path a user or a claim gave: `$MILESTONES_CACHE/...` in this machine's cache, `~` expanded."""
    if path == CACHE_VAR or path.startswith(CACHE_VAR + "/"):
        return cache_dir() / path[len(CACHE_VAR) + 1:]
    return Path(path).expanduser()
