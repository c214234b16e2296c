"""`report`: tables and JSON from a store built here, the plot, examples and the memorisation check."""

from __future__ import annotations

import json
import logging
import sys

import pytest
import torch

from dilm.cli import main
from dilm.learner import TrainConfig
from dilm.metrics import welch
from dilm.report import markdown_table, nearest, results_table, scaling_plot
from dilm.store import ResultStore, RunKey, RunRecord, file_hash, protocol_hash

SCORES = {  # method -> dpc -> scores of its runs
    "kcenters": {5: [60.0, 61.0, 62.0], 10: [70.0, 71.0, 69.0]},
    "random": {5: [59.0, 61.0, 63.0], 10: [80.0, 81.0, 79.5]},
    "dilm": {5: [65.0], 10: [75.0, 76.0, 74.0]},
}
GENERATED = [("a great and moving film", 1),  # verbatim copy of a training row (planted)
             ("A  GREAT and moving   film", 1),  # the same after normalise()
             ("a sharp and lovely story", 1), ("a loud and tedious mess", 0), ("stupid flat plot", 0)]


def records(tmp_path) -> list[RunRecord]:
    out = []
    for method, by_dpc in SCORES.items():
        for dpc, values in by_dpc.items():
            path = tmp_path / "sets" / "tiny_sst" / method / f"dpc_{dpc}" / "set_0.jsonl"
            path.parent.mkdir(parents=True, exist_ok=True)
            rows = [{"sentence": t, "label": y, "label_name": ["negative", "positive"][y]} for t, y in GENERATED]
            if method != "dilm":
                rows = rows[2:]
            rows.append({"sentence": f"{method} {dpc}", "label": 0})
            path.write_text("".join(json.dumps(r) + "\n" for r in rows))
            for seed, score in enumerate(values):
                key = RunKey(file_hash(path), "tiny", protocol_hash(TrainConfig(steps=2)), seed)
                out.append(RunRecord(key, "tiny_sst", method, dpc, str(path), "accuracy", score, {"accuracy": score}))
    return out


@pytest.fixture()
def store(tmp_path):
    path = tmp_path / "results.sqlite"
    with ResultStore(path) as s:
        for r in records(tmp_path):
            s.add(r)
    return path


def test_results_table_numbers_and_p_values(tmp_path):
    table = results_table(records(tmp_path))
    assert list(table) == ["random", "kcenters", "dilm"]  # report order
    cell = table["random"][5]
    assert (cell["mean"], cell["std"], cell["n"]) == (61.0, 2.0, 3)  # squares 4+0+4, / 2
    assert cell["p_vs_kcenters"] == pytest.approx(welch([59.0, 61.0, 63.0], [60.0, 61.0, 62.0]))
    assert table["kcenters"][5]["p_vs_kcenters"] is None
    assert table["dilm"][5]["std"] is None and table["dilm"][5]["p_vs_kcenters"] is None  # one run
    assert table["random"][10]["p_vs_kcenters"] < 0.05


def test_markdown_table_rows_and_marker(tmp_path):
    text = markdown_table(results_table(records(tmp_path)))
    lines = text.splitlines()
    assert lines[0] == "| method | DPC 5 | DPC 10 |" and lines[1] == "|---|---|---|"
    assert lines[2] == "| random | 61.0 ± 2.0 (3) | 80.2 ± 0.8 (3)* |"
    assert lines[3] == "| kcenters | 61.0 ± 1.0 (3) | 70.0 ± 1.0 (3) |"
    assert lines[4].startswith("| dilm | 65.0 ± – (1) | 75.0 ± 1.0 (3)*")


def test_nearest_by_hand():
    keys = torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    queries = torch.tensor([[3.0, 0.1], [0.0, -1.0], [2.0, 2.0]])
    sim, idx = nearest(queries, keys, chunk=2)  # chunks must not change the answer
    assert idx.tolist() == [0, 0, 2]
    assert sim[2] == pytest.approx(1.0) and sim[1] == pytest.approx(0.0, abs=1e-6)
    assert sim[0] == pytest.approx(3.0 / (9.01 ** 0.5))


