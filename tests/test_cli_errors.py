"""User errors: exit code 2, one line on stderr that names the problem, earlier outputs untouched."""

from __future__ import annotations

import json

import pytest
from conftest import NEGATIVE, POSITIVE, fails, snapshot

from dilm.cli import main

ROWS = [{"sentence": s, "label": 1} for s in POSITIVE] + [{"sentence": s, "label": 0} for s in NEGATIVE]


def with_data(args: list[str], folder) -> list[str]:
    return [*args, f"data.dataset={folder}"]


def test_bad_config_key_suggests_the_right_one(tiny_run_args, capsys):
    line = fails(["run", *tiny_run_args, "distill.lrr=1"], capsys)
    assert "unknown config key 'distill.lrr' (did you mean 'lr'?)" in line


def test_unknown_preset(tiny_run_args, capsys):
    line = fails(["run", "--preset", "no_such_preset", *tiny_run_args], capsys)
    assert "unknown preset 'no_such_preset'" in line


@pytest.mark.parametrize("override, message", [
    ("generate.dpc=[0]", "generate.dpc must be positive integers, got [0]"),
    ("generate.dpc=-3", "generate.dpc must be positive integers, got [-3]"),
    ("generate.oversample=0", "generate.oversample must be >= 1, got 0"),
])
def test_bad_generate_values(tiny_run_args, capsys, override, message):
    assert message in fails(["run", *tiny_run_args, override], capsys)


def test_dpc_flag_zero(tiny_run_args, capsys):
    assert "generate.dpc must be positive integers" in fails(["generate", *tiny_run_args, "--dpc", "0"], capsys)


def test_missing_text_field_names_file_line_and_field(tiny_run_args, make_data_dir, capsys):
    rows = ROWS[:2] + [{"text": "no sentence here", "label": 0}] + ROWS[2:]
    folder = make_data_dir("missing_field", rows)
    line = fails(["run", *with_data(tiny_run_args, folder)], capsys)
    assert f"{folder / 'train.jsonl'}, line 3: missing field 'sentence'" in line


def test_label_outside_label_names(tiny_run_args, make_data_dir, capsys):
    folder = make_data_dir("bad_label", ROWS + [{"sentence": "so so", "label": 3}])
    line = fails(["run", *with_data(tiny_run_args, folder)], capsys)
    assert f"line {len(ROWS) + 1}: label 3 is outside the label names ['negative', 'positive']" in line


def test_empty_class(tiny_run_args, make_data_dir, capsys):
    folder = make_data_dir("one_class", [r for r in ROWS if r["label"] == 1])
    line = fails(["run", *with_data(tiny_run_args, folder)], capsys)
    assert "class 0 ('negative') has no training rows" in line


def test_empty_data_file(tiny_run_args, make_data_dir, capsys):
    folder = make_data_dir("empty", "")
    assert f"data file is empty: {folder / 'train.jsonl'}" in fails(["run", *with_data(tiny_run_args, folder)], capsys)


def test_malformed_json_line(tiny_run_args, make_data_dir, capsys):
    text = "".join(json.dumps(r) + "\n" for r in ROWS[:4]) + '{"sentence": "cut off", "label"\n'
    folder = make_data_dir("malformed", text)
    line = fails(["run", *with_data(tiny_run_args, folder)], capsys)
    assert f"{folder / 'train.jsonl'}, line 5: malformed JSON" in line


def test_validate_reports_data_errors_too(tiny_run_args, make_data_dir, capsys):
    folder = make_data_dir("malformed", '{"sentence": "x", "label": 0}\nnot json\n')
    assert "line 2: malformed JSON" in fails(["validate", *with_data(tiny_run_args, folder)], capsys)


def test_validate_rejects_too_small_classes(tiny_run_args, capsys):
    line = fails(["validate", *tiny_run_args, "distill.real_batch=17"], capsys)
    assert "has 16 training rows, fewer than the teacher size distill.real_batch=17" in line


def test_folder_of_another_run_is_refused_and_left_unchanged(tiny_run_args, tmp_path, capsys):
    out = tmp_path / "run"
    args = [*tiny_run_args, "stages=[pretrain]"]
    assert main(["run", *args]) == 0
    before = snapshot(out)
    assert "config.yaml" in before and "generator_pretrained/model.safetensors" in before

    line = fails(["run", *args, "seed=1"], capsys)
    assert f"output folder {out} holds another run's results (seed differ)" in line
    assert "--overwrite" in line
    assert snapshot(out) == before

    # the same run again is allowed; --overwrite allows the other one
    assert main(["run", *args, "seed=1", "--overwrite"]) == 0
    assert "seed: 1" in (out / "config.yaml").read_text()


def test_failing_command_leaves_earlier_outputs_unchanged(tiny_run_args, tiny_data_dir, tmp_path, capsys):
    out = tmp_path / "run"  # tiny_run_args' out_dir
    assert main(["run", *tiny_run_args]) == 0
    before = snapshot(out)
    assert "sets/dpc_2/set_0.jsonl" in before and "generator_distilled/model.safetensors" in before

    # a config error, a refused folder and a data error (the same folder, now broken): nothing changes
    fails(["run", *tiny_run_args, "generate.oversample=0"], capsys)
    assert snapshot(out) == before
    assert "model differ" in fails(["generate", *tiny_run_args, "model.max_length=8"], capsys)
    assert snapshot(out) == before
    with open(tiny_data_dir / "train.jsonl", "a") as f:
        f.write("{broken\n")
    assert "malformed JSON" in fails(["run", *tiny_run_args], capsys)
    assert snapshot(out) == before


