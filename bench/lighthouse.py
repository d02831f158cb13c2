"""Lighthouse (npm, run against Debian Chromium) on the inbox and tips pages, plus Chromium's own
installability check. Prints scores and transferred bytes per page against the goals
(scores >= 95, <= 30 KB per page). Not a test: numbers for docs/performance.md.

    python bench/lighthouse.py            # installs bench/js (lighthouse) on first use

Lighthouse 12+ no longer has a PWA category, so installability comes from Chromium itself
(CDP `Page.getInstallabilityErrors`, the check Lighthouse used to wrap).
"""
from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from server import create_app, schools  # noqa: E402
from server.clock import SystemClock  # noqa: E402
from tests.auth_helpers import enrolled  # noqa: E402  (a software passkey, as in the tests)

JS = Path(__file__).resolve().parent / "js"
FLAGS = "--headless --no-sandbox --disable-gpu --disable-background-networking " \
        "--disable-component-update --disable-sync"
PAGES = ["/inbox", "/tips"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure_lighthouse() -> Path:
    binary = JS / "node_modules" / ".bin" / "lighthouse"
    if not binary.exists():
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", str(JS)],
                       check=True)
    return binary


def main() -> int:
    chromium = shutil.which("chromium")
    if not chromium:
        print("chromium is not installed (apt-get install chromium)")
        return 1
    lighthouse = ensure_lighthouse()
    port = free_port()
    base = f"http://localhost:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        clock = SystemClock()
        app = create_app({"data_dir": Path(tmp) / "d", "base_url": base}, clock=clock, env={})
        import server.db as db_mod
        database = db_mod.connect(Path(tmp) / "d")
        school = schools.add(database, clock.now(), brin="12AB", name="OBS De Kastanje")
        device = enrolled(app, database, clock, school["id"], ("receiver",), "Ilse Bedacht")
        cookie = device.client.get_cookie("hwc_session").value
        import waitress
        server = waitress.create_server(app, host="127.0.0.1", port=port, threads=4)
        threading.Thread(target=server.run, daemon=True).start()

        results = []
        for path in PAGES:
            for _attempt in range(3):  # Lighthouse now and then fails to record a trace
                out = subprocess.run(
                    [str(lighthouse), base + path, "--output=json", "--quiet",
                     f"--chrome-flags={FLAGS}",
                     "--only-categories=performance,accessibility,best-practices",
                     "--extra-headers", json.dumps({"Cookie": f"hwc_session={cookie}"})],
                    capture_output=True, text=True,
                    env={"CHROME_PATH": chromium, "PATH": "/usr/bin:/bin"}, timeout=300)
                if out.returncode == 0:
                    break
            if out.returncode != 0:
                print(out.stderr[-2000:])
                return 1
            report = json.loads(out.stdout)
            if report.get("finalDisplayedUrl", "").split("?")[0] != base + path:
                print(f"{path}: landed on {report.get('finalDisplayedUrl')} — not logged in?")
                return 1
            scores = {k: round(v["score"] * 100) for k, v in report["categories"].items()}
            weight = report["audits"]["total-byte-weight"]["numericValue"]
            audits = report["audits"]
            cls = audits["cumulative-layout-shift"]["numericValue"]
            metrics = {k: audits[k]["score"] for k in ("first-contentful-paint",
                       "largest-contentful-paint", "total-blocking-time", "speed-index")}
            shifted = [str(i.get("node", {}).get("selector", "?"))
                       for i in audits.get("layout-shifts", {}).get("details", {}).get("items", [])]
            results.append((path, scores, weight, cls, metrics, shifted))

        from playwright.sync_api import sync_playwright
        with sync_playwright() as pw:
            # A persistent profile: Chromium refuses to install from incognito-like contexts.
            context = pw.chromium.launch_persistent_context(
                str(Path(tmp) / "profile"), executable_path=chromium, args=FLAGS.split())
            context.add_cookies([{"name": "hwc_session", "value": cookie, "url": base}])
            page = context.new_page()
            page.goto(base + "/inbox")
            page.evaluate("async () => { await navigator.serviceWorker.ready; return true; }")
            cdp = context.new_cdp_session(page)
            errors = cdp.send("Page.getInstallabilityErrors")["installabilityErrors"]
            manifest = cdp.send("Page.getAppManifest")
            context.close()
        server.close()

    print(f"{'page':10} {'perf':>5} {'a11y':>5} {'best':>5} {'bytes':>8}   goals: >= 95, <= 30 KB")
    for path, s, weight, cls, metrics, shifted in results:
        print(f"{path:10} {s['performance']:>5} {s['accessibility']:>5} {s['best-practices']:>5} "
              f"{weight / 1024:>6.1f}KB   CLS {cls:.3f}  metric scores {metrics}"
              + (f"  shifted: {shifted}" if shifted else ""))
    print("installable:", "yes" if not errors else f"no — {errors}",
          "| manifest:", manifest.get("url", "?"))
    return 0 if not errors else 1


if __name__ == "__main__":
    sys.exit(main())
