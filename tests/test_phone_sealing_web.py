"""The web side of phone sealing (ADR 0013) without a browser: the soft authenticator stands in
for a phone whose browser derived `device_key` from a PRF output (tests/browser/ does it for
real in Chromium)."""
from __future__ import annotations

import json
import os

from server import device_seal, signals

from .auth_helpers import Device, invite


class Phone(Device):
    """A Device whose browser sends the phone key its PRF output gives (as passkey.js does)."""

    def __init__(self, app):
        super().__init__(app)
        self.prf = os.urandom(32)
        self.public = device_seal.b64(device_seal.device_public_key(self.prf))

    def enrol(self, token: str, name: str = "", options=None, **kw):
        options = options or self.registration_options(token)
        assert options["extensions"]["prf"]["eval"]["first"]  # the person's salt is asked
        credential = self.authenticator.create(options, **kw)
        return self.post_json(f"/auth/invite/{token}/verify",
                              {"credential": credential, "device_key": self.public})

    def step_up_with_phone(self):
        token = self.csrf()
        options = self.post_json("/auth/step-up/options", token=token).get_json()
        assert options["extensions"]["prf"]["eval"]["first"]
        credential = self.authenticator.get(options)
        return self.post_json("/auth/step-up/verify",
                              {"credential": credential, "device_key": self.public}, token=token)


def phone(app, db, clock, school_id, roles=("receiver",), name="Ilse Bedacht", group=""):
    device = Phone(app)
    assert device.enrol(invite(db, clock, school_id, roles, name, group)).status_code == 200
    return device


def csrf_of(device, path):
    html = device.client.get(path).get_data(as_text=True)
    return html.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


def test_the_reveal_needs_the_phone_the_page_holds(app, db, clock, school, receive):
    ilse = phone(app, db, clock, school["id"])
    sid = receive(name="Sanne Verzonnen")
    assert {r["purpose"] for r in db.query("SELECT purpose FROM sealed")} == {"receiver_devices"}
    assert ilse.step_up_with_phone().status_code == 200
    token = csrf_of(ilse, f"/inbox/signal/{sid}")
    # A post without the page's phone key (no JavaScript, or another script) spends nothing.
    resp = ilse.client.post(f"/inbox/signal/{sid}/reveal", data={"csrf_token": token})
    assert resp.status_code == 403 and signals.get(db, sid)["state"] == "received"
    other = device_seal.b64(device_seal.device_public_key(os.urandom(32)))
    resp = ilse.client.post(f"/inbox/signal/{sid}/reveal",
                            data={"csrf_token": token, "phone": other})
    assert resp.status_code == 403 and signals.get(db, sid)["state"] == "received"
    resp = ilse.client.post(f"/inbox/signal/{sid}/reveal",
                            data={"csrf_token": token, "phone": ilse.public})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "Sanne" not in html
    entry = json.loads(html.split("data-sealed='", 1)[1].split("'", 1)[0])
    child = device_seal.open_entry(device_seal.device_private_key(ilse.prf), entry,
                                   device_seal.aad(sid))
    assert json.loads(child)["name"] == "Sanne Verzonnen"
    assert signals.get(db, sid)["state"] == "opened"


def test_the_note_is_made_from_the_phone_handover(app, db, clock, school, receive):
    ilse = phone(app, db, clock, school["id"])
    tom = phone(app, db, clock, school["id"], ("teacher",), "Tom Leraar", "groep 5")
    tom_id = db.conn.execute("SELECT id FROM staff WHERE display_name = 'Tom Leraar'").fetchone()[0]
    sid = receive(name="Sanne Verzonnen")
    ilse.step_up_with_phone()
    token = csrf_of(ilse, f"/inbox/signal/{sid}")
    ilse.client.post(f"/inbox/signal/{sid}/reveal", data={"csrf_token": token, "phone": ilse.public})

    keys = ilse.client.get(f"/inbox/case/{sid}/note-keys?teacher_id={tom_id}").get_json()
    assert keys["on_phone"] and keys["keys"] == [tom.public]
    # The hand-over goes only to the phone that opened it, after a fresh passkey check.
    assert ilse.post_json(f"/inbox/case/{sid}/handover", {"phone": tom.public}).status_code == 403
    handover = ilse.post_json(f"/inbox/case/{sid}/handover", {"phone": ilse.public}).get_json()
    plain = device_seal.open_entry(device_seal.device_private_key(ilse.prf), handover["entry"],
                                   device_seal.aad(sid))

    case_token = csrf_of(ilse, f"/inbox/case/{sid}")
    # Bad input: a clear error and nothing changed.
    for bad in ("not json", json.dumps([{"pub": "x"}]), json.dumps([])):
        resp = ilse.client.post(f"/inbox/case/{sid}/assign", data={
            "csrf_token": case_token, "teacher_id": tom_id, "note_sealed": bad})
        assert resp.status_code == 400 and signals.get(db, sid)["state"] == "opened"
    # A plain line although Tom's phone can take a sealed note: refused, nothing sent.
    resp = ilse.client.post(f"/inbox/case/{sid}/assign", data={
        "csrf_token": case_token, "teacher_id": tom_id, "note_line": plain.decode()})
    assert resp.status_code == 409 and signals.get(db, sid)["state"] == "opened"
    entry = device_seal.seal(device_seal.unb64(tom.public), plain, device_seal.aad(sid))
    resp = ilse.client.post(f"/inbox/case/{sid}/assign", data={
        "csrf_token": case_token, "teacher_id": tom_id, "note_sealed": json.dumps([entry])})
    assert resp.status_code == 302 and signals.get(db, sid)["state"] == "teacher_assigned"

    tom.step_up_with_phone()
    read_token = csrf_of(tom, "/notes")
    html = tom.client.post(f"/notes/{sid}/read", data={"csrf_token": read_token,
                                                      "phone": tom.public}).get_data(as_text=True)
    assert "Sanne" not in html
    entry = json.loads(html.split("data-sealed='", 1)[1].split("'", 1)[0])
    assert b"Sanne Verzonnen" in device_seal.open_entry(
        device_seal.device_private_key(tom.prf), entry, device_seal.aad(sid))
    assert not list(db.query("SELECT 1 FROM sealed WHERE signal_id = ?", (sid,)))


