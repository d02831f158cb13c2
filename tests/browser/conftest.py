"""Reusable browser fixtures: the real app under waitress, Debian Chromium via Playwright, and
one CDP virtual authenticator per person.

Fixtures:
- `live_server` — create_app() on a temporary data dir, base_url http://localhost:PORT, served by
  waitress in a background thread. Gives `.base_url`, `.data_dir`, `.app`, `.clock` (a FakeClock,
  so tests can move time without sleeping), `.db()` (a new connection; close it), and domain
  helpers `.add_school(...)` and `.invite(school_id, roles, name, group) -> link`.
- `browser` — one headless Debian Chromium per session. Missing chromium: FAIL when env CI is set,
  skip otherwise (never a silent skip in CI).
- `person` — factory: `person(name)` opens a new browser context with its own virtual
  authenticator (ctap2, internal, resident keys, user verification) and returns a `Person` with
  `.page`, `.enrol(link)`, `.login()` (button), `.login_autofill()` (conditional
  mediation), `.logout()`, `.credentials()`. `person(name, prf=True)`: a phone whose passkey
  has the PRF extension (ADR 0013).
"""
from __future__ import annotations

import os
import shutil
import socket
import threading

import pytest

from server import create_app, schools
from server import db as db_mod
from server import staff as staff_mod
from server.clock import FakeClock
from server.web.base import limiter

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
TIMEOUT_MS = 15000


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    def __init__(self, data_dir, clock=None):
        import waitress
        from waitress import wasyncore

        self._wasyncore = wasyncore
        self.port = _free_port()
        self.base_url = f"http://localhost:{self.port}"
        self.data_dir = data_dir
        self.clock = clock or FakeClock()
        self.app = create_app({"data_dir": data_dir, "base_url": self.base_url},
                              clock=self.clock, env={})
        self.app.config["HWC_AUTH_RATE_LIMIT"] = "300/minute"
        limiter.reset()
        self.server = waitress.create_server(self.app, host="127.0.0.1", port=self.port,
                                             threads=4, ident="hwc-test")
        self.thread = threading.Thread(target=self.server.run, name="live-server", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        server = self.server
        # Close the sockets from inside the loop thread, then let the loop end on its own.
        server.trigger.pull_trigger(lambda: self._wasyncore.close_all(server._map))
        self.thread.join(timeout=10)
        server.task_dispatcher.shutdown()

    def db(self):
        return db_mod.connect(self.data_dir)

    def add_school(self, brin="12AB", name="OBS De Kastanje", type="po") -> dict:
        database = self.db()
        try:
            return schools.add(database, self.clock.now(), brin=brin, name=name, type=type)
        finally:
            database.close()

    def invite(self, school_id: int, roles=("director",), name="Dirk Verzonnen", group="") -> str:
        database = self.db()
        try:
            _row, token = staff_mod.create_invite(database, self.clock.now(), school_id=school_id,
                                                  display_name=name, group_name=group,
                                                  roles=roles, actor="test")
        finally:
            database.close()
        return f"{self.base_url}/auth/invite/{token}"


@pytest.fixture
def live_server(tmp_path):
    server = LiveServer(tmp_path / "live")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def chromium_path():
    path = shutil.which("chromium")
    if not path:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing in CI (apt-get install chromium); browser tests must run")
        pytest.skip("chromium not installed")
    return path


@pytest.fixture(scope="session")
def browser(chromium_path):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("playwright is missing in CI")
        pytest.skip("playwright not installed")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Person:
    """One person on their own device: a browser context with a virtual platform authenticator."""

    def __init__(self, browser, base_url: str, name: str = "", prf: bool = False):
        self.name = name
        self.base_url = base_url
        self.context = browser.new_context(base_url=base_url, locale="nl-NL")
        self.context.set_default_timeout(TIMEOUT_MS)
        self.page = self.context.new_page()
        self.cdp = self.context.new_cdp_session(self.page)
        self.cdp.send("WebAuthn.enable", {"enableUI": False})
        self.authenticator_id = self.cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
            "protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
            "hasUserVerification": True, "isUserVerified": True,
            "automaticPresenceSimulation": True, "hasPrf": prf}})["authenticatorId"]
        self.console_errors: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.console_errors.append(m.text))

    def credentials(self) -> list[dict]:
        return self.cdp.send("WebAuthn.getCredentials",
                             {"authenticatorId": self.authenticator_id})["credentials"]

    def enrol(self, link: str, device_name: str = "Telefoon") -> str:
        """Open the invite link, make a passkey; returns the URL landed on."""
        self.page.goto(link)
        self.page.get_by_label("Naam van dit apparaat").fill(device_name)
        self.page.get_by_role("button", name="Passkey maken").click()
        self.page.wait_for_url(lambda url: "/auth/invite/" not in url)
        return self.page.url

    def login(self) -> str:
        """Press "Inloggen met passkey" (call after logout(): the page without autofill)."""
        if "/auth/login" not in self.page.url:
            self.page.goto("/auth/login?uitgelogd=1")
        self.page.get_by_role("button", name="Inloggen met passkey").click()
        self.page.wait_for_url(lambda url: "/auth/login" not in url)
        return self.page.url

    def login_autofill(self) -> str:
        """Open the login page and let passkey autofill (conditional mediation) sign in.

        The virtual authenticator answers a conditional request at once, as a person picking
        their passkey from the autofill list would.
        """
        self.page.goto("/auth/login")
        self.page.wait_for_url(lambda url: "/auth/login" not in url)
        return self.page.url

    def logout(self) -> None:
        self.page.goto("/auth/passkeys")
        self.page.get_by_role("button", name="Uitloggen").click()
        self.page.wait_for_url(lambda url: "/auth/login" in url)
        self.page.get_by_text("Je bent uitgelogd.").wait_for()

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def person(browser, live_server):
    people: list[Person] = []

    def _person(name: str = "", prf: bool = False) -> Person:
        p = Person(browser, live_server.base_url, name, prf)
        people.append(p)
        return p

    yield _person
    for p in people:
        p.close()
