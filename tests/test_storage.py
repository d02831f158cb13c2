"""How writes use the two files: a write that changes only hwc.db locks (and syncs) only hwc.db,
and the sync level the durability argument rests on is set and checked on every connection.
(The forensic and crash-safety tests prove what is on disk; these prove the locking.)"""
from __future__ import annotations

import sqlite3
import threading

import pytest

from server import db as db_mod

from .auth_helpers import Device, enrolled


def _other(data_dir) -> sqlite3.Connection:
    conn = sqlite3.connect(data_dir / db_mod.MAIN_DB, isolation_level=None, timeout=0.05)
    conn.execute("ATTACH DATABASE ? AS keys", (str(data_dir / db_mod.KEYS_DB),))
    return conn


def test_a_write_to_hwc_db_alone_leaves_keys_db_unlocked(db, data_dir):
    other = _other(data_dir)
    with db_mod.write(db):
        db.conn.execute("INSERT INTO audit_events (actor, action, at) VALUES ('t', 'x', 'now')")
        # keys.db is free: another connection can write it now (BEGIN IMMEDIATE would refuse).
        other.execute("BEGIN")
        other.execute("INSERT INTO keys.intake (signal_id, mac_key, mac) VALUES ('s', x'00', x'00')")
        other.execute("ROLLBACK")
        # hwc.db is locked from the first statement on: no one else can start writing it.
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
    other.close()


def test_both_files_locks_both(db, data_dir):
    other = _other(data_dir)
    with db_mod.write(db, both_files=True):
        other.execute("BEGIN")
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("INSERT INTO keys.intake (signal_id, mac_key, mac)"
                          " VALUES ('s', x'00', x'00')")
        other.execute("ROLLBACK")
    other.close()


def test_a_failed_write_leaves_nothing(db):
    before = db.conn.execute("SELECT count(*) FROM audit_events").fetchone()[0]
    with pytest.raises(RuntimeError):
        with db_mod.write(db):
            db.conn.execute("INSERT INTO audit_events (actor, action, at) VALUES ('t', 'x', 'n')")
            raise RuntimeError("boom")
    assert db.conn.execute("SELECT count(*) FROM audit_events").fetchone()[0] == before
    assert not db.conn.in_transaction


def test_synchronous_levels_are_set_and_checked(db):
    assert db.conn.execute("PRAGMA main.synchronous").fetchone()[0] == 3   # EXTRA
    assert db.conn.execute("PRAGMA keys.synchronous").fetchone()[0] == 2   # FULL
    db.conn.execute("PRAGMA main.synchronous=NORMAL")
    with pytest.raises(db_mod.StorageError, match="synchronous"):
        db_mod.check_pragmas(db.conn)
    db.conn.execute("PRAGMA main.synchronous=EXTRA")
    db_mod.check_pragmas(db.conn)


@pytest.mark.parametrize("pragma, bad, good", [
    ("main.secure_delete", "OFF", "ON"), ("keys.secure_delete", "OFF", "ON"),
    ("main.journal_mode", "MEMORY", "DELETE"), ("keys.journal_mode", "MEMORY", "DELETE"),
    ("main.synchronous", "FULL", "EXTRA"), ("keys.synchronous", "NORMAL", "FULL"),
    ("foreign_keys", "OFF", "ON"), ("temp_store", "FILE", "MEMORY"),
])
def test_every_pragma_of_both_files_is_checked(db, pragma, bad, good):
    """Each file's setting is changed on its own and must be noticed (a check over the
    table-valued `keys.pragma_synchronous` would silently read main's value)."""
    db_mod.check_pragmas(db.conn)
    db.conn.execute(f"PRAGMA {pragma}={bad}")
    try:
        with pytest.raises(db_mod.StorageError):
            db_mod.check_pragmas(db.conn)
    finally:
        db.conn.execute(f"PRAGMA {pragma}={good}")
    db_mod.check_pragmas(db.conn)


def test_the_pragma_check_takes_no_lock(db, data_dir):
    """It runs on every request; if it read the schema it would wait for every commit."""
    other = db_mod.connect(data_dir)
    db.conn.execute("PRAGMA busy_timeout=0")
    other.conn.execute("BEGIN EXCLUSIVE")
    try:
        db_mod.check_pragmas(db.conn)
    finally:
        other.conn.execute("ROLLBACK")
        other.close()
        db.conn.execute("PRAGMA busy_timeout=15000")


