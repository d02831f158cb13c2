"""Sealed to the receiver's phone (issue 15, ADR 0013), end to end in Chromium with virtual
authenticators that have the WebAuthn PRF extension.

Enrol → a signal arrives → the server holds nothing it can read → the receiver's phone opens it
in the page → the other phones' copies are gone → the note is sealed to the teacher's phone and
read there. A copy of the whole data directory taken while the signal waits gives the name with
no key the server holds; the PRF output is in no request, storage or cache; a receiver without
PRF keeps the old server-side copy for the school.
"""
from __future__ import annotations

import base64
import json
import shutil
import urllib.request

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from server import db as db_mod
from server import device_seal, municipalities, vault

from ..forensics import encodings

NAME = "Noor Bedachtzaam"
BIRTH = "2017-05-09"
SECOND = "Jesse Verzonnenhuis"

# Records every PRF output the page's passkey gives (a test hook, in Python, never in the page's
# storage), so the test can look for it in every request, storage and cache afterwards.
RECORD_PRF = """
(() => {
  const wrap = (fn) => async function (...args) {
    const cred = await fn.apply(navigator.credentials, args);
    try {
      const ext = cred && cred.getClientExtensionResults();
      const first = ext && ext.prf && ext.prf.results && ext.prf.results.first;
      if (first) {
        const bytes = new Uint8Array(first);
        window.__hwcRecordPrf(Array.from(bytes));
      }
    } catch (e) {}
    return cred;
  };
  navigator.credentials.get = wrap(navigator.credentials.get);
  navigator.credentials.create = wrap(navigator.credentials.create);
})();
"""


def _watch(p, prf_outputs: list[bytes], bodies: list[str], responses: list[str]):
    p.context.expose_function("__hwcRecordPrf", lambda data: prf_outputs.append(bytes(data)))
    p.context.add_init_script(RECORD_PRF)
    p.page.on("request", lambda r: bodies.append(f"{r.url}\n{r.post_data or ''}"))

    def keep(resp):
        try:
            responses.append(resp.text())
        except Exception:  # redirects and aborted loads have no body
            pass
    p.page.on("response", keep)


