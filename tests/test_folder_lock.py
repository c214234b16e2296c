"""One command per run folder: a second process on a folder in use stops at once, and writes nothing."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dilm import folder_lock
from dilm.cli import main
from dilm.errors import DilmError

ROOT = Path(__file__).resolve().parent.parent


def try_lock_elsewhere(folder: Path) -> subprocess.CompletedProcess:
    """Another process tries to lock `folder` (and lets it go when it exits)."""
    code = textwrap.dedent(f"""
        from dilm import folder_lock
        from dilm.errors import DilmError
        try:
            folder_lock.acquire({str(folder)!r})
        except DilmError as e:
            print(e)
            raise SystemExit(3)
        print("locked")
    """)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)


@pytest.fixture()
def held_elsewhere(tmp_path):
    """A folder whose lock another, still running process holds; yields (folder, that process's pid)."""
    folder = tmp_path / "run"
    code = textwrap.dedent(f"""
        import sys
        from dilm import folder_lock
        folder_lock.acquire({str(folder)!r})
        print("locked", flush=True)
        sys.stdin.read()
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            cwd=ROOT)
    try:
        assert proc.stdout.readline().strip() == "locked"
        yield folder, proc.pid
    finally:
        proc.stdin.close()
        proc.wait(timeout=60)


def test_a_held_folder_is_refused_to_other_processes_until_released(tmp_path):
    folder = tmp_path / "out"
    folder_lock.acquire(folder)
    try:
        folder_lock.acquire(folder)  # the same process again: a no-op
        other = try_lock_elsewhere(folder)
        assert other.returncode == 3, other.stderr
        assert f"output folder {folder.resolve()} is in use by pid " in other.stdout
        assert "wait for it to end or choose another out_dir" in other.stdout
    finally:
        folder_lock.release(folder)
    again = try_lock_elsewhere(folder)
    assert again.returncode == 0 and again.stdout.strip() == "locked", again.stdout + again.stderr


def test_the_error_names_the_holder_and_its_command(held_elsewhere):
    folder, pid = held_elsewhere
    with pytest.raises(DilmError, match=rf"in use by pid {pid} \(.* since 20"):
        folder_lock.acquire(folder)


def test_a_command_on_a_folder_in_use_stops_before_writing(held_elsewhere, tiny_run_args, capsys):
    folder, pid = held_elsewhere
    args = [a for a in tiny_run_args if not a.startswith("out_dir=")] + [f"out_dir={folder}"]
    assert main(["run", *args]) == 2
    assert f"dilm run: error: output folder {folder.resolve()} is in use by pid {pid}" in capsys.readouterr().err
    assert sorted(p.name for p in folder.iterdir()) == [folder_lock.LOCK_NAME]  # no config, no stage output


def test_a_finished_command_lets_the_folder_go(tiny_run_args):
    folder = Path([a for a in tiny_run_args if a.startswith("out_dir=")][-1].split("=", 1)[1])
    assert main(["pretrain", *tiny_run_args]) == 0
    assert (folder / "config.yaml").exists()
    other = try_lock_elsewhere(folder)
    assert other.returncode == 0 and other.stdout.strip() == "locked", other.stdout + other.stderr


def test_an_output_path_that_is_a_file_is_named_in_the_error(tmp_path):
    taken = tmp_path / "results.txt"
    taken.write_text("keep me")
    with pytest.raises(DilmError, match=rf"output folder {taken} cannot be used: File exists"):
        folder_lock.acquire(taken)
    assert taken.read_text() == "keep me"
