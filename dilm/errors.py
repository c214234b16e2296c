"""User-facing errors: one line that names the file, field, row or value."""

from __future__ import annotations

import difflib
import unicodedata
from collections.abc import Iterable

_BREAKING = ("Cc", "Cs", "Zl", "Zp")  # control characters, lone surrogates, line/paragraph separators


def one_line(text: str) -> str:
    """`text` with every character that could break or garble a terminal line escaped (`\\n`, `\\x00`)."""
    return "".join(c.encode("unicode_escape", "backslashreplace").decode("ascii")
                   if unicodedata.category(c) in _BREAKING else c for c in text)


class DilmError(Exception):
    """An error caused by the user's input or environment, shown without a traceback, on one line."""

    def __init__(self, message: str):
        super().__init__(one_line(str(message)))


def shorten(text: str, limit: int = 60) -> str:
    """`text` cut to `limit` characters (with '...'), so that a message about a huge value stays short."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


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
