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
