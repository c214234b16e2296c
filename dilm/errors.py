"""User-facing errors: one line that names the file, field, row or value."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class DilmError(Exception):
    """An error caused by the user's input or environment, shown without a traceback."""


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return ' (did you mean 'x'?)' for the closest choice, or '' if none is close."""
    close = difflib.get_close_matches(str(name), list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def unknown_name(kind: str, name: str, choices: Iterable[str]) -> DilmError:
    """Build the error for an unknown registry key, listing the valid ones."""
    choices = sorted(choices)
    return DilmError(
        f"unknown {kind} '{name}'{did_you_mean(name, choices)}; choose from: {', '.join(choices)}"
    )
