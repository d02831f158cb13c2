"""The two SQLite files, their pragmas, the schema and its migrations.

`hwc.db` holds everything but keys; `keys.db` holds only the per-signal data keys and is ATTACHed
as schema `keys`, so one transaction covers both files (a rollback journal, not WAL, makes a
multi-file commit atomic). Every connection sets and then *checks* the pragmas the privacy
guarantees rest on: a silently ignored `secure_delete` would leave shredded bytes on disk.
"""
from __future__ import annotations

import contextlib
import sqlite3
import threading
from pathlib import Path

import sqlite_utils

from .schema import _KEYS_SCHEMA, FOREIGN_KEYS_OFF, MIGRATIONS  # noqa: F401  (MIGRATIONS: tests swap it)

MAIN_DB = "hwc.db"
KEYS_DB = "keys.db"

#: Tests flip this to prove the forensic scan notices when secure_delete is off. Never in code.
SECURE_DELETE = "ON"
#: How hard each file is synced. EXTRA on hwc.db also syncs the directory after the rollback
#: journal is deleted, so a commit that touched only hwc.db (no super-journal) is as durable as a
#: two-file one: a power cut right after COMMIT returns cannot bring the journal back and roll
#: the commit back. keys.db is only ever written together with hwc.db, under a super-journal.
SYNCHRONOUS = {"main": "EXTRA", "keys": "FULL"}
_SYNC_LEVELS = {"OFF": 0, "NORMAL": 1, "FULL": 2, "EXTRA": 3}


class StorageError(sqlite3.DatabaseError):
    """The database could not be used as required (pragmas refused, file unwritable).

    A sqlite3.DatabaseError, so every handler that answers storage trouble with 503 covers it.
    """


class Database(sqlite_utils.Database):
    """sqlite-utils' Database with a lean `query`.

    sqlite-utils 4 wraps every `query()` in a SAVEPOINT/RELEASE pair to refuse statements that
    return no rows — three statements for every read, a third of an intake's statements. Our
    code only ever passes SELECTs here (writes go through `conn.execute` inside `write()`), so
    the guard buys nothing; a statement without rows still raises ValueError.
    """

    def query(self, sql, params=None):
        cursor = self.conn.execute(sql, params or ())
        if cursor.description is None:
            raise ValueError("query() is for statements that return rows")
        keys = [column[0] for column in cursor.description]
        return (dict(zip(keys, row)) for row in cursor)


def connect(data_dir: Path | str, *, secure_delete: str | None = None) -> sqlite_utils.Database:
    """Open hwc.db with keys.db attached, with the pragmas set and verified."""
    data_dir = Path(data_dir)
    secure_delete = secure_delete or SECURE_DELETE
    conn = sqlite3.connect(
        data_dir / MAIN_DB, isolation_level=None, check_same_thread=False, timeout=15
    )
    try:
        conn.execute("ATTACH DATABASE ? AS keys", (str(data_dir / KEYS_DB),))
        for schema in ("main", "keys"):
            conn.execute(f"PRAGMA {schema}.secure_delete={secure_delete}")
            mode = conn.execute(f"PRAGMA {schema}.journal_mode=DELETE").fetchone()[0]
            if mode.lower() != "delete":
                raise StorageError(f"{schema} database refused the rollback journal")
        for schema, level in SYNCHRONOUS.items():
            conn.execute(f"PRAGMA {schema}.synchronous={level}")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA temp_store=MEMORY")
        conn.execute("PRAGMA busy_timeout=15000")
        check_pragmas(conn, secure_delete)
    except Exception:
        conn.close()
        raise
    database = Database(conn)
    database.writer_turn = writer_turn(data_dir)
    database.commit_gate = commit_gate(data_dir)
    return database


#: How long a writer waits for its turn in this process, like SQLite's own busy timeout.
WRITER_WAIT_SECONDS = 15
_writer_turns: dict[str, threading.RLock] = {}
_writer_turns_lock = threading.Lock()


