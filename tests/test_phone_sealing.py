"""Sealed to phones (issue 15, ADR 0013), the domain rules without a browser.

A phone is simulated by its PRF output: `device_seal.device_public_key(prf)` is what the
browser registers, `device_seal.device_private_key(prf)` what it keeps in memory.
"""
from __future__ import annotations

import json
import os
from datetime import timedelta

import pytest

from server import (
    device_seal,
    devicekeys,
    expiry,
    phone_copies,
    signals,
    vault,
)
from server import staff as staff_mod
from server.clock import iso
from server.deadlines import Deadlines


def add_phone(db, clock, staff_id: int) -> tuple[bytes, int]:
    """A passkey with PRF for the person; returns (prf output, passkey id)."""
    prf = os.urandom(32)
    passkey_id = db["passkeys"].insert({
        "staff_id": staff_id, "credential_id": os.urandom(16), "public_key": b"cose",
        "sign_count": 0, "name": "Telefoon", "created_at": iso(clock.now())}).last_pk
    passkey = {"id": passkey_id, "staff_id": staff_id}
    devicekeys.register(db, clock.now(), passkey, device_seal.device_public_key(prf))
    return prf, passkey_id


def purposes(db, signal_id: str) -> set[str]:
    return {r["purpose"] for r in db.query("SELECT purpose FROM sealed WHERE signal_id = ?",
                                           (signal_id,))}


def opened(prf: bytes, entry: dict, signal_id: str) -> signals.Child:
    plain = device_seal.open_entry(device_seal.device_private_key(prf), entry,
                                   device_seal.aad(signal_id))
    return signals.Child.from_bytes(plain)


@pytest.fixture
def phones(db, clock, staff):
    """Two receivers with a phone each, and a teacher with a phone."""
    ilse, bram = staff("Ilse Bedacht"), staff("Bram Verzonnen")
    tom = staff("Tom Leraar", roles=("teacher",), group="groep 5")
    return {"ilse": (ilse, add_phone(db, clock, ilse)[0]),
            "bram": (bram, add_phone(db, clock, bram)[0]),
            "tom": (tom, add_phone(db, clock, tom)[0])}


def test_sealing_roundtrip_and_binding():
    prf = os.urandom(32)
    entry = device_seal.seal(device_seal.device_public_key(prf), b"secret", b"aad-1")
    assert device_seal.open_entry(device_seal.device_private_key(prf), entry, b"aad-1") == b"secret"
    with pytest.raises(device_seal.BadEntry):  # bound to its signal
        device_seal.open_entry(device_seal.device_private_key(prf), entry, b"aad-2")
    with pytest.raises(device_seal.BadEntry):  # and to its phone
        device_seal.open_entry(device_seal.device_private_key(os.urandom(32)), entry, b"aad-1")
    for low_order in (bytes(32), (1).to_bytes(32, "little"),
                      (2**255 - 19 - 1).to_bytes(32, "little")):
        with pytest.raises(device_seal.BadEntry):  # would make every seal to it fail
            device_seal.public_key(low_order)
    with pytest.raises(device_seal.BadEntry):
        device_seal.check_entry(dict(entry, extra="x"))


def test_all_openers_with_a_phone_means_no_copy_the_server_can_read(db, phones, receive):
    sid = receive(name="Sanne Verzonnen")
    assert purposes(db, sid) == {"receiver_devices"}
    entries = vault.open_entries(db.conn, sid, "receiver_devices")
    assert len(entries) == 2
    assert b"Sanne" not in json.dumps(entries).encode()
    for who in ("ilse", "bram"):
        prf = phones[who][1]
        mine = [e for e in entries
                if e["pub"] == device_seal.b64(device_seal.device_public_key(prf))]
        assert opened(prf, mine[0], sid).name == "Sanne Verzonnen"


def test_one_opener_without_a_phone_keeps_the_server_copy(db, phones, staff, receive):
    staff("Kees Zonderprf", roles=("backup",))
    sid = receive()
    assert purposes(db, sid) == {"receiver", "receiver_devices"}


def test_a_pending_invite_for_an_opener_keeps_the_server_copy(db, clock, school, phones, receive):
    staff_mod.create_invite(db, clock.now(), school_id=school["id"], display_name="Nieuw",
                            roles=("receiver",), actor="test")
    assert "receiver" in purposes(db, receive())


