"""The two SQLite files, their pragmas, the schema and its migrations.

`hwc.db` holds everything but keys; `keys.db` holds only the per-signal data keys and is ATTACHed
as schema `keys`, so one transaction covers both files (a rollback journal, not WAL, makes a
multi-file commit atomic). Every connection sets and then *checks* the pragmas the privacy
guarantees rest on: a silently ignored `secure_delete` would leave shredded bytes on disk.
"""
from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import sqlite_utils

MAIN_DB = "hwc.db"
KEYS_DB = "keys.db"

#: Tests flip this to prove the forensic scan notices when secure_delete is off. Never in code.
SECURE_DELETE = "ON"


class StorageError(sqlite3.DatabaseError):
    """The database could not be used as required (pragmas refused, file unwritable).

    A sqlite3.DatabaseError, so every handler that answers storage trouble with 503 covers it.
    """


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
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA temp_store=MEMORY")
        conn.execute("PRAGMA busy_timeout=15000")
        check_pragmas(conn, secure_delete)
    except Exception:
        conn.close()
        raise
    return sqlite_utils.Database(conn)


def check_pragmas(conn: sqlite3.Connection, secure_delete: str = "ON") -> None:
    want_sd = {"ON": 1, "OFF": 0, "FAST": 2}[secure_delete.upper()]
    for schema in ("main", "keys"):
        if conn.execute(f"PRAGMA {schema}.secure_delete").fetchone()[0] != want_sd:
            raise StorageError(f"secure_delete is not {secure_delete} on {schema}")
        if conn.execute(f"PRAGMA {schema}.journal_mode").fetchone()[0].lower() != "delete":
            raise StorageError(f"{schema} is not in rollback-journal (DELETE) mode")
    if conn.execute("PRAGMA foreign_keys").fetchone()[0] != 1:
        raise StorageError("foreign_keys is off")
    if conn.execute("PRAGMA temp_store").fetchone()[0] != 2:
        raise StorageError("temp_store is not MEMORY")


@contextlib.contextmanager
def write(db: sqlite_utils.Database):
    """A write transaction that takes the write lock up front (BEGIN IMMEDIATE).

    Deferred transactions that read then write can deadlock under concurrency and surface as
    'database is locked' halfway; taking the lock first makes each transition all-or-nothing.
    Nested use joins the outer transaction.
    """
    conn = db.conn
    if conn.in_transaction:
        yield db
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    else:
        try:
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise


# --- schema -----------------------------------------------------------------------------------