def _push(base_url: str, token: str, reference: str, name: str) -> str:
    body = json.dumps({"school": "12AB", "reference": reference,
                       "child": {"name": name, "birth_date": BIRTH}}).encode()
    req = urllib.request.Request(f"{base_url}/api/v1/signals", data=body, method="POST", headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 201
        return json.loads(resp.read())["id"]


def _purposes(server, signal_id: str) -> set[str]:
    database = server.db()
    try:
        return {r["purpose"] for r in database.query(
            "SELECT purpose FROM sealed WHERE signal_id = ?", (signal_id,))}
    finally:
        database.close()


def _phone_keys(server) -> dict[str, int]:
    database = server.db()
    try:
        return {r["display_name"]: r["n"] for r in database.query(
            "SELECT s.display_name, count(d.id) AS n FROM staff s"
            " LEFT JOIN device_keys d ON d.staff_id = s.id GROUP BY s.id")}
    finally:
        database.close()


def _open_signal(p, signal_id: str) -> None:
    p.page.goto(f"/inbox/signal/{signal_id}")
    p.page.get_by_role("button", name="Bekijk het signaal").click()


def _copy_yields_name(data_dir, copy_dir, names: list[str]) -> list[str]:
    """Copy the whole data directory (hwc.db, keys.db, secret_key, VAPID key) while signals
    wait, then try every key the server holds on every sealed item and every phone entry."""
    shutil.copytree(data_dir, copy_dir)
    found = []
    needles = [enc for name in names for enc in encodings(name)]
    for path in copy_dir.rglob("*"):
        if path.is_file() and any(n in path.read_bytes() for n in needles):
            found.append(f"plaintext in {path.name}")
    candidate_keys = []
    for path in copy_dir.rglob("*"):
        if path.is_file() and path.suffix not in (".db",):
            raw = path.read_bytes()
            candidate_keys += [raw[i:i + 32] for i in range(0, max(len(raw) - 31, 1))]
    copy = db_mod.connect(copy_dir)
    try:
        candidate_keys += [r[0] for r in copy.conn.execute("SELECT key FROM keys.data_keys")]
        candidate_keys += [r[0] for r in copy.conn.execute("SELECT mac_key FROM keys.intake")]
        blobs = []
        for row in copy.conn.execute("SELECT signal_id, purpose FROM main.sealed").fetchall():
            signal_id, purpose = row
            opened = vault.unseal(copy.conn, signal_id, purpose)  # the server's own layer
            if any(n in opened for n in needles):
                found.append(f"server-readable {purpose}")
                continue
            for entry in json.loads(opened):  # phone entries: try the server's keys on them
                blobs.append((device_seal.unb64(entry["nonce"]), device_seal.unb64(entry["ct"]),
                              device_seal.aad(signal_id)))
    finally:
        copy.close()
    candidate_keys = [k for k in set(candidate_keys) if len(k) == 32]
    for nonce, ct, aad in blobs:
        for key in candidate_keys:
            for derived in (key, HKDF(hashes.SHA256(), 32, None,
                                      device_seal.SEAL_INFO).derive(key)):
                try:
                    AESGCM(derived).decrypt(nonce, ct, aad)
                    found.append("a phone entry opened with a server key")
                except Exception:
                    pass
    return found


def test_a_signal_only_the_receivers_phones_can_read(live_server, person, tmp_path):
    school = live_server.add_school()
    database = live_server.db()
    _row, token = municipalities.add(database, live_server.clock.now(), name="Gemeente Test",
                                     brins=["12AB"])
    database.close()
    prf_outputs: list[bytes] = []
    bodies: list[str] = []
    responses: list[str] = []

    ilse = person("Ilse", prf=True)
    _watch(ilse, prf_outputs, bodies, responses)
    ilse.enrol(live_server.invite(school["id"], ("receiver",), "Ilse Bedacht"))
    bram = person("Bram", prf=True)
    bram.enrol(live_server.invite(school["id"], ("receiver",), "Bram Verzonnen"))
    tom = person("Tom", prf=True)
    _watch(tom, prf_outputs, bodies, responses)
    tom.enrol(live_server.invite(school["id"], ("teacher",), "Tom Leraar", "groep 5"))
    keys = _phone_keys(live_server)
    assert keys["Ilse Bedacht"] == keys["Bram Verzonnen"] == keys["Tom Leraar"] == 1
    assert prf_outputs, "the passkeys gave PRF output at enrolment"

    # A signal arrives: sealed to Ilse's and Bram's phones only; the server keeps no copy it
    # can read, and a copy of the whole data directory does not give the name.
    first = _push(live_server.base_url, token, "PRF-1", NAME)
    second = _push(live_server.base_url, token, "PRF-2", SECOND)
    assert _purposes(live_server, first) == {"receiver_devices"}
    assert _copy_yields_name(live_server.data_dir, tmp_path / "copy", [NAME, SECOND]) == []

    # Ilse opens the first on her phone: the name appears, decrypted in the page; the server's
    # answer never held it.
    _open_signal(ilse, first)
    ilse.page.get_by_text(NAME).wait_for()
    assert ilse.page.get_by_text("geboren 9 mei 2017").is_visible()
    assert not any(NAME in r for r in responses)
    # Bram's copy went in the same transaction; Ilse's stays only as her hand-over.
    assert _purposes(live_server, first) == {"handover_device"}
    # The page opened in place still has its own scripts, and says where it is (a reload asks
    # the server, which never shows the name again).
    assert ilse.page.evaluate(
        "Array.from(document.scripts).some((s) => s.src.endsWith('/js/picker.js'))")
    assert ilse.page.url.endswith(f"/inbox/signal/{first}/reveal")

    # She sends the note to Tom: sealed to his phone by her browser.
    ilse.page.get_by_label("Tom Leraar — groep 5").check()
    ilse.page.get_by_role("button", name="Stuur het bericht naar de leerkracht").click()
    ilse.page.wait_for_url(lambda url: "/case/" in url)
    assert "teacher_devices" in _purposes(live_server, first)
    assert "teacher" not in _purposes(live_server, first)

    # Tom reads it on his phone, once.
    tom.page.goto("/notes")
    tom.page.get_by_role("button", name="Lees het bericht").click()
    tom.page.get_by_text(f"Handle with Care: {NAME}, geboren 9 mei 2017").wait_for()
    assert not any(NAME in r for r in responses)
    assert _purposes(live_server, first) == set()
    # View once: leaving and coming Back never shows it again (pagehide wipes the opened card).
    tom.page.goto("/me")
    tom.page.go_back(wait_until="load")
    assert NAME not in tom.page.content()

    # A login cannot ask the PRF question (the person is known only after it): when the phone
    # key is unknown (here: forgotten), the page asks once more, right after the login.
    database = live_server.db()
    database.conn.execute("DELETE FROM device_keys WHERE staff_id = (SELECT id FROM staff"
                          " WHERE display_name = 'Bram Verzonnen')")
    database.conn.execute("UPDATE passkeys SET prf = NULL")
    database.conn.commit()
    database.close()
    bram.logout()
    bram.login()
    assert _phone_keys(live_server)["Bram Verzonnen"] == 1
    # Sealed to his old key, which is the same: the phone derives it again from the passkey.

    # The second receiver's phone opens the other signal.
    _open_signal(bram, second)
    bram.page.get_by_text(SECOND).wait_for()
    assert _purposes(live_server, second) == {"handover_device"}

    # The PRF output (and the private key made from it) is in no request, no storage, no cache.
    secrets_ = set()
    for out in prf_outputs:
        private = device_seal.device_private_key(out).private_bytes_raw()
        for raw in (out, private):
            secrets_ |= {raw.hex(), base64.b64encode(raw).decode().rstrip("="),
                         base64.urlsafe_b64encode(raw).decode().rstrip("="),
                         ",".join(str(b) for b in raw)}
    assert not [b for b in bodies if any(s in b for s in secrets_)]
    for p in (ilse, tom):
        stored = p.page.evaluate("""async () => {
            const out = [JSON.stringify(localStorage), JSON.stringify(sessionStorage),
                         document.cookie];
            if (indexedDB.databases) { out.push(JSON.stringify(await indexedDB.databases())); }
            for (const name of await caches.keys()) {
              const cache = await caches.open(name);
              for (const req of await cache.keys()) {
                out.push(req.url, await (await cache.match(req)).text());
              }
            }
            return out.join("\\n");
        }""")
        assert not any(s in stored for s in secrets_)
        assert NAME not in stored


def test_a_receiver_without_prf_keeps_the_server_copy_for_the_school(live_server, person):
    school = live_server.add_school()
    database = live_server.db()
    _row, token = municipalities.add(database, live_server.clock.now(), name="Gemeente Test",
                                     brins=["12AB"])
    database.close()
    ilse = person("Ilse", prf=True)
    ilse.enrol(live_server.invite(school["id"], ("receiver",), "Ilse Bedacht"))
    kees = person("Kees")  # a laptop with Windows Hello: no PRF
    kees.enrol(live_server.invite(school["id"], ("receiver",), "Kees Zonderprf"))
    assert _phone_keys(live_server)["Kees Zonderprf"] == 0

    signal = _push(live_server.base_url, token, "PRF-3", NAME)
    assert _purposes(live_server, signal) == {"receiver", "receiver_devices"}

    # Kees opens it from the server's copy; Ilse's phone copy goes with it.
    _open_signal(kees, signal)
    kees.page.get_by_text(NAME).wait_for()
    assert _purposes(live_server, signal) == {"handover"}

    # The director's page says, in plain Dutch, that the server can still read waiting signals
    # and who must log in once on a phone that supports it.
    director = person("Dirk")
    director.enrol(live_server.invite(school["id"], ("director",), "Dirk Directeur"))
    director.page.goto("/admin/")
    text = director.page.content()
    assert "de server kan wachtende signalen nog lezen" in text.lower()
    assert "Kees Zonderprf" in text
