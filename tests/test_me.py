"""'Mijn instellingen' (/me) through the real login: only my own devices, removing someone
else's device fails, 'Afwezig tot' changes who is pushed for a new signal, CSRF and roles, and
the 'Meldingen aanzetten' card on the inbox and the teacher's list (plus push.js run in node:
permission is asked only on the click, and the card hides or explains where push is missing)."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest

from .auth_helpers import Device, enrolled
from .push_helpers import Device as PushDevice
from server import staff as staff_mod
from server.web import me as me_mod
from server.clock import iso, local
from server.push import plan as push_plan
from server.push import subscriptions as push_subscriptions

ROOT = Path(__file__).resolve().parent.parent
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def staff_id(db, name: str) -> int:
    return db.conn.execute("SELECT id FROM staff WHERE display_name = ?", (name,)).fetchone()[0]


def subscribe(db, clock, who: int, label: str, n: int) -> dict:
    return push_subscriptions.subscribe(db, who, PushDevice(f"https://fcm.googleapis.com/fcm/send/{who}-{n}").subscription(),
                          label, clock.now())


def page_token(device: Device, url: str = "/me") -> str:
    html = device.client.get(url).get_data(as_text=True)
    return CSRF_RE.search(html).group(1)


def local_form(dt) -> str:
    return local(dt).strftime("%Y-%m-%dT%H:%M")


@pytest.fixture
def people(app, db, clock, school):
    receiver = enrolled(app, db, clock, school["id"], roles=("receiver",), name="Ilse Bedacht")
    backup = enrolled(app, db, clock, school["id"], roles=("backup",), name="Bert Achter")
    teacher = enrolled(app, db, clock, school["id"], roles=("teacher",), name="Tom Leraar",
                       group="groep 5")
    return {"receiver": receiver, "backup": backup, "teacher": teacher,
            "receiver_id": staff_id(db, "Ilse Bedacht"), "backup_id": staff_id(db, "Bert Achter"),
            "teacher_id": staff_id(db, "Tom Leraar")}


def test_anonymous_goes_to_login(app):
    anon = Device(app)
    resp = anon.client.get("/me")
    assert resp.status_code == 302
    assert resp.headers["Location"].startswith("/auth/login")
    token = anon.csrf()
    resp = anon.client.post("/me/away", data={"csrf_token": token, "until": "2026-11-30T08:00"})
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/auth/login")


def test_page_shows_me_and_only_my_devices(people, db, clock):
    mine = subscribe(db, clock, people["receiver_id"], "iPhone", 1)
    theirs = subscribe(db, clock, people["backup_id"], "Android-telefoon", 2)
    db.conn.execute("UPDATE push_subscriptions SET last_success_at = ? WHERE id = ?",
                    (iso(clock.now()), mine["id"]))
    resp = people["receiver"].client.get("/me")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert resp.headers["Cache-Control"] == "no-store"
    assert "Ilse Bedacht" in html and "ontvanger" in html
    assert "iPhone" in html and "laatste melding vandaag 07:00" in html
    assert f"/push/unsubscribe/{mine['id']}" in html
    assert "Android-telefoon" not in html and f"/push/unsubscribe/{theirs['id']}" not in html
    assert 'name="next" value="/me"' in html
    assert "push.example.net" not in html  # the endpoint is a secret
    assert 'href="/auth/passkeys"' in html
    assert '<a href="/me">Mijn instellingen</a>' in html  # the nav link
    assert "Afwezig tot" in html and "naar de achterwacht" in html


def test_removing_my_device_works_and_someone_elses_fails(people, db, clock):
    mine = subscribe(db, clock, people["receiver_id"], "iPhone", 1)
    theirs = subscribe(db, clock, people["backup_id"], "Android-telefoon", 2)
    device = people["receiver"]
    token = page_token(device)
    resp = device.client.post(f"/push/unsubscribe/{theirs['id']}",
                              data={"csrf_token": token, "next": "/me"})
    assert resp.status_code == 303 and resp.headers["Location"] == "/me"
    assert [d["id"] for d in push_subscriptions.list_for(db, people["backup_id"])] == [theirs["id"]]
    # Without a CSRF token nothing is removed either.
    resp = device.client.post(f"/push/unsubscribe/{mine['id']}", data={"next": "/me"})
    assert resp.status_code == 400
    assert [d["id"] for d in push_subscriptions.list_for(db, people["receiver_id"])] == [mine["id"]]
    resp = device.client.post(f"/push/unsubscribe/{mine['id']}",
                              data={"csrf_token": token, "next": "/me"})
    assert resp.status_code == 303 and resp.headers["Location"] == "/me"
    assert push_subscriptions.list_for(db, people["receiver_id"]) == []
    assert "Je krijgt nog op geen enkel apparaat meldingen." in \
        device.client.get("/me").get_data(as_text=True)


def test_away_moves_new_signals_to_the_backup_and_back(people, db, clock, school):
    r, b = people["receiver_id"], people["backup_id"]
    device = people["receiver"]
    assert push_plan.new_signal_recipients(db, school["id"], clock.now()) == [r]
    until = clock.now() + timedelta(days=2, hours=1)
    resp = device.form("/me/away", {"action": "away", "until": local_form(until)}, page="/me")
    assert resp.status_code == 303 and resp.headers["Location"] == "/me"
    stored = db.conn.execute("SELECT away_until FROM staff WHERE id = ?", (r,)).fetchone()[0]
    assert stored == iso(until)  # Dutch wall time in the form, UTC in the database
    assert push_plan.new_signal_recipients(db, school["id"], clock.now()) == [b]
    html = device.client.get("/me").get_data(as_text=True)
    assert "Je bent afwezig tot woensdag 25 november 08:00" in html
    assert "Ik ben er weer" in html
    event = db.conn.execute("SELECT actor, action, detail FROM audit_events"
                            " WHERE action LIKE 'staff.away%' ORDER BY id").fetchall()
    assert event == [(f"staff:{r}", "staff.away_set", f"staff:{r}")]

    resp = device.form("/me/away", {"action": "back"}, page="/me")
    assert resp.status_code == 303
    assert push_plan.new_signal_recipients(db, school["id"], clock.now()) == [r]
    assert db.conn.execute("SELECT away_until FROM staff WHERE id = ?", (r,)).fetchone()[0] is None
    assert "Ik ben er weer" not in device.client.get("/me").get_data(as_text=True)
    actions = [row[0] for row in db.conn.execute(
        "SELECT action FROM audit_events WHERE action LIKE 'staff.away%' ORDER BY id")]
    assert actions == ["staff.away_set", "staff.away_cleared"]
    details = " ".join(row[0] for row in db.conn.execute("SELECT detail FROM audit_events"))
    assert "Ilse" not in details and "Bert" not in details


def test_away_ends_by_itself(people, db, clock, school):
    r, b = people["receiver_id"], people["backup_id"]
    until = clock.now() + timedelta(hours=3)
    people["receiver"].form("/me/away", {"action": "away", "until": local_form(until)}, page="/me")
    assert push_plan.new_signal_recipients(db, school["id"], clock.now()) == [b]
    clock.set(until)
    assert push_plan.new_signal_recipients(db, school["id"], clock.now()) == [r]
    assert "Ik ben er weer" not in people["receiver"].client.get("/me").get_data(as_text=True)


def test_a_backup_can_be_away_too(people, db, clock, school):
    until = clock.now() + timedelta(days=1)
    device = people["backup"]
    html = device.client.get("/me").get_data(as_text=True)
    assert "een andere achterwacht" in html
    resp = device.form("/me/away", {"action": "away", "until": local_form(until)}, page="/me")
    assert resp.status_code == 303
    assert push_plan.escalation_recipients(db, school["id"], clock.now()) == [people["backup_id"]]
    assert db.conn.execute("SELECT away_until FROM staff WHERE id = ?",
                           (people["backup_id"],)).fetchone()[0] == iso(until)


@pytest.mark.parametrize("value, message", [
    ("", "Vul een datum en tijd in"),
    ("morgen", "Vul een datum en tijd in"),
    ("2026-11-31T08:00", "Vul een datum en tijd in"),
    ("2026-11-23T06:59", "in de toekomst"),        # a minute before now (07:00 local)
    ("2026-11-23T07:00", "in de toekomst"),        # exactly now
    ("2027-11-25T08:00", "hoogstens een jaar"),
])
def test_bad_away_input_is_refused_and_changes_nothing(people, db, value, message):
    device = people["receiver"]
    before = db.conn.execute("SELECT count(*) FROM audit_events").fetchone()[0]
    resp = device.form("/me/away", {"action": "away", "until": value}, page="/me")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400
    assert message in html and 'role="alert"' in html and 'aria-invalid="true"' in html
    assert db.conn.execute("SELECT away_until FROM staff WHERE id = ?",
                           (people["receiver_id"],)).fetchone()[0] is None
    assert db.conn.execute("SELECT count(*) FROM audit_events").fetchone()[0] == before


def test_away_needs_csrf(people, db, clock):
    device = people["receiver"]
    until = local_form(clock.now() + timedelta(days=1))
    resp = device.client.post("/me/away", data={"action": "away", "until": until})
    assert resp.status_code == 400
    resp = device.client.post("/me/away", data={"action": "away", "until": until,
                                                 "csrf_token": "not-the-token"})
    assert resp.status_code == 400
    assert db.conn.execute("SELECT away_until FROM staff WHERE id = ?",
                           (people["receiver_id"],)).fetchone()[0] is None


def test_a_teacher_sees_settings_but_cannot_be_away(people, db, clock):
    device = people["teacher"]
    html = device.client.get("/me").get_data(as_text=True)
    assert "Tom Leraar" in html and "groep 5" in html and "leerkracht / mentor" in html
    assert "Afwezig tot" not in html and "data-push-enable" in html
    token = page_token(device)
    resp = device.client.post("/me/away", data={
        "csrf_token": token, "action": "away",
        "until": local_form(clock.now() + timedelta(days=1))})
    assert resp.status_code == 403
    assert db.conn.execute("SELECT away_until FROM staff WHERE id = ?",
                           (people["teacher_id"],)).fetchone()[0] is None


def test_parse_local_is_dutch_wall_time():
    assert iso(me_mod.parse_local("2026-11-30T08:00")) == "2026-11-30T07:00:00Z"   # winter
    assert iso(me_mod.parse_local("2026-06-01T08:00")) == "2026-06-01T06:00:00Z"   # summer
    assert iso(me_mod.parse_local("2026-06-01T08:00:30")) == "2026-06-01T06:00:30Z"
    for bad in ("", "2026-06-01", "08:00", "2026-06-01 08:00x", "2026-13-01T08:00"):
        with pytest.raises(staff_mod.AwayError):
            me_mod.parse_local(bad)


# --- the 'Meldingen aanzetten' card -----------------------------------------------------------

@pytest.mark.parametrize("who, url", [("receiver", "/inbox"), ("teacher", "/notes"),
                                      ("receiver", "/me")])
def test_push_card_on_the_pages(people, who, url):
    resp = people[who].client.get(url)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert html.count("data-push-enable") == 1
    assert re.search(r'<button type="button" data-push-enable>Meldingen aanzetten</button>', html)
    assert re.search(r'<p data-push-status aria-live="polite"[^>]*>', html)
    assert '<script src="/static/js/push.js" defer></script>' in html
    assert '<meta name="csrf-token"' in html
    assert "data-push-card" in html
    assert "<script>" not in html and "style=" not in html  # nothing inline (CSP)


# push.js in node with a tiny fake DOM: what it does on load and on the click.
PUSH_JS_HARNESS = r"""
const fs = require("fs");
const opts = JSON.parse(process.argv[2]);
const calls = {permission: 0, fetch: [], subscribe: 0};
function el(attrs) { return Object.assign({hidden: false, textContent: "", disabled: false,
  listeners: {}, addEventListener(t, f) { this.listeners[t] = f; },
  closest(sel) { return sel === "[data-push-card]" ? card : null; }}, attrs); }
