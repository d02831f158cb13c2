"""Issue 12 in Chromium: Back after the reveal or the assignment lands on a calm page that says
the signal was already seen (not 'Je bent offline'), the confirmation step before 'Niet onze
leerling' works, and the new inbox passes axe-core. Names are invented."""
from __future__ import annotations

import pytest

from server import municipalities

from .test_morning import NAME, axe_check, axe_source, invite_via_ui, push_signal  # noqa: F401

pytestmark = pytest.mark.browser


def _school_with_people(live_server, person, axe_source):  # noqa: F811
    school = live_server.add_school()
    database = live_server.db()
    _row, token = municipalities.add(database, live_server.clock.now(), name="Gemeente Test",
                                     brins=["12AB"])
    database.close()
    director = person("Dirk")
    director.enrol(live_server.invite(school["id"], ("director",), "Dirk Directeur"))
    receiver_link = invite_via_ui(director, "Ilse Bedacht", ["ontvanger"])
    teacher_link = invite_via_ui(director, "Bram Hoekstra", ["leerkracht / mentor"], "groep 6")
    person("Bram").enrol(teacher_link)
    receiver = person("Ilse")
    receiver.context.add_init_script(script=axe_source)
    receiver.enrol(receiver_link)
    return receiver, token


def _reveal(rp, live_server, token):
    push_signal(live_server.base_url, token)
    live_server.clock.advance(minutes=5)
    rp.goto("/inbox")
    rp.get_by_role("link", name="1. Nieuw signaal, ontvangen vandaag 07:00").click()
    rp.get_by_role("button", name="Bekijk het signaal").click()
    rp.get_by_text(NAME).wait_for()


def test_back_after_assign_says_already_seen(live_server, person, axe_source):  # noqa: F811
    receiver, token = _school_with_people(live_server, person, axe_source)
    rp = receiver.page
    _reveal(rp, live_server, token)
    rp.get_by_label("Bram Hoekstra — groep 6").check()
    rp.get_by_role("button", name="Stuur het bericht naar de leerkracht").click()
    rp.get_by_text("Het bericht staat klaar voor Bram Hoekstra").wait_for()
    rp.go_back(wait_until="load")
    rp.wait_for_load_state("load")
    content = rp.content()
    assert NAME not in content
    assert "Je bent offline" not in content
    assert "Dit signaal is al geopend" in content
    axe_check(rp, axe_source, "already opened")
    rp.goto("/inbox")
    axe_check(rp, axe_source, "inbox with a case")


def test_not_our_pupil_asks_first(live_server, person, axe_source):  # noqa: F811
    receiver, token = _school_with_people(live_server, person, axe_source)
    rp = receiver.page
    _reveal(rp, live_server, token)
    rp.get_by_role("button", name="Niet onze leerling").click()
    rp.get_by_text("Weet je het zeker?").wait_for()
    assert NAME not in rp.content()
    axe_check(rp, axe_source, "confirm return")
    rp.get_by_role("button", name="Ja, terugsturen naar de gemeente").click()
    rp.get_by_text("teruggestuurd", exact=False).wait_for()


