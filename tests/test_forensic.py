"""Gone means gone: after a case ends, no byte of the name and no data key is in any file.

The variant with secure_delete OFF proves the scan is able to see what it looks for.
"""
from __future__ import annotations

import json
import logging
import os

from server import (
    auditlog,
    create_app,
    device_seal,
    devicekeys,
    expiry,
    municipalities,
    phone_copies,
    receipts,
    schools,
    signals,
    vault,
)
from server import db as db_mod
from server.clock import FakeClock
from server.web.base import limiter

from .forensics import needles_for, scan

NAMES = {"closed": "Quirijn Zwaluwstaart", "returned": "Wieteke Sneeuwklokje",
         "expired": "Xandrijn Morgenrood", "unread": "Yfke Dauwdruppel"}


def keys_of(database) -> list[bytes]:
    rows = database.conn.execute(
        "SELECT key FROM keys.data_keys UNION ALL SELECT mac_key FROM keys.intake"
        " UNION ALL SELECT ciphertext FROM main.sealed").fetchall()
    return [r[0] for r in rows]


def _phone(database, clock, staff_id: int) -> bytes:
    """A passkey with PRF for the person (ADR 0013); returns the phone's PRF output."""
    prf = os.urandom(32)
    passkey_id = database["passkeys"].insert({
        "staff_id": staff_id, "credential_id": os.urandom(16), "public_key": b"cose",
        "created_at": "x"}).last_pk
    devicekeys.register(database, clock.now(), {"id": passkey_id, "staff_id": staff_id},
                        device_seal.device_public_key(prf))
    return prf


def phone_entries_of(database) -> list[bytes]:
    """Every phone entry's ciphertext and ephemeral key inside the server-wrapped items."""
    out = []
    for signal_id, purpose in database.conn.execute(
            "SELECT signal_id, purpose FROM main.sealed WHERE purpose LIKE '%device%'").fetchall():
        for entry in vault.open_entries(database.conn, signal_id, purpose) or []:
            out += [device_seal.unb64(entry["ct"]), device_seal.unb64(entry["epk"])]
    return out


def run_every_path(data_dir, caplog, phones: bool = False) -> list[bytes]:
    """Push four signals through the API and take each to a different end. Returns every key
    and ciphertext that existed along the way. With `phones`, the receiver and the teacher have
    phone keys, so everything goes the phone-sealed way (ADR 0013)."""
    clock = FakeClock("2026-11-23T06:00:00Z")
    app = create_app({"data_dir": data_dir, "testing": True}, clock=clock, env={})
    limiter.reset()
    database = db_mod.connect(data_dir)
    schools.add(database, clock.now(), brin="12AB", name="OBS De Kastanje")
    _r, token = municipalities.add(database, clock.now(), name="Gemeente X", brins=["12AB"])
    ib = database["staff"].insert({"school_id": 1, "display_name": "Ilse Bedacht",
                                   "user_handle": b"u1" * 16, "created_at": "x"}).last_pk
    database["staff_roles"].insert({"staff_id": ib, "role": "receiver"})
    teacher = database["staff"].insert({"school_id": 1, "display_name": "Tom Leraar",
                                        "user_handle": b"u2" * 16, "created_at": "x"}).last_pk
    if phones:
        prf = {"ib": _phone(database, clock, ib), "teacher": _phone(database, clock, teacher)}
        phone = {who: device_seal.device_public_key(out) for who, out in prf.items()}
    else:
        phone = {"ib": None, "teacher": None}
    client = app.test_client()
    ids = {}
    for path, name in NAMES.items():
        resp = client.post("/api/v1/signals", headers={"Authorization": f"Bearer {token}"},
                           json={"school": "12AB", "reference": f"F-{path}",
                                 "child": {"name": name, "birth_date": "2016-06-06"}})
        assert resp.status_code == 201
        ids[path] = resp.get_json()["id"]
    seen = keys_of(database) + phone_entries_of(database)
    notes = {}
    for path in ("closed", "returned", "unread"):
        shown = signals.reveal(database, clock.now(), ids[path], ib, phone["ib"])
        seen += keys_of(database) + phone_entries_of(database)
        if phones:  # what the receiver's browser makes: the note sealed to the teacher's phone
            plain = device_seal.open_entry(device_seal.device_private_key(prf["ib"]),
                                           shown.sealed, device_seal.aad(ids[path]))
            notes[path] = phone_copies.BrowserNote(entries=(device_seal.seal(
                phone["teacher"], plain, device_seal.aad(ids[path])),))
        # What the routes write to the director's log (issue 12): who, what, received when.
        auditlog.signal_event(database, clock.now(), 1, ib, "signal.opened",
                              signals.get(database, ids[path])["received_at"])
    for path in ("closed", "unread"):
        signals.assign_teacher(database, clock.now(), ids[path], teacher, note=notes.get(path))
    seen += keys_of(database) + phone_entries_of(database)
    read = signals.teacher_read(database, clock.now(), ids["closed"], teacher, phone["teacher"])
    if phones:
        assert NAMES["closed"].encode() in device_seal.open_entry(
            device_seal.device_private_key(prf["teacher"]), read.sealed,
            device_seal.aad(ids["closed"]))
    else:
        assert read.child.name == NAMES["closed"]
    signals.record_parent_contact(database, clock.now(), ids["closed"], "by_teacher")
    signals.return_signal(database, clock.now(), ids["returned"])
    clock.advance(days=7)
    result = expiry.sweep(database, clock.now())
    assert result["expired_unopened"] == 1 and result["expired_unread"] == 1
    assert {signals.get(database, i)["state"] for i in ids.values()} == {"closed", "returned",
                                                                       "expired"}
    database.close()
    return seen


