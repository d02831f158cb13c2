"""The municipality API contract (DESIGN.md): every status code, the OpenAPI document, logs."""
from __future__ import annotations

import json
import logging
import sqlite3

import jsonschema
import pytest
from openapi_spec_validator import validate as validate_spec

from server import municipalities
from server.openapi import openapi_document

from .conftest import BRIN, OTHER_BRIN, give_receiver, signal_body

NAME = "Sanne Verzonnen"
BIRTH = "2017-04-02"


def post(client, body, headers, **kw):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.post("/api/v1/signals", data=data,
                       headers={"Content-Type": "application/json", **headers}, **kw)


def count(db, table="signals"):
    return db.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


@pytest.fixture
def auth(auth, school_receives):
    """The conftest token, to a school that has a receiver (one without refuses signals, 422)."""
    return auth


@pytest.fixture
def spec(app):
    return openapi_document("http://localhost:8000")


def check_against_spec(spec, path, method, resp):
    """The real response must be described by the document: status listed, body valid."""
    op = spec["paths"][path][method]
    assert str(resp.status_code) in op["responses"], f"{resp.status_code} undocumented"
    schema = op["responses"][str(resp.status_code)]["content"]["application/json"]["schema"]
    resolver_doc = {"components": spec["components"], **schema}
    jsonschema.validate(resp.get_json(), resolver_doc)


def test_openapi_document_is_valid_3_1(client):
    resp = client.get("/api/v1/openapi.json")
    assert resp.status_code == 200
    doc = resp.get_json()
    assert doc["openapi"].startswith("3.1")
    validate_spec(doc)


def test_201_created_with_location(client, auth, db, spec):
    resp = post(client, signal_body(), auth)
    assert resp.status_code == 201
    body = resp.get_json()
    assert body["reference"] == "REF-1" and body["status"] == "received"
    assert body["received_at"] == "2026-11-23T06:00:00Z"
    assert resp.headers["Location"] == "/api/v1/signals/REF-1"
    assert resp.headers["Cache-Control"] == "no-store"
    check_against_spec(spec, "/api/v1/signals", "post", resp)
    assert count(db) == 1


def test_200_idempotent_retry_and_409_on_changed_content(client, auth, db, spec):
    first = post(client, signal_body(), auth)
    again = post(client, signal_body(), auth)
    assert again.status_code == 200 and again.get_json() == first.get_json()
    check_against_spec(spec, "/api/v1/signals", "post", again)
    changed = post(client, signal_body(birth_date="2017-04-03"), auth)
    assert changed.status_code == 409
    check_against_spec(spec, "/api/v1/signals", "post", changed)
    assert count(db) == 1


def test_400_malformed_json(client, auth, db, spec):
    for raw in [b"{", b"[1,", b'{"school": NaN}', b"\xff\xfe{}",
                b'{"school":"12AB","school":"12AB"}', b"[" * 4000 + b"]" * 4000]:
        resp = post(client, raw, auth)
        assert resp.status_code == 400, raw[:20]
        check_against_spec(spec, "/api/v1/signals", "post", resp)
    assert count(db) == 0


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"},
                                     {"Authorization": "Basic abc"}, {"Authorization": "Bearer "}])
def test_401_without_hint(client, headers, db, spec):
    resp = post(client, signal_body(), headers)
    assert resp.status_code == 401
    assert resp.get_json() == {"error": "unauthorized"}
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    check_against_spec(spec, "/api/v1/signals", "post", resp)
    assert count(db) == 0


def test_401_for_revoked_token(client, auth, db, clock):
    municipalities.revoke(db, clock.now(), "Gemeente Testdorp")
    assert post(client, signal_body(), auth).status_code == 401


def test_403_school_outside_scope(client, auth, db, other_school, spec):
    resp = post(client, signal_body(school=OTHER_BRIN), auth)
    assert resp.status_code == 403
    check_against_spec(spec, "/api/v1/signals", "post", resp)
    assert count(db) == 0


def test_413_body_over_8_kib(client, auth, db, spec):
    body = signal_body()
    body["padding"] = "x" * 9000
    resp = post(client, body, auth)
    assert resp.status_code == 413
    check_against_spec(spec, "/api/v1/signals", "post", resp)
    assert count(db) == 0


@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded",
                                   "application/json; charset=latin-1", ""])
def test_415_not_json(client, auth, db, spec, ctype):
    resp = client.post("/api/v1/signals", data=json.dumps(signal_body()),
                       headers={**auth, "Content-Type": ctype})
    assert resp.status_code == 415
    check_against_spec(spec, "/api/v1/signals", "post", resp)
    assert count(db) == 0


