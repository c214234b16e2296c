"""Two processes on CPU (gloo, launched by torchrun) give one process's results.

- a tiny `dilm run`: the same generator weights (pre-trained and distilled, within float
  summation-order tolerance) and the same set files;
- `dilm evaluate`: the runs are shared out, each stored exactly once, with the same scores.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

# Summing gradients over processes changes the float summation order only: relative weight
# differences after the tiny run are ~1e-7; the bound leaves room without hiding a wrong sum
# (a missing or doubled share moves weights by ~1e-3 and more).
WEIGHT_RTOL, WEIGHT_ATOL = 1e-4, 1e-5


def launch(args: list[str], procs: int, cwd: Path, launcher: str = "torchrun") -> subprocess.CompletedProcess:
    env = {**os.environ, "DILM_THREADS": "1", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    if procs == 1:
        cmd = [sys.executable, "-m", "dilm", *args]
    elif launcher == "torchrun":
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={procs}",
               "-m", "dilm", *args]
    else:  # Hugging Face Accelerate: its multi-process launcher (torch.distributed.run); gloo without GPUs
        cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", f"--num_processes={procs}",
               "--num_machines=1", "--mixed_precision=no", "--dynamo_backend=no", "-m", "dilm", *args]
    done = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(folder / "model.safetensors")


def assert_close_weights(a: Path, b: Path) -> None:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys() and wa
    for name in wa:
        torch.testing.assert_close(wb[name], wa[name], rtol=WEIGHT_RTOL, atol=WEIGHT_ATOL, msg=name)


def test_two_processes_run_like_one(tiny_run_args, tmp_path):
    # the class-token layout, whose tolerance the bound above was set on; that shares of a batch sum
    # to the whole batch's gradient under every layout is tests/test_layout.py's. The generation's
    # posterior filter and trial runs are shared out over the processes too.
    base = [a for a in tiny_run_args if not a.startswith("out_dir=")] + [
        "generate.num_sets=2", "model.conditioning=class_token", "generate.posterior_keep=0.6", "generate.trials=2"]
    one, two = tmp_path / "one", tmp_path / "two"
    launch(["run", *base, f"out_dir={one}"], 1, tmp_path)
    launch(["run", *base, f"out_dir={two}"], 2, tmp_path)
    assert_close_weights(one / "generator_pretrained", two / "generator_pretrained")
    assert_close_weights(one / "generator_distilled", two / "generator_distilled")
    sets_one = {p.relative_to(one): p.read_text() for p in sorted((one / "sets").rglob("set_*.jsonl"))}
    sets_two = {p.relative_to(two): p.read_text() for p in sorted((two / "sets").rglob("set_*.jsonl"))}
    assert sets_one == sets_two and len(sets_one) == 2
    assert not (two / "checkpoints").exists()  # written and removed by the main process only


def test_two_processes_distil_with_the_lm_term_like_one(tiny_run_args, pretrained_generator_dir, tmp_path):
    """distill.lm_weight: each process encodes and scores its share of the LM rows; the summed gradient
    is the whole batch's, so the distilled weights match one process's."""
    base = [a for a in tiny_run_args if not a.startswith("out_dir=")] + [
        "model.conditioning=class_token", "distill.lm_weight=1.0", "distill.lm_batch=5"]
    one, two = tmp_path / "one", tmp_path / "two"
    for out, procs in ((one, 1), (two, 2)):
        launch(["distill", *base, f"out_dir={out}", "--generator", str(pretrained_generator_dir)], procs, tmp_path)
    assert_close_weights(one / "generator_distilled", two / "generator_distilled")


def stored(store: Path) -> list[tuple]:
    with sqlite3.connect(store) as db:
        return sorted(db.execute("SELECT set_hash, learner, protocol, seed, score FROM runs").fetchall())


@pytest.fixture
def random_sets(tiny_data_dir, tiny_learner_dir, tmp_path) -> tuple[list[str], str]:
    """Config overrides for the tiny data and learner, and a folder of 3 random DPC-2 sets."""
    common = [f"data.dataset={tiny_data_dir}", f"model.learner={tiny_learner_dir}", "model.max_length=16",
              "precision=fp32"]
    sets = tmp_path / "sets"
    launch(["coreset", *common, "--method", "random", "--dpc", "2", "--num-sets", "3",
            "--sets-dir", str(sets)], 1, tmp_path)
    return common, str(sets / "dpc_2")


@pytest.mark.parametrize("launcher", ["torchrun", "accelerate"])
def test_sharded_evaluation_stores_each_run_once_with_one_process_scores(random_sets, tmp_path, launcher):
    common, set_dir = random_sets
    evaluate = ["evaluate", set_dir, *common, "--runs", "2", "--steps", "4"]
    launch([*evaluate, "--store", str(tmp_path / "one.sqlite")], 1, tmp_path)
    out = launch([*evaluate, "--store", str(tmp_path / "two.sqlite")], 2, tmp_path, launcher)
    one, two = stored(tmp_path / "one.sqlite"), stored(tmp_path / "two.sqlite")
    assert len(two) == 6 and len({row[:4] for row in two}) == 6  # 3 sets x 2 seeds, each once
    assert two == one  # same keys, same scores
    assert out.stdout.count("new runs stored") == 2  # one message per process: 3 + 3
    # the two processes share one stdout pipe, so their lines can interleave: match the messages, not lines
    assert sorted(int(n) for n in re.findall(r"(\d+) new runs stored", out.stdout)) == [3, 3]


def test_sharded_icl_stores_each_run_once_with_one_process_scores(tiny_generator_dir, random_sets, tmp_path):
    common, set_dir = random_sets
    icl = ["icl", set_dir, *common, "--model", str(tiny_generator_dir), "--orders", "2",
           "--limit", "4", "--max-context", "400"]
    launch([*icl, "--store", str(tmp_path / "one.sqlite")], 1, tmp_path)
    launch([*icl, "--store", str(tmp_path / "two.sqlite")], 2, tmp_path)
    one, two = stored(tmp_path / "one.sqlite"), stored(tmp_path / "two.sqlite")
    assert len(two) == 6 and len({row[:4] for row in two}) == 6  # 3 sets x 2 orders, each once
    assert two == one


SPREAD_SCRIPT = """
import sys, torch
from dilm import dist
from dilm.conditioning import class_loglik
from dilm.generator import load_generator
dist.init()
gen = load_generator(sys.argv[1], num_classes=2, pair=False, max_length=32)
texts = [(w * (1 + i % 5),) for i, w in enumerate(sys.argv[3].split(","))]
spread = class_loglik(gen, texts, micro_batch=4, spread=True)
if dist.is_main():
    torch.save({"spread": spread, "alone": class_loglik(gen, texts, micro_batch=4)}, sys.argv[2])
dist.barrier()  # both processes end together, as the CLI's do
"""


def test_spread_scoring_gives_every_process_the_one_process_values(tiny_generator_dir, tmp_path):
    """`class_loglik(spread=True)` on 2 processes: each scores its share of the length chunks, and all
    get the values one process computes alone (same chunks, same numbers), in input order."""
    script = tmp_path / "spread.py"
    script.write_text(SPREAD_SCRIPT)
    words = ",".join(["good ", "bad ", "fine ", "awful ", "great "] * 3)  # 15 texts of 1-5 words: several chunks
    env = {**os.environ, "DILM_THREADS": "1", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           str(script), str(tiny_generator_dir), str(tmp_path / "out.pt"), words],
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    out = torch.load(tmp_path / "out.pt", weights_only=True)
    assert out["spread"].shape == (15, 2)
    assert torch.equal(out["spread"], out["alone"])
    assert not torch.equal(out["spread"][0], out["spread"][1])  # rows differ, so a wrong order would show
