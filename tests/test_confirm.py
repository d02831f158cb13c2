"""Every irreversible action asks first, without JavaScript (issue 12): the first POST changes
nothing and answers with a page that posts the same form again with confirmed=1."""
from __future__ import annotations

from server import signals
from server import staff as staff_mod

from .auth_helpers import enrolled
from .test_inbox import pushed, reveal, team  # noqa: F401 - fixtures

ASK = "Weet je het zeker?"


def text(resp) -> str:
    return resp.get_data(as_text=True)


def confirm_form(page: str, action: str) -> None:
    """The confirmation page posts to the same action, with confirmed=1 and a CSRF token."""
    assert ASK in page and "Nee, terug" in page
    assert f'action="{action}"' in page
    assert 'name="confirmed" value="1"' in page and 'name="csrf_token"' in page


def test_not_our_pupil_and_withdraw_ask_first(team, pushed, db):  # noqa: F811
    ib = team["ib"]
    reveal(ib, pushed)
    url = f"/inbox/case/{pushed}/return"
    page = text(ib.form(url, page=f"/inbox/case/{pushed}"))
    confirm_form(page, url)
    assert "Sanne" not in page
    assert signals.get(db, pushed)["state"] == "opened"
    teacher = db.conn.execute("SELECT id FROM staff WHERE display_name = 'Tom Leraar'"
                              ).fetchone()[0]
    ib.form(f"/inbox/case/{pushed}/assign", {"teacher_id": teacher}, page=f"/inbox/case/{pushed}")
    url = f"/inbox/case/{pushed}/withdraw"
    confirm_form(text(ib.form(url, page=f"/inbox/case/{pushed}")), url)
    assert signals.get(db, pushed)["state"] == "teacher_assigned"
    ib.form(url, {"confirmed": "1"}, page=f"/inbox/case/{pushed}")
    assert signals.get(db, pushed)["state"] == "teacher_read"


def test_switching_off_deleting_and_withdrawing_an_invite_ask_first(app, db, clock, school):
    director = enrolled(app, db, clock, school["id"], ("director", "receiver"), "Dirk Directeur")
    enrolled(app, db, clock, school["id"], ("teacher",), "Tom Weg", "groep 3")
    tom = db.conn.execute("SELECT id FROM staff WHERE display_name='Tom Weg'").fetchone()[0]
    page = f"/admin/staff/{tom}"
    url = f"/admin/staff/{tom}/deactivate"
    confirm_form(text(director.form(url, page=page)), url)
    assert staff_mod.get(db, tom)["active"] == 1
    director.form(url, {"confirmed": "1"}, page=page)
    assert staff_mod.get(db, tom)["active"] == 0
    url = f"/admin/staff/{tom}/delete"
    confirm_form(text(director.form(url, page=page)), url)
    assert staff_mod.get(db, tom) is not None
    resp = director.form("/admin/invite", {"display_name": "Nina Nieuw", "roles": "teacher"},
                         page="/admin/invite")
    assert resp.status_code in (200, 303)
    invite_id = db.conn.execute("SELECT id FROM invites ORDER BY id DESC LIMIT 1").fetchone()[0]
    url = f"/admin/invites/{invite_id}/withdraw"
    page = text(director.form(url, page="/admin/"))
    confirm_form(page, url)
    assert "Deze uitnodiging intrekken?" in page
    assert staff_mod.invite_status(staff_mod.get_invite(db, invite_id), clock.now()) == "valid"
    director.form(url, {"confirmed": "1"}, page="/admin/")
    assert staff_mod.invite_status(staff_mod.get_invite(db, invite_id), clock.now()) != "valid"


def test_revoking_or_removing_a_passkey_asks_first(app, db, clock, school):
    director = enrolled(app, db, clock, school["id"], ("director", "receiver"), "Dirk Directeur")
    enrolled(app, db, clock, school["id"], ("teacher",), "Tom Leraar")
    tom_id = db.conn.execute("SELECT id FROM staff WHERE display_name = 'Tom Leraar'").fetchone()[0]
    pid = staff_mod.passkeys_of(db, tom_id)[0]["id"]
    url = f"/admin/staff/{tom_id}/passkeys/{pid}/revoke"
    confirm_form(text(director.form(url, page=f"/admin/staff/{tom_id}")), url)
    assert staff_mod.passkeys_of(db, tom_id)  # nothing revoked yet
    assert director.form(url, {"confirmed": "1"}, page=f"/admin/staff/{tom_id}").status_code == 303
    assert staff_mod.passkeys_of(db, tom_id) == []
    # One's own passkey (of two) on /auth/passkeys: asks as well.
    own = staff_mod.passkeys_of(db, 1)
    url = f"/auth/passkeys/{own[0]['id']}/remove"
    confirm_form(text(director.form(url, page="/auth/passkeys")), url)
    assert len(staff_mod.passkeys_of(db, 1)) == len(own)
