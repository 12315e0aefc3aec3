"""The calibration store: one SQLite file in the user's data directory (platformdirs'
``user_data_dir("traintime")``, or ``$TRAINTIME_DATA_DIR``), holding every ``traintime
calibrate`` run: the device key, the raw measurements, the model probes and the fit.

Estimates only read it, read-only, and only when the file exists. A file that is not SQLite,
or SQLite without this store's marker, is refused with one line and never written to.
"""

from __future__ import annotations

import json
import os
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from traintime.catalog._files import read_json
from traintime.errors import DataError
from traintime.measured import CalibrationRecord
from traintime.specs import DeviceCalibration

#: Marker row in the ``meta`` table: what makes a SQLite file this store.
SCHEMA = "traintime-calibration"
VERSION = 1
FILE_NAME = "calibrations.sqlite"
ENV = "TRAINTIME_DATA_DIR"

_TABLES = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE calibrations (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL,
    gpu TEXT NOT NULL,
    created TEXT NOT NULL,
    record TEXT NOT NULL,
    UNIQUE (key, created)
);
CREATE INDEX calibrations_gpu ON calibrations (gpu, created);
"""


def store_path() -> Path:
    """Where the store lives: ``$TRAINTIME_DATA_DIR/calibrations.sqlite``, else the
    platform's user data directory."""
    base = os.environ.get(ENV)
    if not base:
        import platformdirs

        base = platformdirs.user_data_dir("traintime", appauthor=False)
    return Path(base).expanduser() / FILE_NAME


def _refuse(path: Path, why: str) -> DataError:
    return DataError(
        f"calibration store {str(path)!r} {why}; it was left untouched: move it away, or set "
        f"{ENV} to another directory"
    )


def _check(conn: sqlite3.Connection, path: Path) -> None:
    """Refuse a file that is not this store (foreign SQLite, a newer version)."""
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.DatabaseError:
        raise _refuse(path, "is not an SQLite database") from None
    if "meta" not in tables:
        listed = ", ".join(sorted(tables)) or "none"
        raise _refuse(path, f"is not a traintime calibration store (its tables: {listed})")
    meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    if meta.get("schema") != SCHEMA:
        raise _refuse(path, "is not a traintime calibration store (no schema marker)")
    if int(meta.get("version", 0)) > VERSION:
        raise _refuse(path, f"was written by a newer traintime (store version {meta['version']})")


def _open(path: Path, *, write: bool) -> sqlite3.Connection:
    if not write:
        return sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    fresh = not path.exists()
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    if fresh:
        with conn:
            conn.executescript(_TABLES)
            conn.executemany(
                "INSERT INTO meta VALUES (?, ?)", [("schema", SCHEMA), ("version", str(VERSION))]
            )
    return conn


def _connect(*, write: bool) -> sqlite3.Connection | None:
    """An open, checked store; None when reading and there is none."""
    path = store_path()
    if not write and not path.is_file():
        return None
    if path.exists() and not path.is_file():
        raise _refuse(path, "is not a file")
    try:
        conn = _open(path, write=write)
        _check(conn, path)
    except sqlite3.Error as exc:
        raise _refuse(path, f"cannot be used ({exc})") from None
    return conn


def _record(text: str, path: Path) -> CalibrationRecord:
    try:
        return CalibrationRecord.model_validate_json(text)
    except ValidationError as exc:
        why = exc.errors()[0]["msg"]
        raise _refuse(path, f"holds a record this traintime cannot read ({why})") from None


def save(record: CalibrationRecord) -> Path:
    """Store one calibration run; returns the store's path."""
    conn = _connect(write=True)
    assert conn is not None
    with closing(conn), conn:
        conn.execute(
            "INSERT OR REPLACE INTO calibrations (key, gpu, created, record) VALUES (?, ?, ?, ?)",
            (record.fit.key, record.fit.gpu, record.fit.created, record.model_dump_json()),
        )
    return store_path()


def records(gpu: str | None = None) -> list[CalibrationRecord]:
    """Every stored run (of catalog device ``gpu``), oldest first."""
    conn = _connect(write=False)
    if conn is None:
        return []
    query, args = "SELECT record FROM calibrations", ()
    if gpu is not None:
        query, args = query + " WHERE gpu = ?", (gpu,)
    with closing(conn):
        rows = conn.execute(query + " ORDER BY created, id", args).fetchall()
    return [_record(r[0], store_path()) for r in rows]


def calibration_for(gpu: str) -> DeviceCalibration | None:
    """The newest calibration of catalog device ``gpu``, None when there is none."""
    conn = _connect(write=False)
    if conn is None:
        return None
    with closing(conn):
        row = conn.execute(
            "SELECT record FROM calibrations WHERE gpu = ? ORDER BY created DESC, id DESC LIMIT 1",
            (gpu,),
        ).fetchone()
    return _record(row[0], store_path()).fit if row else None


def reset(gpu: str | None = None) -> int:
    """Delete the stored runs (of ``gpu``); returns how many."""
    conn = _connect(write=False)
    if conn is None:
        return 0
    conn.close()
    conn = _connect(write=True)
    assert conn is not None
    with closing(conn), conn:
        if gpu is None:
            return conn.execute("DELETE FROM calibrations").rowcount
        return conn.execute("DELETE FROM calibrations WHERE gpu = ?", (gpu,)).rowcount


def export_json(path: Path, gpu: str | None = None) -> int:
    """Write the stored runs (of ``gpu``) to a JSON file a team can share; returns how many."""
    runs = records(gpu)
    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "version": VERSION,
        "calibrations": [json.loads(r.model_dump_json()) for r in runs],
    }
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(json.dumps(doc, indent=1) + "\n")
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise DataError(f"cannot write {str(path)!r}: {exc.strerror or exc}") from None
    return len(runs)


def import_json(path: Path) -> int:
    """Add the runs of an exported file to the store (a run already stored is kept once);
    returns how many the file held."""
    doc = read_json(path, what="calibration file")
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise DataError(f"calibration file {str(path)!r} is not a traintime calibration export")
    if not isinstance(doc.get("version"), int) or doc["version"] > VERSION:
        raise DataError(
            f"calibration file {str(path)!r} has version {doc.get('version')!r}; "
            f"this traintime reads version {VERSION}"
        )
    runs = doc.get("calibrations")
    if not isinstance(runs, list):
        raise DataError(f"calibration file {str(path)!r} has no 'calibrations' list")
    parsed = []
    for i, run in enumerate(runs):
        try:
            parsed.append(CalibrationRecord.model_validate(run))
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            raise DataError(
                f"calibration file {str(path)!r}, run {i}: {where}: {err['msg']}"
            ) from None
    for run in parsed:
        save(run)
    return len(parsed)
