"""The cost store: every measurement calibration made, one row each, in SQLite (docs/cost-store.md).

A design is written in one transaction with all of its rows, so a killed run leaves each design either
wholly in the store or not at all, and a resumed run skips the designs already there. The file is in WAL
mode (readers never block the one writer) and carries its schema version in `PRAGMA user_version` and in
`meta`; a file that is not SQLite, or holds another schema or version, is refused before anything is
written. Only the process that opened the store writes it (with Ray, the driver).

`sqlite:///PATH` URLs are accepted as a plain path, so a shared store can be named the way SQLAlchemy-style
tools name it; other database URLs are refused with a clear error.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
import uuid
from collections.abc import Iterable
from pathlib import Path

import bnncc
from bnncc.calibrate.measure import Result, Row
from bnncc.errors import BnnccError, quote

SCHEMA = "bnncc-cost-store"
SCHEMA_VERSION = 1
DDL = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE runs (
    run_id TEXT PRIMARY KEY, started REAL NOT NULL, finished REAL, command TEXT NOT NULL, target TEXT NOT NULL,
    part TEXT NOT NULL, host TEXT NOT NULL, bnncc_version TEXT NOT NULL, status TEXT NOT NULL);
CREATE TABLE designs (
    design_key TEXT PRIMARY KEY, name TEXT NOT NULL, target TEXT NOT NULL, part TEXT NOT NULL,
    spec TEXT NOT NULL, settings TEXT NOT NULL, tools TEXT NOT NULL, features TEXT NOT NULL,
    run_id TEXT NOT NULL REFERENCES runs(run_id), measured_at REAL NOT NULL, wall_s REAL NOT NULL,
    load_avg REAL NOT NULL);
CREATE TABLE measurements (
    id INTEGER PRIMARY KEY, design_key TEXT NOT NULL REFERENCES designs(design_key), block TEXT NOT NULL,
    block_key TEXT, kind TEXT, params TEXT NOT NULL, source TEXT NOT NULL, tool TEXT NOT NULL, metric TEXT NOT NULL,
    seed INTEGER NOT NULL, value REAL NOT NULL, target TEXT NOT NULL, part TEXT NOT NULL,
    run_id TEXT NOT NULL REFERENCES runs(run_id), timestamp REAL NOT NULL,
    UNIQUE (design_key, block, source, metric, seed));
CREATE INDEX measurements_by_target ON measurements (target, part, source, metric);
CREATE INDEX measurements_by_block_key ON measurements (block_key);
"""


def path_of(store: str) -> Path:
    if "://" in store:
        if not store.startswith("sqlite:///"):
            raise BnnccError(f"--store {quote(store)}: only SQLite stores (a path or sqlite:///PATH) are supported")
        store = store[len("sqlite:///"):]
    return Path(store)


