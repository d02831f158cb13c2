"""Web Push for real against a local push service: encryption, VAPID, payload, 404/410, retries,
subscriptions and the kick after a new signal. Names are invented."""
from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest

from server import receipts, signals
from server.clock import iso, parse
from server.push import deliver as push_deliver
from server.push import kick as push_kick
from server.push import plan as push_plan
from server.push import subscriptions as push_subscriptions
from server.push import vapid as push_vapid

from .push_helpers import PushService, set_away, verify_vapid



NAME, BIRTH = "Sanne Verzonnen", "2017-04-02"


@pytest.fixture
def people(staff):
    return {"receiver": staff("Ilse Bedacht", ["receiver"]),
            "backup": staff("Bas Achter", ["backup"]),
            "teacher": staff("Tom Leraar", ["teacher"], "groep 5")}


def add_device(db, clock, service, staff_id, name):
    device = service.device(name)
    push_subscriptions.subscribe(db, staff_id, device.subscription(), name, clock.now(), allow_local=True)
    return device


def job_rows(db):
    return list(db.query("SELECT * FROM push_jobs ORDER BY id"))


def test_payload_is_encrypted_generic_and_vapid_signed(app, db, clock, cfg, service, people,
                                                      receive, school, data_dir):
    phone = add_device(db, clock, service, people["receiver"], "ilse-phone")
    sid = receive()
    reference = signals.get(db, sid)["reference"]
    result = push_kick.sweep_job(db, clock.now(), cfg)
    assert result["push_sent"] == 1
    assert service.paths() == ["/push/ilse-phone"]
    req = service.received[0]
    assert phone.decrypt(req.body) == {"title": "HwC Inbox",
                                       "body": "Er staat een nieuw bericht voor je klaar.",
                                       "url": "/inbox"}
    assert req.headers["content-encoding"] == "aes128gcm"
    assert req.headers["ttl"] == str(push_deliver.TTL_SECONDS)
    assert req.headers["urgency"] == "high"
    claims = verify_vapid(req.headers["authorization"],
                          (data_dir / push_vapid.VAPID_PUBLIC).read_bytes(),
                          push_vapid.application_server_key(data_dir), service.origin)
    assert claims["sub"] == "mailto:beheer@hwc-inbox.nl"
    # Nothing identifying anywhere in what left the server, encrypted or not.
    plain = json.dumps(phone.decrypt(req.body), ensure_ascii=False)
    for secret in (NAME, "Sanne", BIRTH, school["name"], school["brin"], sid, reference):
        assert secret not in plain
        assert secret not in req.path
        assert secret not in json.dumps(req.headers)
        assert secret.encode() not in req.body
    # The receipt and the director's monitoring see when the first push went out.
    assert signals.get(db, sid)["notified_at"] == iso(clock.now())
    assert receipts.receipt(signals.get(db, sid))["notified_at"] == iso(clock.now())


def test_vapid_sub_uses_the_real_domain(tmp_path):
    from server import config
    cfg = config.load({"data_dir": tmp_path, "base_url": "https://hwc.obs-kastanje.nl"}, env={})
    assert push_vapid.subject_for(cfg) == "mailto:beheer@hwc.obs-kastanje.nl"
    local = config.load({"data_dir": tmp_path, "base_url": "http://localhost:8000"}, env={})
    assert push_vapid.subject_for(local) == "mailto:beheer@hwc-inbox.nl"


def test_every_device_once_and_note_opens_notes(db, clock, cfg, service, people, receive):
    phone = add_device(db, clock, service, people["receiver"], "ilse-phone")
    add_device(db, clock, service, people["receiver"], "ilse-laptop")
    tphone = add_device(db, clock, service, people["teacher"], "tom-phone")
    a, b = receive("A-1"), receive("B-1")
    push_kick.sweep_job(db, clock.now(), cfg)
    # Two new signals, one person: one push per device, not one per signal.
    assert sorted(service.paths()) == ["/push/ilse-laptop", "/push/ilse-phone"]
    assert {r["event"] for r in job_rows(db)} == {"new"} and all(r["sent_at"] for r in job_rows(db))
    push_kick.sweep_job(db, clock.now(), cfg)
    assert len(service.received) == 2  # nothing twice
    clock.advance(minutes=10)
    signals.reveal(db, clock.now(), a, people["receiver"])
    signals.assign_teacher(db, clock.now(), a, people["teacher"])
    push_kick.sweep_job(db, clock.now(), cfg)
    assert service.paths()[2:] == ["/push/tom-phone"]
    assert tphone.decrypt(service.received[2].body)["url"] == "/notes"
    assert phone.decrypt(service.received[0].body)["url"] == "/inbox"
    push_kick.sweep_job(db, clock.now(), cfg)
    assert len(service.received) == 3
    assert b  # the other signal stays in the inbox, untouched
    assert signals.get(db, b)["state"] == "received"


