"""The kiosk's local store: one SQLite file (standard ``sqlite3``).

Tables:

- ``employees`` — the server's employee table as this kiosk last received it: id, name, timekeeper id, the face
  encoding exactly as the server sent it (JSON text of 128 numbers, ``NULL`` for no face) and its
  ``face_registered_at`` (Unix ms).
- ``outbox`` — at most one pending operation per employee: ``register`` (an encoding and its registration time) or
  ``clear`` (the time the operator cleared the face), with its ``Idempotency-Key``, attempt count and the earliest time
  of the next attempt (exponential backoff, ``Retry-After``). It survives restarts.
- ``meta`` — the saved cursor, the last acknowledged cursor, times of the last syncs, the end of a ``Retry-After``
  window of the outbox.
- ``temp.staging`` — the rows of a full sync in progress: a ``TEMP`` table, private to the connection that runs the
  full sync (not in the file), swapped in for ``employees`` in one transaction at its end. (Schema 1 kept a shared
  ``staging`` table in the file; opening such a file drops it.)

What the kiosk shows and matches against is the view ``local_employees``: the server's row with the pending outbox
operation laid over it (a pending registration's face, or no face for a pending clear). Dropping an outbox item — sent,
superseded or refused — therefore falls back to the server's state by itself.

Each delta page is applied in one transaction (its rows and the new cursor together), so a crash leaves the store at a
page boundary that matches the saved cursor, and the next sync resumes from there. A full sync is different: its pages
collect in the connection's staging table and reach the file only in its last transaction, so one that breaks off
(offline, a crash) leaves the old table and cursor untouched, and the next full sync starts over from its first page.

Several processes may use the same file (the kiosk app and the support command line): SQLite serialises their writes
(WAL, a busy timeout), and because each full sync stages into its own connection's table, two full syncs running at
once cannot mix their pages — each installs the complete table it read, with the cursor that goes with it.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

from .codec import Encoding, EncodingError, encoding_from_text, format_time_ms, optional_time_ms

log = logging.getLogger("faceid_kiosk")

#: 2: the full sync's ``staging`` table is a per-connection TEMP table (schema 1 had a shared one in the file).
SCHEMA_VERSION = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT
);
CREATE TABLE IF NOT EXISTS employees (
    id               INTEGER PRIMARY KEY,
    name             TEXT,
    timekeeper_id    TEXT,
    encoding         TEXT,
    registered_at_ms INTEGER
);
CREATE TABLE IF NOT EXISTS outbox (
    employee_id     INTEGER PRIMARY KEY,
    op              TEXT NOT NULL CHECK (op IN ('register', 'clear')),
    encoding        TEXT,
    at_ms           INTEGER NOT NULL,
    idempotency_key TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    created_ms      INTEGER NOT NULL
);
CREATE VIEW IF NOT EXISTS local_employees AS
SELECT e.id AS id,
       e.name AS name,
       e.timekeeper_id AS timekeeper_id,
       CASE o.op WHEN 'register' THEN o.encoding WHEN 'clear' THEN NULL ELSE e.encoding END AS encoding,
       CASE o.op WHEN 'register' THEN o.at_ms WHEN 'clear' THEN NULL ELSE e.registered_at_ms END AS registered_at_ms,
       o.op AS pending
FROM employees e LEFT JOIN outbox o ON o.employee_id = e.id;
"""

#: Migrations from the schema version in the file (``PRAGMA user_version``) to the next one.
_MIGRATIONS = {
    1: "DROP TABLE IF EXISTS main.staging;",  # the shared staging table: two processes' full syncs mixed their pages
}

#: A full sync's pages, private to this connection (another process's full sync has its own).
_STAGING = """
CREATE TEMP TABLE IF NOT EXISTS staging (
    id               INTEGER PRIMARY KEY,
    name             TEXT,
    timekeeper_id    TEXT,
    encoding         TEXT,
    registered_at_ms INTEGER
)
"""