def _send(base_url, token, school, reference, name, birth="2015-05-05"):
    import json
    import urllib.request
    body = json.dumps({"school": school, "reference": reference,
                       "child": {"name": name, "birth_date": birth}}).encode()
    req = urllib.request.Request(f"{base_url}/api/v1/signals", data=body, method="POST", headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 201
        return json.loads(resp.read())


def _jobs(live_server, event):
    from server.push import plan as push_plan
    database = live_server.db()
    try:
        push_plan.plan(database, live_server.clock.now())
        return [r["staff_id"] for r in database.query(
            "SELECT staff_id FROM push_jobs WHERE event = ?", (event,))]
    finally:
        database.close()


def _device(live_server, name):
    """A push subscription row for a person (the planner only plans for people with a device).
    A real push service's address: the live server is not in testing mode, so it would forget a
    device on this machine; sending to it fails (tests reach nothing outside) and is retried."""
    from server.push import subscriptions as push_subscriptions

    from ..push_helpers import Device
    database = live_server.db()
    try:
        staff_id = database.conn.execute("SELECT id FROM staff WHERE display_name = ?",
                                         (name,)).fetchone()[0]
        push_subscriptions.subscribe(database, staff_id, Device(
            f"https://fcm.googleapis.com/fcm/send/week-{staff_id}").subscription(), name,
            live_server.clock.now(), allow_local=True)
        return staff_id
    finally:
        database.close()


def test_a_school_week(live_server, person, axe_source):  # noqa: F811
    """Friday signal, Monday reminder, an unread note escalated and handled, parent contact by
    the teacher (PO), the VO talk with the mentor note at 11:00, and the director's pages."""
    clock = live_server.clock
    clock.set("2026-11-27T06:00:00Z")  # Friday 27 November, 07:00
    po = live_server.add_school()
    vo = live_server.add_school(brin="34CD", name="CSG Het Baken", type="vo")
    database = live_server.db()
    _row, token = municipalities.add(database, clock.now(), name="Gemeente Test",
                                     brins=["12AB", "34CD"])
    database.close()
    director = person("Dirk")
    director.context.add_init_script(script=axe_source)
    director.enrol(live_server.invite(po["id"], ("director",), "Dirk Directeur"))
    links = {n: invite_via_ui(director, n, r, g) for n, r, g in (
        ("Marieke de Wit", ["ontvanger"], ""),
        ("Bram Hoekstra", ["leerkracht / mentor"], "groep 6"),
        ("Tess Juf", ["leerkracht / mentor"], "groep 7"))}
    people = {}
    for name, link in links.items():
        people[name] = person(name)
        people[name].context.add_init_script(script=axe_source)
        people[name].enrol(link)
    for name in ("Marieke de Wit", "Bram Hoekstra"):
        _device(live_server, name)
    ib, bram, tess = (people[n].page for n in ("Marieke de Wit", "Bram Hoekstra", "Tess Juf"))

    # Friday 07:00 a signal; Marieke opens it at 10:05 and sends Bram a note at 10:06.
    _send(live_server.base_url, token, "12AB", "WEEK-1", "Femke Verzonnen")
    clock.set("2026-11-27T09:05:00Z")
    people["Marieke de Wit"].login_autofill()
    ib.goto("/inbox")
    axe_check(ib, axe_source, "inbox with a waiting signal")
    ib.get_by_role("link", name="1. Nieuw signaal, ontvangen vandaag 07:00").click()
    ib.get_by_role("button", name="Bekijk het signaal").click()
    ib.get_by_text("Femke Verzonnen").wait_for()
    clock.set("2026-11-27T09:06:00Z")
    ib.get_by_label("Bram Hoekstra — groep 6").check()
    ib.get_by_role("button", name="Stuur het bericht naar de leerkracht").click()
    ib.get_by_text("Het bericht staat klaar voor Bram Hoekstra").wait_for()

    # Monday 07:30 Bram is reminded; at 08:30 still unread: Marieke is pushed and sees it.
    clock.set("2026-11-30T06:30:00Z")
    assert _jobs(live_server, "note_reminder") == [_device_id(live_server, "Bram Hoekstra")]
    clock.set("2026-11-30T07:30:00Z")
    assert _jobs(live_server, "note_unread") == [_device_id(live_server, "Marieke de Wit")]
    people["Marieke de Wit"].login_autofill()
    ib.goto("/inbox")
    ib.get_by_text("Nog niet gelezen door Bram Hoekstra — sinds vrijdag 10:06").wait_for()
    assert "Femke" not in ib.content()
    axe_check(ib, axe_source, "inbox with an unread note")
    # Handled: Bram is ill; the note goes to Tess, who reads it and talks to the parents.
    ib.get_by_role("link", name="1. Signaal van vrijdag 27 november 07:00").click()
    ib.get_by_text("Is Bram Hoekstra er vandaag niet?").click()
    ib.get_by_label("Tess Juf — groep 7").check()
    ib.get_by_role("button", name="Naar deze leerkracht sturen").click()
    axe_check(ib, axe_source, "case waiting for the note")
    people["Tess Juf"].login_autofill()
    tess.goto("/notes")
    tess.get_by_role("button", name="Lees het bericht").click()
    tess.get_by_text("Handle with Care: Femke Verzonnen").wait_for()
    assert "Vertel de ouders, als dat veilig en mogelijk is" in tess.content()
    assert "Van Marieke de Wit, intern begeleider" in tess.content()
    axe_check(tess, axe_source, "teacher note with Meer tips")
    tess.goto("/notes")
    tess.get_by_label("Ouders gesproken").check()
    axe_check(tess, axe_source, "teacher parent contact")
    tess.get_by_role("button", name="Doorgeven").click()
    tess.get_by_text("Dank je wel, dat is doorgegeven.").wait_for()
    ib.goto("/inbox")
    ib.get_by_role("link", name="1. Signaal van vrijdag 27 november 07:00").click()
    ib.get_by_text("Tess Juf over de ouders:").wait_for()
    ib.get_by_label("Ouders geïnformeerd door de leerkracht").check()
    ib.get_by_role("button", name="Vastleggen en afsluiten").click()
    ib.get_by_text("Afgesloten. Dank je wel.").wait_for()

    # The director reads the week back in sentences, and the pages pass axe.
    director.login_autofill()
    for url, label in (("/admin/audit", "log"), ("/admin/", "team"), ("/admin/settings",
                       "settings"), ("/admin/monitoring", "monitoring"),
                       ("/admin/holidays", "holidays")):
        director.page.goto(url)
        axe_check(director.page, axe_source, label)
    director.page.goto("/admin/audit")
    log = director.page.content()
    assert "Marieke de Wit opende een signaal (ontvangen 27 nov 07:00) om 10:05" in log
    assert "Tess Juf las het bericht" in log and "Femke" not in log

    # VO: the zorgcoördinator talks with the pupil first; the mentor's note at 11:00.
    zoco, mentor = person("Zara"), person("Mo")
    for who in (zoco, mentor):
        who.context.add_init_script(script=axe_source)
    zoco.enrol(live_server.invite(vo["id"], ("receiver",), "Zara Zorg"))
    mentor.enrol(live_server.invite(vo["id"], ("teacher",), "Mo Mentor", "3 havo B"))
    clock.set("2026-11-30T07:00:00Z")  # Monday 08:00
    _send(live_server.base_url, token, "34CD", "WEEK-VO", "Joris Verzonnen")
    clock.set("2026-11-30T07:03:00Z")
    zoco.login_autofill()
    zoco.page.goto("/inbox")
    zoco.page.get_by_role("link", name="1. Nieuw signaal, ontvangen vandaag 08:00").click()
    zoco.page.get_by_role("button", name="Bekijk het signaal").click()
    zoco.page.get_by_text("Joris Verzonnen").wait_for()
    axe_check(zoco.page, axe_source, "VO reveal")
    zoco.page.get_by_role("button", name="Ik spreek de leerling eerst").click()
    zoco.page.get_by_text("Tot 16:30 vandaag kun je hier kiezen").wait_for()
    axe_check(zoco.page, axe_source, "VO talk")
    clock.set("2026-11-30T10:00:00Z")  # 11:00, after the talk
    zoco.login_autofill()
    zoco.page.goto("/inbox")
    zoco.page.get_by_role("link", name="1. Signaal van vandaag 08:00").click()
    zoco.page.get_by_label("Mo Mentor — 3 havo B").check()
    zoco.page.get_by_role("button", name="Stuur het bericht naar de mentor").click()
    zoco.page.get_by_text("Het bericht staat klaar voor Mo Mentor").wait_for()
    mentor.login_autofill()
    mentor.page.goto("/notes")
    mentor.page.get_by_role("button", name="Lees het bericht").click()
    mentor.page.get_by_text("Handle with Care: Joris Verzonnen").wait_for()
    assert "De leerling wil dat jij dit weet en weet dat jij het weet" in mentor.page.content()


def _device_id(live_server, name):
    database = live_server.db()
    try:
        return database.conn.execute("SELECT id FROM staff WHERE display_name = ?",
                                     (name,)).fetchone()[0]
    finally:
        database.close()
