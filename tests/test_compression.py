"""Compression: pages, static files and JSON are compressed (about two thirds of the bytes go);
a response that carries a child's name never is (ADR 0011)."""
from __future__ import annotations

import brotli

from server.web.app import NEVER_COMPRESSED

from .auth_helpers import INPUT_RE
from .test_inbox import NAME, pushed, team  # noqa: F401  (the inbox's fixtures)


BROWSER = {"Accept-Encoding": "gzip, deflate, br, zstd"}  # what Chromium sends


def test_pages_static_and_json_are_compressed(app, client):
    for url in ("/tips", "/static/css/app.css", "/static/js/passkey.js", "/api/v1/openapi.json",
                "/auth/login"):
        resp = client.get(url, headers=BROWSER)
        assert resp.status_code == 200, url
        assert resp.headers.get("Content-Encoding") == "br", url
        assert "Accept-Encoding" in resp.headers.get("Vary", ""), url
        plain = client.get(url, headers={"Accept-Encoding": "identity"}).get_data()
        packed = resp.get_data()
        assert brotli.decompress(packed) == plain and len(packed) < len(plain) / 2, url


def test_gzip_for_a_client_without_brotli(client):
    resp = client.get("/tips", headers={"Accept-Encoding": "gzip"})
    assert resp.headers.get("Content-Encoding") == "gzip"


def test_the_reveal_is_never_compressed(team, pushed):  # noqa: F811
    ib = team["ib"]
    page = ib.client.get(f"/inbox/signal/{pushed}").get_data(as_text=True)
    resp = ib.client.post(f"/inbox/signal/{pushed}/reveal",
                          data={"csrf_token": INPUT_RE.search(page).group(1)},
                          headers={"Accept-Encoding": "gzip, br"})
    assert resp.status_code == 200 and NAME in resp.get_data(as_text=True)
    assert "Content-Encoding" not in resp.headers


def test_the_never_compressed_endpoints_are_the_ones_that_show_a_name(app):
    """If the reveal or the note moves to another endpoint, this list must move with it."""
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules() if "POST" in rule.methods}
    assert NEVER_COMPRESSED <= endpoints
    assert NEVER_COMPRESSED == {"inbox.reveal", "teacher.read"}
