import pytest

from server import vault
from server.db import write


def _signal(db, receive):
    return receive()


def test_seal_unseal_roundtrip_and_shred(db, receive):
    sid = receive()
    with write(db):
        vault.seal(db.conn, sid, "teacher", b"geheim", "2026-11-23T06:00:00Z")
    assert vault.unseal(db.conn, sid, "teacher") == b"geheim"
    ct = db.conn.execute("SELECT ciphertext FROM sealed WHERE purpose='teacher'").fetchone()[0]
    assert b"geheim" not in ct
    with write(db):
        assert vault.shred(db.conn, sid, "teacher") == 1
    with pytest.raises(vault.VaultError):
        vault.unseal(db.conn, sid, "teacher")
    assert db.conn.execute("SELECT count(*) FROM keys.data_keys k WHERE NOT EXISTS"
                           " (SELECT 1 FROM sealed s WHERE s.id = k.sealed_id)").fetchone()[0] == 0


def test_key_is_256_bit_and_lives_only_in_keys_db(db, receive):
    sid = receive()
    key = db.conn.execute("SELECT key FROM keys.data_keys WHERE signal_id = ?", (sid,)).fetchone()[0]
    assert len(key) == 32
    main_tables = [r[0] for r in db.conn.execute(
        "SELECT name FROM main.sqlite_master WHERE type='table'")]
    assert "data_keys" not in main_tables


def test_associated_data_binds_ciphertext_to_signal(db, receive):
    a, b = receive("A-1", "Anna Eerste"), receive("B-1", "Bram Tweede")
    # Move A's ciphertext and key onto B's row: it must not decrypt as B's.
    with write(db):
        row = db.conn.execute("SELECT nonce, ciphertext FROM sealed WHERE signal_id=?", (a,)).fetchone()
        db.conn.execute("UPDATE sealed SET nonce=?, ciphertext=? WHERE signal_id=?", (*row, b))
        key = db.conn.execute("SELECT key FROM keys.data_keys WHERE signal_id=?", (a,)).fetchone()[0]
        db.conn.execute("UPDATE keys.data_keys SET key=? WHERE signal_id=?", (key, b))
    with pytest.raises(vault.VaultError):
        vault.unseal(db.conn, b, "receiver")


def test_shred_everything_removes_intake_mac(db, receive):
    sid = receive()
    assert db.conn.execute("SELECT count(*) FROM keys.intake").fetchone()[0] == 1
    with write(db):
        vault.shred(db.conn, sid)
    for table in ("main.sealed", "keys.data_keys", "keys.intake"):
        assert db.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0


def test_unknown_purpose_refused(db, receive):
    sid = receive()
    with pytest.raises(ValueError):
        vault.seal(db.conn, sid, "diary", b"x", "2026-11-23T06:00:00Z")