def test_a_refused_assertion_still_uses_up_its_challenge(app, db, clock, school):
    """The challenge's use and the sign count are one transaction now; a refusal must not roll
    back the use, or a failed attempt could be retried against the same challenge."""
    device = enrolled(app, db, clock, school["id"])
    fresh = Device(app)
    fresh.authenticator = device.authenticator
    options = fresh.login_options()
    assert fresh.login(options, origin="https://evil.example").status_code == 401
    assert fresh.login(options).status_code == 401            # same challenge: used up
    assert fresh.login().status_code == 200                   # a new one works


def test_rate_limiting_starts_no_thread_per_request(app, monkeypatch):
    """Flask-Limiter's default memory store started a timer thread for nearly every request."""
    import threading

    from server.web.base import limiter

    assert type(limiter._storage).__name__ == "LazyMemoryStorage"
    started = []
    real_start = threading.Thread.start
    monkeypatch.setattr(threading.Thread, "start",
                        lambda self: started.append(self.name) or real_start(self))
    client = app.test_client()
    for _ in range(50):
        assert client.get("/api/v1/signals/X-1").status_code == 401
        assert client.post("/auth/login/options").status_code in (200, 400)
    assert started == []


def test_the_lazy_store_still_limits_and_forgets():
    from limits import parse
    from limits.strategies import MovingWindowRateLimiter

    from server.web.ratelimit_store import LazyMemoryStorage

    store = LazyMemoryStorage()
    limiter = MovingWindowRateLimiter(store)
    item = parse("3/second")
    assert [limiter.hit(item, "k") for _ in range(4)] == [True, True, True, False]
    (key,) = store.events
    for event in store.events[key]:
        event.expiry = 0  # as if the window had passed
    store._next_sweep = 0  # the next write sweeps, in this thread
    limiter.hit(item, "other")
    assert not store.events.get(key)


def test_the_pool_keeps_one_checked_connection_per_thread(app, data_dir):
    import threading

    pool = db_mod.Pool(data_dir)
    first = pool.get()
    assert pool.get() is first                      # kept in this thread
    other = []
    thread = threading.Thread(target=lambda: other.append(pool.get()))
    thread.start()
    thread.join()
    assert other[0] is not first                    # another thread, another connection
    # A request that left a transaction open: rolled back when given back.
    first.conn.execute("BEGIN")
    first.conn.execute("INSERT INTO audit_events (actor, action, at) VALUES ('t', 'x', 'n')")
    pool.release(first)
    assert not first.conn.in_transaction
    assert first.conn.execute("SELECT count(*) FROM audit_events WHERE actor = 't'").fetchone()[0] == 0
    # A kept connection whose guarantees changed is not handed out again.
    first.conn.execute("PRAGMA main.secure_delete=OFF")
    replaced = pool.get()
    assert replaced is not first
    assert replaced.conn.execute("PRAGMA main.secure_delete").fetchone()[0] == 1
    pool.close_all()


def test_requests_reuse_the_threads_connection(app):
    pool = app.extensions["hwc_pool"]
    client = app.test_client()
    client.get("/healthz")
    kept = pool.get()
    client.get("/healthz")
    assert pool.get() is kept


def test_a_snapshot_is_one_read_transaction_that_refuses_writes(db, school, clock):
    """`snapshot` takes hwc.db's shared lock once for several reads and lets go of it at the
    end, also when a read fails; a write inside it would upgrade a shared lock (deadlock-prone)
    and is refused before anything is written."""
    from server import inbox_view

    seen = []
    db.conn.set_trace_callback(seen.append)
    try:
        inbox_view.view(db, school["id"], clock.now())
    finally:
        db.conn.set_trace_callback(None)
    assert seen[0] == "BEGIN" and seen[-1] == "COMMIT" and len(seen) > 4
    assert "BEGIN" not in seen[1:-1] and not db.conn.in_transaction

    before = db.conn.execute("SELECT count(*) FROM audit_events").fetchone()[0]
    with pytest.raises(RuntimeError, match="snapshot"), db_mod.snapshot(db), db_mod.write(db):
        db.conn.execute("INSERT INTO audit_events (actor, action, at) VALUES ('t', 'x', 'n')")
    assert not db.conn.in_transaction and not db.reading
    assert db.conn.execute("SELECT count(*) FROM audit_events").fetchone()[0] == before
    with pytest.raises(ValueError), db_mod.snapshot(db):
        raise ValueError("a read failed")
    assert not db.conn.in_transaction
    with db_mod.write(db):  # the lock was let go: a write goes through
        db.conn.execute("INSERT INTO audit_events (actor, action, at) VALUES ('t', 'x', 'n')")