const card = el({});
const button = el({});
const status = el({});
global.document = { querySelector(sel) {
  if (sel === "[data-push-enable]") return button;
  if (sel === "[data-push-status]") return status;
  if (sel.startsWith("meta")) return { getAttribute() { return "tok"; } };
  return null; } };
global.window = { atob: (s) => Buffer.from(s, "base64").toString("binary"),
  matchMedia: () => ({ matches: opts.standalone }) };
const registration = { pushManager: {
  getSubscription: () => Promise.resolve(null),
  subscribe: () => { calls.subscribe += 1;
    return Promise.resolve({ toJSON: () => ({endpoint: "https://push.example.net/x"}) }); } } };
Object.defineProperty(global, "navigator", { configurable: true, value: {
  userAgent: opts.ua, platform: opts.platform || "Linux x86_64", maxTouchPoints: 0,
  standalone: opts.standalone, serviceWorker: { ready: Promise.resolve(registration) } } });
if (opts.push) {
  window.PushManager = function () {};
  window.Notification = global.Notification = { permission: "default",
    requestPermission: () => { calls.permission += 1; return Promise.resolve(opts.answer); } };
}
global.fetch = (url, init) => { calls.fetch.push([url, init && init.headers]);
  return Promise.resolve({ ok: true, json: () => Promise.resolve({ key: "BAAA" }) }); };
