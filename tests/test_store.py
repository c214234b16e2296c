"""The SQLite results store: keys, insert-once, queries, persistence and WAL mode."""

from __future__ import annotations

import sqlite3

import pytest

from dilm.learner import TrainConfig
from dilm.store import ResultStore, RunKey, RunRecord, file_hash, protocol_hash


def record(seed: int = 0, method: str = "random", dpc: int = 5, score: float = 60.0, learner: str = "m",
           set_hash: str = "a" * 64) -> RunRecord:
    key = RunKey(set_hash, learner, protocol_hash(TrainConfig()), seed)
    return RunRecord(key, "sst2", method, dpc, "sets/dpc_5/set_0.jsonl", "accuracy", score,
                     {"accuracy": score, "f1": score - 1}, {"steps": 200}, 1.5,
                     versions={"dilm": "0.1.0"}, machine={"device": "cpu"})


def test_file_hash_is_sha256_of_bytes(tmp_path):
    path = tmp_path / "set.jsonl"
    path.write_bytes(b"abc")
    assert file_hash(path) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_protocol_hash_covers_every_field_and_extras():
    base = protocol_hash(TrainConfig())
    assert base == protocol_hash(TrainConfig()) and len(base) == 16
    assert protocol_hash(TrainConfig(steps=2)) != base
    assert protocol_hash(TrainConfig(weight_decay=0.0)) != base
    assert protocol_hash(TrainConfig(), precision="bf16") != protocol_hash(TrainConfig(), precision="fp32")


def test_unresolved_auto_precision_never_reaches_a_protocol_key():
    with pytest.raises(ValueError, match="resolved"):
        protocol_hash(TrainConfig(), precision="auto")


def test_add_inserts_once_and_round_trips(tmp_path):
    with ResultStore(tmp_path / "r.sqlite") as store:
        rec = record()
        assert not store.has(rec.key)
        assert store.add(rec) is True
        assert store.has(rec.key)
        assert store.add(record(score=99.0)) is False  # same key: the first run is kept
        (got,) = store.query()
        assert got.key == rec.key and got.score == 60.0
        assert got.metric_values == {"accuracy": 60.0, "f1": 59.0}
        assert got.versions == {"dilm": "0.1.0"} and got.machine == {"device": "cpu"}
        assert got.created.endswith("Z") and got.seconds == 1.5


def test_query_filters_and_persists(tmp_path):
    path = tmp_path / "r.sqlite"
    with ResultStore(path) as store:
        for seed in range(3):
            store.add(record(seed=seed))
        store.add(record(method="kcenters_mean", dpc=10, set_hash="b" * 64))
        store.add(record(learner="other"))
    with ResultStore(path) as store:  # reopened: everything is still there
        assert len(store.query()) == 5
        assert len(store.query(method="random", learner="m")) == 3
        assert [r.dpc for r in store.query(method="kcenters_mean")] == [10]
        assert len(store.query(dpc=5, method=None)) == 4
        with pytest.raises(ValueError, match="unknown store column"):
            store.query(colour="red")
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