def test_no_trace_of_a_phone_sealed_case_after_every_end(data_dir, caplog):
    """The same four ends with phone keys: no name, no server key, and no phone entry (its
    ciphertext or ephemeral key) is left in any file — the vault's wrapping is shredded with
    the case like every other sealed item."""
    seen = run_every_path(data_dir, caplog, phones=True)
    assert any(len(s) == 32 for s in seen) and len(seen) >= 20
    assert scan(data_dir, needles_for(list(NAMES.values()), seen)) == []


def test_no_trace_of_any_child_or_key_after_every_end(data_dir, caplog):
    caplog.set_level(logging.DEBUG)
    seen = run_every_path(data_dir, caplog)
    assert len(seen) >= 12
    hits = scan(data_dir, needles_for(list(NAMES.values()), seen))
    assert hits == []
    logs = "\n".join(r.getMessage() for r in caplog.records)
    for name in NAMES.values():
        for part in name.split():
            assert part not in logs
    assert "2016-06-06" not in logs
    # The director's log and the nameless traces hold no child data (issue 12), as rows and as
    # the sentences the director reads.
    database = db_mod.connect(data_dir)
    audit_rows = list(database.query("SELECT * FROM audit_events"))
    trace_rows = list(database.query("SELECT * FROM school_traces"))
    sentences = [line["text"] for line in auditlog.lines(database, 1)]
    database.close()
    assert len([r for r in audit_rows if r["action"] == "signal.opened"]) == 3
    assert len(trace_rows) == 2 and len(sentences) >= 3
    assert "Ilse Bedacht opende een signaal (ontvangen 23 nov 07:00) om 07:00" in sentences
    dumped = json.dumps([audit_rows, trace_rows, sentences], ensure_ascii=False, default=str)
    for name in NAMES.values():
        for part in name.split():
            assert part not in dumped
    assert "2016-06-06" not in dumped and "F-" not in dumped
    # The receipts are still there for the municipality — without any personal data.
    database = db_mod.connect(data_dir)
    receipt_text = json.dumps([receipts.receipt(r) for r in database.query("SELECT * FROM signals")])
    assert "F-closed" in receipt_text and "Quirijn" not in receipt_text
    database.close()


