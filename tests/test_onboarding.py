"""Onboarding a school, the director's side: the checklist (derived items follow the team, ticked
items are audited), readiness() for the operator, and the school's documents built from its own
settings and people, as printable pages and .txt downloads. All names are invented."""
from __future__ import annotations

import json
import re

import pytest

from server import documents, municipalities, onboarding, schools
from server import staff as staff_mod
from server.push import subscriptions as push_subscriptions

from .auth_helpers import Device, enrolled, invite
from .push_helpers import Device as PushDevice

KINDS = [slug for slug, _ in documents.kinds()]
TICKABLE = ["team_informed", "gmr_agreed", "parents_informed", "website_text"]


@pytest.fixture
def director(app, db, clock, school):
    return enrolled(app, db, clock, school["id"], roles=("director",), name="Dirk Verzonnen")


def staff_id(db, name: str) -> int:
    return db.conn.execute("SELECT id FROM staff WHERE display_name = ?", (name,)).fetchone()[0]


def states(db, school_id, clock) -> dict[str, str]:
    return {e["key"]: e["state"] for e in onboarding.checklist(db, school_id, clock.now())}


def onboarding_routes(app):
    args = {"item": "team_informed", "kind": "ouders"}
    out = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("onboarding."):
            url = rule.build({k: args[k] for k in rule.arguments}, append_unknown=False)[1]
            out += [(m, url) for m in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    return out


# --- the checklist ---------------------------------------------------------------------------

def test_checklist_has_the_handbooks_items_in_order(db, clock, school):
    keys = [e["key"] for e in onboarding.checklist(db, school["id"], clock.now())]
    assert keys == ["receiver", "backup", "teachers", *TICKABLE]
    assert onboarding.TICKABLE == tuple(TICKABLE)
    po = {i.key: i for i in onboarding.items("po")}
    vo = {i.key: i for i in onboarding.items("vo")}
    assert "intern begeleider" in po["receiver"].help and "zorgcoördinator" in vo["receiver"].help
    assert po["teachers"].label == "Leerkrachten uitgenodigd"
    assert vo["teachers"].label == "Mentoren uitgenodigd" and "leerling" in vo["teachers"].help
    assert all(i.help and i.label for i in onboarding.items())


def test_derived_items_follow_the_team(app, db, clock, school, director):
    sid = school["id"]
    assert states(db, sid, clock) == dict.fromkeys(["receiver", "backup", "teachers",
                                                    *TICKABLE], "todo")
    # An invite is a start, not the end: the item waits until the person has a passkey.
    ilse_token = invite(db, clock, sid, ("receiver",), "Ilse Bedacht")
    teacher_token = invite(db, clock, sid, ("teacher",), "Tom Leraar", "groep 5")
    assert states(db, sid, clock)["receiver"] == "waiting"
    assert states(db, sid, clock)["teachers"] == "waiting"
    Device(app).enrol(ilse_token)
    assert states(db, sid, clock)["receiver"] == "done"
    enrolled(app, db, clock, sid, ("backup",), "Bas Achterwacht")
    assert states(db, sid, clock)["backup"] == "done"
    # A withdrawn invite is no invite; an expired one neither.
    staff_mod.withdraw_invite(db, clock.now(), school_id=sid, actor="test",
                              invite_id=staff_mod.find_invite(db, teacher_token)["id"])
    assert states(db, sid, clock)["teachers"] == "todo"
    invite(db, clock, sid, ("teacher",), "Tessa Juf", "groep 7")
    assert states(db, sid, clock)["teachers"] == "waiting"
    clock.advance(hours=73)
    assert states(db, sid, clock)["teachers"] == "todo"

    # Taking the role away, or the last passkey, undoes a derived item: nobody ticked it.
    bas = staff_id(db, "Bas Achterwacht")
    staff_mod.set_roles(db, clock.now(), school_id=sid, staff_id=bas, roles=["teacher"],
                        actor="test")
    s = states(db, sid, clock)
    assert s["backup"] == "todo" and s["teachers"] == "done"
    ilse = staff_id(db, "Ilse Bedacht")
    staff_mod.revoke_passkey(db, clock.now(), staff_id=ilse, school_id=sid, actor="test",
                             passkey_id=staff_mod.passkeys_of(db, ilse)[0]["id"])
    assert states(db, sid, clock)["receiver"] == "todo"
    staff_mod.create_invite(db, clock.now(), school_id=sid, staff_id=ilse, actor="test")
    assert states(db, sid, clock)["receiver"] == "waiting"  # the re-invite for a lost phone


def test_derived_items_cannot_be_ticked(app, db, clock, school, director):
    for item in ("receiver", "backup", "teachers", "nonsense"):
        resp = director.form(f"/admin/start/items/{item}", {"done": "1"}, page="/admin/start/")
        assert resp.status_code == 404, item
        with pytest.raises(onboarding.UnknownItem):
            onboarding.tick(db, clock.now(), school_id=school["id"], item=item, done=True,
                            staff_id=1)
    assert db.conn.execute("SELECT count(*) FROM onboarding_ticks").fetchone()[0] == 0
    assert db.conn.execute("SELECT count(*) FROM audit_events WHERE action LIKE "
                           "'onboarding.%'").fetchone()[0] == 0


def test_ticking_and_unticking_says_who_and_when_and_is_audited(app, db, clock, school,
                                                                director):
    me = staff_id(db, "Dirk Verzonnen")
    resp = director.form("/admin/start/items/gmr_agreed", {"done": "1"}, page="/admin/start/")
    assert resp.status_code == 303
    assert resp.headers["Location"].endswith("/admin/start/#item-gmr_agreed")
    entry = {e["key"]: e for e in onboarding.checklist(db, school["id"], clock.now())}
    assert entry["gmr_agreed"]["done"] and entry["gmr_agreed"]["ticked_at"] == "2026-11-23T06:00:00Z"
    assert entry["gmr_agreed"]["ticked_by_name"] == "Dirk Verzonnen"
    page = director.client.get("/admin/start/").get_data(as_text=True)
    assert "Afgevinkt door Dirk Verzonnen op 23 november 2026 07:00." in page
    assert "Vinkje weghalen<span class=\"visually-hidden\">: (G)MR heeft ingestemd" in page

    # Ticking again changes nothing and writes no second line.
    clock.advance(minutes=5)
    director.form("/admin/start/items/gmr_agreed", {"done": "1"}, page="/admin/start/")
    assert onboarding.checklist(db, school["id"], clock.now())[4]["ticked_at"] == \
        "2026-11-23T06:00:00Z"
    director.form("/admin/start/items/gmr_agreed", {"done": "0"}, page="/admin/start/")
    assert states(db, school["id"], clock)["gmr_agreed"] == "todo"
    director.form("/admin/start/items/gmr_agreed", {"done": "0"}, page="/admin/start/")
    events = db.conn.execute("SELECT actor, action, detail, at FROM audit_events WHERE action "
                             "LIKE 'onboarding.%' ORDER BY id").fetchall()
    assert events == [(f"staff:{me}", "onboarding.ticked", "item=gmr_agreed",
                       "2026-11-23T06:00:00Z"),
                      (f"staff:{me}", "onboarding.unticked", "item=gmr_agreed",
                       "2026-11-23T06:05:00Z")]
    log = director.client.get("/admin/audit").get_data(as_text=True)
    assert "vinkte „(G)MR heeft ingestemd” af op de lijst Aan de slag" in log


def test_a_tick_request_without_a_clear_yes_or_no_changes_nothing(db, clock, school,
                                                                 director):
    onboarding.tick(db, clock.now(), school_id=school["id"], item="gmr_agreed", done=True,
                    staff_id=1)
    for data in ({}, {"done": ""}, {"done": "ja"}, {"done": "2"}):
        for item in ("gmr_agreed", "website_text"):
            resp = director.form(f"/admin/start/items/{item}", data, page="/admin/start/")
            assert resp.status_code == 400, (item, data)
    s = states(db, school["id"], clock)
    assert s["gmr_agreed"] == "done" and s["website_text"] == "todo"


def test_a_tick_outlives_the_colleague_who_made_it(app, db, clock, school, director):
    """Deleting a person's data keeps the school's tick (without a name), and the delete works
    (the tick's reference to the person must not block it)."""
    second = enrolled(app, db, clock, school["id"], ("director",), "Hanna Fictief")
    second.form("/admin/start/items/website_text", {"done": "1"}, page="/admin/start/")
    hanna = staff_id(db, "Hanna Fictief")
    staff_mod.deactivate(db, clock.now(), school_id=school["id"], staff_id=hanna, actor="test")
    staff_mod.delete(db, clock.now(), school_id=school["id"], staff_id=hanna, actor="test")
    entry = onboarding.checklist(db, school["id"], clock.now())[6]
    assert entry["done"] and entry["ticked_by_name"] is None
    page = director.client.get("/admin/start/").get_data(as_text=True)
    assert "Afgevinkt op 23 november 2026 07:00." in page and "Hanna" not in page


def test_only_a_director_of_the_school_sees_or_ticks(app, db, clock, school):
    routes = onboarding_routes(app)
    assert len(routes) == 4
    anon = Device(app)
    token = anon.csrf()
    for method, url in routes:
        resp = anon.client.open(url, method=method, headers={"X-CSRFToken": token},
                                data={"done": "1"})
        assert resp.status_code == 302 and resp.headers["Location"].startswith("/auth/login"), url
    for roles in (("teacher",), ("receiver", "backup")):
        person = enrolled(app, db, clock, school["id"], roles=roles, name="Tom " + roles[0])
        token = person.csrf()
        for method, url in routes:
            resp = person.client.open(url, method=method, headers={"X-CSRFToken": token},
                                      data={"done": "1"})
            assert resp.status_code == 403, (roles, method, url)
    assert db.conn.execute("SELECT count(*) FROM onboarding_ticks").fetchone()[0] == 0


def test_another_schools_director_sees_and_ticks_only_their_own(app, db, clock, school,
                                                               other_school, director):
    enrolled(app, db, clock, school["id"], ("receiver",), "Ilse Bedacht")
    olga = enrolled(app, db, clock, other_school["id"], ("director",), "Olga Anders")
    olga.form("/admin/start/items/team_informed", {"done": "1"}, page="/admin/start/")
    assert states(db, school["id"], clock)["team_informed"] == "todo"
    assert states(db, other_school["id"], clock)["team_informed"] == "done"
    for url in ["/admin/start/", *(f"/admin/start/documents/{k}" for k in KINDS),
                *(f"/admin/start/documents/{k}.txt" for k in KINDS)]:
        body = olga.client.get(url).get_data(as_text=True)
        assert "Ilse" not in body and "Dirk" not in body and "Kastanje" not in body, url
    assert "CSG Het Baken" in olga.client.get("/admin/start/documents/werkproces").get_data(
        as_text=True)
    # The domain refuses a tick by someone of another school.
    with pytest.raises(LookupError):
        onboarding.tick(db, clock.now(), school_id=school["id"], item="gmr_agreed", done=True,
                        staff_id=staff_id(db, "Olga Anders"))
    assert states(db, school["id"], clock)["gmr_agreed"] == "todo"


def test_the_first_page_shows_aan_de_slag_until_everything_is_done(app, db, clock, school,
                                                                  director):
    page = director.client.get("/admin/").get_data(as_text=True)
    assert "Aan de slag" in page and "0 van de 7 gedaan" in page
    assert 'href="/admin/start/"' in page
    enrolled(app, db, clock, school["id"], ("receiver",), "Ilse Bedacht")
    enrolled(app, db, clock, school["id"], ("backup",), "Bas Achterwacht")
    enrolled(app, db, clock, school["id"], ("teacher",), "Tom Leraar", "groep 5")
    for item in TICKABLE[:-1]:
        director.form(f"/admin/start/items/{item}", {"done": "1"}, page="/admin/start/")
    assert "6 van de 7 gedaan" in director.client.get("/admin/").get_data(as_text=True)
    director.form("/admin/start/items/website_text", {"done": "1"}, page="/admin/start/")
    page = director.client.get("/admin/").get_data(as_text=True)
    assert "Bekijk wat er nog moet" not in page and 'id="aan-de-slag"' not in page
    assert "Alles is geregeld" in director.client.get("/admin/start/").get_data(as_text=True)
    assert onboarding.progress(db, school["id"], clock.now()) == {
        "done": 7, "total": 7, "complete": True}


# --- readiness, for the operator -------------------------------------------------------------

def test_readiness_counts_people_devices_and_the_checklist(app, db, clock, school, director):
    sid = school["id"]
    r = onboarding.readiness(db, sid, clock.now())
    assert r["can_receive"] is False and r["has_receiver"] is False
    assert r["receivers"] == {"active": 0, "invited": 0}
    assert r["directors"] == {"active": 1, "invited": 0}
    assert r["done"] == 0 and r["total"] == 7 and r["complete"] is False

    invite(db, clock, sid, ("backup",), "Bas Achterwacht")
    r = onboarding.readiness(db, sid, clock.now())
    assert r["can_receive"] is True, "an invited backup is enough for the API to accept"
    assert r["backups"] == {"active": 0, "invited": 1} and r["has_backup"] is False

    enrolled(app, db, clock, sid, ("receiver",), "Ilse Bedacht")
    enrolled(app, db, clock, sid, ("receiver", "teacher"), "Ria Dubbel")
    ilse = staff_id(db, "Ilse Bedacht")
    for n in range(2):  # two devices are still one person with a device
        push_subscriptions.subscribe(db, ilse, PushDevice(
            f"https://fcm.googleapis.com/fcm/send/onboarding-{n}").subscription(), "", clock.now())
    onboarding.tick(db, clock.now(), school_id=sid, item="gmr_agreed", done=True, staff_id=1)
    r = onboarding.readiness(db, sid, clock.now())
    assert r["receivers"] == {"active": 2, "invited": 0} and r["has_receiver"] is True
    assert r["teachers"] == {"active": 1, "invited": 0}
    assert r["push"] == {"with_device": 1, "without_device": 1}
    assert r["checklist"] == {"receiver": True, "backup": False, "teachers": True,
                              "team_informed": False, "gmr_agreed": True,
                              "parents_informed": False, "website_text": False}
    assert r["done"] == 3

    clock.advance(hours=73)  # Bas never came: his invite has run out
    r = onboarding.readiness(db, sid, clock.now())
    assert r["backups"] == {"active": 0, "invited": 0}
    # Plain data without a single name: safe for the operator's page.
    flat = json.dumps(r)
    for name in ("Ilse", "Ria", "Bas", "Dirk", "Kastanje"):
        assert name not in flat


def test_readiness_is_per_school(app, db, clock, school, other_school):
    enrolled(app, db, clock, other_school["id"], ("receiver",), "Olga Anders")
    assert onboarding.readiness(db, school["id"], clock.now())["receivers"]["active"] == 0
    assert onboarding.readiness(db, other_school["id"], clock.now())["receivers"]["active"] == 1


# --- the documents ---------------------------------------------------------------------------

@pytest.fixture
def po_team(app, db, clock, school, director, token):
    """OBS De Kastanje with its own times, people and municipalities."""
    schools.update_settings(db, clock.now(), school_id=school["id"], actor="test", values={
        "type": "po", "start_time": "08:25", "escalation_time": "07:55",
        "escalation_delay_minutes": "30", "quiet_start": "21:00", "quiet_end": "06:30",
        "receipt_contact": ""})
    municipalities.add(db, clock.now(), name="Gemeente Verzinstad", brins=["12AB"])
    enrolled(app, db, clock, school["id"], ("receiver",), "Ineke Verzonnen")
    enrolled(app, db, clock, school["id"], ("backup",), "Bram Bedacht")
    gone = enrolled(app, db, clock, school["id"], ("backup",), "Vera Vertrokken")
    assert gone
    staff_mod.deactivate(db, clock.now(), school_id=school["id"], actor="test",
                         staff_id=staff_id(db, "Vera Vertrokken"))
    invite(db, clock, school["id"], ("receiver",), "Nog Niet Begonnen")
    return director


def visible(html: str) -> str:
    import html as html_mod
    return " ".join(html_mod.unescape(re.sub(r"<[^>]+>", " ", html)).split())


def test_documents_name_the_schools_real_people_and_times_po(db, clock, school, po_team):
    facts = onboarding.school_facts(db, school["id"])
    assert facts.receiver_names == ("Ineke Verzonnen",)
    assert facts.backup_names == ("Bram Bedacht",)
    assert facts.directors == ("Dirk Verzonnen",)
    assert facts.municipalities == ("Testdorp", "Verzinstad")  # the letters say "de gemeente"
    assert (facts.type, facts.start_time, facts.escalation_time) == ("po", "08:25", "07:55")

    resp = po_team.client.get("/admin/start/documents/werkproces")
    assert resp.status_code == 200 and resp.headers["Cache-Control"] == "no-store"
    text = visible(resp.get_data(as_text=True))
    for fact in ("OBS De Kastanje", "Ineke Verzonnen", "Bram Bedacht", "Dirk Verzonnen",
                 "08:25", "07:55", "groepsleerkracht"):
        assert fact in text, fact
    assert "Vera" not in text and "Nog Niet Begonnen" not in text  # gone, and not yet there
    html = resp.get_data(as_text=True)
    assert "/static/css/print.css" in html and 'href="/admin/start/"' in html
    assert 'href="/admin/start/documents/werkproces.txt"' in html

    letter = visible(po_team.client.get("/admin/start/documents/ouders").get_data(as_text=True))
    assert "Ineke Verzonnen" in letter and "Dirk Verzonnen" in letter
    assert "de gemeente waar het kind woont (Testdorp of Verzinstad)" in letter
    assert "gemeente Gemeente" not in letter
    for kind in KINDS:
        resp = po_team.client.get(f"/admin/start/documents/{kind}")
        assert resp.status_code == 200, kind
        assert documents.build(kind, facts).title in resp.get_data(as_text=True)


def test_documents_for_a_vo_school(app, db, clock, other_school):
    olga = enrolled(app, db, clock, other_school["id"], ("director", "receiver"), "Olga Anders")
    enrolled(app, db, clock, other_school["id"], ("backup",), "Teun Proef")
    text = visible(olga.client.get("/admin/start/documents/werkproces").get_data(as_text=True))
    assert "CSG Het Baken" in text and "Olga Anders" in text and "Teun Proef" in text
    assert "Eerst de leerling" in text and "mentor" in text
    page = olga.client.get("/admin/start/").get_data(as_text=True)
    assert "Mentoren uitgenodigd" in page and "zorgcoördinator" in page
    for kind in KINDS:
        assert olga.client.get(f"/admin/start/documents/{kind}").status_code == 200, kind


def test_download_is_the_same_document_as_plain_text(db, clock, school, po_team):
    facts = onboarding.school_facts(db, school["id"])
    for kind in KINDS:
        resp = po_team.client.get(f"/admin/start/documents/{kind}.txt")
        assert resp.status_code == 200, kind
        assert resp.headers["Content-Type"] == "text/plain; charset=utf-8"
        doc = documents.build(kind, facts)
        assert resp.headers["Content-Disposition"] == f'attachment; filename="{doc.filename}"'
        assert resp.headers["Cache-Control"] == "no-store"
        assert resp.get_data(as_text=True) == documents.render_text(doc)
    assert "Ineke Verzonnen" in po_team.client.get(
        "/admin/start/documents/werkproces.txt").get_data(as_text=True)


def test_an_unknown_document_is_404(director):
    for url in ("/admin/start/documents/dossier", "/admin/start/documents/dossier.txt",
                "/admin/start/documents/ouders.pdf"):
        assert director.client.get(url).status_code == 404, url


def test_the_checklist_links_each_item_to_its_documents(director):
    page = director.client.get("/admin/start/").get_data(as_text=True)
    item = lambda key: page[page.index(f'id="item-{key}"'):].split("</li>\n\n")[0]
    assert 'href="/admin/start/documents/ouders"' in item("parents_informed")
    assert 'href="/admin/start/documents/leerlingen"' in item("parents_informed")
    assert 'href="/admin/start/documents/website"' in item("website_text")
    assert 'href="/admin/start/documents/privacy"' in item("gmr_agreed")
    assert 'href="/admin/start/documents/werkproces"' in item("team_informed")
    assert 'href="/admin/invite"' in item("receiver")
    for kind in KINDS:
        assert f'href="/admin/start/documents/{kind}.txt"' in page


def test_no_child_data_near_the_onboarding_pages(app, db, clock, school, po_team, receive):
    """A live signal at the school changes nothing on these pages: they never read signals."""
    sid = receive(name="Sanne Verzonnen", birth_date="2017-04-02")
    assert sid
    urls = ["/admin/", "/admin/start/", *(f"/admin/start/documents/{k}" for k in KINDS),
            *(f"/admin/start/documents/{k}.txt" for k in KINDS)]
    for url in urls:
        body = po_team.client.get(url).get_data(as_text=True)
        assert "Sanne" not in body and "2017" not in body and "02-04" not in body, url


def test_can_receive_is_the_apis_own_rule(db, clock, school):
    """The operator's 'can receive' and the API's 422 must never disagree: one rule
    (`access.school_can_receive`). An active receiver without a working passkey counts for the
    API (they can be re-invited and open it) though nobody 'has a receiver' today."""
    from server import access

    from .conftest import give_receiver
    assert onboarding.readiness(db, school["id"], clock.now())["can_receive"] is False
    give_receiver(db, clock.now(), school["id"])
    ready = onboarding.readiness(db, school["id"], clock.now())
    assert ready["can_receive"] is access.school_can_receive(db, school["id"], clock.now()) is True
    assert ready["has_receiver"] is False
