"""Resumable training state: atomic checkpoint folders, RNG capture, graceful Ctrl-C.

A checkpoint folder holds one safetensors file per module, `state.pt` (optimizer and
scheduler states, counters, RNG states: tensors and plain Python values only, loaded with
`weights_only=True`) and a `COMPLETE` marker written last. It is built under a temporary
name and renamed into place, so a kill at any moment leaves either the previous
complete checkpoint or the new one, never a half-written folder that looks complete.
"""

from __future__ import annotations

import errno
import logging
import os
import pickle
import random
import shutil
import signal
import tempfile
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_model, save_model

from dilm.errors import DilmError
from dilm.io import default_mode

log = logging.getLogger(__name__)

COMPLETE = "COMPLETE"


def rng_state() -> dict:
    """Python, NumPy and torch global RNG states as weights_only-loadable values."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    return {"python": random.getstate(), "numpy": (kind, torch.from_numpy(keys.copy()), pos, has_gauss, gauss),
            "torch": torch.get_rng_state()}


def set_rng_state(state: dict) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy(), pos, has_gauss, gauss))
    torch.set_rng_state(state["torch"])


def save(path: Path, modules: dict[str, torch.nn.Module], state: dict, tag: str = "") -> None:
    """Write a complete checkpoint folder atomically (temp folder, fsync, marker, rename).

    `tag` identifies the run configuration the checkpoint belongs to (see `tag_of`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}-", dir=path.parent))
    try:
        os.chmod(tmp, default_mode(0o777))  # mkdtemp makes 0700 folders
        for name, module in modules.items():
            save_model(module, str(tmp / f"{name}.safetensors"))
        torch.save(state, tmp / "state.pt")
        (tmp / "tag.txt").write_text(tag)
        for f in tmp.iterdir():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        (tmp / COMPLETE).write_text("ok\n")
        old = path.with_name(f".{path.name}.old")
        if path.exists():
            os.replace(path, old)
        os.replace(tmp, path)
        shutil.rmtree(old, ignore_errors=True)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if e.errno == errno.ENOSPC:
            raise DilmError(f"not enough disk space to write the checkpoint {path}") from None
        raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def damaged(path: Path, e: BaseException) -> DilmError:
    """The error for a checkpoint folder that is marked complete but cannot be read."""
    problem = (str(e).splitlines() or [type(e).__name__])[0]
    return DilmError(f"checkpoint {path} is damaged ({type(e).__name__}: {problem[:120]}); move it away "
                     f"(e.g. `mv {path} {path}.damaged`) and rerun: the stage restarts from its beginning")


def tag_of(path: Path) -> str | None:
    """The tag of a complete checkpoint, or None if there is none."""
    path = Path(path)
    if not (path / COMPLETE).exists():
        return None
    try:
        return (path / "tag.txt").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise damaged(path, e) from None


def load(path: Path, modules: dict[str, torch.nn.Module]) -> dict | None:
    """Load module weights in place and return the saved state, or None without a complete checkpoint.

    Raises:
        DilmError naming the folder when a file of a complete checkpoint is missing or damaged.
    """
    path = Path(path)
    if not (path / COMPLETE).exists():
        return None
    try:
        for name, module in modules.items():
            load_model(module, str(path / f"{name}.safetensors"))
        state = torch.load(path / "state.pt", weights_only=True)
    except (OSError, RuntimeError, ValueError, EOFError, pickle.UnpicklingError, SafetensorError) as e:
        raise damaged(path, e) from None
    if not isinstance(state, dict):
        raise damaged(path, ValueError(f"state.pt holds a {type(state).__name__}, not a dict"))
    return state


class GracefulInterrupt:
    """Turn Ctrl-C (SIGINT) and SIGTERM into a flag that training loops check between steps,
    so they can save a checkpoint before stopping. A second Ctrl-C stops at once."""

    def __init__(self):
        self.requested = False
        self._previous = {}

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        log.warning("interrupt received: stopping after this step and saving a checkpoint (Ctrl-C again to abort)")

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread: leave signals alone
                pass
        return self

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        return False
