"""The installable shell: manifest and icons, the service worker's headers and allow-list, the
public offline and tips pages. The browser half is tests/browser/test_pwa.py."""
from __future__ import annotations

import importlib.util
import json
import re
import struct
import zlib
from pathlib import Path

import pytest
from flask import render_template_string

from server import ROOT, tips
from server.web import pwa
from server.web.base import CSP

STATIC = ROOT / "static"


def png_info(path: Path) -> dict:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    width, height, depth, colour, _c, _f, interlace = struct.unpack(">IIBBBBB", data[16:29])
    return {"width": width, "height": height, "depth": depth, "colour": colour,
            "interlace": interlace, "data": data}


def png_alpha_values(info: dict) -> set[int]:
    """All alpha values of an 8-bit RGBA PNG written with filter 0 (as make_icons.py does)."""
    data, pos, idat = info["data"], 8, b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"IDAT":
            idat += data[pos + 8:pos + 8 + length]
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = 1 + info["width"] * 4
    alphas = set()
    for y in range(info["height"]):
        row = raw[y * stride:(y + 1) * stride]
        assert row[0] == 0
        alphas.update(row[4::4])
    return alphas


@pytest.fixture
def manifest(client):
    resp = client.get("/manifest.json")
    assert resp.status_code == 200
    assert resp.mimetype == "application/manifest+json"
    return json.loads(resp.data)


def test_manifest_fields(manifest):
    assert manifest["name"].startswith("HwC Inbox")
    assert manifest["short_name"] == "HwC Inbox" and len(manifest["short_name"]) <= 12
    assert manifest["lang"] == "nl-NL"
    assert manifest["start_url"] == "/inbox"
    assert manifest["scope"] == "/"
    assert manifest["display"] == "standalone"
    assert manifest["theme_color"] == "#0b6e4f"
    assert re.fullmatch(r"#[0-9a-f]{6}", manifest["background_color"])
    assert "Handle with Care" in manifest["description"]


def test_manifest_icons_exist_with_the_sizes_they_claim(manifest):
    purposes = {}
    for icon in manifest["icons"]:
        assert icon["src"].startswith("/static/icons/")
        assert icon["type"] == "image/png"
        path = STATIC / icon["src"][len("/static/"):]
        info = png_info(path)
        width, height = (int(n) for n in icon["sizes"].split("x"))
        assert (info["width"], info["height"]) == (width, height), icon["src"]
        assert info["depth"] == 8 and info["colour"] == 6 and info["interlace"] == 0
        purposes.setdefault(icon["purpose"], set()).add(width)
    assert {192, 512} <= purposes["any"]
    assert 512 in purposes["maskable"]


@pytest.mark.parametrize("name,size,opaque", [
    ("apple-touch-icon.png", 180, True),     # iOS paints transparent corners black
    ("icon-maskable-512.png", 512, True),    # a mask may cut anywhere: no transparent edge
    ("favicon-32.png", 32, False),
    ("icon-192.png", 192, False),
])
def test_icon_files(name, size, opaque):
    info = png_info(STATIC / "icons" / name)
    assert (info["width"], info["height"]) == (size, size)
    alphas = png_alpha_values(info)
    if opaque:
        assert alphas == {255}
    else:
        assert 0 in alphas and 255 in alphas  # rounded corners


def test_icons_are_made_by_the_committed_script():
    spec = importlib.util.spec_from_file_location("make_icons", STATIC / "icons" / "make_icons.py")
    make_icons = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_icons)
    size, full_bleed, width = make_icons.ICONS["favicon-32.png"]
    assert make_icons.draw(size, full_bleed=full_bleed, heart_width=width) == \
        (STATIC / "icons" / "favicon-32.png").read_bytes()
    # Every icon the script makes is committed.
    assert all((STATIC / "icons" / name).is_file() for name in make_icons.ICONS)


def test_service_worker_headers(client):
    resp = client.get("/sw.js")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("text/javascript")
    assert resp.headers["Service-Worker-Allowed"] == "/"
    assert resp.headers["Cache-Control"] == "no-cache"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    etag = resp.headers["ETag"]
    again = client.get("/sw.js", headers={"If-None-Match": etag})
    assert again.status_code == 304


def test_service_worker_gets_the_allow_list_and_a_version(client):
    body = client.get("/sw.js").get_data(as_text=True)
    assert "__HWC_" not in body
    match = re.search(r"const SHELL_URLS = (\[.*?\]);", body)
    assert match and json.loads(match.group(1)) == list(pwa.SHELL_URLS)
    assert f'CACHE_PREFIX + "{pwa.shell_version()}"' in body