def test_a_login_asks_once_for_the_phone_key(app, db, clock, school):
    kees = Device(app)  # enrolled without PRF output: the server does not know yet
    kees.enrol(invite(db, clock, school["id"], ("receiver",), "Kees Later"))
    kees.client.post("/auth/logout", data={"csrf_token": kees.csrf()})
    answer = kees.login().get_json()
    assert answer["phone_key_needed"] is True and answer["csrf"]
    kees.step_up()  # no PRF output either: the server should stop asking...
    token = kees.csrf()
    options = kees.post_json("/auth/step-up/options", token=token).get_json()
    credential = kees.authenticator.get(options)
    kees.post_json("/auth/step-up/verify", {"credential": credential, "prf": False}, token=token)
    kees.client.post("/auth/logout", data={"csrf_token": kees.csrf()})
    assert "phone_key_needed" not in kees.login().get_json()  # ...and does


def test_a_malformed_phone_key_is_ignored_and_never_stored(app, db, clock, school):
    """The enrolment still works; nothing is stored."""
    ilse = Device(app)
    token = invite(db, clock, school["id"])
    options = ilse.registration_options(token)
    credential = ilse.authenticator.create(options)
    resp = ilse.post_json(f"/auth/invite/{token}/verify",
                          {"credential": credential, "device_key": "too-short"})
    assert resp.status_code == 200
    assert db.conn.execute("SELECT count(*) FROM device_keys").fetchone()[0] == 0


def test_a_new_passkey_without_prf_output_yet_is_asked_once_more(app, db, clock, school):
    """Some phones say 'PRF enabled' when the passkey is made but answer only at an assertion:
    the enrolment's answer then asks the page for one more passkey check."""
    ilse = Device(app)
    token = invite(db, clock, school["id"])
    credential = ilse.authenticator.create(ilse.registration_options(token))
    answer = ilse.post_json(f"/auth/invite/{token}/verify", {"credential": credential}).get_json()
    assert answer["phone_key_needed"] is True and answer["csrf"]
    options = ilse.post_json("/auth/step-up/options", token=answer["csrf"]).get_json()
    public = device_seal.b64(device_seal.device_public_key(os.urandom(32)))
    resp = ilse.post_json("/auth/step-up/verify", {"credential": ilse.authenticator.get(options),
                                                   "device_key": public}, token=answer["csrf"])
    assert resp.status_code == 200
    assert db.conn.execute("SELECT count(*) FROM device_keys").fetchone()[0] == 1


def test_only_the_opener_may_put_words_in_a_note(app, db, clock, school, receive):
    ilse = phone(app, db, clock, school["id"])
    bram = phone(app, db, clock, school["id"], name="Bram Verzonnen")
    tess = Device(app)
    tess.enrol(invite(db, clock, school["id"], ("teacher",), "Tess Juf", "groep 7"))
    tess_id = db.conn.execute("SELECT id FROM staff WHERE display_name = 'Tess Juf'").fetchone()[0]
    sid = receive(name="Sanne Verzonnen")
    ilse.step_up_with_phone()
    token = csrf_of(ilse, f"/inbox/signal/{sid}")
    ilse.client.post(f"/inbox/signal/{sid}/reveal", data={"csrf_token": token, "phone": ilse.public})
    line = json.dumps({"name": "Eline Verzonnen", "birth_date": "2017-04-02"})
    resp = bram.client.post(f"/inbox/case/{sid}/assign", data={
        "csrf_token": csrf_of(bram, f"/inbox/case/{sid}"), "teacher_id": tess_id,
        "note_line": line})
    assert resp.status_code == 403 and signals.get(db, sid)["state"] == "opened"
    # The opener may; a name like "Eline" is not mistaken for the word "note-line".
    resp = ilse.client.post(f"/inbox/case/{sid}/assign", data={
        "csrf_token": csrf_of(ilse, f"/inbox/case/{sid}"), "teacher_id": tess_id,
        "note_line": line})
    assert resp.status_code == 302 and signals.get(db, sid)["state"] == "teacher_assigned"


def test_a_passkey_without_prf_is_not_asked_again_at_enrolment(app, db, clock, school):
    kees = Device(app)  # Windows Hello: the browser says the passkey has no PRF
    token = invite(db, clock, school["id"], ("receiver",), "Kees Zonderprf")
    credential = kees.authenticator.create(kees.registration_options(token))
    answer = kees.post_json(f"/auth/invite/{token}/verify",
                            {"credential": credential, "prf": False}).get_json()
    assert answer["ok"] and "phone_key_needed" not in answer