@pytest.mark.parametrize("status", [404, 410])
def test_gone_device_is_removed(db, clock, cfg, service, people, receive, status):
    add_device(db, clock, service, people["receiver"], "old-phone")
    add_device(db, clock, service, people["receiver"], "new-phone")
    service.status["/push/old-phone"] = status
    sid = receive()
    result = push_kick.sweep_job(db, clock.now(), cfg)
    assert result["push_devices_removed"] == 1 and result["push_sent"] == 1
    assert [d["label"] for d in push_subscriptions.list_for(db, people["receiver"])] == ["new-phone"]
    # Only gone devices: the job ends, the device goes, the signal is untouched.
    service.status["/push/new-phone"] = status
    clock.advance(minutes=1)
    tid = people["teacher"]
    add_device(db, clock, service, tid, "tom-phone")
    service.status["/push/tom-phone"] = status
    signals.reveal(db, clock.now(), sid, people["receiver"])
    signals.assign_teacher(db, clock.now(), sid, tid)
    result = push_kick.sweep_job(db, clock.now(), cfg)
    assert result["push_devices_removed"] == 1 and result["push_given_up"] == 1
    assert push_subscriptions.list_for(db, tid) == []
    note_job = [r for r in job_rows(db) if r["event"] == "note"][0]
    assert note_job["given_up_at"] and note_job["last_error"] == "devices gone"
    assert signals.get(db, sid)["state"] == "teacher_assigned"