def test_plot_skipped_without_matplotlib(tmp_path, monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import fails
    with caplog.at_level(logging.INFO):
        assert scaling_plot(results_table(records(tmp_path)), tmp_path / "p.png", "t") is False
    assert "matplotlib is not installed" in caplog.text and not (tmp_path / "p.png").exists()


def test_report_from_store_with_memorisation(store, tiny_data_dir, tiny_learner_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DILM_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "report"
    assert main(["report", "--store", str(store), "--out", str(out), "--dataset", str(tiny_data_dir),
                 f"model.learner={tiny_learner_dir}", "precision=fp32", "model.max_length=16",
                 "--examples-per-class", "2"]) == 0
    printed = capsys.readouterr().out.split()
    assert str(out / "report.md") in printed

    table = json.loads((out / "tiny_sst_tiny.json").read_text())
    assert set(table) == {"random", "kcenters", "dilm"}
    assert set(table["random"]) == {"5", "10"}
    assert set(table["random"]["5"]) == {"mean", "std", "n", "p_vs_kcenters"}
    assert table["dilm"]["5"]["std"] is None

    report = (out / "report.md").read_text()
    rows = [line for line in report.splitlines() if line.startswith("| ")]
    assert "| random | 61.0 ± 2.0 (3) | 80.2 ± 0.8 (3)* |" in rows
    # tiny validation: 8 negative + 8 positive rows; a tie goes to the lower class
    assert ("Reference: always predicting the most frequent class of the scored rows ('negative', 50.0% of 16) "
            "scores 50.0 (accuracy).") in report
    assert (out / "tiny_sst_tiny_scaling.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    examples = (out / "examples.md").read_text()
    assert "a sharp and lovely story" in examples and "### 0: negative" in examples

    # memorisation: only the generated (dilm) sets; the planted copy and its re-spaced twin are exact
    summary = json.loads((out / "memorisation.json").read_text())
    assert {s["method"] for s in summary} == {"dilm"} and len(summary) == 2
    for s in summary:
        assert s["texts"] == 6 and s["exact"] == 2 and s["near"] >= 2
    detail = [json.loads(line) for line in (out / "memorisation.jsonl").read_text().splitlines()]
    planted = [d for d in detail if d["text"] == ["a great and moving film"]]
    assert planted and all(d["exact"] and d["nearest"] == ["a great and moving film"] for d in planted)
    assert all(d["similarity"] == pytest.approx(1.0, abs=1e-3) for d in planted)
    assert "## Memorisation" in report and "| 6 | 2 |" in report


def test_report_errors(tmp_path, capsys):
    assert main(["report", "--store", str(tmp_path / "none.sqlite"), "--out", str(tmp_path / "r")]) == 2
    assert "results store not found" in capsys.readouterr().err
    ResultStore(tmp_path / "empty.sqlite").close()
    assert main(["report", "--store", str(tmp_path / "empty.sqlite"), "--out", str(tmp_path / "r")]) == 2
    assert "holds no runs" in capsys.readouterr().err


def test_scaling_plot_ticks_at_the_dpcs_and_legend_beside_the_axes():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from dilm.report import draw_scaling

    cell = lambda m: {"mean": m, "ci95": 1.0}  # noqa: E731
    table = {"random": {5: cell(60), 10: cell(64), 20: cell(70)}, "dilm": {5: cell(72), 20: cell(80)},
             "full": {0: cell(86)}}
    fig = draw_scaling(plt, table, "t")
    ax = fig.axes[0]
    fig.canvas.draw()
    assert [t.get_text() for t in ax.get_xticklabels()] == ["5", "10", "20"]
    assert not any(t.get_text() for t in ax.get_xticklabels(minor=True))
    legend = ax.get_legend().get_window_extent()
    assert legend.x0 >= ax.get_window_extent().x1  # the legend starts right of the plotting area
    plt.close(fig)
