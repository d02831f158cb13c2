"""The database schema: named migrations for hwc.db and keys.db, applied by `db.migrate`.

Append new migrations at the end of `MIGRATIONS` with a new name; never edit or reorder applied
ones (ADR 0002). Names, not numbers, let work on separate branches add migrations side by side.
"""
from __future__ import annotations

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

#: Operators (beheerders) and leerplicht officers are people with passkeys, sessions and invites
#: like school staff, but belong to no school (an officer belongs to one municipality): `staff`
#: and `invites` lose NOT NULL on school_id and gain municipality_id, and `staff_roles` learns the
#: two new roles (docs/decisions/0012-region-people-in-staff.md).
_MIGRATION_REGION_PEOPLE = """
CREATE TABLE main.staff_new (
    id INTEGER PRIMARY KEY,
    school_id INTEGER REFERENCES schools(id),
    display_name TEXT NOT NULL,
    group_name TEXT NOT NULL DEFAULT '',
    user_handle BLOB NOT NULL UNIQUE,
    active INTEGER NOT NULL DEFAULT 1,
    away_until TEXT,
    created_at TEXT NOT NULL,
    municipality_id INTEGER REFERENCES municipalities(id),
    CHECK (school_id IS NULL OR municipality_id IS NULL)
);
INSERT INTO main.staff_new (id, school_id, display_name, group_name, user_handle, active,
    away_until, created_at) SELECT id, school_id, display_name, group_name, user_handle, active,
    away_until, created_at FROM main.staff;
DROP TABLE main.staff;
ALTER TABLE main.staff_new RENAME TO staff;
CREATE TABLE main.staff_roles_new (
    staff_id INTEGER NOT NULL REFERENCES staff(id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('director', 'receiver', 'backup', 'teacher', 'operator',
        'officer')),
    PRIMARY KEY (staff_id, role)
);
INSERT INTO main.staff_roles_new (staff_id, role) SELECT staff_id, role FROM main.staff_roles;
DROP TABLE main.staff_roles;
ALTER TABLE main.staff_roles_new RENAME TO staff_roles;
CREATE TABLE main.invites_new (
    id INTEGER PRIMARY KEY,
    school_id INTEGER REFERENCES schools(id),
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
    withdrawn_at TEXT,
    municipality_id INTEGER REFERENCES municipalities(id),
    CHECK (school_id IS NULL OR municipality_id IS NULL)
);
INSERT INTO main.invites_new (id, school_id, token_hash, user_handle, staff_id, display_name,
    group_name, roles, created_by, created_at, expires_at, used_at, withdrawn_at)
    SELECT id, school_id, token_hash, user_handle, staff_id, display_name, group_name, roles,
    created_by, created_at, expires_at, used_at, withdrawn_at FROM main.invites;
DROP TABLE main.invites;
ALTER TABLE main.invites_new RENAME TO invites;
CREATE INDEX main.invites_school ON invites(school_id);
CREATE INDEX main.staff_municipality ON staff(municipality_id);
ALTER TABLE main.schools ADD COLUMN place TEXT NOT NULL DEFAULT ''
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
    ("0013_onboarding_checklist", """
        CREATE TABLE main.onboarding_ticks (
            school_id INTEGER NOT NULL REFERENCES schools(id) ON DELETE CASCADE,
            item TEXT NOT NULL,
            ticked_by INTEGER REFERENCES staff(id) ON DELETE SET NULL,
            ticked_at TEXT NOT NULL,
            PRIMARY KEY (school_id, item)
        );
    """),
    ("0013_region_people", _MIGRATION_REGION_PEOPLE),
    ("0014_officer_push", """
        ALTER TABLE main.signals ADD COLUMN officer_alerted_at TEXT;
        UPDATE main.signals SET officer_alerted_at = updated_at
            WHERE state IN ('returned', 'expired', 'closed');
        CREATE TABLE main.officer_push_jobs (
            id INTEGER PRIMARY KEY,
            staff_id INTEGER NOT NULL REFERENCES staff(id) ON DELETE CASCADE,
            created_at TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT NOT NULL,
            sent_at TEXT,
            given_up_at TEXT,
            last_error TEXT
        );
        CREATE INDEX main.officer_push_jobs_due ON officer_push_jobs(sent_at, given_up_at,
            next_attempt_at)
    """),
    # A note's life counts from its first assignment (a reassign never restarts it). Notes
    # already out keep their last assignment as the best known start.
    ("hardening_first_assigned_at", """
        ALTER TABLE main.signals ADD COLUMN first_assigned_at TEXT;
        UPDATE main.signals SET first_assigned_at = assigned_at WHERE state = 'teacher_assigned';
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
    # A case that closed itself before anyone confirmed the teacher knew leaves a trace too
    # (review after issue 12): a third kind, so the CHECK is widened by a rebuild (nothing
    # points at school_traces).
    ("0015_unconfirmed_traces", """
        CREATE TABLE main.school_traces_0015 (
            id INTEGER PRIMARY KEY,
            school_id INTEGER NOT NULL REFERENCES schools(id) ON DELETE CASCADE,
            kind TEXT NOT NULL CHECK (kind IN ('unopened', 'unread', 'unconfirmed')),
            received_at TEXT NOT NULL,
            ended_at TEXT NOT NULL,
            keep_until TEXT NOT NULL
        );
        INSERT INTO main.school_traces_0015 SELECT id, school_id, kind, received_at, ended_at,
            keep_until FROM main.school_traces;
        DROP TABLE main.school_traces;
        ALTER TABLE main.school_traces_0015 RENAME TO school_traces;
        CREATE INDEX main.school_traces_school ON school_traces(school_id, keep_until)
    """),
    # Issue 15 (ADR 0013): phones' public keys, whether a passkey has PRF, and sealed purposes
    # for copies only phones can open (the server-held key wraps them for crypto-shredding).
    ("0016_device_keys", """
        ALTER TABLE main.passkeys ADD COLUMN prf INTEGER;
        CREATE TABLE main.device_keys (
            id INTEGER PRIMARY KEY,
            passkey_id INTEGER NOT NULL UNIQUE REFERENCES passkeys(id) ON DELETE CASCADE,
            staff_id INTEGER NOT NULL REFERENCES staff(id) ON DELETE CASCADE,
            public_key BLOB NOT NULL UNIQUE CHECK (length(public_key) = 32),
            created_at TEXT NOT NULL
        );
        CREATE INDEX main.device_keys_staff ON device_keys(staff_id);
        CREATE TABLE main.device_key_losses (id INTEGER PRIMARY KEY);
        CREATE TRIGGER main.device_keys_lost AFTER DELETE ON device_keys
            BEGIN INSERT INTO device_key_losses (id) VALUES (NULL); END;
        CREATE TRIGGER main.device_keys_role_lost AFTER DELETE ON staff_roles
            BEGIN INSERT INTO device_key_losses (id) VALUES (NULL); END;
        CREATE TRIGGER main.device_keys_passkey_revoked AFTER UPDATE OF revoked_at ON passkeys
            WHEN NEW.revoked_at IS NOT NULL
            BEGIN DELETE FROM device_keys WHERE passkey_id = NEW.id; END;
        CREATE TRIGGER main.device_keys_staff_off AFTER UPDATE OF active ON staff
            WHEN NEW.active = 0
            BEGIN DELETE FROM device_keys WHERE staff_id = NEW.id; END;
        CREATE TABLE main.sealed_0016 (
            id INTEGER PRIMARY KEY,
            signal_id TEXT NOT NULL REFERENCES signals(id),
            purpose TEXT NOT NULL CHECK (purpose IN ('receiver', 'handover', 'teacher',
                'receiver_devices', 'handover_device', 'teacher_devices')),
            nonce BLOB NOT NULL,
            ciphertext BLOB NOT NULL,
            created_at TEXT NOT NULL,
            UNIQUE (signal_id, purpose)
        );
        INSERT INTO main.sealed_0016 SELECT id, signal_id, purpose, nonce, ciphertext, created_at
            FROM main.sealed;
        DROP TABLE main.sealed;
        ALTER TABLE main.sealed_0016 RENAME TO sealed
    """),
]

#: Migrations that rebuild a table other tables point at. SQLite cannot drop a NOT NULL or
#: widen a CHECK in place; its documented procedure (new table, copy, drop, rename) needs
#: `PRAGMA foreign_keys=OFF`, which cannot change inside a transaction, so `migrate` switches it
#: off around the transaction when one of these is pending — with foreign keys ON, dropping the
#: old `staff` would cascade-delete every passkey, session and push subscription. Before the
#: commit `PRAGMA foreign_key_check` must come back empty. See docs/decisions/0010.
FOREIGN_KEYS_OFF = {"0013_region_people"}


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