_MIGRATION_1 = """
CREATE TABLE main.schools (
    id INTEGER PRIMARY KEY,
    brin TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    type TEXT NOT NULL DEFAULT 'po' CHECK (type IN ('po', 'vo')),
    start_time TEXT NOT NULL DEFAULT '08:30',
    escalation_time TEXT NOT NULL DEFAULT '08:00',
    escalation_delay_minutes INTEGER NOT NULL DEFAULT 30,
    quiet_start TEXT NOT NULL DEFAULT '21:00',
    quiet_end TEXT NOT NULL DEFAULT '06:30',
    receipt_contact TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL
);
CREATE TABLE main.holidays (
    id INTEGER PRIMARY KEY,
    school_id INTEGER NOT NULL REFERENCES schools(id) ON DELETE CASCADE,
    first_day TEXT NOT NULL,
    last_day TEXT NOT NULL,
    label TEXT NOT NULL DEFAULT '',
    CHECK (first_day <= last_day)
);
CREATE TABLE main.municipalities (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    token_hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE TABLE main.municipality_schools (
    municipality_id INTEGER NOT NULL REFERENCES municipalities(id) ON DELETE CASCADE,
    school_id INTEGER NOT NULL REFERENCES schools(id) ON DELETE CASCADE,
    PRIMARY KEY (municipality_id, school_id)
);
CREATE TABLE main.staff (
    id INTEGER PRIMARY KEY,
    school_id INTEGER NOT NULL REFERENCES schools(id),
    display_name TEXT NOT NULL,
    group_name TEXT NOT NULL DEFAULT '',
    user_handle BLOB NOT NULL UNIQUE,
    active INTEGER NOT NULL DEFAULT 1,
    away_until TEXT,
    created_at TEXT NOT NULL
);
CREATE TABLE main.staff_roles (
    staff_id INTEGER NOT NULL REFERENCES staff(id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('director', 'receiver', 'backup', 'teacher')),
    PRIMARY KEY (staff_id, role)
);
CREATE TABLE main.signals (
    id TEXT PRIMARY KEY,
    school_id INTEGER NOT NULL REFERENCES schools(id),
    municipality_id INTEGER NOT NULL REFERENCES municipalities(id),
    reference TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('received', 'opened', 'teacher_assigned',
        'teacher_read', 'closed', 'returned', 'expired')),
    received_at TEXT NOT NULL,
    notified_at TEXT,
    opened_at TEXT,
    opened_by INTEGER REFERENCES staff(id) ON DELETE SET NULL,
    assigned_at TEXT,
    teacher_id INTEGER REFERENCES staff(id) ON DELETE SET NULL,
    handled_how TEXT CHECK (handled_how IN ('note', 'self', 'pupil_declined')),
    teacher_informed_at TEXT,
    parent_contact TEXT,
    closed_at TEXT,
    updated_at TEXT NOT NULL,
    UNIQUE (municipality_id, reference)
);
CREATE INDEX main.signals_school_state ON signals(school_id, state);
CREATE INDEX main.signals_state_updated ON signals(state, updated_at);
CREATE TABLE main.sealed (
    id INTEGER PRIMARY KEY,
    signal_id TEXT NOT NULL REFERENCES signals(id),
    purpose TEXT NOT NULL CHECK (purpose IN ('receiver', 'handover', 'teacher')),
    nonce BLOB NOT NULL,
    ciphertext BLOB NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (signal_id, purpose)
);
CREATE TABLE main.monthly_counts (
    school_id INTEGER NOT NULL REFERENCES schools(id),
    month TEXT NOT NULL,
    metric TEXT NOT NULL,
    value INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (school_id, month, metric)
);
CREATE TABLE main.open_minutes (
    id INTEGER PRIMARY KEY,
    school_id INTEGER NOT NULL REFERENCES schools(id),
    month TEXT NOT NULL,
    minutes INTEGER NOT NULL
);
CREATE TABLE main.audit_events (
    id INTEGER PRIMARY KEY,
    school_id INTEGER REFERENCES schools(id),
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    at TEXT NOT NULL
);
CREATE TABLE keys.data_keys (
    sealed_id INTEGER PRIMARY KEY,
    signal_id TEXT NOT NULL,
    key BLOB NOT NULL
);
CREATE INDEX keys.data_keys_signal ON data_keys(signal_id);
CREATE TABLE keys.intake (
    signal_id TEXT PRIMARY KEY,
    mac_key BLOB NOT NULL,
    mac BLOB NOT NULL
);
"""