def test_the_wrong_phone_changes_nothing(db, clock, phones, receive):
    sid = receive()
    ilse = phones["ilse"][0]
    with pytest.raises(phone_copies.NotForThisPhone):
        signals.reveal(db, clock.now(), sid, ilse, device_seal.device_public_key(os.urandom(32)))
    with pytest.raises(phone_copies.NotForThisPhone):
        signals.reveal(db, clock.now(), sid, ilse, None)  # a page without the key
    assert signals.get(db, sid)["state"] == "received"
    assert purposes(db, sid) == {"receiver_devices"}


def test_the_reveal_hands_out_one_phones_entry_and_destroys_the_others(db, clock, phones,
                                                                      receive):
    sid = receive(name="Sanne Verzonnen")
    ilse, prf = phones["ilse"]
    shown = signals.reveal(db, clock.now(), sid, ilse, device_seal.device_public_key(prf))
    assert shown.child is None
    assert opened(prf, shown.sealed, sid).name == "Sanne Verzonnen"
    assert purposes(db, sid) == {"handover_device"}
    assert phone_copies.handover_on_phone(db, sid) == shown.sealed
    assert db.conn.execute("SELECT count(*) FROM keys.intake WHERE signal_id = ?",
                           (sid,)).fetchone()[0] == 0


def _revealed(db, clock, phones, receive):
    sid = receive(name="Sanne Verzonnen")
    ilse, prf = phones["ilse"]
    shown = signals.reveal(db, clock.now(), sid, ilse, device_seal.device_public_key(prf))
    return sid, opened(prf, shown.sealed, sid)


def test_the_note_must_be_sealed_to_exactly_the_teachers_phones(db, clock, phones, receive):
    sid, child = _revealed(db, clock, phones, receive)
    tom, tom_prf = phones["tom"]
    stranger = device_seal.seal(device_seal.device_public_key(os.urandom(32)), child.to_bytes(),
                                device_seal.aad(sid))
    for note in (None, phone_copies.BrowserNote(entries=(stranger,)),
                 phone_copies.BrowserNote(child=child)):  # a line although Tom has a phone
        with pytest.raises(phone_copies.NoteRefused):
            signals.assign_teacher(db, clock.now(), sid, tom, note=note)
        assert signals.get(db, sid)["state"] == "opened"  # rolled back
    entry = device_seal.seal(device_seal.device_public_key(tom_prf), child.to_bytes(),
                             device_seal.aad(sid))
    signals.assign_teacher(db, clock.now(), sid, tom, note=phone_copies.BrowserNote((entry,)))
    assert purposes(db, sid) == {"handover_device", "teacher_devices"}
    with pytest.raises(phone_copies.NotForThisPhone):
        signals.teacher_read(db, clock.now(), sid, tom, None)
    read = signals.teacher_read(db, clock.now(), sid, tom, device_seal.device_public_key(tom_prf))
    assert opened(tom_prf, read.sealed, sid).name == "Sanne Verzonnen"
    assert purposes(db, sid) == set()


def test_a_teacher_without_a_phone_gets_the_line_sealed_on_the_server(db, clock, phones, staff,
                                                                      receive):
    sid, child = _revealed(db, clock, phones, receive)
    tess = staff("Tess Juf", roles=("teacher",), group="groep 7")
    signals.assign_teacher(db, clock.now(), sid, tess, note=phone_copies.BrowserNote(child=child))
    assert "teacher" in purposes(db, sid)
    assert signals.teacher_read(db, clock.now(), sid, tess).child.name == "Sanne Verzonnen"


def test_a_phone_sealed_note_is_made_again_for_another_teacher(db, clock, phones, staff, receive):
    sid, child = _revealed(db, clock, phones, receive)
    tom, tom_prf = phones["tom"]
    entry = device_seal.seal(device_seal.device_public_key(tom_prf), child.to_bytes(),
                             device_seal.aad(sid))
    signals.assign_teacher(db, clock.now(), sid, tom, note=phone_copies.BrowserNote((entry,)))
    tess = staff("Tess Juf", roles=("teacher",), group="groep 7")
    with pytest.raises(phone_copies.NoteRefused):  # the browser must make it again
        signals.reassign_note(db, clock.now(), sid, tess)
    signals.reassign_note(db, clock.now(), sid, tess, note=phone_copies.BrowserNote(child=child))
    assert purposes(db, sid) == {"handover_device", "teacher"}
    assert signals.teacher_read(db, clock.now(), sid, tess).child.name == "Sanne Verzonnen"


