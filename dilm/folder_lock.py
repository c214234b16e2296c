"""One dilm command per output folder at a time.

Two commands writing one run folder at once (two terminals, a script started twice) would
interleave checkpoints, sets and manifests. A command that opens a run folder therefore holds an
advisory lock on `<folder>/.dilm.lock` until it ends; a second one stops at once with an error
naming the first one's pid and command. The lock dies with its process, so a crash or Ctrl-C never
leaves a stale lock behind. Within one process, locking a folder it already holds is a no-op.
Where `fcntl` is missing (Windows) there is no lock.
"""

from __future__ import annotations

import datetime
import os
import sys
from pathlib import Path
from typing import IO

from dilm.errors import DilmError

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None

LOCK_NAME = ".dilm.lock"
_held: dict[Path, IO] = {}


def acquire(folder: str | Path) -> None:
    """Lock `folder` for this process, or raise DilmError when another process holds it."""
    folder = Path(folder).resolve()
    if fcntl is None or folder in _held:
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle = open(folder / LOCK_NAME, "a+", encoding="utf-8")
    except OSError as e:
        raise DilmError(f"output folder {folder} cannot be used: {e.strerror or e}") from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise DilmError(f"output folder {folder} is in use by {holder} (lock {LOCK_NAME}); wait for it to "
                        "end or choose another out_dir") from None
    handle.seek(0)
    handle.truncate()
    started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    handle.write(f"pid {os.getpid()} ({' '.join(sys.argv[:3])}, since {started})\n")
    handle.flush()
    _held[folder] = handle


def release(folder: str | Path) -> None:
    """Let other processes use `folder` again (a no-op when this process does not hold it)."""
    handle = _held.pop(Path(folder).resolve(), None)
    if handle is not None:
        handle.close()  # closing the file drops the lock