#: Named migrations, applied in list order, each once (recorded in main.schema_migrations).
#: Append new ones at the end with a new name; never edit or reorder applied ones. Names (not
#: numbers) let work on separate branches add migrations without colliding.
MIGRATIONS: list[tuple[str, str]] = [
    ("0001_foundation", _MIGRATION_1),
    ("0002_receipt_events", """
        ALTER TABLE main.municipalities ADD COLUMN webhook_url TEXT;
        ALTER TABLE main.municipalities ADD COLUMN webhook_secret TEXT;
        CREATE TABLE main.receipt_events (
            id INTEGER PRIMARY KEY,
            municipality_id INTEGER NOT NULL REFERENCES municipalities(id) ON DELETE CASCADE,
            reference TEXT NOT NULL,
            status TEXT NOT NULL,
            receipt TEXT NOT NULL,
            created_at TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT NOT NULL,
            delivered_at TEXT,
            last_error TEXT
        );
        CREATE INDEX main.receipt_events_due ON receipt_events(delivered_at, next_attempt_at);
    """),
    ("0500_push", """
        CREATE TABLE main.push_subscriptions (
            id INTEGER PRIMARY KEY,
            staff_id INTEGER NOT NULL REFERENCES staff(id) ON DELETE CASCADE,
            endpoint TEXT NOT NULL UNIQUE,
            p256dh TEXT NOT NULL,
            auth TEXT NOT NULL,
            user_agent_label TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL,
            last_success_at TEXT
        );
        CREATE INDEX main.push_subscriptions_staff ON push_subscriptions(staff_id);
        CREATE TABLE main.push_jobs (
            id INTEGER PRIMARY KEY,
            signal_id TEXT REFERENCES signals(id) ON DELETE CASCADE,
            staff_id INTEGER NOT NULL REFERENCES staff(id) ON DELETE CASCADE,
            event TEXT NOT NULL CHECK (event IN ('new', 'escalate', 'note')),
            due_at TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT NOT NULL,
            sent_at TEXT,
            given_up_at TEXT,
            last_error TEXT,
            UNIQUE (signal_id, staff_id, event)
        );
        CREATE INDEX main.push_jobs_due ON push_jobs(sent_at, given_up_at, next_attempt_at);
    """),
    ("0010_expires_at", """
        ALTER TABLE main.signals ADD COLUMN expires_at TEXT;
        UPDATE main.signals SET expires_at = strftime('%Y-%m-%dT%H:%M:%SZ', received_at, '+7 days')
            WHERE expires_at IS NULL;
        CREATE INDEX main.signals_state_expires ON signals(state, expires_at);
    """),
    ("0100_auth", """
        CREATE TABLE main.passkeys (
            id INTEGER PRIMARY KEY,
            staff_id INTEGER NOT NULL REFERENCES staff(id) ON DELETE CASCADE,
            credential_id BLOB NOT NULL UNIQUE,
            public_key BLOB NOT NULL,
            sign_count INTEGER NOT NULL DEFAULT 0,
            name TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL,
            last_used_at TEXT,
            revoked_at TEXT
        );
        CREATE INDEX main.passkeys_staff ON passkeys(staff_id);
        CREATE TABLE main.invites (
            id INTEGER PRIMARY KEY,
            school_id INTEGER NOT NULL REFERENCES schools(id),
            token_hash TEXT NOT NULL UNIQUE,
            user_handle BLOB NOT NULL,
            staff_id INTEGER REFERENCES staff(id) ON DELETE CASCADE,
            display_name TEXT NOT NULL,
            group_name TEXT NOT NULL DEFAULT '',
            roles TEXT NOT NULL DEFAULT '',
            created_by TEXT NOT NULL,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            used_at TEXT,
            withdrawn_at TEXT
        );
        CREATE INDEX main.invites_school ON invites(school_id);
        CREATE TABLE main.webauthn_challenges (
            challenge_hash TEXT PRIMARY KEY,
            purpose TEXT NOT NULL CHECK (purpose IN ('register', 'login', 'step_up', 'add_passkey')),
            challenge BLOB NOT NULL,
            invite_id INTEGER,
            staff_id INTEGER,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL
        );
        CREATE INDEX main.webauthn_challenges_expiry ON webauthn_challenges(expires_at);
        CREATE TABLE main.web_sessions (
            id_hash TEXT PRIMARY KEY,
            staff_id INTEGER REFERENCES staff(id) ON DELETE CASCADE,
            data TEXT NOT NULL DEFAULT '{}',
            created_at TEXT NOT NULL,
            last_seen_at TEXT NOT NULL
        );
        CREATE INDEX main.web_sessions_staff ON web_sessions(staff_id);
        CREATE INDEX main.web_sessions_seen ON web_sessions(last_seen_at);
        CREATE INDEX main.audit_events_school ON audit_events(school_id, at)
    """),
    ("0012_notify_minutes", """
        CREATE TABLE main.notify_minutes (
            id INTEGER PRIMARY KEY,
            school_id INTEGER NOT NULL REFERENCES schools(id),
            month TEXT NOT NULL,
            minutes INTEGER NOT NULL
        );
    """),
    # Follow-ups (issue 12): SQLite cannot widen a CHECK, so push_jobs is rebuilt with the new
    # events and its rows copied; `school_traces` is the nameless mark a school keeps for a few
    # days when a signal or note ended without reaching the child.
    ("0013_followups", """
        CREATE TABLE main.push_jobs_0013 (
            id INTEGER PRIMARY KEY,
            signal_id TEXT REFERENCES signals(id) ON DELETE CASCADE,
            staff_id INTEGER NOT NULL REFERENCES staff(id) ON DELETE CASCADE,
            event TEXT NOT NULL CHECK (event IN ('new', 'escalate', 'note', 'director',
                'note_reminder', 'note_unread', 'note_deadline', 'told_reminder',
                'case_closing')),
            due_at TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT NOT NULL,
            sent_at TEXT,
            given_up_at TEXT,
            last_error TEXT,
            UNIQUE (signal_id, staff_id, event)
        );
        INSERT INTO main.push_jobs_0013 (id, signal_id, staff_id, event, due_at, attempts,
            next_attempt_at, sent_at, given_up_at, last_error)
            SELECT id, signal_id, staff_id, event, due_at, attempts, next_attempt_at, sent_at,
            given_up_at, last_error FROM main.push_jobs;
        DROP TABLE main.push_jobs;
        ALTER TABLE main.push_jobs_0013 RENAME TO push_jobs;
        CREATE INDEX main.push_jobs_due ON push_jobs(sent_at, given_up_at, next_attempt_at);
        CREATE TABLE main.school_traces (
            id INTEGER PRIMARY KEY,
            school_id INTEGER NOT NULL REFERENCES schools(id) ON DELETE CASCADE,
            kind TEXT NOT NULL CHECK (kind IN ('unopened', 'unread')),
            received_at TEXT NOT NULL,
            ended_at TEXT NOT NULL,
            keep_until TEXT NOT NULL
        );
        CREATE INDEX main.school_traces_school ON school_traces(school_id, keep_until);
        ALTER TABLE main.signals ADD COLUMN told_due_at TEXT
    """),
    # VO talk first and parent contact as the handbook says (issue 12): how long the hand-over
    # copy waits for the talk with the pupil, whether the pupil agreed the mentor may know, and
    # what the teacher recorded about the parents (never a name: only one of three words).
    ("0014_talk_and_parents", """
        ALTER TABLE main.schools ADD COLUMN talk_until TEXT NOT NULL DEFAULT '16:30';
        ALTER TABLE main.signals ADD COLUMN handover_until TEXT;
        ALTER TABLE main.signals ADD COLUMN pupil_agreed INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE main.signals ADD COLUMN teacher_parent_contact TEXT
            CHECK (teacher_parent_contact IN ('spoken', 'not_safe', 'not_yet'));
        ALTER TABLE main.signals ADD COLUMN teacher_parent_contact_at TEXT
    """),
]


