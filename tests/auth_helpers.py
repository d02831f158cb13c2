"""One person's device in tests: a Flask test client plus a software authenticator.

Drives the real routes (CSRF tokens included) so the tests exercise what a browser does.
"""
from __future__ import annotations

import re

from server import staff as staff_mod
from .webauthn_soft import SoftAuthenticator

META_RE = re.compile(r'<meta name="csrf-token" content="([^"]+)"')
INPUT_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


class Device:
    def __init__(self, app, origin: str | None = None):
        self.app = app
        self.client = app.test_client()
        self.authenticator = SoftAuthenticator(origin=origin or app.config["HWC"].origin)

    # --- plumbing -------------------------------------------------------------------------
    def csrf(self) -> str:
        for path in ("/auth/login", "/auth/passkeys"):
            resp = self.client.get(path)
            match = META_RE.search(resp.get_data(as_text=True))
            if match:
                return match.group(1)
        raise AssertionError("no CSRF token found on the login or passkeys page")

    def post_json(self, url: str, body: dict | None = None, token: str | None = None):
        return self.client.post(url, json=body or {},
                                headers={"X-CSRFToken": token or self.csrf(),
                                         "Accept": "application/json"})

    def form(self, url: str, data: dict | None = None, page: str | None = None):
        """POST a form with the CSRF token taken from `page` (or the form's own page)."""
        html = self.client.get(page or url).get_data(as_text=True)
        match = INPUT_RE.search(html) or META_RE.search(html)
        assert match, f"no CSRF token on {page or url}"
        return self.client.post(url, data={"csrf_token": match.group(1), **(data or {})})

    # --- ceremonies -----------------------------------------------------------------------
    def registration_options(self, token: str) -> dict:
        resp = self.post_json(f"/auth/invite/{token}/options")
        assert resp.status_code == 200, resp.get_data(as_text=True)
        return resp.get_json()

    def enrol(self, token: str, name: str = "", options: dict | None = None, **create_kw):
        options = options or self.registration_options(token)
        credential = self.authenticator.create(options, **create_kw)
        return self.post_json(f"/auth/invite/{token}/verify", {"credential": credential, "name": name})

    def login_options(self) -> dict:
        resp = self.post_json("/auth/login/options")
        assert resp.status_code == 200, resp.get_data(as_text=True)
        return resp.get_json()

    def login(self, options: dict | None = None, next: str = "", **get_kw):
        options = options or self.login_options()
        credential = self.authenticator.get(options, **get_kw)
        return self.post_json("/auth/login/verify", {"credential": credential, "next": next})

    def step_up(self, next: str = "", **get_kw):
        token = self.csrf()
        resp = self.post_json("/auth/step-up/options", token=token)
        assert resp.status_code == 200, resp.get_data(as_text=True)
        credential = self.authenticator.get(resp.get_json(), **get_kw)
        return self.post_json("/auth/step-up/verify", {"credential": credential, "next": next},
                              token=token)


def invite(db, clock, school_id: int, roles=("receiver",), name="Ilse Bedacht", group="",
           actor="cli") -> str:
    _row, token = staff_mod.create_invite(db, clock.now(), school_id=school_id, display_name=name,
                                          group_name=group, roles=roles, actor=actor)
    return token


def enrolled(app, db, clock, school_id: int, roles=("receiver",), name="Ilse Bedacht",
             group="") -> Device:
    """A person who accepted an invite and is logged in on their device."""
    device = Device(app)
    resp = device.enrol(invite(db, clock, school_id, roles, name, group))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return device
