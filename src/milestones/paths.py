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
