"""The ground floor: the one exception every layer raises for a user's mistake.

A `UserError` is something the person at the keyboard can fix (an unknown option, a bad value,
a missing file, a checkpoint of another milestone). The command line prints its message as one
line, `milestones: error: ...`, and exits with status 2; nothing is half-written.
"""

from __future__ import annotations


class UserError(Exception):
    """A mistake of the user's: the CLI prints this one line and exits with status 2."""