@pytest.mark.parametrize("body, field", [
    ({**signal_body(), "extra": 1}, "extra"),
    ({**signal_body(), "child": {"name": NAME, "birth_date": BIRTH, "bsn": "123"}}, "child.bsn"),
    (signal_body(school="99ZZ"), "school"),            # unknown school
    (signal_body(school="12ab"), "school"),            # malformed BRIN
    (signal_body(birth_date="2017-02-30"), "child.birth_date"),
    (signal_body(birth_date="0000-00-00"), "child.birth_date"),
    (signal_body(birth_date="2999-12-31"), "child.birth_date"),
    (signal_body(birth_date="2024-01-01"), "child.birth_date"),  # age 2
    (signal_body(birth_date="2000-01-01"), "child.birth_date"),  # age 26
    (signal_body(name=""), "child.name"),
    (signal_body(name="x" * 201), "child.name"),
    (signal_body(name="Sanne\x00Verzonnen"), "child.name"),
    (signal_body(name="Sanne\u202eVerzonnen"), "child.name"),
    (signal_body(name="<script>alert(1)</script>"), "child.name"),
    (signal_body(name=12), "child.name"),
    (signal_body(reference="a b"), "reference"),
    (signal_body(reference="x" * 65), "reference"),
    ({"school": BRIN, "reference": "R"}, "child"),
    ({"school": BRIN, "reference": "R", "child": "Sanne"}, "child"),
    ([], ""),
])
def test_422_names_the_field_and_stores_nothing(client, auth, db, spec, body, field):
    resp = post(client, body, auth)
    assert resp.status_code == 422
    fields = [d["field"] for d in resp.get_json()["details"]]
    assert field in fields
    check_against_spec(spec, "/api/v1/signals", "post", resp)
    assert count(db) == 0 and count(db, "sealed") == 0
    assert "Sanne" not in resp.get_data(as_text=True)


def test_accepted_names_with_accents_and_apostrophes(client, auth):
    for i, name in enumerate(["Zoë van 't Hoff", "José-María Ñúñez", "Mirjam O’Neill",
                              "J. de Vries", "Ольга Петрова"]):
        assert post(client, signal_body(reference=f"OK-{i}", name=name), auth).status_code == 201


def test_age_bounds_on_the_day_of_receipt(client, auth):
    # Received 2026-11-23: born 2023-11-23 is exactly 3, born 2005-11-24 is still 20.
    assert post(client, signal_body("A", birth_date="2023-11-23"), auth).status_code == 201
    assert post(client, signal_body("B", birth_date="2023-11-24"), auth).status_code == 422
    assert post(client, signal_body("C", birth_date="2004-11-24"), auth).status_code == 201
    assert post(client, signal_body("D", birth_date="2004-11-23"), auth).status_code == 422


def test_429_rate_limited(data_dir, clock):
    from server import create_app
    from server.web.base import limiter
    from server import db as db_mod, schools

    app = create_app({"data_dir": data_dir, "testing": True, "api_rate_limit": "3/minute"},
                     clock=clock, env={})
    limiter.reset()
    database = db_mod.connect(data_dir)
    school = schools.add(database, clock.now(), brin=BRIN, name="OBS De Kastanje")
    give_receiver(database, clock.now(), school["id"])
    _r, tok = municipalities.add(database, clock.now(), name="Gemeente Snel", brins=[BRIN])
    client = app.test_client()
    codes = [post(client, signal_body(f"R-{i}"), {"Authorization": f"Bearer {tok}"}).status_code
             for i in range(5)]
    assert codes == [201, 201, 201, 429, 429]
    resp = post(client, signal_body("R-9"), {"Authorization": f"Bearer {tok}"})
    assert resp.get_json()["error"].startswith("rate limited") and "Retry-After" in resp.headers
    check_against_spec(openapi_document("x"), "/api/v1/signals", "post", resp)
    assert database.conn.execute("SELECT count(*) FROM signals").fetchone()[0] == 3
    database.close()


def reconnect(client) -> None:
    """The app keeps one connection per thread: after swapping `db.connect`, drop them."""
    client.application.extensions["hwc_pool"].close_all()


def test_503_on_storage_failure_then_retry_succeeds(client, auth, db, monkeypatch, spec):
    from server import signals

    real = signals.receive

    def broken(*a, **kw):
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(signals, "receive", broken)
    resp = post(client, signal_body(), auth)
    assert resp.status_code == 503 and resp.headers["Retry-After"]
    check_against_spec(spec, "/api/v1/signals", "post", resp)
    assert count(db) == 0
    monkeypatch.setattr(signals, "receive", real)
    assert post(client, signal_body(), auth).status_code == 201


