"""The real morning in Debian Chromium, three people on three devices with CDP passkeys:

director invites → receiver and teacher enrol → the municipality pushes → the receiver opens the
signal once and assigns the teacher → the teacher reads the note once → the receiver records the
parent contact → the name is on no page, in no browser storage and in no file. Along the way
axe-core checks the pages a person sees.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import Error as PlaywrightError

from server import municipalities

from ..forensics import needles_for, scan

pytestmark = pytest.mark.browser

NAME = "Wobbe Verzinsel"
BIRTH = "2018-02-17"
JS_DIR = Path(__file__).resolve().parent.parent / "js"
AXE = JS_DIR / "node_modules" / "axe-core" / "axe.min.js"

STORAGE = """async () => {
    const out = {caches: {}, local: [], session: [], idb: []};
    for (const name of await caches.keys()) {
        const cache = await caches.open(name);
        out.caches[name] = [];
        for (const req of await cache.keys()) {
            const body = await (await cache.match(req)).text();
            out.caches[name].push([req.url, body]);
        }
    }
    for (let i = 0; i < localStorage.length; i++) {
        const k = localStorage.key(i); out.local.push([k, localStorage.getItem(k)]);
    }
    for (let i = 0; i < sessionStorage.length; i++) {
        const k = sessionStorage.key(i); out.session.push([k, sessionStorage.getItem(k)]);
    }
    out.idb = (await indexedDB.databases()).map((d) => d.name);
    return out;
}"""


@pytest.fixture(scope="session")
def axe_source():
    """axe-core from the npm registry (tests/js/package-lock.json), installed on first use."""
    if not AXE.exists():
        npm = shutil.which("npm")
        if not npm:
            if os.environ.get("CI"):
                pytest.fail("npm is needed for axe-core in CI")
            pytest.skip("npm not installed")
        subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--prefix", str(JS_DIR)],
                       check=True, capture_output=True, timeout=300)
    return AXE.read_text(encoding="utf-8")


def axe_check(page, axe_source, label: str) -> None:
    """No serious or critical accessibility violations on the page as it is now.

    The page is checked once it has loaded; if it was still navigating (a redirect after a
    form, a service worker's reload), the run is repeated on the page it arrived at."""
    for attempt in range(3):
        page.wait_for_load_state("load")
        try:
            assert page.evaluate("typeof axe") == "object", "axe-core was not injected"
            result = page.evaluate("""async () => {
                const r = await axe.run(document, {resultTypes: ['violations']});
                return r.violations.map(v => ({id: v.id, impact: v.impact,
                                               nodes: v.nodes.length}));
            }""")
            break
        except PlaywrightError as exc:
            if "Execution context was destroyed" not in str(exc) or attempt == 2:
                raise
    bad = [v for v in result if v["impact"] in ("serious", "critical")]
    assert bad == [], f"{label}: {bad}"


def push_signal(base_url: str, token: str) -> dict:
    body = json.dumps({"school": "12AB", "reference": "MORNING-1",
                       "child": {"name": NAME, "birth_date": BIRTH}}).encode()
    req = urllib.request.Request(f"{base_url}/api/v1/signals", data=body, method="POST", headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 201
        return json.loads(resp.read())


def back_shows_no_name(page) -> bool:
    """Press Back to a page that showed the name (a POST result): whether the browser restores
    it from the back/forward cache or cannot, the name must not be on screen again."""
    from playwright.sync_api import Error
    try:
        page.go_back(wait_until="load")
    except Error:
        pass  # "confirm form resubmission" / cache miss: nothing shown, which is fine
    page.wait_for_load_state("load")
    return NAME not in page.content()


def invite_via_ui(director, name: str, roles: list[str], group: str = "") -> str:
    page = director.page
    page.goto("/admin/invite")
    page.get_by_label("Naam", exact=True).fill(name)
    if group:
        page.get_by_label("Groep of klas (voor leerkrachten en mentoren)").fill(group)
    for role in roles:
        page.get_by_label(role, exact=True).check()
    page.get_by_role("button", name="Uitnodiging maken").click()
    return page.locator("[data-invite-link]").input_value()


def test_the_whole_morning(live_server, person, axe_source):
    school = live_server.add_school()
    database = live_server.db()
    _row, token = municipalities.add(database, live_server.clock.now(), name="Gemeente Test",
                                     brins=["12AB"])
    database.close()

    # The director comes from the CLI-style invite, then invites the others in the app.
    director = person("Dirk")
    assert director.enrol(live_server.invite(school["id"], ("director",), "Dirk Directeur")) \
        .endswith("/admin/")
    receiver_link = invite_via_ui(director, "Ilse Bedacht", ["ontvanger"])
    teacher_link = invite_via_ui(director, "Tom Leraar", ["leerkracht / mentor"], "groep 5")
    invite_via_ui(director, "Tess Juf", ["leerkracht / mentor"], "groep 7")

    receiver, teacher = person("Ilse"), person("Tom")
    for who in (receiver, teacher):
        # axe-core as an init script: injected by the browser itself, exempt from the page's CSP.
        who.context.add_init_script(script=axe_source)
    assert receiver.enrol(receiver_link).endswith("/inbox")
    assert teacher.enrol(teacher_link).endswith("/notes")
    rp, tp = receiver.page, teacher.page
    rp.goto("/inbox")
    rp.get_by_text("Er staat niets voor je klaar.").wait_for()
    axe_check(rp, axe_source, "empty inbox")

    # 07:12 the municipality pushes; the receiver looks at 07:45 (login is > 2 min old).
    live_server.clock.advance(minutes=12)
    push_signal(live_server.base_url, token)
    live_server.clock.advance(minutes=13)
    rp.goto("/inbox")
    actions = 0
    link = rp.get_by_role("link", name="Nieuw signaal, ontvangen vandaag 07:12")
    assert NAME not in rp.content()
    axe_check(rp, axe_source, "inbox")
    link.click(); actions += 1
    rp.get_by_text("Je kunt dit signaal één keer bekijken.").wait_for()
    axe_check(rp, axe_source, "confirmation")
    rp.get_by_role("button", name="Bekijk het signaal").click(); actions += 1  # + passkey
    rp.get_by_text(NAME).wait_for()
    assert "geboren 17 februari 2018" in rp.content()
    assert NAME not in rp.title()
    axe_check(rp, axe_source, "reveal")
    rp.get_by_label("Tom Leraar — groep 5").check(); actions += 1
    rp.get_by_role("button", name="Stuur het bericht naar de leerkracht").click(); actions += 1
    rp.get_by_text("Het bericht staat klaar voor Tom Leraar").wait_for()
    assert back_shows_no_name(rp), "Back after assigning showed the name again"
    print(f"\nreceiver actions from inbox to teacher assigned: {actions} (goal <= 5)")
    assert actions <= 5
    assert NAME not in rp.content()

    # The teacher reads the one-line note once.
    live_server.clock.advance(minutes=5)
    tp.goto("/notes")
    tp.get_by_text("Er is een bericht voor je").wait_for()
    assert NAME not in tp.content()
    axe_check(tp, axe_source, "teacher list")
    tp.get_by_role("button", name="Lees het bericht").click()
    tp.get_by_text(f"Handle with Care: {NAME}, geboren 17 februari 2018").wait_for()
    axe_check(tp, axe_source, "teacher note")
    tp.goto("/tips")
    assert back_shows_no_name(tp), "Back to the note showed the name again"
    tp.goto("/notes")
    assert "Er is geen bericht voor je" in tp.content() and NAME not in tp.content()

    # The receiver sees it was read, records the parent contact, and the case is gone.
    rp.goto("/inbox")
    rp.get_by_role("link", name="Signaal van vandaag 07:12").click()
    rp.get_by_text("Tom Leraar heeft het gelezen om 07:30").wait_for()
    rp.get_by_label("Ouders geïnformeerd door de leerkracht").check()
    rp.get_by_role("button", name="Vastleggen en afsluiten").click()
    rp.get_by_text("Afgesloten. Dank je wel.").wait_for()
    rp.go_back()
    assert NAME not in rp.content()

    # Tips page is readable and accessible.
    rp.goto("/tips")
    axe_check(rp, axe_source, "tips")

    # Nowhere afterwards: pages, browser storage (Cache Storage, local/session storage, IndexedDB).
    for who in (director, receiver, teacher):
        who.login_autofill()  # the director's session has been idle for half an hour
        for url in ("/inbox", "/notes", "/admin/", "/tips"):
            who.page.goto(url)
            assert NAME not in who.page.content()
        storage = who.page.evaluate(STORAGE)
        assert NAME not in json.dumps(storage, ensure_ascii=False), who.name
        assert BIRTH not in json.dumps(storage)
    tips_cached = [u for c in receiver.page.evaluate(STORAGE)["caches"].values()
                   for u, _ in c if u.endswith("/tips")]
    assert tips_cached, "the service worker caches the tips page"
    # … and in no file of the data directory.
    assert scan(live_server.data_dir, needles_for([NAME], [])) == []
    # No script error and no CSP violation on any page (expected 403/410 pages aside).
    for who in (director, receiver, teacher):
        errors = [e for e in who.console_errors if not e.startswith("Failed to load resource")]
        assert errors == [], (who.name, errors)