def test_scan_catches_leftovers_when_secure_delete_is_off(data_dir, caplog, monkeypatch):
    monkeypatch.setattr(db_mod, "SECURE_DELETE", "OFF")
    seen = run_every_path(data_dir, caplog)
    hits = scan(data_dir, needles_for(list(NAMES.values()), seen))
    assert any("key#" in h for h in hits), "without secure_delete deleted keys must be found"


def test_scan_catches_a_planted_name(tmp_path):
    (tmp_path / "leak.log").write_bytes("x Yfke Dauwdruppel y".encode("utf-16-le"))
    assert "leak.log: name#Yfk…/utf16le" in scan(tmp_path, needles_for(["Yfke Dauwdruppel"], []))


PORTAL_NAMES = {"form": "Zeger Klaprozenveld", "form_refused": "Ravian Wolkenschuif",
                "csv": "Odilia Sterrenmos", "csv_refused": "Pepijn Nevelhoorn"}


def test_portal_path_leaves_no_trace(app, db, clock, data_dir, school, municipality, caplog):
    """The leerplicht portal: form post, check step, CSV upload and preview, send, then each
    signal ends (returned, expired). No file of the data directory holds any of the names —
    neither of the sent children nor of the refused rows, which were never stored at all."""
    import io

    from .auth_helpers import enrolled
    from .region_helpers import csrf_of, enrolled_region, hidden_fields

    caplog.set_level(logging.DEBUG)
    enrolled(app, db, clock, school["id"], ("receiver",), "Ilse Bedacht")
    officer = enrolled_region(app, db, clock, "officer", "Olaf Ambtenaar", municipality["id"])
    c = officer.client
    token = csrf_of(c.get("/gemeente/signalen/nieuw").get_data(as_text=True))
    refused = c.post("/gemeente/signalen/controle", data={
        "csrf_token": token, "school": ["12AB", "12AB"],
        "name": [PORTAL_NAMES["form"], PORTAL_NAMES["form_refused"]],
        "birth_date": ["06-06-2016", "31-02-2016"], "reference": ["P-1", "P-2"]})
    assert refused.status_code == 422  # one bad row: the form comes back, nothing is stored
    checked = c.post("/gemeente/signalen/controle", data={
        "csrf_token": token, "school": "12AB", "name": PORTAL_NAMES["form"],
        "birth_date": "06-06-2016", "reference": "P-1"})
    csv_text = (f"naam;geboortedatum;school;kenmerk\n{PORTAL_NAMES['csv']};07-07-2015;12AB;P-3\n"
                f"{PORTAL_NAMES['csv_refused']};99-99-2015;12AB;P-4\n")
    preview = c.post("/gemeente/upload", data={
        "csrf_token": token, "file": (io.BytesIO(csv_text.encode()), "vt.csv")},
        content_type="multipart/form-data")
    assert preview.status_code == 200
    officer.step_up()
    for page in (checked, preview):
        data: dict = {"csrf_token": token}
        for name, value in hidden_fields(page.get_data(as_text=True)):
            data.setdefault(name, []).append(value)
        assert c.post("/gemeente/signalen", data=data).status_code == 201
    ids = dict(db.conn.execute("SELECT reference, id FROM signals").fetchall())
    assert sorted(ids) == ["P-1", "P-3"]
    seen = keys_of(db)
    receiver = db.conn.execute("SELECT id FROM staff WHERE display_name = 'Ilse Bedacht'").fetchone()[0]
    signals.reveal(db, clock.now(), ids["P-1"], receiver)
    seen += keys_of(db)
    signals.return_signal(db, clock.now(), ids["P-1"])
    clock.advance(days=7)
    expiry.sweep(db, clock.now())
    assert {signals.get(db, i)["state"] for i in ids.values()} == {"returned", "expired"}
    hits = scan(data_dir, needles_for(list(PORTAL_NAMES.values()), seen))
    assert hits == []
    logs = "\n".join(r.getMessage() for r in caplog.records)
    for name in PORTAL_NAMES.values():
        for part in name.split():
            assert part not in logs
