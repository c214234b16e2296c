"""No writing command (run, generate, coreset) replaces a set file that another method or run wrote;
the same command again still resumes or skips."""

from __future__ import annotations

import json

from conftest import fails, snapshot

from dilm.cli import main
from dilm.owners import recorded_writer
from dilm.sets import describe_set


def coreset(data_dir, *extra: str) -> list[str]:
    return ["coreset", "--method", "random", "--dataset", str(data_dir), "--dpc", "2", *extra]


def test_coreset_beside_a_run_gets_its_own_folder_and_never_replaces_the_run_sets(
        tiny_run_args, tiny_data_dir, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", *tiny_run_args]) == 0
    generated = out / "sets" / "dpc_2" / "set_0.jsonl"
    before = snapshot(out / "sets")
    assert recorded_writer(generated).method == "dilm"

    # the README's flow: --out of the run folder files the coreset under sets/<label>/
    assert main(coreset(tiny_data_dir, "--out", str(out))) == 0
    assert {k: v for k, v in snapshot(out / "sets").items() if not k.startswith("random/")} == before
    mine = out / "sets" / "random" / "dpc_2" / "set_0.jsonl"
    assert describe_set(mine).method == "random" and describe_set(generated).method == "dilm"

    # aimed at the run's own sets folder: refused, nothing changes
    line = fails(coreset(tiny_data_dir, "--sets-dir", str(out / "sets")), capsys)
    assert f"{generated} belongs to sets written by the method 'dilm'" in line
    assert "--label or --sets-dir" in line
    assert {k: v for k, v in snapshot(out / "sets").items() if not k.startswith("random/")} == before

    # another run of the same method (another seed) is refused too; the same command again is not
    mine_before = mine.read_bytes()
    line = fails(coreset(tiny_data_dir, "--out", str(out), "seed=1"), capsys)
    assert "another 'random' run (other seed, data or features)" in line and mine.read_bytes() == mine_before
    assert main(coreset(tiny_data_dir, "--out", str(out), "--num-sets", "2")) == 0
    assert mine.read_bytes() == mine_before
    # another label is another folder
    assert main(coreset(tiny_data_dir, "--out", str(out), "seed=1", "--label", "random_s1")) == 0


def test_generate_refuses_sets_of_another_method_or_generation(tiny_run_args, tiny_data_dir, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", *tiny_run_args, "stages=[pretrain]"]) == 0
    # a coreset filed in the run's generated-sets folder (an old layout, or --sets-dir)
    assert main(coreset(tiny_data_dir, "--sets-dir", str(out / "sets"))) == 0
    before = snapshot(out / "sets")
    line = fails(["generate", *tiny_run_args], capsys)
    assert f"{out / 'sets' / 'dpc_2' / 'set_0.jsonl'} belongs to sets written by the method 'random'" in line
    assert snapshot(out / "sets") == before
    line = fails(["generate", *tiny_run_args, "--overwrite"], capsys)  # not even with --overwrite
    assert "the method 'random'" in line and "move those sets away" in line
    assert snapshot(out / "sets") == before

    # generated sets are not replaced by a generation with other settings, unless --overwrite
    other = tmp_path / "other"
    gen = ["generate", *tiny_run_args, f"out_dir={other}", "--generator", str(out / "generator_pretrained")]
    assert main(gen) == 0
    capsys.readouterr()
    generated = snapshot(other / "sets")
    first = recorded_writer(other / "sets" / "dpc_2" / "set_0.jsonl")
    assert main([*gen, "--num-sets", "2"]) == 0  # more sets of the same generation: fine
    assert all(snapshot(other / "sets")[k] == v for k, v in generated.items() if k.endswith(".jsonl"))
    line = fails([*gen, "generate.top_p=0.5"], capsys)
    assert "belongs to sets written by another 'dilm' run (other settings or generator)" in line
    assert "--overwrite" in line
    assert main([*gen, "generate.top_p=0.5", "--overwrite"]) == 0
    assert recorded_writer(other / "sets" / "dpc_2" / "set_0.jsonl") not in (first, None)


def test_run_refuses_before_training_when_another_method_holds_its_sets(tiny_run_args, tiny_data_dir, tmp_path,
                                                                         capsys):
    out = tmp_path / "run"
    assert main(coreset(tiny_data_dir, "--sets-dir", str(out / "sets"), "--label", "kcenters")) == 0
    before = snapshot(out)
    line = fails(["run", *tiny_run_args], capsys)
    assert "belongs to sets written by the method 'kcenters'" in line
    assert not (out / "generator_pretrained").exists()  # refused before any training
    assert {k: v for k, v in snapshot(out).items() if k != "config.yaml"} == before


def test_a_rerun_of_the_same_run_skips_its_sets_and_old_manifests_still_count(tiny_run_args, tmp_path, caplog):
    """Tags written before set ownership (generate.num_sets counted) are still this run's sets."""
    from dilm.config import load_config
    from dilm.pipeline import fingerprint

    out = tmp_path / "run"
    assert main(["run", *tiny_run_args]) == 0
    manifest = out / "sets" / "manifest.json"
    cfg = load_config(None, tiny_run_args)
    legacy = fingerprint(cfg, "generate", str(out / "generator_distilled"), legacy=True)
    manifest.write_text(json.dumps({k: legacy for k in json.loads(manifest.read_text())}))
    before = snapshot(out / "sets")
    caplog.set_level("INFO")
    assert main(["generate", *tiny_run_args]) == 0
    assert "already written with this configuration" in caplog.text
    assert snapshot(out / "sets") == before
