"""The package's version, on the ground floor: checkpoints record it, `milestones --version` prints
it, and pyproject.toml reads it from here."""

__version__ = "0.1.0"