# meta keys
CURSOR = "cursor"
ACKED_CURSOR = "acked_cursor"
FULL_SYNC_CURSOR = "full_sync_cursor"
FULL_SYNC_AT = "full_sync_at_ms"
LAST_SYNC_AT = "last_sync_at_ms"
LAST_SYNC_MODE = "last_sync_mode"
DEVICE_ID = "device_id"
#: Unix ms before which the outbox sends nothing: the server answered 429 with this ``Retry-After``.
RATE_LIMITED_UNTIL = "rate_limited_until_ms"


@dataclass
class LocalEmployee:
    """One row of the kiosk's table as it shows it (the server's row with a pending local operation laid over it).

    ``encoding`` is left out of ``repr`` so that logging an employee never logs a face."""

    id: int
    name: Optional[str]
    timekeeper_id: Optional[str]
    registered_at_ms: Optional[int]
    pending: Optional[str]
    encoding: Optional[Encoding] = field(default=None, repr=False)

    @property
    def has_face(self) -> bool:
        return self.encoding is not None

    @property
    def registered_at(self) -> Optional[str]:
        return None if self.registered_at_ms is None else format_time_ms(self.registered_at_ms)


@dataclass
class OutboxItem:
    """A pending upload (``register``) or delete (``clear``) of one employee's face."""

    employee_id: int
    op: str
    at_ms: int
    idempotency_key: str
    attempts: int
    next_attempt_ms: int
    last_error: Optional[str]
    created_ms: int
    encoding_text: Optional[str] = field(default=None, repr=False)


@dataclass
class PageStats:
    """What applying one feed page did locally."""

    upserts: int = 0
    deletes: int = 0
    outbox_dropped: List[Tuple[int, str]] = field(default_factory=list)