def _until(predicate, seconds: float = 5.0) -> bool:
    """Wait (bounded) until another thread has reached a state; True if it did."""
    done = threading.Event()
    for _ in range(int(seconds * 1000)):
        if predicate():
            return True
        done.wait(0.001)
    return predicate()


def test_a_commit_waits_for_the_snapshots_under_way_and_new_ones_wait_for_it(monkeypatch):
    """With the bounds far away (10 s), the commit can only go ahead because the reader's leaving
    woke it, and the queued reader only because the commit's end woke it."""
    monkeypatch.setattr(db_mod.CommitGate, "WRITER_WAIT", 10.0)
    monkeypatch.setattr(db_mod.CommitGate, "READER_WAIT", 10.0)
    gate = db_mod.CommitGate()
    gate.enter_read()
    committed, second_reader_in = threading.Event(), threading.Event()

    def writer():
        with gate.committing():
            committed.set()

    def reader():
        gate.enter_read()
        second_reader_in.set()
        gate.leave_read()

    w = threading.Thread(target=writer)
    w.start()
    assert _until(lambda: gate._writer)        # the writer is waiting for the reader ...
    r = threading.Thread(target=reader)
    r.start()
    assert not committed.wait(0.05)            # ... which holds it back,
    assert not second_reader_in.is_set()       # and a new reader queues behind the writer
    gate.leave_read()
    assert committed.wait(5) and second_reader_in.wait(5)  # woken, not timed out (10 s)
    w.join(5), r.join(5)
    assert gate._readers == 0 and not gate._writer


def test_the_gate_never_waits_longer_than_its_bound(monkeypatch):
    """A snapshot that does not end (stuck on a lock of another process) holds a commit back
    only WRITER_WAIT seconds; after that SQLite's own locks decide, as before the gate."""
    monkeypatch.setattr(db_mod.CommitGate, "WRITER_WAIT", 0.05)
    gate = db_mod.CommitGate()
    gate.enter_read()  # and never leaves
    committed = threading.Event()

    def writer():
        with gate.committing():
            committed.set()

    threading.Thread(target=writer).start()
    assert committed.wait(5)


def test_a_snapshot_waits_for_a_commit_at_most_its_bound(monkeypatch):
    monkeypatch.setattr(db_mod.CommitGate, "READER_WAIT", 0.05)
    gate, inside, release = db_mod.CommitGate(), threading.Event(), threading.Event()

    def writer():
        with gate.committing():
            inside.set()
            release.wait(10)  # a commit that takes long (a slow disk)

    w = threading.Thread(target=writer)
    w.start()
    assert inside.wait(5)
    entered = threading.Event()
    threading.Thread(target=lambda: (gate.enter_read(), entered.set())).start()
    assert entered.wait(5)  # went ahead after its bound, while the commit still runs
    release.set()
    w.join(5)


def test_a_failed_wait_never_leaves_the_commit_flag_up(monkeypatch):
    gate = db_mod.CommitGate()
    gate.enter_read()

    def interrupted(*_a, **_k):
        raise KeyboardInterrupt

    monkeypatch.setattr(gate._cond, "wait_for", interrupted)
    with pytest.raises(KeyboardInterrupt), gate.committing():
        pass
    assert gate._writer is False


def test_a_snapshot_inside_a_snapshot_joins_it(db):
    with db_mod.snapshot(db, one_statement=True):
        with db_mod.snapshot(db, one_statement=True):
            pass
        assert db.reading  # still refused below
        with pytest.raises(RuntimeError), db_mod.write(db):
            pass
    assert not db.reading and db.commit_gate._readers == 0


def test_snapshots_and_writes_from_many_threads_all_get_through(data_dir, db):
    """Readers in snapshots and writers through write() on their own connections, at once:
    nobody deadlocks or sees 'database is locked', and every write is there."""
    errors, before = [], db.conn.execute("SELECT count(*) FROM audit_events").fetchone()[0]

    def work(n: int) -> None:
        own = db_mod.connect(data_dir)
        try:
            for i in range(40):
                if (n + i) % 3 == 0:
                    with db_mod.write(own):
                        own.conn.execute("INSERT INTO audit_events (actor, action, at)"
                                         " VALUES ('t', 'x', 'n')")
                else:
                    with db_mod.snapshot(own):
                        own.conn.execute("SELECT count(*) FROM audit_events").fetchone()
                        own.conn.execute("SELECT count(*) FROM schools").fetchone()
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)
        finally:
            own.close()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    writes = sum(1 for n in range(6) for i in range(40) if (n + i) % 3 == 0)
    assert db.conn.execute("SELECT count(*) FROM audit_events").fetchone()[0] == before + writes
