"""The results store: one SQLite table of evaluation runs, so evaluations resume and reports rebuild.

A run is identified by `RunKey` = (sha256 of the set file's bytes, learner name, protocol
hash, seed): the same set trained the same way with the same seed is never trained twice,
wherever the file lives. Everything else needed for a report (dataset, method, DPC, metric,
score, timing, versions, machine) is stored beside it. WAL mode lets a report read while an
evaluation writes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import platform
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dilm.errors import DilmError

DEFAULT_STORE = "results.sqlite"

COLUMNS = ("set_hash", "learner", "protocol", "seed", "dataset", "method", "dpc", "set_path", "metric",
           "score", "metric_values", "protocol_fields", "seconds", "created", "versions", "machine")
SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    set_hash TEXT NOT NULL,
    learner TEXT NOT NULL,
    protocol TEXT NOT NULL,
    seed INTEGER NOT NULL,
    dataset TEXT NOT NULL,
    method TEXT NOT NULL,
    dpc INTEGER NOT NULL,
    set_path TEXT NOT NULL,
    metric TEXT NOT NULL,
    score REAL NOT NULL,           -- headline metric, percent
    metric_values TEXT NOT NULL,   -- JSON {name: percent}
    protocol_fields TEXT NOT NULL, -- JSON of what the protocol hash covers
    seconds REAL NOT NULL,
    created TEXT NOT NULL,         -- UTC, ISO 8601
    versions TEXT NOT NULL,        -- JSON {torch, transformers, dilm}
    machine TEXT NOT NULL,         -- JSON {platform, python, device, threads}
    PRIMARY KEY (set_hash, learner, protocol, seed)
)"""


def file_hash(path: str | Path) -> str:
    """sha256 hex digest of a file's bytes: the identity of a set, wherever it is stored."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def protocol_fields(train_cfg: Any, **extra: Any) -> dict:
    """The fields a protocol hash covers: a TrainConfig dataclass plus extras (precision, max_length).

    The precision must be the resolved one: `auto` would pool bf16 and fp32 runs in one cell."""
    fields = {**dataclasses.asdict(train_cfg), **extra}
    if fields.get("precision") == "auto":
        raise ValueError("a protocol's precision must be resolved (bf16 or fp32), not 'auto'")
    return fields


def protocol_hash(train_cfg: Any, **extra: Any) -> str:
    """Short stable hash of the training protocol (16 hex characters)."""
    text = json.dumps(protocol_fields(train_cfg, **extra), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def versions() -> dict:
    import torch
    import transformers

    import dilm

    return {"torch": torch.__version__, "transformers": transformers.__version__, "dilm": dilm.__version__}


def machine() -> dict:
    import torch

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    return {"platform": platform.platform(), "python": platform.python_version(), "device": device,
            "threads": torch.get_num_threads()}


@dataclass(frozen=True)
class RunKey:
    set_hash: str
    learner: str
    protocol: str
    seed: int


@dataclass
class RunRecord:
    """One trained-and-scored learner run."""

    key: RunKey
    dataset: str
    method: str
    dpc: int
    set_path: str
    metric: str
    score: float  # percent
    metric_values: dict[str, float]
    protocol_fields: dict = field(default_factory=dict)
    seconds: float = 0.0
    created: str = ""
    versions: dict = field(default_factory=dict)
    machine: dict = field(default_factory=dict)

    def row(self) -> tuple:
        k = self.key
        created = self.created or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        return (k.set_hash, k.learner, k.protocol, k.seed, self.dataset, self.method, self.dpc, self.set_path,
                self.metric, self.score, json.dumps(self.metric_values), json.dumps(self.protocol_fields),
                self.seconds, created, json.dumps(self.versions), json.dumps(self.machine))

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> RunRecord:
        return cls(RunKey(row["set_hash"], row["learner"], row["protocol"], row["seed"]), row["dataset"],
                   row["method"], row["dpc"], row["set_path"], row["metric"], row["score"],
                   json.loads(row["metric_values"]), json.loads(row["protocol_fields"]), row["seconds"],
                   row["created"], json.loads(row["versions"]), json.loads(row["machine"]))


class ResultStore:
    """An embedded SQLite file of `RunRecord`s; insert-once by `RunKey`."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(self.path, timeout=120)  # several processes may write (WAL)
            self.db.row_factory = sqlite3.Row
            self._open()
        except sqlite3.DatabaseError as e:
            raise self.damaged(e) from None

    def _open(self) -> None:
        """WAL mode and the schema, after checking that the file is an intact store of runs."""
        for attempt in range(60):  # processes opening a new store at once: switching to WAL can
            try:  # fail with "locked" at once, without waiting for the busy timeout
                problems = [r[0] for r in self.db.execute("PRAGMA quick_check")]
                if problems != ["ok"]:
                    raise sqlite3.DatabaseError(f"damaged: {problems[0]}")
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute(SCHEMA)
                self.db.commit()
                break
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) or attempt == 59:
                    raise
                self.db.rollback()
                time.sleep(0.5)
        have = {r["name"] for r in self.db.execute("PRAGMA table_info(runs)")}
        if not set(COLUMNS) <= have:
            raise sqlite3.DatabaseError(f"its runs table lacks {', '.join(sorted(set(COLUMNS) - have))}")

    def damaged(self, e: Exception) -> DilmError:
        """The error for a store file that is not an intact dilm results store (it is left as it is)."""
        problem = (str(e).splitlines() or [type(e).__name__])[0]
        return DilmError(f"results store {self.path} cannot be used ({problem}); it is left unchanged: "
                         f"move it away (e.g. `mv {self.path} {self.path}.damaged`) and rerun, "
                         "or give another --store")

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.db.close()

    def has(self, key: RunKey) -> bool:
        sql = "SELECT 1 FROM runs WHERE set_hash=? AND learner=? AND protocol=? AND seed=?"
        try:
            return self.db.execute(sql, (key.set_hash, key.learner, key.protocol, key.seed)).fetchone() is not None
        except sqlite3.DatabaseError as e:
            raise self.damaged(e) from None

    def add(self, record: RunRecord) -> bool:
        """Insert a run; a run with the same key already stored is kept. Returns whether it was new."""
        try:
            with self.db:  # one transaction, committed on success
                cur = self.db.execute(f"INSERT OR IGNORE INTO runs ({', '.join(COLUMNS)}) "
                                      f"VALUES ({', '.join('?' * len(COLUMNS))})", record.row())
        except sqlite3.DatabaseError as e:
            raise self.damaged(e) from None
        return cur.rowcount == 1

    def query(self, **where: Any) -> list[RunRecord]:
        """Runs whose columns equal the given values (None = any), e.g. `query(dataset="sst2", dpc=5)`."""
        unknown = set(where) - set(COLUMNS)
        if unknown:
            raise ValueError(f"unknown store column(s): {', '.join(sorted(unknown))}")
        conds = {k: v for k, v in where.items() if v is not None}
        sql = "SELECT * FROM runs"
        if conds:
            sql += " WHERE " + " AND ".join(f"{k}=?" for k in conds)
        sql += " ORDER BY dataset, learner, method, dpc, set_path, seed"
        try:
            return [RunRecord.from_row(r) for r in self.db.execute(sql, tuple(conds.values()))]
        except (sqlite3.DatabaseError, ValueError, TypeError) as e:  # damaged file or stored JSON
            raise self.damaged(e) from None