class LocalStore:
    """The SQLite file. Thread-safe (one connection behind a lock); other processes may open the same file (WAL) and
    sync it too (see the module's notes)."""

    def __init__(self, path: str) -> None:
        self.path = path
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10.0)
        self._db.row_factory = sqlite3.Row
        self._writes = 0
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA busy_timeout=10000")
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise RuntimeError(f"{path} was written by a newer faceid-kiosk (schema {version})")
            if version < SCHEMA_VERSION:
                steps = "".join(_MIGRATIONS[v] for v in range(max(version, 1), SCHEMA_VERSION))
                # One transaction: a process that opens the file at the same time sees the old schema or the new one.
                self._db.executescript(
                    f"BEGIN IMMEDIATE; {_SCHEMA} {steps} PRAGMA user_version={SCHEMA_VERSION}; COMMIT;"
                )

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # MARK: transactions and meta

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` … ``COMMIT``; ``ROLLBACK`` on any exception, a failed ``COMMIT`` included (a busy
        database, a full disk), so that the connection never stays inside a transaction."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    try:
                        self._db.execute("ROLLBACK")
                    except sqlite3.Error as error:  # keep the original exception
                        log.error("rollback failed (%s)", type(error).__name__)
                raise
            self._writes += 1

    def get_meta(self, key: str) -> Optional[str]:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
            return None if row is None else row[0]

    def set_meta(self, key: str, value: Optional[str]) -> None:
        with self.transaction() as db:
            _set_meta(db, key, value)

    @property
    def cursor(self) -> Optional[str]:
        """The saved feed position (``None``: a full sync is needed)."""
        return self.get_meta(CURSOR)

    def version(self) -> Tuple[int, int]:
        """Changes whenever the table or the outbox may have changed (this connection's or another process's commits):
        a cache key for :mod:`faceid_kiosk.match`."""
        with self._lock:
            return (self._writes, self._db.execute("PRAGMA data_version").fetchone()[0])

    # MARK: applying the feed

    def apply_delta_page(self, changes: Sequence[Mapping[str, Any]], next_cursor: str) -> PageStats:
        """Apply one delta page to the table, reconcile the outbox with it and save ``next_cursor``: one transaction."""
        with self.transaction() as db:
            stats = _apply(db, "employees", changes, _load_outbox(db))
            _set_meta(db, CURSOR, next_cursor)
        return stats

    def begin_full_sync(self) -> None:
        """Start a full sync: an empty staging table of this connection's own (a full sync of this connection that
        broke off earlier may have left rows there; another process's full sync is not touched)."""
        with self.transaction() as db:
            db.execute(_STAGING)
            db.execute("DELETE FROM temp.staging")

    def stage_page(self, changes: Sequence[Mapping[str, Any]]) -> PageStats:
        """Apply one page of a full sync to this connection's staging table — one transaction."""
        with self.transaction() as db:
            return _apply(db, "temp.staging", changes, None)

    def finish_full_sync(self, cursor: str, now_ms: int) -> List[Tuple[int, str]]:
        """Swap the staged table in for the old one, save ``cursor``, and reconcile the outbox with the new table (an
        item of an employee no longer listed is dropped) — one transaction. Returns the dropped items."""
        with self.transaction() as db:
            db.execute("DELETE FROM employees")
            db.execute(
                "INSERT INTO employees (id, name, timekeeper_id, encoding, registered_at_ms) "
                "SELECT id, name, timekeeper_id, encoding, registered_at_ms FROM temp.staging"
            )
            db.execute("DROP TABLE temp.staging")
            dropped: List[Tuple[int, str]] = []
            for item in _load_outbox(db).values():
                row = db.execute(
                    "SELECT registered_at_ms, encoding IS NOT NULL FROM employees WHERE id = ?", (item.employee_id,)
                ).fetchone()
                if row is None:
                    reason = "employee_gone"
                else:
                    reason = _superseded(item, row[0], has_face=bool(row[1])) or ""
                if reason:
                    db.execute("DELETE FROM outbox WHERE employee_id = ?", (item.employee_id,))
                    dropped.append((item.employee_id, reason))
            _set_meta(db, CURSOR, cursor)
            _set_meta(db, FULL_SYNC_CURSOR, cursor)
            _set_meta(db, FULL_SYNC_AT, str(now_ms))
        return dropped

    # MARK: the outbox

    def queue(self, employee_id: int, op: str, at_ms: int, encoding_text: Optional[str], now_ms: int) -> OutboxItem:
        """Record a local registration or clear. It replaces any pending operation of the same employee (the last one
        the operator made is the one that counts), with a fresh ``Idempotency-Key``. An employee this kiosk has not
        received yet gets a placeholder row (no name) until the next sync brings it. Its first attempt is due at once,
        or at the end of an active ``Retry-After`` window (:meth:`hold_outbox`)."""
        if op not in ("register", "clear"):
            raise ValueError("op must be 'register' or 'clear'")
        key = str(uuid.uuid4())
        with self.transaction() as db:
            until = _meta_int(db, RATE_LIMITED_UNTIL)
            next_attempt = until if until > int(now_ms) else 0
            db.execute(
                "INSERT OR IGNORE INTO employees (id, name, timekeeper_id, encoding, registered_at_ms) "
                "VALUES (?, NULL, NULL, NULL, NULL)",
                (int(employee_id),),
            )
            db.execute(
                "INSERT OR REPLACE INTO outbox (employee_id, op, encoding, at_ms, idempotency_key, attempts, "
                "next_attempt_ms, last_error, created_ms) VALUES (?, ?, ?, ?, ?, 0, ?, NULL, ?)",
                (int(employee_id), op, encoding_text, int(at_ms), key, next_attempt, int(now_ms)),
            )
        return OutboxItem(int(employee_id), op, int(at_ms), key, 0, next_attempt, None, int(now_ms), encoding_text)

    def outbox(self) -> List[OutboxItem]:
        """Every pending item, oldest first."""
        with self._lock:
            rows = self._db.execute("SELECT * FROM outbox ORDER BY created_ms, employee_id").fetchall()
            return [_item(row) for row in rows]

    def outbox_item(self, employee_id: int) -> Optional[OutboxItem]:
        with self._lock:
            row = self._db.execute("SELECT * FROM outbox WHERE employee_id = ?", (int(employee_id),)).fetchone()
            return None if row is None else _item(row)

    def complete(
        self,
        item: OutboxItem,
        server_encoding: Optional[str],
        server_registered_at: Optional[str],
        *,
        forget_placeholder: bool = False,
    ) -> bool:
        """The server applied ``item``: record the server's new state for the employee (the uploaded face with the
        stored registration time, or no face) and remove the item — unless the operator replaced it meanwhile (another
        ``Idempotency-Key``), which then stays queued. Returns whether the item was removed.

        The row is only written when it holds no registration newer than this one (the stored time of an upload, the
        operator's time of a clear): a newer row came from the feed — a sync of this or another process that ran
        meanwhile — and the cursor saved with it is already past it, so overwriting it would lose it.
        ``forget_placeholder`` also removes the employee's row when it is a placeholder (a clear the server answered
        404 for an employee this kiosk never received)."""
        registered_ms = optional_time_ms(server_registered_at)
        newest_ms = registered_ms if registered_ms is not None else item.at_ms
        with self.transaction() as db:
            db.execute(
                "UPDATE employees SET encoding = ?, registered_at_ms = ? "
                "WHERE id = ? AND (registered_at_ms IS NULL OR registered_at_ms <= ?)",
                (server_encoding, registered_ms, item.employee_id, newest_ms),
            )
            removed = _delete_item(db, item)
            if forget_placeholder and removed:
                db.execute("DELETE FROM employees WHERE id = ? AND name IS NULL", (item.employee_id,))
            return removed

    def drop(self, item: OutboxItem, *, forget_placeholder: bool = False) -> bool:
        """Remove ``item`` without changing the table (superseded, refused). ``forget_placeholder`` also removes the
        employee's row when it is a placeholder (the server does not know the employee)."""
        with self.transaction() as db:
            removed = _delete_item(db, item)
            if forget_placeholder:
                db.execute("DELETE FROM employees WHERE id = ? AND name IS NULL", (item.employee_id,))
            return removed

    def defer(self, item: OutboxItem, next_attempt_ms: int, error: str) -> None:
        """Count a failed attempt and set the earliest time of the next one."""
        with self.transaction() as db:
            db.execute(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_ms = ?, last_error = ? "
                "WHERE employee_id = ? AND idempotency_key = ?",
                (int(next_attempt_ms), error[:200], item.employee_id, item.idempotency_key),
            )

    def hold_outbox(self, until_ms: int) -> None:
        """The server answered 429: nothing is sent before ``until_ms`` (its ``Retry-After``). Saves the window (so
        that :meth:`queue`, and other processes, respect it) and moves every pending item's next attempt to at least
        its end — one transaction."""
        with self.transaction() as db:
            if _meta_int(db, RATE_LIMITED_UNTIL) < int(until_ms):
                _set_meta(db, RATE_LIMITED_UNTIL, str(int(until_ms)))
            db.execute("UPDATE outbox SET next_attempt_ms = MAX(next_attempt_ms, ?)", (int(until_ms),))

    def rate_limited_until(self) -> int:
        """The end (Unix ms) of the last ``Retry-After`` window of the outbox; 0 when there was none."""
        with self._lock:
            return _meta_int(self._db, RATE_LIMITED_UNTIL)

    # MARK: reading

    def employee(self, employee_id: int) -> Optional[LocalEmployee]:
        with self._lock:
            row = self._db.execute("SELECT * FROM local_employees WHERE id = ?", (int(employee_id),)).fetchone()
            return None if row is None else _employee(row)

    def employees(self) -> List[LocalEmployee]:
        """The kiosk's table as it shows it, by id (encodings parsed)."""
        with self._lock:
            rows = self._db.execute("SELECT * FROM local_employees ORDER BY id").fetchall()
        return [_employee(row) for row in rows]

    def face_rows(self) -> List[Tuple[int, str]]:
        """``(employee id, encoding JSON text)`` of every employee with a face, as the kiosk shows them."""
        with self._lock:
            return [
                (row[0], row[1])
                for row in self._db.execute(
                    "SELECT id, encoding FROM local_employees WHERE encoding IS NOT NULL ORDER BY id"
                )
            ]

    def server_row(self, employee_id: int) -> Optional[Dict[str, Any]]:
        """The server's state of one employee as last received (no outbox overlay); ``encoding`` stays JSON text."""
        with self._lock:
            row = self._db.execute("SELECT * FROM employees WHERE id = ?", (int(employee_id),)).fetchone()
            return None if row is None else dict(row)

    def summary(self) -> Dict[str, Any]:
        """Counts and positions for ``faceid-kiosk status`` (no encodings)."""
        with self._lock:
            db = self._db
            employees = db.execute("SELECT COUNT(*) FROM local_employees WHERE name IS NOT NULL").fetchone()[0]
            faces = db.execute("SELECT COUNT(*) FROM local_employees WHERE encoding IS NOT NULL").fetchone()[0]
            meta = {row[0]: row[1] for row in db.execute("SELECT key, value FROM meta")}
        return {
            "db_path": self.path,
            "employees": employees,
            "faces": faces,
            "cursor": meta.get(CURSOR),
            "acked_cursor": meta.get(ACKED_CURSOR),
            "last_sync_at": _meta_time(meta.get(LAST_SYNC_AT)),
            "last_sync_mode": meta.get(LAST_SYNC_MODE),
            "last_full_sync_at": _meta_time(meta.get(FULL_SYNC_AT)),
            "outbox": [
                {
                    "employee_id": item.employee_id,
                    "op": item.op,
                    "at": format_time_ms(item.at_ms),
                    "attempts": item.attempts,
                    "next_attempt_at": format_time_ms(item.next_attempt_ms) if item.next_attempt_ms else None,
                    "last_error": item.last_error,
                }
                for item in self.outbox()
            ],
        }


# MARK: helpers (called inside a transaction)


def _set_meta(db: sqlite3.Connection, key: str, value: Optional[str]) -> None:
    if value is None:
        db.execute("DELETE FROM meta WHERE key = ?", (key,))
    else:
        db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))


def _meta_time(value: Optional[str]) -> Optional[str]:
    return None if value is None else format_time_ms(int(value))


def _meta_int(db: sqlite3.Connection, key: str) -> int:
    row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    try:
        return int(row[0]) if row is not None and row[0] is not None else 0
    except ValueError:
        return 0


def _item(row: sqlite3.Row) -> OutboxItem:
    return OutboxItem(
        employee_id=row["employee_id"],
        op=row["op"],
        at_ms=row["at_ms"],
        idempotency_key=row["idempotency_key"],
        attempts=row["attempts"],
        next_attempt_ms=row["next_attempt_ms"],
        last_error=row["last_error"],
        created_ms=row["created_ms"],
        encoding_text=row["encoding"],
    )


def _employee(row: sqlite3.Row) -> LocalEmployee:
    return LocalEmployee(
        id=row["id"],
        name=row["name"],
        timekeeper_id=row["timekeeper_id"],
        registered_at_ms=row["registered_at_ms"],
        pending=row["pending"],
        encoding=parse_stored_encoding(row["id"], row["encoding"]),
    )


def parse_stored_encoding(employee_id: int, text: Optional[str]) -> Optional[Encoding]:
    """A stored encoding's numbers; ``None`` for no face, and — logged with the employee id only — for one that is
    not 128 valid numbers (the kiosk then treats the employee as having no face rather than failing)."""
    if text is None:
        return None
    try:
        return encoding_from_text(text)
    except EncodingError as error:
        log.warning("employee %d: the stored encoding is unusable (%s); treated as no face", employee_id, error)
        return None


def _load_outbox(db: sqlite3.Connection) -> Dict[int, OutboxItem]:
    return {row["employee_id"]: _item(row) for row in db.execute("SELECT * FROM outbox")}


def _delete_item(db: sqlite3.Connection, item: OutboxItem) -> bool:
    cursor = db.execute(
        "DELETE FROM outbox WHERE employee_id = ? AND idempotency_key = ?", (item.employee_id, item.idempotency_key)
    )
    return cursor.rowcount > 0


def _superseded(item: OutboxItem, server_registered_at_ms: Optional[int], *, has_face: bool) -> Optional[str]:
    """Why the server's state makes a pending item pointless, or ``None`` to keep it (the conflict rule, last
    registration wins):

    - a pending registration at or before the server's face registration: the server holds a newer face (it would
      answer 409), or this very upload already arrived (equal time);
    - a pending clear older than the server's face registration: a newer face was registered after the clear.

    A server row without a face keeps a pending registration: the feed does not say when (or whether) a face was
    deleted, so the upload is sent and the server's conflict rule decides (409 when the deletion is newer).
    """
    if not has_face or server_registered_at_ms is None:
        return None
    if item.op == "register" and server_registered_at_ms >= item.at_ms:
        return "server_newer"
    if item.op == "clear" and server_registered_at_ms > item.at_ms:
        return "server_newer"
    return None


def _apply(
    db: sqlite3.Connection,
    table: str,
    changes: Sequence[Mapping[str, Any]],
    outbox: Optional[Dict[int, OutboxItem]],
) -> PageStats:
    """Apply feed changes to ``table`` in the feed's order; with ``outbox``, drop the items the changes make
    pointless."""
    stats = PageStats()
    for change in changes:
        op = change.get("op")
        if op == "upsert":
            employee = change.get("employee") or {}
            employee_id = _feed_id(employee["id"])
            encoding = employee.get("face_encoding")
            if encoding is not None and not isinstance(encoding, str):
                encoding = json.dumps(encoding)  # the contract sends a JSON string; accept an array as well
            registered_ms = optional_time_ms(employee.get("face_registered_at"))
            name, timekeeper_id = employee.get("name"), employee.get("timekeeper_id")
            if not isinstance(name, (str, type(None))) or not isinstance(timekeeper_id, (str, type(None))):
                raise ValueError(f"employee {employee_id}: name and timekeeper_id must be text")
            db.execute(
                f"INSERT OR REPLACE INTO {table} (id, name, timekeeper_id, encoding, registered_at_ms) "
                "VALUES (?, ?, ?, ?, ?)",
                (employee_id, name, timekeeper_id, encoding, registered_ms),
            )
            stats.upserts += 1
            item = outbox.pop(employee_id, None) if outbox is not None else None
            if item is not None:
                reason = _superseded(item, registered_ms, has_face=encoding is not None)
                if reason:
                    _delete_item(db, item)
                    stats.outbox_dropped.append((employee_id, reason))
                else:
                    outbox[employee_id] = item  # type: ignore[index]
        elif op == "delete":
            employee_id = _feed_id(change["employee_id"])
            db.execute(f"DELETE FROM {table} WHERE id = ?", (employee_id,))
            stats.deletes += 1
            item = outbox.pop(employee_id, None) if outbox is not None else None
            if item is not None:
                # The employee was deleted or resigned: a queued upload would be refused (404), a clear is moot.
                _delete_item(db, item)
                stats.outbox_dropped.append((employee_id, "employee_deleted"))
        else:
            log.warning("ignoring a feed change with an unknown op")
    return stats


def _feed_id(value: Any) -> int:
    """An employee id of the feed: a positive integer (``ValueError`` otherwise — a malformed change)."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError("an employee id of the feed is not a positive integer")
    return value