def test_overwrite_removes_the_other_runs_outputs(tiny_run_args, tmp_path):
    out = tmp_path / "run"
    assert main(["run", *tiny_run_args, "stages=[pretrain, distill]"]) == 0
    assert (out / "teacher_sets.json").exists() and (out / "generator_distilled").is_dir()
    assert main(["run", *tiny_run_args, "seed=1", "stages=[pretrain]", "--overwrite"]) == 0
    # the seed-0 run's caches and distilled generator must not survive into the seed-1 run
    assert not (out / "teacher_sets.json").exists()
    assert not (out / "generator_distilled").exists()
    assert not list(out.glob("train_features_*.pt"))
    assert (out / "generator_pretrained" / "model.safetensors").exists()


def test_disk_full_is_a_clear_error_and_keeps_the_old_file(tmp_path, monkeypatch):
    import errno
    import os

    from dilm.errors import DilmError
    from dilm.io import write_text

    target = tmp_path / "set.jsonl"
    target.write_text("old\n")

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(DilmError, match=f"not enough disk space to write {target}"):
        write_text(target, "new\n")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["set.jsonl"]  # no temp file left behind


def test_nan_loss_stops_with_the_step_and_saves_the_last_good_state(tiny_run_args, tmp_path, capsys, monkeypatch):
    import torch

    from dilm.generator import Generator

    calls = {"n": 0}
    real_loss = Generator.lm_loss

    def flaky(self, seqs, batch_size=None):
        calls["n"] += 1
        loss = real_loss(self, seqs, batch_size)
        return loss * float("nan") if calls["n"] == 7 else loss

    monkeypatch.setattr(Generator, "lm_loss", flaky)
    line = fails(["run", *tiny_run_args, "pretrain.checkpoint_every=5"], capsys)
    assert "pretrain: LM loss is nan at step 7" in line and "last good state (step 6)" in line
    state = torch.load(tmp_path / "run" / "checkpoints" / "pretrain" / "state.pt", weights_only=True)
    assert state["step"] == 6


def test_model_folder_without_weights_or_tokenizer(tiny_run_args, tiny_learner_dir, tmp_path, capsys):
    import shutil

    no_weights = tmp_path / "no_weights"
    shutil.copytree(tiny_learner_dir, no_weights)
    (no_weights / "model.safetensors").unlink()
    line = fails(["validate", *tiny_run_args, f"model.learner={no_weights}"], capsys)
    assert f"learner folder {no_weights} has no weights" in line

    no_tokenizer = tmp_path / "no_tokenizer"
    shutil.copytree(tiny_learner_dir, no_tokenizer)
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json"):
        (no_tokenizer / name).unlink(missing_ok=True)
    line = fails(["validate", *tiny_run_args, f"model.learner={no_tokenizer}"], capsys)
    assert f"learner folder {no_tokenizer} has no tokenizer files" in line


def test_unknown_model_short_name_suggests_one(tiny_run_args, capsys):
    line = fails(["validate", *tiny_run_args, "model.learner=minilm-l5"], capsys)
    assert "unknown learner 'minilm-l5' (did you mean 'minilm-l6'?)" in line


def test_learner_that_is_not_a_sequence_classifier(tiny_run_args, tiny_learner_dir, tmp_path, capsys):
    import shutil

    from transformers import ViTConfig, ViTModel

    folder = tmp_path / "vision"
    ViTModel(ViTConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16,
                       image_size=8, patch_size=4)).save_pretrained(folder)
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json"):
        if (tiny_learner_dir / name).exists():
            shutil.copy(tiny_learner_dir / name, folder / name)
    line = fails(["run", *tiny_run_args, f"model.learner={folder}", "stages=[distill]"], capsys)
    assert f"learner '{folder}'" in line
    assert "sequence classifier" in line or "cannot load learner" in line


def test_generator_of_a_pair_task_refused_on_a_single_text_task(tiny_run_args, tmp_path, pair_data_dir, capsys):
    pair_run = tmp_path / "pair_run"
    pair_args = [a for a in tiny_run_args if not a.startswith(("data.dataset=", "out_dir="))]
    assert main(["run", *pair_args, f"data.dataset={pair_data_dir}", f"out_dir={pair_run}",
                 "stages=[pretrain]", "pretrain.steps=2"]) == 0
    line = fails(["generate", *tiny_run_args, "--generator", str(pair_run / "generator_pretrained")], capsys)
    assert "was trained for 2 classes (pair=True)" in line and "(pair=False)" in line


def test_outputs_follow_the_umask(tmp_path):
    import os
    import stat

    from dilm.io import write_text

    old = os.umask(0o022)
    try:
        write_text(tmp_path / "out.txt", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "out.txt").stat().st_mode) == 0o644


def test_run_refuses_rows_the_generation_cannot_judge_by_before_any_training(tiny_run_args, capsys, tmp_path):
    """A trial probe or refinement rows the training split cannot give stop `dilm run` before pre-training
    (not after distillation), naming the key; `dilm validate` says the same, and when they can be given,
    how many rows each one gets."""
    for extra, message in ((["generate.trials=2", "generate.trial_min_words=99"],
                            "generate.trial_min_words=99: no training row has that many words"),
                           (["generate.refine=centroid", "generate.refine_min_words=99"],
                            "generate.refine_min_words=99: no training row outside the trial probe")):
        for command in ("run", "validate"):
            assert message in fails([command, *tiny_run_args, *extra], capsys)
        assert not (tmp_path / "run" / "generator_pretrained").exists()
    assert main(["validate", *tiny_run_args, "generate.trials=2", "generate.trial_rows=5",
                 "generate.refine=centroid", "generate.refine_rows=7", "generate.refine_min_words=0"]) == 0
    out = capsys.readouterr().out
    assert "trial pick: 2 candidates a set, scored on 5 training rows of >= 0 words" in out
    assert "refinement (centroid): towards 7 other training rows of >= 0 words" in out