def test_a_revoked_passkey_or_a_person_switched_off_gets_nothing_new(db, clock, school, staff,
                                                                    phones, receive):
    ilse, bram = phones["ilse"][0], phones["bram"][0]
    passkey_id = db.conn.execute("SELECT passkey_id FROM device_keys WHERE staff_id = ?",
                                 (ilse,)).fetchone()[0]
    staff_mod.revoke_passkey(db, clock.now(), staff_id=ilse, passkey_id=passkey_id,
                             actor="test", school_id=school["id"])
    assert devicekeys.of_person(db, ilse) == []
    staff_mod.deactivate(db, clock.now(), school_id=school["id"], staff_id=bram, actor="test")
    assert devicekeys.of_person(db, bram) == []
    staff("Rian Nieuw")  # someone must be able to open the next one
    sid = receive(reference="AFTER-1")
    assert vault.open_entries(db.conn, sid, "receiver_devices") is None  # nobody's phone
    assert purposes(db, sid) == {"receiver"}


def test_the_directors_status(db, clock, school, staff, phones):
    status = devicekeys.school_status(db, school["id"], clock.now())
    assert status["sealed"] and status["openers"] == 2 and status["missing"] == []
    staff("Kees Zonderprf", roles=("backup",))
    status = devicekeys.school_status(db, school["id"], clock.now())
    assert not status["sealed"] and status["missing"] == ["Kees Zonderprf"]


def test_phone_copies_keep_a_signal_alive_and_follow_the_handover_deadline(db, clock, phones,
                                                                          receive):
    waiting = receive(reference="W-1")
    sid, _child = _revealed(db, clock, phones, receive)
    done = expiry.sweep(db, clock.now())
    assert done["expired_keyless"] == 0 and signals.get(db, waiting)["state"] == "received"
    clock.advance(seconds=Deadlines().handover.total_seconds() + 60)
    expiry.sweep(db, clock.now())
    assert "handover_device" not in purposes(db, sid)


def test_the_server_copy_outlives_a_restore_without_keys_only_as_noise(db, clock, phones,
                                                                       receive):
    """The phone entries are wrapped by a server key in keys.db: lose keys.db (a restore) and
    they are crypto-shredded like every other sealed item."""
    sid = receive()
    db.conn.execute("DELETE FROM keys.data_keys WHERE signal_id = ?", (sid,))
    assert vault.open_entries(db.conn, sid, "receiver_devices") is None
    assert expiry.sweep(db, clock.now())["expired_keyless"] == 1
    assert signals.get(db, sid)["state"] == "expired"


def test_a_phone_key_is_never_replaced_nor_shared(db, clock, phones, staff):
    ilse, _prf = phones["ilse"]
    passkey = next(iter(db.query("SELECT passkey_id AS id, staff_id FROM device_keys"
                                 " WHERE staff_id = ?", (ilse,))))
    with pytest.raises(devicekeys.KeyRefused):
        devicekeys.register(db, clock.now(), passkey,
                            device_seal.device_public_key(os.urandom(32)))
    tom, tom_prf = phones["tom"]
    kees = staff("Kees Kopie")
    pid = db["passkeys"].insert({"staff_id": kees, "credential_id": os.urandom(16),
                                 "public_key": b"cose", "sign_count": 0, "name": "x",
                                 "created_at": iso(clock.now())}).last_pk
    with pytest.raises(devicekeys.KeyRefused):  # a teacher's key is public to receivers
        devicekeys.register(db, clock.now(), {"id": pid, "staff_id": kees},
                            device_seal.device_public_key(tom_prf))


def test_a_signal_only_a_lost_phone_could_open_ends_at_once(db, clock, school, staff, receive,
                                                           municipality):
    """The school's only opener loses their phone: the passkey is revoked, and the waiting
    signal sealed to it is ended by the next sweep (told to the municipality, a trace for the
    school) instead of waiting a week that nobody can open."""
    ilse = staff("Ilse Alleen")
    _prf, passkey_id = add_phone(db, clock, ilse)
    sid = receive()
    assert purposes(db, sid) == {"receiver_devices"}
    assert expiry.sweep(db, clock.now())["expired_keyless"] == 0
    staff_mod.revoke_passkey(db, clock.now(), staff_id=ilse, passkey_id=passkey_id,
                             actor="test", school_id=school["id"])
    done = expiry.sweep(db, clock.now())
    assert done["phone_copies_dropped"] == 1 and done["expired_keyless"] == 1
    assert signals.get(db, sid)["state"] == "expired"