def writer_turn(data_dir: Path | str) -> threading.RLock:
    """The one in-process queue for the writers of a data directory.

    SQLite lets one writer in at a time; a writer that finds the lock taken sleeps in SQLite's
    busy handler in growing steps (1, 2, 5, 10, 15, 20, 25 ms ...) and is not woken when the
    lock comes free, so under a burst of signals each waiting intake slept far longer than the
    commit it waited for. Writers of this process now queue here instead and start the moment
    the previous one has committed. SQLite's own locks stay in force (and still order writers of
    other processes, such as the sweep); this only changes how a waiting writer waits.
    """
    key = str(Path(data_dir).resolve())
    with _writer_turns_lock:
        return _writer_turns.setdefault(key, threading.RLock())


def check_pragmas(conn: sqlite3.Connection, secure_delete: str = "ON") -> None:
    """Re-read, not assume, the pragmas the privacy guarantees rest on (every time a kept
    connection is handed out, so once per request).

    Nine plain PRAGMA statements, not one SELECT over the table-valued `pragma_*` functions: a
    SELECT reads the schema and so takes hwc.db's shared lock, and under load it then met every
    commit and slept in SQLite's busy handler; a plain PRAGMA touches no file. (The table-valued
    forms also need the schema as a column: `keys.pragma_synchronous` reads main's value.)
    """
    want_sd = {"ON": 1, "OFF": 0, "FAST": 2}[secure_delete.upper()]
    for schema in ("main", "keys"):
        if conn.execute(f"PRAGMA {schema}.secure_delete").fetchone()[0] != want_sd:
            raise StorageError(f"secure_delete is not {secure_delete} on {schema}")
        if conn.execute(f"PRAGMA {schema}.journal_mode").fetchone()[0].lower() != "delete":
            raise StorageError(f"{schema} is not in rollback-journal (DELETE) mode")
    for schema, level in SYNCHRONOUS.items():
        if conn.execute(f"PRAGMA {schema}.synchronous").fetchone()[0] != _SYNC_LEVELS[level]:
            raise StorageError(f"{schema} is not synchronous={level}")
    if conn.execute("PRAGMA foreign_keys").fetchone()[0] != 1:
        raise StorageError("foreign_keys is off")
    if conn.execute("PRAGMA temp_store").fetchone()[0] != 2:
        raise StorageError("temp_store is not MEMORY")


class CommitGate:
    """Lets this process's readers and its committing writer take turns instead of colliding.

    In rollback-journal mode a COMMIT needs every reader of hwc.db gone, and while it writes
    the file no reader may start; whoever finds the other in the way sleeps in SQLite's busy
    handler in growing steps (1, 2, 5, 10, 15 ms ...) and is not woken when the way is clear.
    Under bench/load.py the server's threads spent about an eighth of their time in those
    sleeps, mostly page views waiting out a commit that took a millisecond. Here a snapshot
    (`snapshot`) waits while a commit is under way or waiting, and a COMMIT waits until the
    snapshots under way have ended; each is woken the moment the other is done.

    Every wait is bounded and then simply goes ahead: SQLite's own locks stay in force and
    still decide (other processes, the reads outside snapshots, a writer whose cache spilled
    to the file before COMMIT and so blocks readers earlier). The worst case is the old one.
    """

    #: Most seconds a snapshot waits for a commit; a commit on a slow disk can take this long.
    READER_WAIT = 2.0
    #: Most seconds a COMMIT waits for snapshots (which are a few queries long).
    WRITER_WAIT = 0.2

    def __init__(self):
        self._cond = threading.Condition(threading.Lock())
        self._readers = 0
        self._writer = False  # a COMMIT is waiting for readers or under way

    def enter_read(self) -> None:
        with self._cond:
            if self._writer:
                self._cond.wait_for(lambda: not self._writer, self.READER_WAIT)
            self._readers += 1

    def leave_read(self) -> None:
        with self._cond:
            self._readers -= 1
            if self._readers == 0 and self._writer:
                self._cond.notify_all()

    @contextlib.contextmanager
    def committing(self):
        with self._cond:
            self._writer = True
            try:
                if self._readers:
                    self._cond.wait_for(lambda: self._readers == 0, self.WRITER_WAIT)
            except BaseException:  # never leave the flag up: every snapshot would wait its bound
                self._writer = False
                self._cond.notify_all()
                raise
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


