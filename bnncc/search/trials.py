"""The search's store: one row per finished trial (a cost prediction, a training, a measurement), keyed by a
hash of what decides its result, so a killed search resumes without redoing what finished. SQLite; one
transaction per trial; only the driver writes."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from pathlib import Path

from bnncc.errors import BnnccError

FORMAT = "bnncc-search"
VERSION = 1
SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE trials (
    key TEXT PRIMARY KEY, phase TEXT NOT NULL, name TEXT NOT NULL, inputs TEXT NOT NULL, result TEXT NOT NULL,
    wall_s REAL NOT NULL, finished_at REAL NOT NULL);
"""


def trial_key(phase: str, inputs: dict) -> str:
    return hashlib.sha256(json.dumps({"phase": phase, **inputs}, sort_keys=True).encode()).hexdigest()[:20]


def is_search_folder(folder: Path) -> bool:
    path = folder / "search.sqlite"
    if not path.is_file():
        return False
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
    except sqlite3.DatabaseError:
        return False
    return row is not None and row[0] == FORMAT


class TrialStore:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        new = not self.path.exists()
        try:
            self.conn = sqlite3.connect(self.path, isolation_level=None)
            if new:  # schema and meta in one transaction: a store is either whole or absent
                self.conn.executescript(f"BEGIN; {SCHEMA} INSERT INTO meta VALUES ('format', '{FORMAT}'); "
                                        f"INSERT INTO meta VALUES ('version', '{VERSION}'); COMMIT;")
            version = self.conn.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()
        except sqlite3.DatabaseError as e:
            raise BnnccError(f"{self.path}: not a bnncc search store ({e})") from None
        if version is None or int(version[0]) != VERSION:
            raise BnnccError(f"{self.path}: search store version {version and version[0]}; this bnncc reads {VERSION}")

    def get(self, key: str) -> dict | None:
        row = self.conn.execute("SELECT result FROM trials WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, key: str, phase: str, name: str, inputs: dict, result: dict, wall_s: float) -> None:
        with self.conn:
            self.conn.execute("BEGIN")
            self.conn.execute("INSERT OR REPLACE INTO trials VALUES (?, ?, ?, ?, ?, ?, ?)",
                              (key, phase, name, json.dumps(inputs, sort_keys=True), json.dumps(result, sort_keys=True),
                               float(wall_s), time.time()))

    def put_many(self, rows: list[tuple[str, str, str, dict, dict, float]]) -> None:
        """Several trials in one transaction (a depth's cost scan)."""
        with self.conn:
            self.conn.execute("BEGIN")
            self.conn.executemany("INSERT OR REPLACE INTO trials VALUES (?, ?, ?, ?, ?, ?, ?)",
                                  [(k, p, n, json.dumps(i, sort_keys=True), json.dumps(r, sort_keys=True), float(w),
                                    time.time()) for k, p, n, i, r, w in rows])

    def finished(self, phase: str | None = None) -> list[dict]:
        q = "SELECT key, phase, name, inputs, result, wall_s, finished_at FROM trials"
        rows = self.conn.execute(q + (" WHERE phase = ?" if phase else "") + " ORDER BY phase, name, key",
                                 (phase,) if phase else ()).fetchall()
        return [{"key": k, "phase": p, "name": n, "inputs": json.loads(i), "result": json.loads(r), "wall_s": w,
                 "finished_at": f} for k, p, n, i, r, w, f in rows]

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> TrialStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
