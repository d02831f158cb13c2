"""The director finishes onboarding in Debian Chromium: the "Aan de slag" card on the first page,
the checklist (derived items follow the team as people enrol, the rest ticked by hand), every
school document as a printable page and a .txt download, and axe-core on each of those pages."""
from __future__ import annotations

import re

import pytest

from server import documents, municipalities

from .test_morning import axe_check, axe_source, invite_via_ui  # noqa: F401 (axe_source: fixture)

pytestmark = pytest.mark.browser


def button(page, action: str, item: str):
    """The tick buttons say which item they are for (to a screen reader) after the visible words;
    browsers differ in the space they put between the two."""
    return page.get_by_role("button", name=re.compile(rf"^{re.escape(action)}\W+{re.escape(item)}$"))


def test_director_finishes_onboarding(live_server, person, axe_source):  # noqa: F811
    school = live_server.add_school(name="OBS De Vlinderboom")
    database = live_server.db()
    municipalities.add(database, live_server.clock.now(), name="Gemeente Verzinstad",
                       brins=["12AB"])
    database.close()

    director = person("Hanna")
    director.context.add_init_script(script=axe_source)  # exempt from the page's CSP
    assert director.enrol(live_server.invite(school["id"], ("director",), "Hanna Fictief")) \
        .endswith("/admin/")
    page = director.page
    card = page.locator("#aan-de-slag")
    card.wait_for()
    assert "0 van de 7" in page.locator(".onboarding-card").inner_text()
    axe_check(page, axe_source, "team page with the card")

    page.get_by_role("link", name="Bekijk wat er nog moet").click()
    page.get_by_role("heading", name="Aan de slag met Handle with Care").wait_for()
    axe_check(page, axe_source, "checklist")

    # Ticking by hand: who and when is shown, and it can be undone.
    button(page, "Dit is gedaan", "Team geïnformeerd").click()
    page.get_by_text("Afgevinkt door Hanna Fictief op").wait_for()
    button(page, "Vinkje weghalen", "Team geïnformeerd").click()
    button(page, "Dit is gedaan", "Team geïnformeerd").wait_for()
    axe_check(page, axe_source, "checklist after a tick")

    # The documents, linked from their items: printable page and download, both the school's.
    page.locator("#item-parents_informed").get_by_role(
        "link", name="Brief aan ouders en verzorgers").click()
    page.get_by_role("heading", name="Handle with Care", exact=True).wait_for()
    assert "OBS De Vlinderboom" in page.title() and "de gemeente Verzinstad" in page.content()
    with page.expect_download() as download:
        page.get_by_role("link", name="Download als tekstbestand (.txt)").click()
    assert download.value.suggested_filename == "hwc-brief-ouders-obs-de-vlinderboom.txt"
    text = open(download.value.path(), encoding="utf-8").read()
    assert "Hanna Fictief" in text and "<" not in text
    for slug, title in documents.kinds():
        page.goto(f"/admin/start/documents/{slug}")
        assert title in page.title()
        axe_check(page, axe_source, f"document {slug}")
    page.get_by_role("link", name="Terug naar Aan de slag").click()
    page.get_by_role("heading", name="Aan de slag met Handle with Care").wait_for()

    # The team: as each person enrols, the derived items follow.
    team = [("Ineke Verzonnen", ["ontvanger"], "", "receiver"),
            ("Bram Bedacht", ["achterwacht"], "", "backup"),
            ("Tom Leraar", ["leerkracht / mentor"], "groep 5", "teachers")]
    for name, roles, group, item in team:
        link = invite_via_ui(director, name, roles, group)
        page.goto("/admin/start/")
        state = page.locator(f"#item-{item} .checklist-state")
        assert state.inner_text() == "Uitgenodigd, nog niet aangemeld", item
        person(name).enrol(link)
        page.reload()
        assert state.inner_text() == "Klaar", item
    werkproces = director.context.request.get("/admin/start/documents/werkproces.txt").text()
    assert "Ineke Verzonnen" in werkproces and "Bram Bedacht" in werkproces

    for label in ("Team geïnformeerd", "(G)MR heeft ingestemd",
                  "Ouders en leerlingen geïnformeerd", "Tekst op de website en in de schoolgids"):
        button(page, "Dit is gedaan", label).click()
        button(page, "Vinkje weghalen", label).wait_for()
    page.get_by_text("Alles is geregeld.").wait_for()
    axe_check(page, axe_source, "checklist done")
    page.goto("/admin/")
    assert page.locator("#aan-de-slag").count() == 0
    assert [e for e in director.console_errors if "Failed to load resource" not in e] == []