def test_503_when_disk_is_full_then_retry_succeeds(client, auth, db, data_dir, monkeypatch):
    """A real SQLITE_FULL: every connection the app opens may not grow the file any more."""
    from server import db as db_mod

    real_connect = db_mod.connect

    def full_disk(*a, **kw):
        database = real_connect(*a, **kw)
        pages = database.conn.execute("PRAGMA main.page_count").fetchone()[0]
        database.conn.execute(f"PRAGMA main.max_page_count={pages}")
        return database

    monkeypatch.setattr(db_mod, "connect", full_disk)

    reconnect(client)  # kept connections were opened by the connect before
    responses = [post(client, signal_body(f"FULL-{i}", name=f"Kind Nummer {chr(65 + i % 26)}{chr(97 + i // 26)}"),
                      auth) for i in range(60)]
    codes = {r.status_code for r in responses}
    assert 503 in codes
    for resp in responses:
        if resp.status_code == 503:
            assert resp.headers["Retry-After"].isdigit()
            check_against_spec(openapi_document("x"), "/api/v1/signals", "post", resp)
    stored = count(db)
    monkeypatch.setattr(db_mod, "connect", real_connect)
    reconnect(client)  # kept connections were opened by the connect before
    # Nothing half-stored: every stored signal has its sealed copy and key.
    assert count(db, "sealed") == stored == count(db, "keys.data_keys")
    assert_nothing_half_stored(db)
    retry = [post(client, signal_body(f"FULL-{i}", name=f"Kind Nummer {chr(65 + i % 26)}{chr(97 + i // 26)}"),
                  auth).status_code for i in range(60)]
    assert set(retry) <= {200, 201} and count(db) == 60


def test_receipt_get_and_404(client, auth, db, spec, token, other_school, clock):
    post(client, signal_body(), auth)
    resp = client.get("/api/v1/signals/REF-1", headers=auth)
    assert resp.status_code == 200
    assert set(resp.get_json()) == {"reference", "status", "received_at", "notified_at",
                                    "opened_at", "teacher_informed_at", "closed_at"}
    check_against_spec(spec, "/api/v1/signals/{reference}", "get", resp)
    assert NAME not in resp.get_data(as_text=True) and BIRTH not in resp.get_data(as_text=True)
    missing = client.get("/api/v1/signals/NOPE", headers=auth)
    assert missing.status_code == 404
    check_against_spec(spec, "/api/v1/signals/{reference}", "get", missing)
    # Another municipality cannot read this receipt.
    _r, other = municipalities.add(db, clock.now(), name="Gemeente Anders", brins=[OTHER_BRIN])
    assert client.get("/api/v1/signals/REF-1",
                      headers={"Authorization": f"Bearer {other}"}).status_code == 404
    unauth = client.get("/api/v1/signals/REF-1")
    assert unauth.status_code == 401
    check_against_spec(spec, "/api/v1/signals/{reference}", "get", unauth)


def test_healthz(client, spec):
    resp = client.get("/healthz")
    assert resp.status_code == 200 and resp.get_json() == {"status": "ok"}
    check_against_spec(spec, "/healthz", "get", resp)


def test_security_headers_on_api(client, auth):
    resp = post(client, signal_body(), auth)
    assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Referrer-Policy"] == "no-referrer"


def test_logs_never_contain_name_or_birth_date(client, auth, caplog):
    caplog.set_level(logging.DEBUG)
    post(client, signal_body(), auth)
    post(client, signal_body(), auth)
    post(client, signal_body(birth_date="2017-04-03"), auth)
    post(client, signal_body(reference="BAD", name="Sanne\x00Verzonnen"), auth)
    post(client, {**signal_body(reference="X2"), "extra": NAME}, auth)
    client.get("/api/v1/signals/REF-1", headers=auth)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "signal received" in text  # the log is there …
    for secret in (NAME, "Sanne", "Verzonnen", BIRTH, "2017-04-03"):
        assert secret not in text  # … but says nothing about the child


def test_unknown_extra_field_value_is_not_echoed(client, auth):
    resp = post(client, {**signal_body(), "Sanne_Verzonnen": 1}, auth)
    assert resp.status_code == 422
    # A field name that looks like a field is named; nothing else of the body comes back.
    resp = post(client, {**signal_body(), "Sanne Verzonnen 2017": 1}, auth)
    assert "Sanne" not in resp.get_data(as_text=True)


