"""A school where nobody can open a signal refuses it (422, field `school`), after the scope check.

Without this the API answered 201 and the signal expired unread a week later with nobody at
school knowing — the second-worst outcome. The municipality must hear at once and use its
agreed fallback. All names are invented.
"""
from __future__ import annotations

from datetime import timedelta

import pytest

from server import municipalities
from server import staff as staff_mod
from server.openapi import openapi_document
from server.submissions import NOBODY_TO_RECEIVE

from .conftest import OTHER_BRIN, signal_body


def post(client, token, body):
    return client.post("/api/v1/signals", json=body, headers={"Authorization": f"Bearer {token}"})


def count(db):
    return db.conn.execute("SELECT count(*) FROM signals").fetchone()[0]


def assert_nobody_to_receive(resp):
    assert resp.status_code == 422
    assert resp.get_json() == {"error": "invalid signal",
                               "details": [{"field": "school", "message": NOBODY_TO_RECEIVE}]}


def test_school_without_receiver_or_backup_refuses_and_stores_nothing(client, db, token):
    assert_nobody_to_receive(post(client, token, signal_body()))
    assert count(db) == 0
    assert "agreed fallback" in NOBODY_TO_RECEIVE


@pytest.mark.parametrize("roles", [("teacher",), ("director",), ("teacher", "director")])
def test_people_who_cannot_open_signals_do_not_count(client, db, token, staff, roles):
    staff(name="Tom Leraar", roles=roles)
    assert_nobody_to_receive(post(client, token, signal_body()))
    assert count(db) == 0


@pytest.mark.parametrize("role", ["receiver", "backup"])
def test_an_active_receiver_or_backup_is_enough(client, db, token, staff, role):
    staff(name="Ilse Bedacht", roles=(role,))
    assert post(client, token, signal_body()).status_code == 201


def test_scope_403_comes_before_the_422(client, db, clock, school, other_school, staff):
    """A token may not learn anything about a school outside its scope, not even whether
    anyone there can receive."""
    staff(name="Ilse Bedacht", roles=("receiver",))  # the in-scope school can receive
    _r, tok = municipalities.add(db, clock.now(), name="Gemeente Elders", brins=["12AB"])
    resp = post(client, tok, signal_body(school=OTHER_BRIN))  # nobody at other_school
    assert resp.status_code == 403
    assert count(db) == 0


def test_invited_receiver_is_accepted_until_the_invite_expires_or_is_withdrawn(
        client, db, clock, school, token):
    staff_mod.create_invite(db, clock.now(), school_id=school["id"],
                                           display_name="Ilse Bedacht", roles=["receiver"],
                                           actor="director:1")
    assert post(client, token, signal_body("REF-1")).status_code == 201
    clock.advance(hours=73)  # the invite lapsed unused
    assert_nobody_to_receive(post(client, token, signal_body("REF-2")))
    invite2, _tok = staff_mod.create_invite(db, clock.now(), school_id=school["id"],
                                            display_name="Ilse Bedacht", roles=["backup", "teacher"],
                                            actor="director:1")
    assert post(client, token, signal_body("REF-3")).status_code == 201
    staff_mod.withdraw_invite(db, clock.now(), school_id=school["id"], invite_id=invite2["id"],
                              actor="director:1")
    assert_nobody_to_receive(post(client, token, signal_body("REF-4")))
    staff_mod.create_invite(db, clock.now(), school_id=school["id"],
                                                 display_name="Tom Leraar", roles=["teacher"],
                                                 actor="director:1")
    assert_nobody_to_receive(post(client, token, signal_body("REF-5")))


def test_deactivated_receiver_only_is_refused(client, db, clock, school, token, staff):
    ib = staff(name="Ilse Bedacht", roles=("receiver",))
    staff(name="Dirk Directeur", roles=("director",))
    assert post(client, token, signal_body("REF-1")).status_code == 201
    # `deactivate` refuses to remove the last receiver; a database edit stands in for a
    # school whose only receiver was switched off some other way (or before that guard).
    db.conn.execute("UPDATE staff SET active = 0 WHERE id = ?", (ib,))
    assert_nobody_to_receive(post(client, token, signal_body("REF-2")))
    assert count(db) == 1


def test_documented_in_openapi():
    text = openapi_document("x")["paths"]["/api/v1/signals"]["post"]["responses"]["422"]["description"]
    assert "nobody at the school can receive" in text and "after the scope" in text


def test_the_domain_rule_counts_only_pending_invites(db, clock, school):
    from server import access
    assert not access.school_can_receive(db, school["id"], clock.now())
    staff_mod.create_invite(db, clock.now(), school_id=school["id"], display_name="Ilse Bedacht",
                            roles=["receiver"], actor="director:1")
    assert access.school_can_receive(db, school["id"], clock.now())
    assert not access.school_can_receive(db, school["id"], clock.now() + timedelta(hours=73))
