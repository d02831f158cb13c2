"""Writers of one process queue for their turn (issue 14): a waiting intake starts as soon as
the previous commit is done, instead of sleeping in SQLite's busy handler in growing steps.
SQLite's own locking and every sync stay as they were."""
from __future__ import annotations

import sqlite3
import threading

import pytest

from server import db as db_mod


def _other_thread_gets_turn(turn) -> bool:
    got = []

    def attempt():
        ok = turn.acquire(blocking=False)
        got.append(ok)
        if ok:
            turn.release()
    t = threading.Thread(target=attempt)
    t.start()
    t.join()
    return got[0]


def test_connections_to_one_data_dir_share_one_turn_held_for_the_whole_transaction(db,
                                                                                   data_dir):
    other = db_mod.connect(data_dir)
    try:
        assert other.writer_turn is db.writer_turn
        assert _other_thread_gets_turn(db.writer_turn)
        with db_mod.write(db):
            assert not _other_thread_gets_turn(db.writer_turn)
            with db_mod.write(db):  # nested: joins, and still holds the turn
                assert not _other_thread_gets_turn(db.writer_turn)
        assert _other_thread_gets_turn(db.writer_turn)
    finally:
        other.close()


def test_the_turn_is_given_back_when_the_transaction_fails(db):
    with pytest.raises(RuntimeError):
        with db_mod.write(db):
            db.conn.execute("UPDATE schools SET name = name")
            raise RuntimeError("boom")
    assert not db.conn.in_transaction
    assert _other_thread_gets_turn(db.writer_turn)


def test_a_second_writer_waits_for_its_turn_instead_of_failing(db, data_dir):
    """With SQLite's busy wait switched off, a second writer that came in while the first held
    the write lock would fail with 'database is locked'; queued on the turn it just waits."""
    other = db_mod.connect(data_dir)
    other.conn.execute("PRAGMA busy_timeout=0")
    errors, done = [], threading.Event()

    def second():
        try:
            with db_mod.write(other):
                other.conn.execute("UPDATE schools SET name = name")
        except sqlite3.Error as exc:
            errors.append(exc)
        done.set()
    try:
        with db_mod.write(db):
            db.conn.execute("UPDATE schools SET name = name")
            t = threading.Thread(target=second)
            t.start()
            assert not done.is_set()
        t.join()
        assert done.is_set() and errors == []
    finally:
        other.close()