FORBIDDEN_PREFIXES = ("/inbox", "/signal", "/case", "/note", "/teacher", "/admin", "/auth",
                      "/login", "/logout", "/enrol", "/api", "/push", "/healthz", "/")


def test_allow_list_is_only_shell(client):
    for url in pwa.SHELL_URLS:
        assert url.startswith("/") and "?" not in url
        assert url in ("/offline", "/tips", "/tips/vo", "/manifest.json") or \
            url.startswith("/static/"), url
        assert url != "/" and not any(url.startswith(p + "/") or url == p
                                      for p in FORBIDDEN_PREFIXES if p != "/")
        # Installing the worker fetches every one of them; a missing one would break install.
        resp = client.get(url)
        assert resp.status_code == 200, url
        assert "no-store" not in resp.headers.get("Cache-Control", ""), url


def test_version_changes_when_a_shell_file_changes(tmp_path, monkeypatch):
    files = [tmp_path / "a.css", tmp_path / "b.json"]
    files[0].write_text("body{}")
    files[1].write_text("{}")
    monkeypatch.setattr(pwa, "_shell_files", lambda: files)
    first = pwa.shell_version()
    assert pwa.shell_version() == first
    files[0].write_text("body{color:red}")
    assert pwa.shell_version() != first


def assert_safe_public_page(resp):
    assert resp.status_code == 200
    assert resp.headers["Content-Security-Policy"] == CSP
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert resp.headers["Cache-Control"] == "no-cache"
    assert "Set-Cookie" not in resp.headers
    html = resp.get_data(as_text=True)
    assert not re.search(r"<script(?![^>]*\bsrc=)", html), "inline script"
    assert " style=" not in html and "<style" not in html
    return html


def test_offline_page(client):
    html = assert_safe_public_page(client.get("/offline"))
    assert "verbinding" in html
    assert 'href="/tips"' in html


@pytest.mark.parametrize("path,school_type", [("/tips", "po"), ("/tips/vo", "vo")])
def test_tips_page_is_public_and_lists_every_tip(client, path, school_type):
    html = assert_safe_public_page(client.get(path))
    for moment in tips.MOMENTS:
        assert tips.label_for(moment, school_type) in html
        for tip in tips.tips_for(moment, school_type):
            assert f'id="tip-{tip["id"]}"' in html
    assert "0800-2000" in html
    assert 'id="install-hint"' in html and "Zet op beginscherm" in html
    assert ("Voor de mentor" in html) == (school_type == "vo")


def test_tips_for_other_school_types_do_not_exist(client):
    assert client.get("/tips/po").status_code == 404
    assert client.get("/tips/mbo").status_code == 404


def test_base_has_the_pwa_head_tags(client):
    html = client.get("/tips").get_data(as_text=True)
    for needle in ('<link rel="manifest" href="/manifest.json">',
                   '<meta name="theme-color" content="#0b6e4f">',
                   'rel="apple-touch-icon" sizes="180x180" href="/static/icons/apple-touch-icon.png"',
                   '<meta name="apple-mobile-web-app-capable" content="yes">',
                   '<meta name="apple-mobile-web-app-title" content="HwC Inbox">',
                   '<script src="/static/js/app.js" defer></script>'):
        assert needle in html, needle


def test_every_asset_an_offline_page_loads_is_in_the_shell(client):
    """An offline page whose script is not cached breaks quietly (no install hint, no tips
    filter): everything the shell pages load from /static must be in the allow-list."""
    for page in pwa.SHELL_PAGES:
        html = client.get(page).get_data(as_text=True)
        for asset in re.findall(r'(?:src|href)="(/static/[^"?]+)', html):
            assert asset in pwa.SHELL_URLS, (page, asset)


def test_tips_macro_can_be_used_by_other_pages(app):
    source = ('{% from "pwa/tips_macros.html" import tips_section %}'
              '{{ tips_section("receiver_before", "vo", heading="h3") }}')
    with app.test_request_context("/"):
        html = render_template_string(source)
    assert '<h3 id="tips-receiver_before">' in html
    for tip in tips.tips_for("receiver_before", "vo"):
        assert tip["title"] in html


def test_scripts_never_use_persistent_storage():
    scripts = sorted(p.name for p in (STATIC / "js").glob("*.js"))
    assert {"sw.js", "app.js", "push.js", "passkey.js", "picker.js", "sealed.js"} <= set(scripts)
    for name in scripts:
        source = (STATIC / "js" / name).read_text()
        for api in ("localStorage", "indexedDB", "document.cookie"):
            assert api not in source, (name, api)
    sw = (STATIC / "js" / "sw.js").read_text()
    assert 'cache: "no-store"' in sw
    assert sw.count("cache.put(") == 2  # install and re-fetch of an allow-listed path only