def assert_nothing_half_stored(db):
    """Every signal has exactly its sealed copy, key and intake MAC; nothing is orphaned; the
    anonymous counter agrees; both files are intact."""
    q = lambda sql: db.conn.execute(sql).fetchone()[0]  # noqa: E731
    stored = count(db)
    assert count(db, "sealed") == count(db, "keys.data_keys") == count(db, "keys.intake") == stored
    assert q("SELECT count(*) FROM signals g WHERE NOT EXISTS (SELECT 1 FROM sealed s JOIN"
             " keys.data_keys k ON k.sealed_id = s.id WHERE s.signal_id = g.id)") == 0
    assert q("SELECT COALESCE(SUM(value), 0) FROM monthly_counts WHERE metric = 'received'") == stored
    assert db.conn.execute("PRAGMA main.integrity_check").fetchall() == [("ok",)]
    assert db.conn.execute("PRAGMA keys.integrity_check").fetchall() == [("ok",)]


def test_503_when_only_the_key_store_is_full_rolls_back_both_files(client, auth, db, monkeypatch,
                                                                   caplog):
    """keys.db full while hwc.db has room: the signal row and ciphertext written to hwc.db in the
    same transaction must be rolled back too — one transaction over both files."""
    from server import db as db_mod

    caplog.set_level(logging.DEBUG)
    real_connect = db_mod.connect

    def keys_full(*a, **kw):
        database = real_connect(*a, **kw)
        pages = database.conn.execute("PRAGMA keys.page_count").fetchone()[0]
        database.conn.execute(f"PRAGMA keys.max_page_count={pages}")
        return database

    monkeypatch.setattr(db_mod, "connect", keys_full)

    reconnect(client)  # kept connections were opened by the connect before
    names = [f"Sleutel Kind {chr(65 + i % 26)}{chr(97 + i // 26)}" for i in range(80)]
    responses = [post(client, signal_body(f"KEYS-{i}", name=n), auth) for i, n in enumerate(names)]
    statuses = [r.status_code for r in responses]
    assert 503 in statuses and set(statuses) <= {201, 503}
    first_503 = statuses.index(503)
    assert 201 not in statuses[first_503:], "once full, nothing more may be accepted"
    for resp in responses[first_503:]:
        assert resp.headers["Retry-After"].isdigit()
        assert resp.get_json() == {"error": "storage unavailable, retry later"}
    assert count(db) == first_503
    assert_nothing_half_stored(db)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "storage failure on intake" in text
    assert "Sleutel" not in text and "2017-04-02" not in text
    monkeypatch.setattr(db_mod, "connect", real_connect)
    reconnect(client)  # kept connections were opened by the connect before
    retry = [post(client, signal_body(f"KEYS-{i}", name=n), auth).status_code
             for i, n in enumerate(names)]
    assert retry == [200] * first_503 + [201] * (len(names) - first_503)
    assert_nothing_half_stored(db)
    assert count(db) == len(names)


def test_503_on_receipt_lookup_when_storage_fails(client, auth, monkeypatch, spec):
    from server import db as db_mod

    assert post(client, signal_body(), auth).status_code == 201
    real_connect = db_mod.connect

    def failing_after_auth(*a, **kw):
        database = real_connect(*a, **kw)
        real_query = database.query

        def query(sql, params=()):
            if "FROM signals" in sql:
                raise sqlite3.OperationalError("disk I/O error")
            return real_query(sql, params)

        database.query = query
        return database

    monkeypatch.setattr(db_mod, "connect", failing_after_auth)

    reconnect(client)  # kept connections were opened by the connect before
    resp = client.get("/api/v1/signals/REF-1", headers=auth)
    assert resp.status_code == 503 and resp.headers["Retry-After"].isdigit()
    check_against_spec(spec, "/api/v1/signals/{reference}", "get", resp)


def test_409_for_a_reference_whose_signal_was_opened(client, auth, db, clock, staff):
    sid = post(client, signal_body(reference="SPENT-1"), auth).get_json()["id"]
    from server import signals
    signals.reveal(db, clock.now(), sid, staff())
    again = post(client, signal_body(reference="SPENT-1"), auth)
    assert again.status_code == 409 and "new reference" in again.get_json()["error"]


def test_503_when_the_pragmas_cannot_be_guaranteed(client, auth, monkeypatch):
    """Review M1: a storage error of our own (e.g. the file was switched to WAL) is a 503."""
    from server import db as db_mod

    def refuse(*a, **kw):
        raise db_mod.StorageError("main is not in rollback-journal (DELETE) mode")

    monkeypatch.setattr(db_mod, "connect", refuse)

    reconnect(client)  # kept connections were opened by the connect before
    resp = post(client, signal_body(), auth)
    assert resp.status_code == 503 and resp.headers["Retry-After"]
