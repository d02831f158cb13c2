"""The PWA in a real browser (Debian Chromium through Playwright): the service worker installs,
caches the shell and nothing else, shows a generic notification for a push delivered over CDP,
and keeps the offline page and the tips available without a network.

The live-server fixture is local to this file on purpose (tests/browser/conftest.py belongs to
the end-to-end suite)."""
from __future__ import annotations

import json
import shutil
import threading

import pytest

from server import create_app
from server.web import pwa
from server.web.base import limiter

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium")
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def live_url(tmp_path_factory):
    from werkzeug.serving import make_server
    app = create_app({"data_dir": tmp_path_factory.mktemp("pwa-data"), "testing": True},
                     env={})
    limiter.reset()
    server = make_server("localhost", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://localhost:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture
def context(browser, live_url):
    ctx = browser.new_context(locale="nl-NL", service_workers="allow")
    ctx.grant_permissions(["notifications"], origin=live_url)
    yield ctx
    ctx.close()


def wait_for_controller(page):
    state = page.evaluate("""async () => {
        const reg = await navigator.serviceWorker.ready;
        if (!navigator.serviceWorker.controller) {
            await new Promise((resolve) =>
                navigator.serviceWorker.addEventListener("controllerchange", resolve, {once: true}));
        }
        const worker = reg.active;
        if (worker.state !== "activated") {
            await new Promise((resolve) => worker.addEventListener("statechange", () => {
                if (worker.state === "activated") resolve(); }));
        }
        return worker.state;
    }""")
    assert state == "activated"


STORAGE = """async () => {
    const out = {caches: {}, idb: [], local: Object.keys(localStorage),
                 session: Object.keys(sessionStorage)};
    for (const name of await caches.keys()) {
        const cache = await caches.open(name);
        out.caches[name] = (await cache.keys()).map((r) => {
            const u = new URL(r.url); return u.pathname + u.search; });
    }
    out.idb = (await indexedDB.databases()).map((d) => d.name);
    return out;
}"""

# Every notification has the same tag, so a new one replaces the last: wait for one newer than
# `since` (closing them instead races with the next push in Chromium).
NOTIFICATIONS = """async ([since, tries]) => {
    const reg = await navigator.serviceWorker.ready;
    for (let i = 0; i < tries; i++) {
        const shown = (await reg.getNotifications()).filter((n) => n.timestamp > since);
        if (shown.length) {
            return shown.map((n) => ({title: n.title, body: n.body, data: n.data, tag: n.tag,
                                      lang: n.lang, timestamp: n.timestamp}));
        }
        await new Promise((r) => setTimeout(r, 50));
    }
    return [];
}"""


def test_service_worker_caches_the_shell_and_nothing_else(context, live_url):
    page = context.new_page()
    page.goto(live_url + "/tips")
    assert page.title().startswith("Tips bij Handle with Care")
    wait_for_controller(page)
    assert page.evaluate("navigator.serviceWorker.controller.scriptURL") == live_url + "/sw.js"

    # Routes outside the shell, through the worker: a 404 page, JSON, an API error, a POST.
    page.goto(live_url + "/inbox")
    page.goto(live_url + "/healthz")
    page.goto(live_url + "/tips")
    statuses = page.evaluate("""async () => [
        (await fetch("/api/v1/signals/REF-1")).status,
        (await fetch("/api/v1/signals", {method: "POST", body: "{}",
                                         headers: {"Content-Type": "application/json"}})).status,
        (await fetch("/inbox?signal=1")).url,
    ]""")
    assert statuses[:2] == [401, 401]
    assert "/auth/login" in statuses[2]  # the inbox needs a login; nothing of it is cached

    storage = page.evaluate(STORAGE)
    expected_name = "hwc-shell-" + pwa.shell_version()
    assert list(storage["caches"]) == [expected_name]
    assert sorted(storage["caches"][expected_name]) == sorted(pwa.SHELL_URLS)
    assert storage["idb"] == []
    assert storage["local"] == []
    assert set(storage["session"]) <= {"hwc-install-hint"}


def test_push_shows_a_generic_notification(context, live_url):
    page = context.new_page()
    page.goto(live_url + "/tips")
    wait_for_controller(page)
    cdp = context.new_cdp_session(page)
    registrations = []
    cdp.on("ServiceWorker.workerRegistrationUpdated",
           lambda event: registrations.extend(event["registrations"]))
    cdp.send("ServiceWorker.enable")
    for _ in range(100):
        ours = [r for r in registrations
                if r["scopeURL"] == live_url + "/" and not r["isDeleted"]]
        if ours:
            break
        page.wait_for_timeout(50)
    assert ours, registrations
    registration_id = ours[-1]["registrationId"]

    last = [0]

    def push(data) -> list:
        # Headless Chromium now and then drops the very first CDP push into a fresh context;
        # deliver once more if nothing showed within 5 s (a broken handler still fails below).
        for _attempt in range(2):
            cdp.send("ServiceWorker.deliverPushMessage", {
                "origin": live_url, "registrationId": registration_id,
                "data": data if isinstance(data, str) else json.dumps(data)})
            shown = page.evaluate(NOTIFICATIONS, [last[0], 100])
            if shown:
                break
        if shown:
            last[0] = max(n.pop("timestamp") for n in shown)
        return shown

    # No usable payload: the generic sentence, opening the inbox.
    for data in ("", "not json", "[1, 2]", {}):
        shown = push(data)
        assert len(shown) == 1
        assert shown[0]["title"] == "HwC Inbox"
        assert shown[0]["body"] == "Er staat een nieuw bericht voor je klaar."
        assert shown[0]["data"] == {"url": "/inbox"}
        assert shown[0]["lang"] == "nl-NL"

    # title/body/url are used; any other field is ignored.
    shown = push({"title": "HwC Inbox", "body": "Er staat een bericht voor de mentor klaar.",
                  "url": "/teacher/notes?x=1", "child": "Sanne Verzonnen",
                  "name": "Sanne Verzonnen", "icon": "https://evil.example/i.png"})
    assert shown == [{"title": "HwC Inbox", "body": "Er staat een bericht voor de mentor klaar.",
                      "data": {"url": "/teacher/notes?x=1"}, "tag": "hwc-inbox",
                      "lang": "nl-NL"}]
    assert "Sanne" not in json.dumps(shown)

    # Only a same-origin path is ever opened.
    for url in ("https://evil.example/inbox", "//evil.example/inbox", "/\\evil.example",
                "javascript:alert(1)", "inbox", 42):
        shown = push({"url": url})
        assert shown[0]["data"] == {"url": "/inbox"}, url


def test_offline_shows_the_offline_page_and_the_tips(context, live_url):
    page = context.new_page()
    page.goto(live_url + "/tips")
    wait_for_controller(page)

    context.set_offline(True)
    try:
        page.goto(live_url + "/inbox")
        assert page.locator("h1").inner_text() == "Je bent offline"
        assert page.evaluate("location.pathname") == "/inbox"  # the address stays; no redirect

        page.click("text=Bekijk de tips")
        page.wait_for_url(live_url + "/tips")
        assert page.locator("h1").inner_text() == "Tips bij Handle with Care"
        assert page.locator("#tip-eerst-kijken").is_visible()
        # The stylesheet came from the cache too.
        assert page.evaluate("document.styleSheets[0].cssRules.length") > 10

        page.goto(live_url + "/tips/vo")
        assert "Voor de mentor" in page.content()

        # A request that is not part of the shell fails instead of being served from anywhere.
        failed = page.evaluate("""async () => {
            try { await fetch("/healthz"); return false; } catch (e) { return true; } }""")
        assert failed
    finally:
        context.set_offline(False)


def test_install_hint_stays_hidden_on_desktop_chromium(context, live_url):
    page = context.new_page()
    page.goto(live_url + "/tips")
    # No beforeinstallprompt in headless test runs and not iOS: the hint stays out of the way.
    assert page.locator("#install-hint").is_hidden()


def test_install_hint_explains_ios(browser, live_url):
    ctx = browser.new_context(
        user_agent=("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
                    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"),
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    try:
        page = ctx.new_page()
        page.goto(live_url + "/tips")
        hint = page.locator("#install-hint")
        hint.wait_for(state="visible")
        assert "Zet op beginscherm" in hint.inner_text()
        assert page.locator("[data-install-action='install']").is_hidden()
        page.click("[data-install-action='dismiss']")
        assert hint.is_hidden()
        page.reload()
        assert page.locator("#install-hint").is_hidden()  # dismissed for this tab
        assert page.evaluate("Object.keys(localStorage)") == []
    finally:
        ctx.close()