class Store:
    """An open cost store (a context manager). `Store(path)` opens it to write (creating it if absent);
    `Store(path, create=False)` opens an existing one to read and changes nothing in the file."""

    def __init__(self, store: str, create: bool = True) -> None:
        self.path = path_of(store)
        exists = self.path.is_file() and self.path.stat().st_size > 0
        if not exists and not create:
            raise BnnccError(f"--store {quote(str(self.path))}: no such cost store")
        if exists:
            with open(self.path, "rb") as f:
                if f.read(16) != b"SQLite format 3\x00":
                    raise BnnccError(f"--store {quote(str(self.path))}: not an SQLite file (refusing to touch it)")
        elif self.path.is_dir():
            raise BnnccError(f"--store {quote(str(self.path))}: is a directory")
        if not exists and not self.path.parent.is_dir():
            raise BnnccError(f"--store {quote(str(self.path))}: its folder {quote(str(self.path.parent))} does not "
                             "exist")
        try:
            self.db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            if exists:
                self._check()
            else:
                self._create()
            if create:  # a writer: WAL lets readers go on while it commits; a reader leaves the file as it is
                self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA foreign_keys=ON")
        except sqlite3.DatabaseError as e:
            raise BnnccError(f"--store {quote(str(self.path))}: {e}") from None

    def _check(self) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        tables = {r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        meta = dict(self.db.execute("SELECT key, value FROM meta")) if "meta" in tables else {}
        if meta.get("schema") != SCHEMA:
            raise BnnccError(f"--store {quote(str(self.path))}: an SQLite file but not a bnncc cost store")
        if version != SCHEMA_VERSION or meta.get("schema_version") != str(SCHEMA_VERSION):
            raise BnnccError(f"--store {quote(str(self.path))}: cost-store schema version {version}, this bnncc reads "
                             f"version {SCHEMA_VERSION} (see docs/cost-store.md)")

    def _create(self) -> None:
        with self.transaction():
            for statement in DDL.split(";"):  # executescript would commit the open transaction first
                if statement.strip():
                    self.db.execute(statement)
            self.db.executemany("INSERT INTO meta VALUES (?, ?)", [
                ("schema", SCHEMA), ("schema_version", str(SCHEMA_VERSION)),
                ("created", _now()), ("created_by", f"bnncc {bnncc.__version__}")])
            self.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def transaction(self):
        return _Transaction(self.db)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- writing -----------------------------------------------------------------------------------
    def start_run(self, command: str, target: str, part: str) -> str:
        run_id = uuid.uuid4().hex[:16]
        with self.transaction():
            self.db.execute("INSERT INTO runs VALUES (?, ?, NULL, ?, ?, ?, ?, ?, 'running')",
                            (run_id, time.time(), command, target, part, socket.gethostname(), bnncc.__version__))
        return run_id

    def finish_run(self, run_id: str, status: str) -> None:
        with self.transaction():
            self.db.execute("UPDATE runs SET finished = ?, status = ? WHERE run_id = ?", (time.time(), status, run_id))

    def add_design(self, key: str, name: str, target: str, part: str, spec: dict, settings: dict, tools: dict,
                   result: Result, run_id: str) -> int:
        """A design and all of its rows, in one transaction; returns the rows written (0 if it was there)."""
        now = time.time()
        with self.transaction():
            if self.db.execute("SELECT 1 FROM designs WHERE design_key = ?", (key,)).fetchone():
                return 0
            self.db.execute("INSERT INTO designs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            (key, name, target, part, _json(spec), _json(settings), _json(tools),
                             _json(result.features), run_id, now, result.wall_s, result.load_avg))
            self.db.executemany(
                "INSERT INTO measurements (design_key, block, block_key, kind, params, source, tool, metric, seed, "
                "value, target, part, run_id, timestamp) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(key, r.block, r.block_key, r.kind, _json(r.params), r.source, r.tool, r.metric, r.seed,
                  float(r.value), target, part, run_id, now) for r in result.rows])
        return len(result.rows)

    # -- reading -----------------------------------------------------------------------------------
    def design_keys(self) -> set[str]:
        return {r[0] for r in self.db.execute("SELECT design_key FROM designs")}

    def designs(self, target: str | None = None) -> list[dict]:
        sql = "SELECT design_key, name, target, part, spec, settings, tools, features, wall_s, measured_at FROM designs"
        args: tuple = ()
        if target:
            sql, args = sql + " WHERE target = ?", (target,)
        out = []
        for key, name, tgt, part, spec, settings, tools, features, wall, at in self.db.execute(
                sql + " ORDER BY design_key", args):  # key order: the same rows, the same fit
            out.append({"design_key": key, "name": name, "target": tgt, "part": part, "spec": json.loads(spec),
                        "settings": json.loads(settings), "tools": json.loads(tools),
                        "features": json.loads(features), "wall_s": wall, "measured_at": at})
        return out

    def rows(self, **where: str) -> list[dict]:
        """Measurement rows, filtered by column values (target=, part=, source=, metric=, design_key=)."""
        allowed = {"target", "part", "source", "metric", "design_key", "kind", "block"}
        if set(where) - allowed:
            raise ValueError(f"unknown columns {sorted(set(where) - allowed)}")
        clause = " AND ".join(f"{k} = ?" for k in where)
        sql = ("SELECT design_key, block, block_key, kind, params, source, tool, metric, seed, value, target, part, "
               "run_id, timestamp FROM measurements" + (f" WHERE {clause}" if clause else "") + " ORDER BY id")
        cols = ("design_key", "block", "block_key", "kind", "params", "source", "tool", "metric", "seed", "value",
                "target", "part", "run_id", "timestamp")
        out = []
        for r in self.db.execute(sql, tuple(where.values())):
            row = dict(zip(cols, r, strict=True))
            row["params"] = json.loads(row["params"])
            out.append(row)
        return out

    def counts(self) -> dict[str, int]:
        return {"designs": self.db.execute("SELECT COUNT(*) FROM designs").fetchone()[0],
                "measurements": self.db.execute("SELECT COUNT(*) FROM measurements").fetchone()[0]}


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any exception (KeyboardInterrupt included)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, exc_type, *exc) -> None:
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")


def _json(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def add_rows(store: Store, key: str, name: str, target: str, part: str, spec: dict, rows: Iterable[Row],
             run_id: str, tools: dict) -> int:
    """Rows that were not measured by `measure` (ingested vendor reports) as one design."""
    return store.add_design(key, name, target, part, spec, {}, tools, Result(list(rows), {}, 0.0, os.getloadavg()[0]),
                            run_id)
