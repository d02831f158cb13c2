"""The real thing in Debian Chromium: CLI invite → director enrols → invites four people → each
enrols and logs in with a passkey from their own virtual authenticator."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.browser


def cli_invite(live_server, *args) -> str:
    env = {**os.environ, "HWC_BASE_URL": live_server.base_url}
    out = subprocess.run([sys.executable, "-m", "server.cli", "--data-dir", str(live_server.data_dir),
                          "invite", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    return re.search(r"^(http://localhost:\d+/auth/invite/\S+)$", out.stdout, re.M).group(1)


def director_invites(director, name: str, roles: list[str], group: str = "") -> str:
    page = director.page
    page.goto("/admin/invite")
    page.get_by_label("Naam", exact=True).fill(name)
    if group:
        page.get_by_label("Groep of klas").fill(group)
    labels = {"receiver": "ontvanger", "backup": "achterwacht", "teacher": "leerkracht / mentor",
              "director": "directeur"}
    for role in roles:
        page.get_by_label(labels[role], exact=True).check()
    page.get_by_role("button", name="Uitnodiging maken").click()
    page.get_by_role("heading", name=f"Uitnodiging voor {name}").wait_for()
    # The QR code is inline SVG (no URL carries the token): drawn, and big enough to scan.
    qr_ok = page.eval_on_selector(".qr svg", "svg => svg.getBoundingClientRect().width > 100")
    assert qr_ok, "QR code was not drawn"
    return page.locator("[data-invite-link]").input_value()


def logged_in_as(person, name: str) -> bool:
    """Ask with the context's cookies, without opening the login page (its autofill would log in)."""
    resp = person.context.request.get("/auth/passkeys", max_redirects=0)
    return resp.status == 200 and f"Hallo {name}." in resp.text()


def test_director_enrols_from_cli_and_invites_the_team(live_server, person):
    school = live_server.add_school()
    link = cli_invite(live_server, "--school", "12AB", "--role", "director", "--name", "Dirk Verzonnen")

    director = person("Dirk Verzonnen")
    assert director.enrol(link, "Laptop Dirk").endswith("/admin/")
    assert len(director.credentials()) == 1 and director.credentials()[0]["isResidentCredential"]
    assert director.page.get_by_text("Er is nog geen ontvanger").is_visible()

    team = [("Ilse Bedacht", ["receiver"], "", "/inbox"),
            ("Bea Achter", ["backup"], "", "/inbox"),
            ("Tom Leraar", ["teacher"], "groep 5", "/notes"),
            ("Tessa Juf", ["teacher"], "groep 7", "/notes")]
    for name, roles, group, landing in team:
        invite_link = director_invites(director, name, roles, group)
        member = person(name)
        assert member.enrol(invite_link).endswith(landing), name
        assert logged_in_as(member, name)
        member.logout()
        assert not logged_in_as(member, name)
        assert member.login().endswith(landing), name  # the button, on the logged-out page
        assert logged_in_as(member, name)
        # The used link now says so calmly.
        member.page.goto(invite_link)
        assert member.page.get_by_role("heading", name="Deze uitnodiging is al gebruikt").is_visible()

    director.logout()
    assert director.login_autofill().endswith("/admin/")
    text = director.page.locator("main").inner_text()
    for name, *_ in team:
        assert name in text
    assert "Er is nog geen ontvanger" not in text and "Er is geen achterwacht" not in text
    assert "groep 5" in text and "groep 7" in text
    database = live_server.db()
    try:
        assert database.conn.execute("SELECT count(*) FROM staff WHERE school_id = ?",
                                     (school["id"],)).fetchone()[0] == 5
        assert database.conn.execute("SELECT count(*) FROM passkeys").fetchone()[0] == 5
    finally:
        database.close()
    # No CSP violation or script error (a missing favicon's 404 is not ours to judge here).
    assert [e for e in director.console_errors if "Failed to load resource" not in e] == []


def test_step_up_and_revocation_in_the_browser(live_server, person):
    school = live_server.add_school()
    director = person("Dirk Verzonnen")
    director.enrol(live_server.invite(school["id"], roles=("director",), name="Dirk Verzonnen"))
    ilse = person("Ilse Bedacht")
    ilse.enrol(live_server.invite(school["id"], roles=("receiver",), name="Ilse Bedacht"))

    # Three minutes later a sensitive step asks for the passkey again, then returns.
    live_server.clock.advance(minutes=3)
    ilse.page.goto("/auth/step-up?next=/auth/passkeys")
    ilse.page.get_by_role("button", name="Bevestigen met passkey").click()
    ilse.page.wait_for_url(lambda url: url.endswith("/auth/passkeys"))

    # The director revokes Ilse's passkey: she is logged out and the passkey no longer works.
    director.page.goto("/admin/")
    director.page.get_by_role("link", name="Ilse Bedacht").click()
    director.page.get_by_role("button", name="Ongeldig maken").click()
    director.page.get_by_role("button", name="Ja, intrekken").click()  # it asks first
    director.page.get_by_text("De passkey werkt niet meer").wait_for()
    ilse.page.goto("/auth/passkeys")
    assert "/auth/login" in ilse.page.url
    ilse.page.get_by_role("button", name="Inloggen met passkey").click()
    ilse.page.get_by_text("Inloggen lukte niet").wait_for()
    assert "/auth/login" in ilse.page.url