_commit_gates: dict[str, CommitGate] = {}


def commit_gate(data_dir: Path | str) -> CommitGate:
    """The one `CommitGate` of a data directory in this process (like `writer_turn`)."""
    key = str(Path(data_dir).resolve())
    with _writer_turns_lock:
        return _commit_gates.setdefault(key, CommitGate())


class Pool:
    """One kept connection per thread (the web server's worker threads), for one data directory.

    Opening a connection costs about a millisecond (connect, ATTACH, the pragmas, re-reading the
    schema) — as much as the rest of an intake. A kept connection is checked when it is handed
    out (the pragmas the privacy guarantees rest on, re-read, not assumed) and any transaction a
    request left open is rolled back when it is given back, so no request sees another's state.
    """

    def __init__(self, data_dir: Path | str):
        self.data_dir = Path(data_dir)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._open: list[sqlite_utils.Database] = []

    def get(self) -> sqlite_utils.Database:
        database = getattr(self._local, "database", None)
        if database is not None:
            try:
                check_pragmas(database.conn, SECURE_DELETE)
                return database
            except sqlite3.Error:  # StorageError included: start again with a fresh connection
                self._forget(database)
        database = connect(self.data_dir)
        self._local.database = database
        with self._lock:
            self._open.append(database)
        return database

    def release(self, database: sqlite_utils.Database) -> None:
        """End of a request: roll back whatever it left open; keep the connection."""
        try:
            if database.conn.in_transaction:
                database.conn.execute("ROLLBACK")
        except sqlite3.Error:
            self._forget(database)

    def _forget(self, database: sqlite_utils.Database) -> None:
        if getattr(self._local, "database", None) is database:
            self._local.database = None
        with self._lock:
            if database in self._open:
                self._open.remove(database)
        with contextlib.suppress(sqlite3.Error):
            database.close()

    def close_all(self) -> None:
        """Close every kept connection (at shutdown, or when the files were replaced)."""
        with self._lock:
            open_, self._open = self._open, []
        for database in open_:
            with contextlib.suppress(sqlite3.Error):
                database.close()
        self._local = threading.local()


#: A write to hwc.db that changes nothing: it takes hwc.db's write lock, and only that one.
_LOCK_MAIN = "UPDATE main.schema_migrations SET name = name WHERE 0"


@contextlib.contextmanager
def write(db: sqlite_utils.Database, *, both_files: bool = False):
    """A write transaction that takes hwc.db's write lock up front.

    Deferred transactions that read then write can deadlock under concurrency and surface as
    'database is locked' halfway; taking the lock first makes each transition all-or-nothing.
    `BEGIN IMMEDIATE` would lock keys.db too, and a commit that holds both files' locks goes
    through a super-journal (about twice the syncs) even when only hwc.db changed. So the lock
    is taken with a no-op write to hwc.db; keys.db is locked only if the transaction writes to
    it. Every writer takes hwc.db first, so the two locks are always taken in the same order and
    cannot deadlock. `both_files` (migrations, before the lock table exists) takes both at once.
    Nested use joins the outer transaction.
    """
    conn = db.conn
    if getattr(db, "reading", False):
        raise RuntimeError("write() inside snapshot(): a read lock cannot become a write lock")
    if conn.in_transaction:
        yield db
        return
    turn = getattr(db, "writer_turn", None)
    if turn is None:
        yield from _write(db, conn, both_files)
        return
    if not turn.acquire(timeout=WRITER_WAIT_SECONDS):
        raise sqlite3.OperationalError("database is locked")
    try:
        yield from _write(db, conn, both_files)
    finally:
        turn.release()


