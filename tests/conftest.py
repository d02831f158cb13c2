"""Shared fixtures: a fresh data directory, a fake clock, an app, a school and a token.

All names in tests are invented.
"""
from __future__ import annotations

import pytest

from server import create_app
from server import db as db_mod
from server import municipalities, schools, signals
from server.clock import FakeClock
from server.web.base import limiter

# Monday 23 November 2026, 07:00 in the Netherlands (06:00 UTC).
MONDAY_0700 = "2026-11-23T06:00:00Z"
BRIN = "12AB"
OTHER_BRIN = "34CD"


_LOCAL_NAMES = {"localhost", "127.0.0.1", "::1", "", None}


@pytest.fixture(autouse=True)
def no_outside_network(monkeypatch):
    """Tests talk to this machine only. Any lookup or connection to another host fails at once
    (a push to a real push service, a webhook to the internet) instead of leaving the sandbox."""
    import ipaddress
    import socket

    real_getaddrinfo, real_connect = socket.getaddrinfo, socket.socket.connect

    def local(host) -> bool:
        if isinstance(host, bytes):
            host = host.decode()
        if host in _LOCAL_NAMES:
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False

    def getaddrinfo(host, *args, **kwargs):
        if not local(host):
            raise socket.gaierror(socket.EAI_NONAME, "outside network disabled in tests")
        return real_getaddrinfo(host, *args, **kwargs)

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not local(address[0]):
            raise OSError("outside network disabled in tests")
        return real_connect(self, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)


def give_receiver(database, now, school_id: int, name: str = "Rian Ontvanger") -> int:
    """An active receiver for a school, so it accepts signals (a school where nobody can open
    one refuses them with 422). For tests about the API rather than about the people."""
    import os

    from server.clock import iso

    sid = database["staff"].insert({
        "school_id": school_id, "display_name": name, "user_handle": os.urandom(32),
        "active": 1, "created_at": iso(now)}).last_pk
    database["staff_roles"].insert({"staff_id": sid, "role": "receiver"})
    return sid


@pytest.fixture
def school_receives(db, clock, school):
    """The conftest school with a receiver, for tests that post signals through the API."""
    return give_receiver(db, clock.now(), school["id"])


@pytest.fixture
def clock():
    return FakeClock(MONDAY_0700)


@pytest.fixture
def data_dir(tmp_path):
    return tmp_path / "data"


@pytest.fixture
def app(data_dir, clock):
    app = create_app({"data_dir": data_dir, "testing": True, "api_rate_limit": "1000/minute"},
                     clock=clock, env={})
    limiter.reset()
    return app


@pytest.fixture
def db(app, data_dir):
    database = db_mod.connect(data_dir)
    yield database
    database.close()


@pytest.fixture
def school(db, clock):
    return schools.add(db, clock.now(), brin=BRIN, name="OBS De Kastanje", type="po")


@pytest.fixture
def other_school(db, clock):
    return schools.add(db, clock.now(), brin=OTHER_BRIN, name="CSG Het Baken", type="vo")


@pytest.fixture
def token(db, clock, school):
    _row, tok = municipalities.add(db, clock.now(), name="Gemeente Testdorp", brins=[BRIN])
    return tok


@pytest.fixture
def municipality(db, token):
    return municipalities.authenticate(db, token)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def auth(token):
    return {"Authorization": f"Bearer {token}"}


def signal_body(reference="REF-1", name="Sanne Verzonnen", birth_date="2017-04-02", school=BRIN):
    return {"school": school, "reference": reference,
            "child": {"name": name, "birth_date": birth_date}}


@pytest.fixture
def receive(db, clock, school, municipality):
    """Store a signal through the domain core; returns its id."""
    def _receive(reference="REF-1", name="Sanne Verzonnen", birth_date="2017-04-02"):
        row, _created = signals.receive(
            db, clock.now(), municipality_id=municipality["id"], school_id=school["id"],
            reference=reference, child=signals.Child(name, birth_date))
        return row["id"]
    return _receive


@pytest.fixture
def staff(db, clock, school):
    """Make a staff member with roles directly in the database (auth has its own tests)."""
    import os
    from server.clock import iso

    def _staff(name="Ilse Bedacht", roles=("receiver",), group="", school_id=None):
        sid = db["staff"].insert({
            "school_id": school_id or school["id"], "display_name": name, "group_name": group,
            "user_handle": os.urandom(32), "active": 1, "created_at": iso(clock.now())}).last_pk
        for role in roles:
            db["staff_roles"].insert({"staff_id": sid, "role": role})
        return sid
    return _staff


@pytest.fixture
def service(clock):
    """A local push service that decrypts what it receives (tests/push_helpers.py)."""
    from .push_helpers import PushService
    with PushService(clock) as svc:
        yield svc


@pytest.fixture
def cfg(app):
    return app.config["HWC"]
