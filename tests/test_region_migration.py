"""The 0013_region_people rebuild of staff, staff_roles and invites, on a database that holds
data from the old schema: nothing is lost, nothing cascades, foreign keys are back ON after.

All names are invented."""
from __future__ import annotations

import sqlite3

import pytest

from server import db as db_mod
from server.datadir import init_data_dir


@pytest.fixture
def old_db(tmp_path, monkeypatch):
    """A data directory migrated only up to the migration before the rebuild, with data."""
    names = [n for n, _ in db_mod.MIGRATIONS]
    cut = names.index("0013_region_people")
    monkeypatch.setattr(db_mod, "MIGRATIONS", db_mod.MIGRATIONS[:cut])
    data = tmp_path / "data"
    init_data_dir(data)
    database = db_mod.connect(data)
    c = database.conn
    c.execute("INSERT INTO schools (id, brin, name, created_at) VALUES (1, '12AB', 'OBS Test', 'x')")
    c.execute("INSERT INTO municipalities (id, name, token_hash, created_at) VALUES (1, 'G', 'h', 'x')")
    c.execute("INSERT INTO staff (id, school_id, display_name, user_handle, created_at) "
              "VALUES (7, 1, 'Ilse Bedacht', x'01', 'x')")
    c.execute("INSERT INTO staff_roles VALUES (7, 'receiver')")
    c.execute("INSERT INTO passkeys (staff_id, credential_id, public_key, created_at) "
              "VALUES (7, x'aa', x'bb', 'x')")
    c.execute("INSERT INTO web_sessions (id_hash, staff_id, created_at, last_seen_at) "
              "VALUES ('s', 7, 'x', 'x')")
    c.execute("INSERT INTO push_subscriptions (staff_id, endpoint, p256dh, auth, created_at) "
              "VALUES (7, 'https://push.invalid/1', 'p', 'a', 'x')")
    c.execute("INSERT INTO invites (school_id, token_hash, user_handle, staff_id, display_name, "
              "created_by, created_at, expires_at) VALUES (1, 't', x'01', 7, 'Ilse', 'cli', 'x', 'y')")
    c.execute("INSERT INTO signals (id, school_id, municipality_id, reference, state, received_at,"
              " opened_by, updated_at) VALUES ('sig', 1, 1, 'R1', 'opened', 'x', 7, 'x')")
    monkeypatch.undo()
    yield database
    database.close()


def test_rebuild_keeps_every_row_and_reference(old_db):
    applied = db_mod.migrate(old_db)
    assert "0013_region_people" in applied
    c = old_db.conn
    assert c.execute("SELECT school_id, display_name, municipality_id FROM staff").fetchall() == \
        [(1, "Ilse Bedacht", None)]
    assert c.execute("SELECT role FROM staff_roles WHERE staff_id = 7").fetchall() == [("receiver",)]
    for table in ("passkeys", "web_sessions", "push_subscriptions", "invites"):
        assert c.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 1, table
    assert c.execute("SELECT opened_by FROM signals").fetchone()[0] == 7  # no SET NULL fired
    assert c.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert c.execute("PRAGMA foreign_key_check").fetchall() == []
    db_mod.check_pragmas(c)
    # The new shape: a person without a school, the new roles, a place for a school.
    c.execute("INSERT INTO staff (id, display_name, user_handle, created_at, municipality_id) "
              "VALUES (8, 'Olaf Ambtenaar', x'02', 'x', 1)")
    c.execute("INSERT INTO staff_roles VALUES (8, 'officer')")
    c.execute("INSERT INTO staff (id, display_name, user_handle, created_at) "
              "VALUES (9, 'Bea Beheer', x'03', 'x')")
    c.execute("INSERT INTO staff_roles VALUES (9, 'operator')")
    assert c.execute("SELECT place FROM schools").fetchone()[0] == ""
    with pytest.raises(sqlite3.IntegrityError):  # a person is of a school or a municipality
        c.execute("INSERT INTO staff (display_name, user_handle, created_at, school_id, "
                  "municipality_id) VALUES ('X', x'04', 'x', 1, 1)")
    with pytest.raises(sqlite3.IntegrityError):  # foreign keys are enforced again
        c.execute("INSERT INTO passkeys (staff_id, credential_id, public_key, created_at) "
                  "VALUES (999, x'cc', x'dd', 'x')")
    # Deleting a person still cascades as before.
    c.execute("DELETE FROM staff WHERE id = 7")
    assert c.execute("SELECT count(*) FROM passkeys").fetchone()[0] == 0


def test_a_dangling_reference_stops_the_rebuild_and_changes_nothing(old_db):
    c = old_db.conn
    c.execute("PRAGMA foreign_keys=OFF")
    c.execute("INSERT INTO staff_roles VALUES (404, 'teacher')")  # points at nobody
    c.execute("PRAGMA foreign_keys=ON")
    with pytest.raises(db_mod.StorageError):
        db_mod.migrate(old_db)
    assert "0013_region_people" not in db_mod.applied_migrations(old_db)
    assert c.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert c.execute("SELECT count(*) FROM staff").fetchone()[0] == 1