def test_server_error_retries_with_backoff_then_gives_up(db, clock, cfg, service, people,
                                                         receive):
    add_device(db, clock, service, people["receiver"], "ilse-phone")
    service.status["/push/ilse-phone"] = 500
    sid = receive()
    before = signals.get(db, sid)
    push_kick.sweep_job(db, clock.now(), cfg)
    sends = [clock.now()]
    for attempt in range(1, push_deliver.MAX_ATTEMPTS):
        job = job_rows(db)[0]
        assert job["attempts"] == attempt and job["given_up_at"] is None
        assert job["last_error"] == "http 500"
        due = parse(job["next_attempt_at"])
        assert due - clock.now() == push_deliver.backoff(attempt)
        clock.set(due - timedelta(seconds=1))
        push_kick.sweep_job(db, clock.now(), cfg)
        assert len(service.received) == attempt  # not before its time
        clock.set(due)
        push_kick.sweep_job(db, clock.now(), cfg)
        sends.append(clock.now())
    assert len(service.received) == push_deliver.MAX_ATTEMPTS
    gaps = [int((b - a).total_seconds() // 60) for a, b in zip(sends, sends[1:])]
    assert gaps == [1, 2, 4, 8, 16, 30, 30]
    job = job_rows(db)[0]
    assert job["given_up_at"] == iso(clock.now()) and job["last_error"] == "failed: http 500"
    clock.advance(hours=2)
    push_deliver.deliver_due(db, clock.now(), cfg)
    assert len(service.received) == push_deliver.MAX_ATTEMPTS  # bounded
    # The signal is exactly as it was: still in the inbox, sealed, not marked notified.
    after = signals.get(db, sid)
    assert after == before
    assert signals.vault.has_sealed(db.conn, sid, "receiver")
    assert len(push_subscriptions.list_for(db, people["receiver"])) == 1  # a 500 does not remove a device


def test_retry_then_success_marks_notified_at_success(db, clock, cfg, service, people, receive):
    add_device(db, clock, service, people["receiver"], "ilse-phone")
    service.status["/push/ilse-phone"] = 503
    sid = receive()
    push_kick.sweep_job(db, clock.now(), cfg)
    assert signals.get(db, sid)["notified_at"] is None
    service.status["/push/ilse-phone"] = 201
    clock.advance(minutes=1)
    push_kick.sweep_job(db, clock.now(), cfg)
    assert signals.get(db, sid)["notified_at"] == iso(clock.now())
    assert len(service.received) == 2


def test_network_failure_is_retried(db, clock, cfg, people, receive):
    # A port nobody listens on: connection refused, retried later, never raised.
    with PushService(clock) as svc:
        dead = svc.device("gone")
    push_subscriptions.subscribe(db, people["receiver"], dead.subscription(), "", clock.now(), allow_local=True)
    receive()
    result = push_kick.sweep_job(db, clock.now(), cfg)
    assert result["push_retry"] == 1
    assert job_rows(db)[0]["last_error"] == "network"


def test_rejected_push_gives_up_without_retry(db, clock, cfg, service, people, receive):
    add_device(db, clock, service, people["receiver"], "ilse-phone")
    service.status["/push/ilse-phone"] = 403  # e.g. subscribed under another VAPID key
    receive()
    result = push_kick.sweep_job(db, clock.now(), cfg)
    assert result["push_given_up"] == 1
    assert job_rows(db)[0]["last_error"] == "rejected: http 403"
    assert len(push_subscriptions.list_for(db, people["receiver"])) == 1


def test_no_device_gives_up_and_backups_still_escalate(db, clock, cfg, service, people, receive):
    add_device(db, clock, service, people["backup"], "bas-phone")
    receive()  # Monday 07:00: the receiver has no device, so no push can be planned for them
    push_kick.sweep_job(db, clock.now(), cfg)
    assert job_rows(db) == [] and service.received == []
    clock.advance(hours=1)  # 08:00, the escalation time
    push_kick.sweep_job(db, clock.now(), cfg)
    assert service.paths() == ["/push/bas-phone"]


def test_concurrent_workers_send_each_push_once(app, db, clock, cfg, people, receive):
    with PushService(clock, delay=0.2) as svc:
        for name in ("p1", "p2"):
            push_subscriptions.subscribe(db, people["receiver"], svc.device(name).subscription(), name,
                           clock.now(), allow_local=True)
        receive()
        push_plan.plan(db, clock.now())
        errors = []

        def worker():
            try:
                push_kick.run_now(cfg, clock)
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)
        threads = [threading.Thread(target=worker) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert not errors
        assert sorted(svc.paths()) == ["/push/p1", "/push/p2"]


# --- the kick after a new signal through the API ------------------------------------------------

def test_api_kick_pushes_at_once_and_never_affects_the_201(app, client, auth, db, clock, service,
                                                          people):
    from .conftest import signal_body
    add_device(db, clock, service, people["receiver"], "ilse-phone")
    resp = client.post("/api/v1/signals", json=signal_body(), headers=auth)
    assert resp.status_code == 201
    kicker = push_kick.kicker_for(app)
    assert kicker.idle.wait(20)
    assert service.paths() == ["/push/ilse-phone"]
    receipt = client.get("/api/v1/signals/REF-1", headers=auth).get_json()
    assert receipt["notified_at"] == iso(clock.now())
    # A failing push service: the signal is stored and answered all the same.
    service.status["/push/ilse-phone"] = 500
    resp = client.post("/api/v1/signals", json=signal_body("REF-2"), headers=auth)
    assert resp.status_code == 201
    assert kicker.idle.wait(20)
    row = signals.get(db, resp.get_json()["id"])
    assert row["state"] == "received" and row["notified_at"] is None


def test_kick_can_be_switched_off(data_dir, clock):
    from server import create_app
    app = create_app({"data_dir": data_dir, "testing": True, "extra": {"push_kick": False}},
                     clock=clock, env={})
    push_kick.kick(app)
    assert "hwc_push_kicker" not in app.extensions


def test_push_step_is_in_the_sweep_after_the_deadlines(app):
    from server import jobs
    names = [name for name, _step in jobs.STEPS]
    assert names.count("push") == 1 and names.index("deadlines") < names.index("push")


# --- subscriptions --------------------------------------------------------------------------------

def good_sub(endpoint="https://fcm.googleapis.com/fcm/send/abc123"):
    from .push_helpers import Device
    return Device(endpoint).subscription()


def test_subscribe_list_remove(db, clock, people):
    me, other = people["receiver"], people["teacher"]
    row = push_subscriptions.subscribe(db, me, good_sub(), "Telefoon\x00 (Android)", clock.now())
    assert row["label"] == "Telefoon (Android)"
    listed = push_subscriptions.list_for(db, me)
    assert [d["id"] for d in listed] == [row["id"]] and "endpoint" not in listed[0]
    assert push_subscriptions.remove(db, other, row["id"]) is False  # not theirs
    assert len(push_subscriptions.list_for(db, me)) == 1
    assert push_subscriptions.remove(db, me, row["id"]) is True
    assert push_subscriptions.list_for(db, me) == []
    assert push_subscriptions.remove(db, me, row["id"]) is False


def test_same_endpoint_moves_to_last_subscriber(db, clock, people):
    sub = good_sub()
    push_subscriptions.subscribe(db, people["receiver"], sub, "pc", clock.now())
    push_subscriptions.subscribe(db, people["teacher"], json.dumps(sub), "pc", clock.now())
    assert push_subscriptions.list_for(db, people["receiver"]) == []
    assert len(push_subscriptions.list_for(db, people["teacher"])) == 1


@pytest.mark.parametrize("mutate, message", [
    (lambda s: s.update(endpoint="http://fcm.googleapis.com/x"), "https"),
    (lambda s: s.update(endpoint="https://127.0.0.1/x"), "openbare"),
    (lambda s: s.update(endpoint="https://localhost/x"), "openbare"),
    (lambda s: s.update(endpoint="https://intranet/x"), "openbare"),
    (lambda s: s.update(endpoint="https://user:pw@fcm.googleapis.com/x"), "ongeldig"),
    (lambda s: s.update(endpoint="https://fcm.googleapis.com/" + "x" * 2100), "te lang"),
    (lambda s: s.pop("keys"), "sleutels"),
    (lambda s: s["keys"].update(auth="AAAA"), "lengte"),
    (lambda s: s["keys"].update(auth="!!!"), "base64url"),
    (lambda s: s["keys"].update(p256dh="BA" + "A" * 85), "P-256"),
    (lambda s: s["keys"].update(p256dh=12), "ontbreekt"),
])
def test_bad_subscriptions_are_refused_and_change_nothing(db, clock, people, mutate, message):
    sub = good_sub()
    mutate(sub)
    with pytest.raises(push_subscriptions.SubscriptionError, match=message):
        push_subscriptions.subscribe(db, people["receiver"], sub, "", clock.now())
    assert db.conn.execute("SELECT count(*) FROM push_subscriptions").fetchone()[0] == 0


def test_not_json_and_too_many_devices(db, clock, people):
    with pytest.raises(push_subscriptions.SubscriptionError):
        push_subscriptions.subscribe(db, people["receiver"], "{not json", "", clock.now())
    for i in range(push_subscriptions.MAX_SUBSCRIPTIONS):
        push_subscriptions.subscribe(db, people["receiver"], good_sub(f"https://fcm.googleapis.com/fcm/send/{i}"), "",
                       clock.now())
    with pytest.raises(push_subscriptions.SubscriptionError, match="apparaten"):
        push_subscriptions.subscribe(db, people["receiver"], good_sub("https://fcm.googleapis.com/fcm/send/x"), "",
                       clock.now())
    # re-subscribing a known device is not a new one
    push_subscriptions.subscribe(db, people["receiver"], good_sub("https://fcm.googleapis.com/fcm/send/3"), "",
                   clock.now())
    assert len(push_subscriptions.list_for(db, people["receiver"])) == push_subscriptions.MAX_SUBSCRIPTIONS


def test_inactive_staff_cannot_subscribe(db, clock, people):
    db.conn.execute("UPDATE staff SET active = 0 WHERE id = ?", (people["teacher"],))
    with pytest.raises(push_subscriptions.SubscriptionError):
        push_subscriptions.subscribe(db, people["teacher"], good_sub(), "", clock.now())


def test_deleting_staff_deletes_their_devices_and_jobs(db, clock, cfg, service, people, receive):
    add_device(db, clock, service, people["receiver"], "ilse-phone")
    receive()
    push_kick.sweep_job(db, clock.now(), cfg)
    db.conn.execute("DELETE FROM staff_roles WHERE staff_id = ?", (people["receiver"],))
    db.conn.execute("DELETE FROM staff WHERE id = ?", (people["receiver"],))
    assert db.conn.execute("SELECT count(*) FROM push_subscriptions").fetchone()[0] == 0
    assert db.conn.execute("SELECT count(*) FROM push_jobs").fetchone()[0] == 0


def test_set_away_validates(db, clock, people):
    now = clock.now()
    with pytest.raises(ValueError):
        set_away(db, people["receiver"], now - timedelta(minutes=1), now)
    with pytest.raises(ValueError):
        set_away(db, people["receiver"], now + timedelta(days=400), now)
    with pytest.raises(LookupError):
        set_away(db, 9999, now + timedelta(days=1), now)
    set_away(db, people["receiver"], now + timedelta(days=1), now)
    assert db["staff"].get(people["receiver"])["away_until"] == iso(now + timedelta(days=1))
    set_away(db, people["receiver"], None, now)
    assert db["staff"].get(people["receiver"])["away_until"] is None