def test_a_lost_phone_of_one_receiver_leaves_the_others_copies(db, clock, school, phones,
                                                              receive):
    sid = receive()
    ilse = phones["ilse"][0]
    passkey_id = db.conn.execute("SELECT passkey_id FROM device_keys WHERE staff_id = ?",
                                 (ilse,)).fetchone()[0]
    staff_mod.revoke_passkey(db, clock.now(), staff_id=ilse, passkey_id=passkey_id,
                             actor="test", school_id=school["id"])
    done = expiry.sweep(db, clock.now())
    assert done["phone_copies_dropped"] == 0 and signals.get(db, sid)["state"] == "received"
    bram, prf = phones["bram"]
    shown = signals.reveal(db, clock.now(), sid, bram, device_seal.device_public_key(prf))
    assert opened(prf, shown.sealed, sid).name == "Sanne Verzonnen"


def test_a_signal_sealed_before_the_upgrade_still_opens(tmp_path, monkeypatch, clock):
    """Migration 0016 rebuilds `sealed` (wider purposes): a waiting signal sealed on the server
    before the upgrade keeps its row id, so its key in keys.db still finds it."""
    from server import db as db_mod
    from server import municipalities, schools
    from server.datadir import init_data_dir

    names = [n for n, _ in db_mod.MIGRATIONS]
    monkeypatch.setattr(db_mod, "MIGRATIONS",
                        db_mod.MIGRATIONS[:names.index("0016_device_keys")])
    data = tmp_path / "old"
    init_data_dir(data)
    database = db_mod.connect(data)
    try:
        school = schools.add(database, clock.now(), brin="12AB", name="OBS Oud", type="po")
        municipality, _token = municipalities.add(database, clock.now(), name="G",
                                                  brins=["12AB"])
        stamp = iso(clock.now())
        for reference in ("OLD-0", "OLD-1"):  # stored as the code before 0016 stored them
            with db_mod.write(database, both_files=True):
                database.conn.execute(
                    "INSERT INTO signals (id, school_id, municipality_id, reference, state,"
                    " received_at, updated_at, expires_at) VALUES (?, ?, ?, ?, 'received', ?,"
                    " ?, ?)", (reference, school["id"], municipality["id"], reference, stamp,
                               stamp, iso(clock.now() + timedelta(days=7))))
                vault.seal(database.conn, reference, "receiver",
                           signals.Child("Sanne Verzonnen", "2017-04-02").to_bytes(), stamp)
                if reference == "OLD-0":  # a gap in the row ids: a renumbering copy would show
                    vault.shred(database.conn, reference)
        row = {"id": "OLD-1"}
        monkeypatch.undo()
        assert "0016_device_keys" in db_mod.migrate(database)
        db_mod.check_pragmas(database.conn)
        from .conftest import give_receiver
        opener = give_receiver(database, clock.now(), school["id"])
        shown = signals.reveal(database, clock.now(), row["id"], opener)
        assert shown.child.name == "Sanne Verzonnen"
    finally:
        database.close()


def test_a_phone_revoked_between_the_read_and_the_lock_still_leaves_an_opener(
        db, clock, school, staff, receive, monkeypatch):
    """The intake reads the openers before the write lock; if the only phone goes before the
    lock (and a sweep runs meanwhile), the signal must not be sealed to it alone."""
    ilse = staff("Ilse Alleen")
    _prf, passkey_id = add_phone(db, clock, ilse)
    real = devicekeys.openers
    calls = []

    def openers_then_revoke(database, school_id, now):
        answer = real(database, school_id, now)
        if not calls:
            staff_mod.revoke_passkey(db, clock.now(), staff_id=ilse, passkey_id=passkey_id,
                                     actor="test", school_id=school["id"])
            expiry.sweep(db, clock.now())
        calls.append(1)
        return answer
    monkeypatch.setattr(devicekeys, "openers", openers_then_revoke)
    sid = receive()
    assert purposes(db, sid) == {"receiver"}  # Ilse can still open it once she logs in again