@contextlib.contextmanager
def snapshot(db: sqlite_utils.Database, *, one_statement: bool = False):
    """Several reads as one read transaction: one consistent view, and hwc.db's shared lock
    taken once instead of once per statement.

    In rollback-journal mode every statement outside a transaction takes and drops the shared
    lock (and looks for a hot journal); a writer's COMMIT must wait until no reader holds it,
    and a reader that arrives during the commit sleeps in SQLite's busy handler. A page that
    reads six times met each commit up to six times. Keep a snapshot short (queries only, not
    rendering): while it is open a commit waits for it. Writing inside one is refused: a shared
    lock that upgrades can deadlock with another writer.

    `one_statement`: a single read needs no transaction of its own, only its turn at the
    `CommitGate` (the session and the person on every request).
    """
    conn = db.conn
    if conn.in_transaction or getattr(db, "reading", False):
        yield db  # already inside one (or a write, which reads its own view): join it
        return
    gate = getattr(db, "commit_gate", None)
    if gate is not None:
        gate.enter_read()
    try:
        if not one_statement:
            conn.execute("BEGIN")
        db.reading = True
        try:
            yield db
        finally:
            db.reading = False
            if not one_statement:
                _end_read(conn)
    finally:
        if gate is not None:
            gate.leave_read()


def _end_read(conn: sqlite3.Connection) -> None:
    """COMMIT a read transaction (nothing was written: it only lets go of the lock); if that
    fails, roll back — never leave it open, or a later write() would join it and never commit."""
    if not conn.in_transaction:
        return
    try:
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _write(db, conn, both_files: bool):
    if both_files:
        conn.execute("BEGIN IMMEDIATE")
    else:
        conn.execute("BEGIN")
        try:
            conn.execute(_LOCK_MAIN)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    try:
        yield db
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    else:
        try:
            gate = getattr(db, "commit_gate", None)
            if gate is None:
                conn.execute("COMMIT")
            else:
                with gate.committing():
                    conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise


def applied_migrations(db: sqlite_utils.Database) -> list[str]:
    return [r[0] for r in db.conn.execute("SELECT name FROM main.schema_migrations ORDER BY rowid")]


def migrate(db: sqlite_utils.Database) -> list[str]:
    """Bring both files up to the newest schema; safe to call at every start."""
    db.conn.execute("CREATE TABLE IF NOT EXISTS main.schema_migrations ("
                    " name TEXT PRIMARY KEY, applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)")
    pending = {name for name, _ in MIGRATIONS} - set(applied_migrations(db))
    rebuild = bool(pending & FOREIGN_KEYS_OFF)
    if rebuild:
        db.conn.execute("PRAGMA foreign_keys=OFF")  # only outside a transaction; see FOREIGN_KEYS_OFF
    try:
        with write(db, both_files=True):
            done = set(applied_migrations(db))
            for name, script in MIGRATIONS:
                if name in done:
                    continue
                for statement in _statements(script):
                    db.conn.execute(statement)
                db.conn.execute("INSERT INTO main.schema_migrations (name) VALUES (?)", (name,))
            if rebuild and db.conn.execute("PRAGMA main.foreign_key_check").fetchall():
                raise StorageError("a table rebuild left dangling foreign keys; nothing changed")
            for statement in _statements(_KEYS_SCHEMA):
                db.conn.execute(statement)
    finally:
        if rebuild:
            db.conn.execute("PRAGMA foreign_keys=ON")
    return applied_migrations(db)


def _statements(script: str) -> list[str]:
    """Split a script at the semicolons that end a statement (a trigger's body has its own)."""
    out, pending = [], ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n;"):
                out.append(pending.strip().rstrip(";").strip())
            pending = ""
    if pending.strip(" \n;"):
        out.append(pending.strip().rstrip(";").strip())
    return out