#: The key store's tables, (re)created at every start: keys.db is never backed up, so after a
#: restore of hwc.db a new, empty keys.db must get its tables although hwc.db says migration
#: 0001 ran long ago. Signals sealed before the restore then have no key: crypto-shredded.
_KEYS_SCHEMA = """
CREATE TABLE IF NOT EXISTS keys.data_keys (
    sealed_id INTEGER PRIMARY KEY,
    signal_id TEXT NOT NULL,
    key BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS keys.data_keys_signal ON data_keys(signal_id);
CREATE TABLE IF NOT EXISTS keys.intake (
    signal_id TEXT PRIMARY KEY,
    mac_key BLOB NOT NULL,
    mac BLOB NOT NULL
)
"""


def applied_migrations(db: sqlite_utils.Database) -> list[str]:
    return [r[0] for r in db.conn.execute("SELECT name FROM main.schema_migrations ORDER BY rowid")]


def migrate(db: sqlite_utils.Database) -> list[str]:
    """Bring both files up to the newest schema; safe to call at every start."""
    with write(db):
        db.conn.execute("CREATE TABLE IF NOT EXISTS main.schema_migrations ("
                        " name TEXT PRIMARY KEY, applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)")
        done = set(applied_migrations(db))
        for name, script in MIGRATIONS:
            if name in done:
                continue
            for statement in _statements(script):
                db.conn.execute(statement)
            db.conn.execute("INSERT INTO main.schema_migrations (name) VALUES (?)", (name,))
        for statement in _statements(_KEYS_SCHEMA):
            db.conn.execute(statement)
    return applied_migrations(db)


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]
