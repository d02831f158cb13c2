"""Operators and leerplicht officers in tests: invited through server/region.py, enrolled and
logged in through the real /auth routes. All names are invented."""
from __future__ import annotations

import re

from server import region

from .auth_helpers import INPUT_RE, Device


def region_invite(db, clock, role: str, name: str, municipality_id: int | None = None) -> str:
    _row, token = region.create_invite(db, clock.now(), role=role, display_name=name, actor="cli",
                                       municipality_id=municipality_id)
    return token


def enrolled_region(app, db, clock, role: str, name: str, municipality_id: int | None = None) -> Device:
    device = Device(app)
    resp = device.enrol(region_invite(db, clock, role, name, municipality_id))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return device


def csrf_of(html: str) -> str:
    match = INPUT_RE.search(html)
    assert match, "no CSRF field"
    return match.group(1)


def hidden_fields(html: str) -> list[tuple[str, str]]:
    """The hidden form fields of a page except the CSRF token, in order (the check step)."""
    return [(n, v) for n, v in re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"', html)
            if n != "csrf_token"]
