"""A damaged results store or run-folder file (config.yaml, manifest.json, teacher_sets.json, a
checkpoint) stops a command with one line that names the file and what to do; nothing is replaced."""

from __future__ import annotations

import pytest
from conftest import fails, snapshot

from dilm.cli import main
from dilm.errors import DilmError
from dilm.store import ResultStore


def truncate(path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


@pytest.mark.parametrize("content", [b"this is not a database, only text" * 200, b"SQLite format 3\x00" + b"\x07" * 90])
def test_a_damaged_results_store_is_named_and_left_alone(tmp_path, content):
    store = tmp_path / "results.sqlite"
    store.write_bytes(content)
    with pytest.raises(DilmError, match=f"results store {store} cannot be used .*left unchanged: move it away"):
        ResultStore(store)
    assert store.read_bytes() == content


def test_a_truncated_results_store_through_the_cli(tiny_run_args, tmp_path, capsys):
    from dilm.store import RunKey, RunRecord

    store = tmp_path / "results.sqlite"
    with ResultStore(store) as s:
        for seed in range(200):
            s.add(RunRecord(RunKey("h", "l", "p", seed), "d", "m", 5, "x" * 500, "accuracy", 50.0, {"accuracy": 50.0}))
    truncate(store)
    before = store.read_bytes()
    line = fails(["report", "--store", str(store), "--out", str(tmp_path / "report"), "--no-memorisation"], capsys)
    assert f"results store {store} cannot be used" in line and "--store" in line
    assert store.read_bytes() == before and not (tmp_path / "report").exists()


@pytest.mark.parametrize("text", ["seed: [1\n", "- just a list\n", "data: sst2\n"])
def test_a_damaged_run_config_is_named(tiny_run_args, tmp_path, capsys, text):
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.yaml").write_text(text)
    line = fails(["run", *tiny_run_args, "stages=[]"], capsys)
    assert f"{out / 'config.yaml'}: run config is not" in line and "--overwrite" in line
    assert (out / "config.yaml").read_text() == text
    assert main(["run", *tiny_run_args, "stages=[]", "--overwrite"]) == 0  # the way out works


def test_damaged_manifest_teacher_cache_and_timings_are_named(tiny_run_args, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", *tiny_run_args]) == 0
    cases = [("sets/manifest.json", ["generate"], "set manifest is not valid: malformed JSON"),
             ("teacher_sets.json", ["run", "distill.lr=2e-3"], "teacher-set cache is not valid"),
             ("timings.json", ["run"], "timings record is not valid")]
    for name, command, message in cases:
        good = (out / name).read_bytes()
        truncate(out / name)
        before = snapshot(out)
        line = fails([*command[:1], *tiny_run_args, *command[1:]], capsys)
        assert f"{out / name}: {message}" in line, line
        after = snapshot(out)
        for record in {"config.yaml", "timings.json"} - {name}:  # the latest command's config and times
            after[record] = before[record]
        assert after == before
        (out / name).write_bytes(good)


def test_a_teacher_cache_under_this_key_with_bad_rows_is_named(tiny_run_args, tmp_path, capsys):
    import json

    out = tmp_path / "run"
    assert main(["run", *tiny_run_args, "stages=[pretrain, distill]"]) == 0
    cache = json.loads((out / "teacher_sets.json").read_text())
    cache["sets"][0][0][0] = 10**6  # a row that does not exist
    (out / "teacher_sets.json").write_text(json.dumps(cache))
    line = fails(["run", *tiny_run_args, "stages=[pretrain, distill]", "distill.lr=2e-3"], capsys)
    assert "teacher-set cache holds no valid 2 x 2 x 4 row indices" in line and "delete it" in line


def test_a_damaged_checkpoint_is_named_with_the_way_out(tiny_run_args, tmp_path, capsys, monkeypatch):
    from dilm.generator import Generator

    calls = {"n": 0}
    real_loss = Generator.lm_loss

    def flaky(self, seqs, batch_size=None):  # a NaN at step 7 leaves the step-6 checkpoint behind
        calls["n"] += 1
        loss = real_loss(self, seqs, batch_size)
        return loss * float("nan") if calls["n"] == 7 else loss

    monkeypatch.setattr(Generator, "lm_loss", flaky)
    args = ["run", *tiny_run_args, "pretrain.checkpoint_every=5", "stages=[pretrain]"]
    fails(args, capsys)
    monkeypatch.setattr(Generator, "lm_loss", real_loss)
    ckpt = tmp_path / "run" / "checkpoints" / "pretrain"
    for name in ("state.pt", "generator.safetensors"):
        good = (ckpt / name).read_bytes()
        truncate(ckpt / name)
        before = snapshot(ckpt)
        line = fails(args, capsys)
        assert f"checkpoint {ckpt} is damaged" in line and f"mv {ckpt} {ckpt}.damaged" in line
        assert snapshot(ckpt) == before
        (ckpt / name).write_bytes(good)
    assert main(args) == 0  # intact again: resumes from step 6


def test_a_damaged_selection_record_is_named(tiny_data_dir, tmp_path, capsys):
    sets = tmp_path / "sets"
    assert main(["coreset", "--method", "random", "--dataset", str(tiny_data_dir), "--sets-dir", str(sets),
                 "--dpc", "2"]) == 0
    (sets / "dpc_2" / "selection.json").write_text('{"method": ')
    line = fails(["evaluate", str(sets), "--store", str(tmp_path / "r.sqlite")], capsys)
    assert f"{sets / 'dpc_2' / 'selection.json'}: selection record is not valid" in line
