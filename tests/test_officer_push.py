"""A push to the leerplicht officer when a signal comes back (returned, or expired unopened):
the real Web Push encryption against a local push service, a generic payload without any
personal data, once per signal. All names are invented."""
from __future__ import annotations

from server import jobs, signals
from server.push import officers
from server.push import subscriptions as push_subscriptions

from .push_helpers import PushService

NAME = "Mirthe Sterrenkijker"


def officer_with_device(db, clock, municipality, svc, name="Olaf Ambtenaar"):
    sid = db["staff"].insert({"display_name": name, "user_handle": name.encode() * 4,
                              "created_at": "x", "municipality_id": municipality["id"]}).last_pk
    db.conn.execute("INSERT INTO staff_roles VALUES (?, 'officer')", (sid,))
    device = svc.device(f"officer{sid}")
    push_subscriptions.subscribe(db, sid, device.subscription(), "", clock.now(), allow_local=True)
    return sid, device


def test_returned_and_expired_unopened_push_the_officer_once(app, db, clock, receive, municipality,
                                                             staff):
    cfg = app.config["HWC"]
    with PushService(clock) as svc:
        _sid, device = officer_with_device(db, clock, municipality, svc)
        returned = receive("R-1", NAME)
        receive("R-2", "Joost Verzonnen")
        receiver = staff("receiver")
        signals.reveal(db, clock.now(), returned, receiver)
        assert officers.sweep_job(db, clock.now(), cfg)["officer_push_sent"] == 0
        signals.return_signal(db, clock.now(), returned)
        result = jobs.run_once(cfg, clock)
        assert result["officer_push_sent"] == 1
        assert len(svc.received) == 1
        body = device.decrypt(svc.received[0].body)
        assert body == {"title": "HwC Inbox", "body": officers.BODY,
                        "url": "/gemeente/ontvangstbevestigingen"}
        for secret in ("Mirthe", "R-1", "Kastanje", "12AB"):
            assert secret not in str(body)
        # Again: nothing new to announce.
        assert jobs.run_once(cfg, clock)["officer_push_sent"] == 0
        # R-2 expires unopened a week later: one more push.
        clock.advance(days=8)
        assert jobs.run_once(cfg, clock)["officer_push_sent"] == 1
        assert len(svc.received) == 2


def test_an_officer_of_another_municipality_is_not_pushed(app, db, clock, receive, municipality,
                                                          staff, other_school):
    from server import municipalities
    other, _tok = municipalities.add(db, clock.now(), name="Gemeente Anderdorp", brins=["34CD"])
    cfg = app.config["HWC"]
    with PushService(clock) as svc:
        officer_with_device(db, clock, other, svc, "Bo Ambtenaar")
        returned = receive("R-1", NAME)
        signals.reveal(db, clock.now(), returned, staff("receiver"))
        signals.return_signal(db, clock.now(), returned)
        jobs.run_once(cfg, clock)
        assert svc.received == []


def test_officer_push_step_is_in_the_sweep_after_the_deadlines():
    names = [name for name, _step in jobs.STEPS]
    assert names.index("deadlines") < names.index("officer_push")
