"""Kill-and-resume: a run killed (SIGKILL or Ctrl-C) and rerun ends exactly like an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safetensors.torch import load_file

from dilm.cli import main
from dilm.folder_lock import LOCK_NAME

SLOW_TINY = ["pretrain.steps=60", "pretrain.checkpoint_every=5", "distill.outer_loops=3",
             "distill.inner_steps=3", "distill.checkpoint_every=2", "generate.num_sets=2"]


def args_for(tiny_run_args: list[str], out: Path) -> list[str]:
    return [a for a in tiny_run_args if not a.startswith("out_dir=")] + SLOW_TINY + [f"out_dir={out}"]


def start(args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "DILM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen([sys.executable, "-m", "dilm", "run", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def wait_for(path: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while not path.exists():
        assert proc.poll() is None, f"run ended before {path} appeared: {proc.stderr.read()}"
        assert time.time() < deadline, f"{path} did not appear"
        time.sleep(0.02)


def outputs(out: Path) -> dict:
    """Final generator weights and every set file."""
    weights = load_file(out / "generator_distilled" / "model.safetensors")
    sets = {str(p.relative_to(out)): p.read_text() for p in sorted((out / "sets").rglob("set_*.jsonl"))}
    return {"weights": weights, "sets": sets}


def assert_same(a: dict, b: dict) -> None:
    assert a["sets"] == b["sets"] and a["sets"]
    assert a["weights"].keys() == b["weights"].keys()
    for name in a["weights"]:
        assert (a["weights"][name] == b["weights"][name]).all(), name  # bitwise on CPU




@pytest.mark.parametrize("stage_dir, extra", [
    ("checkpoints/pretrain", []), ("checkpoints/distill", []),
    ("checkpoints/distill", ["distill.lm_weight=0.5", "distill.lm_batch=4"]),  # the LM term's own row stream
])
def test_sigkill_then_resume_equals_uninterrupted(tiny_run_args, tmp_path, stage_dir, extra):
    tiny_run_args = [*tiny_run_args, *extra]
    ref = tmp_path / "ref"
    assert main(["run", *args_for(tiny_run_args, ref)]) == 0
    assert not (ref / "checkpoints" / "pretrain").exists()  # removed once the stage is done

    out = tmp_path / "killed"
    proc = start(args_for(tiny_run_args, out))
    wait_for(out / stage_dir / "COMPLETE", proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "generator_distilled" / "dilm_generator.json").exists()

    resumed = start(args_for(tiny_run_args, out))
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert "resuming from the checkpoint" in err
    assert_same(outputs(out), outputs(ref))


def test_ctrl_c_saves_a_checkpoint_and_resumes(tiny_run_args, tmp_path):
    ref = tmp_path / "ref"
    assert main(["run", *args_for(tiny_run_args, ref)]) == 0

    out = tmp_path / "interrupted"
    proc = start(args_for(tiny_run_args, out))
    wait_for(out / "checkpoints" / "distill" / "COMPLETE", proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    assert (out / "checkpoints" / "distill" / "COMPLETE").exists()

    resumed = start(args_for(tiny_run_args, out))
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert_same(outputs(out), outputs(ref))


def test_rerun_of_a_finished_run_skips_every_stage(tiny_run_args, tmp_path, caplog):
    out = tmp_path / "run"
    assert main(["run", *tiny_run_args]) == 0
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file() and p.name not in
              ("config.yaml", "timings.json", "samples.md", LOCK_NAME)}  # the lock names each command
    timings = (out / "timings.json").read_text()
    caplog.set_level("INFO")
    assert main(["run", *tiny_run_args]) == 0
    assert "pretrain: already done" in caplog.text and "distill: already done" in caplog.text
    assert "already written with this configuration" in caplog.text
    after = {p: p.stat().st_mtime_ns for p in before}
    assert before == after
    assert (out / "timings.json").read_text() == timings  # the skipped stages keep their real times


def test_changed_stage_config_reruns_that_stage(tiny_run_args, tmp_path, caplog):
    out = tmp_path / "run"
    assert main(["run", *tiny_run_args]) == 0
    first = (out / "sets" / "dpc_2" / "set_0.jsonl").read_text()
    caplog.set_level("INFO")
    # the sets of the first generation are not replaced by another one without --overwrite
    assert main(["run", *tiny_run_args, "distill.lr=2e-3"]) == 2
    assert "pretrain: already done" in caplog.text
    assert "distill: already done" not in caplog.text
    assert (out / "sets" / "dpc_2" / "set_0.jsonl").read_text() == first
    caplog.clear()
    assert main(["run", *tiny_run_args, "distill.lr=2e-3", "--overwrite"]) == 0
    assert "distill: already done" in caplog.text
    assert (out / "sets" / "dpc_2" / "set_0.jsonl").read_text() != first