for (const file of opts.files) { eval(fs.readFileSync(file, "utf8")); }  // as base.html orders them
const onLoad = {permission: calls.permission, fetch: calls.fetch.length};
const finish = () => console.log(JSON.stringify({onLoad, calls, card: card.hidden,
  button: button.hidden, status: status.textContent}));
if (opts.click && button.listeners.click) {
  button.listeners.click();
  setTimeout(finish, 50);
} else { finish(); }
"""

DESKTOP = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120 Safari/537.36"
IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Safari/604.1"


def run_push_js(tmp_path, **opts) -> dict:
    node = shutil.which("node")
    if node is None:
        if os.environ.get("CI"):
            pytest.fail("node is needed to run static/js/push.js")
        pytest.skip("node is not installed")
    harness = tmp_path / "harness.js"
    harness.write_text(PUSH_JS_HARNESS)
    opts = {"files": [str(ROOT / "static/js" / name) for name in ("common.js", "push.js")],
            "ua": DESKTOP, "standalone": False,
            "push": True, "click": False, "answer": "granted", **opts}
    out = subprocess.run([node, str(harness), json.dumps(opts)], capture_output=True, text=True,
                         timeout=20, check=True)
    return json.loads(out.stdout)


def test_push_js_asks_permission_only_on_the_click(tmp_path):
    result = run_push_js(tmp_path, click=True)
    assert result["onLoad"] == {"permission": 0, "fetch": 0}
    assert result["calls"]["permission"] == 1 and result["calls"]["subscribe"] == 1
    urls = [url for url, _headers in result["calls"]["fetch"]]
    assert urls == ["/push/key", "/push/subscribe"]
    assert result["calls"]["fetch"][1][1]["X-CSRFToken"] == "tok"
    assert "Meldingen staan aan" in result["status"]
    assert result["card"] is False and result["button"] is False


def test_push_js_respects_a_no(tmp_path):
    result = run_push_js(tmp_path, click=True, answer="denied")
    assert result["calls"]["permission"] == 1 and result["calls"]["fetch"] == []
    assert "niet toegestaan" in result["status"]


def test_push_js_hides_the_card_without_push(tmp_path):
    result = run_push_js(tmp_path, push=False)
    assert result["card"] is True and result["onLoad"]["permission"] == 0


def test_push_js_explains_the_app_on_an_iphone_browser(tmp_path):
    result = run_push_js(tmp_path, push=False, ua=IPHONE, platform="iPhone")
    assert result["card"] is False and result["button"] is True
    assert "alleen in de app op je beginscherm" in result["status"]
    # Installed but too old an iOS for Web Push: nothing to offer, the card goes.
    result = run_push_js(tmp_path, push=False, ua=IPHONE, platform="iPhone", standalone=True)
    assert result["card"] is True
