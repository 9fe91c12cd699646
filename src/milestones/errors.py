"""The ground floor: the one exception every layer raises for a user's mistake.

A `UserError` is something the person at the keyboard can fix (an unknown option, a bad value,
a missing file, a checkpoint of another milestone). The command line prints its message as one
line, `milestones: error: ...`, and exits with status 2; nothing is half-written.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class UserError(Exception):
    """A mistake of the user's: the CLI prints this one line and exits with status 2."""


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """"; did you mean X?" for the closest of `choices` to a mistyped `word`, or "" when none is close."""
    close = difflib.get_close_matches(word.lower(), list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]}?" if close else ""
