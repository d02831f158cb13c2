"""A catalogue of hostile inputs to the municipality API.

Each gets the status the contract documents (docs/api.md, DESIGN.md) and leaves both databases
exactly as they were — compared as a full `iterdump` of hwc.db and of keys.db — unless it is
accepted, in which case exactly one signal is added, stored sealed: the name is in no file.
"""
from __future__ import annotations

import io
import json
import sqlite3
from dataclasses import dataclass

import pytest

from server import db as db_mod
from server import municipalities

from .conftest import BRIN, OTHER_BRIN, give_receiver

NAME = "Sanne Verzonnen"
BIRTH = "2017-04-02"


def body(name=NAME, birth_date=BIRTH, school=BRIN, reference="HOSTILE-1", **extra):
    return {"school": school, "reference": reference,
            "child": {"name": name, "birth_date": birth_date}, **extra}


def raw(text: str) -> bytes:
    return text.encode("utf-8")


@dataclass
class Hostile:
    id: str
    payload: object                      # dict/list/str/int → JSON; bytes → sent as is
    status: int
    auth: str = "valid"                  # valid | none | garbled | truncated | basic | long | other | revoked
    content_type: str | None = "application/json"
    chunked: bool = False
    name: str | None = None              # for accepted inputs: the name that must be sealed


CATALOGUE = [
    # --- tokens ----------------------------------------------------------------------------
    Hostile("no-token", body(), 401, auth="none"),
    Hostile("garbled-token", body(), 401, auth="garbled"),
    Hostile("truncated-token", body(), 401, auth="truncated"),
    Hostile("basic-auth", body(), 401, auth="basic"),
    Hostile("10k-token", body(), 401, auth="long"),
    Hostile("revoked-token", body(), 401, auth="revoked"),
    Hostile("other-school-token", body(), 403, auth="other"),
    Hostile("school-outside-scope", body(school=OTHER_BRIN), 403),
    # --- content types and sizes -------------------------------------------------------------
    Hostile("text-plain", body(), 415, content_type="text/plain"),
    Hostile("no-content-type", body(), 415, content_type=None),
    Hostile("form-urlencoded", b"school=12AB&reference=R", 415,
            content_type="application/x-www-form-urlencoded"),
    Hostile("multipart", b"--x\r\n\r\n--x--", 415, content_type="multipart/form-data; boundary=x"),
    Hostile("xml", b"<signal><name>Sanne</name></signal>", 415, content_type="application/xml"),
    Hostile("json-latin1-charset", body(), 415, content_type="application/json; charset=latin-1"),
    Hostile("body-9-KiB", body(padding="x" * 9000), 413),
    Hostile("body-1-MiB", b"{" + b" " * (1024 * 1024) + b"}", 413),
    Hostile("body-1-MiB-chunked", b"[" + b"0," * (512 * 1024) + b"0]", 413, chunked=True),
    # Valid JSON, then padding past 8 KiB, with no length up front: must not be cut at 8 KiB
    # and accepted (werkzeug's limited stream stops silently at the limit).
    Hostile("valid-json-padded-chunked", json.dumps(body(reference="PAD-1")).encode()
            + b" " * 9000, 413, chunked=True),
    Hostile("name-10000-chars", body(name="a" * 10_000), 413),
    # --- malformed JSON --------------------------------------------------------------------
    Hostile("empty-body", b"", 400),
    Hostile("truncated-json", b'{"school": "12AB", "reference": ', 400),
    Hostile("deep-arrays", b"[" * 4000 + b"]" * 4000, 400),
    Hostile("deep-objects", b'{"a":' * 1300 + b"1" + b"}" * 1300, 400),
    Hostile("duplicate-top-key", raw('{"school":"12AB","school":"34CD","reference":"R",'
                                     '"child":{"name":"Sanne","birth_date":"2017-04-02"}}'), 400),
    Hostile("duplicate-child-key", raw('{"school":"12AB","reference":"R","child":{"name":"Sanne",'
                                       '"name":"Other","birth_date":"2017-04-02"}}'), 400),
    Hostile("nan", raw('{"school": NaN}'), 400),
    Hostile("infinity", raw('{"school": "12AB", "reference": -Infinity}'), 400),
    Hostile("invalid-utf8-in-name", b'{"school":"12AB","reference":"R","child":{"name":"Sa\xffnne",'
                                    b'"birth_date":"2017-04-02"}}', 400),
    Hostile("utf16-body", json.dumps(body()).encode("utf-16"), 400),
    Hostile("utf8-bom", b"\xef\xbb\xbf" + json.dumps(body()).encode(), 400),
    # --- wrong shapes and types ------------------------------------------------------------
    Hostile("json-null", None, 422),
    Hostile("json-array", [body()], 422),
    Hostile("json-string", "Sanne Verzonnen", 422),
    Hostile("json-number", 42, 422),
    Hostile("school-number", body(school=1234), 422),
    Hostile("reference-number", body(reference=17), 422),
    Hostile("child-array", {**body(), "child": [NAME, BIRTH]}, 422),
    Hostile("child-string", {**body(), "child": NAME}, 422),
    Hostile("name-list", body(name=["Sanne", "Verzonnen"]), 422),
    Hostile("name-object", body(name={"first": "Sanne"}), 422),
    Hostile("name-null", body(name=None), 422),
    Hostile("name-true", body(name=True), 422),
    Hostile("birth-date-number", body(birth_date=20170402), 422),
    Hostile("birth-date-null", body(birth_date=None), 422),
    Hostile("extra-field-bsn", body(bsn="123456782"), 422),
    Hostile("extra-child-field", {**body(), "child": {"name": NAME, "birth_date": BIRTH,
                                                      "address": "Kerkstraat 1"}}, 422),
    Hostile("proto-key", body(__proto__={"admin": True}), 422),
    Hostile("missing-child", {"school": BRIN, "reference": "R"}, 422),
    Hostile("unknown-school", body(school="99ZZ"), 422),
    Hostile("lowercase-brin", body(school="12ab"), 422),
    Hostile("reference-slash", body(reference="../etc/passwd"), 422),
    Hostile("reference-65", body(reference="R" * 65), 422),
    Hostile("reference-unicode", body(reference="RÉF-1"), 422),
    Hostile("reference-empty", body(reference=""), 422),
    # --- names: control and format characters, payloads --------------------------------------
    Hostile("name-nul", body(name="Sanne\x00Verzonnen"), 422),
    Hostile("name-bell", body(name="Sanne\x07Verzonnen"), 422),
    Hostile("name-newline-log-injection", body(name="Sanne\nINFO hwc signal opened"), 422),
    Hostile("name-tab", body(name="Sanne\tVerzonnen"), 422),
    Hostile("name-rtl-override", body(name="Sanne \u202enennozreV"), 422),
    Hostile("name-rtl-isolate", body(name="\u2067Sanne\u2069"), 422),
    Hostile("name-zero-width-joiner", body(name="San\u200dne"), 422),
    Hostile("name-lone-surrogate", raw('{"school":"12AB","reference":"R","child":{"name":'
                                       '"San\\ud800ne","birth_date":"2017-04-02"}}'), 422),
    Hostile("name-emoji", body(name="Sanne \U0001F600"), 422),
    Hostile("name-digits", body(name="Sanne 2"), 422),
    Hostile("name-only-spaces", body(name="   "), 422),
    Hostile("name-leading-space", body(name=" Sanne"), 422),
    Hostile("name-combining-only", body(name="\u0301\u0301"), 422),
    Hostile("name-201-chars", body(name="a" * 201), 422),
    Hostile("name-sql-drop", body(name="Robert'); DROP TABLE signals;--"), 422),
    Hostile("name-sql-or", body(name="' OR '1'='1"), 422),
    Hostile("name-html-script", body(name="<script>alert(1)</script>"), 422),
    Hostile("name-html-img", body(name='<img src=x onerror="alert(1)">'), 422),
    Hostile("name-html-entity", body(name="&lt;b&gt;Sanne"), 422),
    Hostile("name-javascript-url", body(name="javascript:alert"), 422),
    Hostile("name-template", body(name="{{ config }}"), 422),
    Hostile("name-attribute-breakout", body(name="Emma' onfocus='alert"), 422),
    # Payloads made only of allowed characters are names as far as the rules go: accepted, and
    # stored sealed (the browser check that they are shown escaped is the integrator's).
    Hostile("name-sql-letters-only", body(name="Robert' OR 'x", reference="ACC-1"), 201,
            name="Robert' OR 'x"),
    Hostile("name-quote-breakout", body(name="Emma' onfocus 'alert", reference="ACC-2"), 201,
            name="Emma' onfocus 'alert"),
    Hostile("name-200-chars", body(name="Ab" * 100, reference="ACC-3"), 201, name="Ab" * 100),
    Hostile("name-fullwidth", body(name="Ｓａｎｎｅ", reference="ACC-4"), 201, name="Ｓａｎｎｅ"),
    # --- dates ------------------------------------------------------------------------------
    Hostile("date-0000-00-00", body(birth_date="0000-00-00"), 422),
    Hostile("date-2999-12-31", body(birth_date="2999-12-31"), 422),
    Hostile("date-0001-01-01", body(birth_date="0001-01-01"), 422),
    Hostile("date-feb-30", body(birth_date="2017-02-30"), 422),
    Hostile("date-month-13", body(birth_date="2017-13-01"), 422),
    Hostile("date-short", body(birth_date="2017-4-2"), 422),
    Hostile("date-dutch-order", body(birth_date="02-04-2017"), 422),
    Hostile("date-with-time", body(birth_date="2017-04-02T00:00:00"), 422),
    Hostile("date-fullwidth-digits", body(birth_date="２０１７-04-02"), 422),
    Hostile("date-age-2", body(birth_date="2024-11-24"), 422),
    Hostile("date-leap-day", body(birth_date="2016-02-29", reference="ACC-5"), 201, name=NAME),
]


def dump(data_dir) -> tuple[list[str], list[str]]:
    out = []
    for name in (db_mod.MAIN_DB, db_mod.KEYS_DB):
        conn = sqlite3.connect(f"file:{data_dir / name}?mode=ro", uri=True)
        try:
            out.append(list(conn.iterdump()))
        finally:
            conn.close()
    return out[0], out[1]


@pytest.fixture
def tokens(db, clock, token, other_school, school_receives):
    give_receiver(db, clock.now(), other_school["id"])
    _r, other = municipalities.add(db, clock.now(), name="Gemeente Elders", brins=[OTHER_BRIN])
    _r, revoked = municipalities.add(db, clock.now(), name="Gemeente Weg", brins=[BRIN])
    municipalities.revoke(db, clock.now(), "Gemeente Weg")
    return {
        "valid": f"Bearer {token}", "none": None, "garbled": "Bearer hwc_%%%not-a-token%%%",
        "truncated": f"Bearer {token[:-1]}", "basic": "Basic dXNlcjpwYXNz",
        "long": "Bearer " + "A" * 10_000, "other": f"Bearer {other}", "revoked": f"Bearer {revoked}",
    }


def send(client, case: Hostile, tokens: dict):
    headers = {}
    if tokens[case.auth] is not None:
        headers["Authorization"] = tokens[case.auth]
    if case.content_type is not None:
        headers["Content-Type"] = case.content_type
    data = case.payload if isinstance(case.payload, bytes) else json.dumps(case.payload)
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    if case.chunked:
        headers["Transfer-Encoding"] = "chunked"
        # As a server that de-chunks would (waitress does): the length is unknown up front.
        return client.post("/api/v1/signals", input_stream=io.BytesIO(data), headers=headers,
                           environ_overrides={"wsgi.input_terminated": True})
    return client.post("/api/v1/signals", data=data, headers=headers)


def test_the_catalogue_is_big_enough():
    assert len(CATALOGUE) >= 40
    assert len({c.id for c in CATALOGUE}) == len(CATALOGUE)


@pytest.mark.parametrize("case", CATALOGUE, ids=[c.id for c in CATALOGUE])
def test_hostile_input(client, db, data_dir, tokens, case, caplog):
    before = dump(data_dir)
    resp = send(client, case, tokens)
    assert resp.status_code == case.status, resp.get_data(as_text=True)[:300]
    payload = resp.get_json()
    assert isinstance(payload, dict)
    assert resp.headers["Cache-Control"] == "no-store"
    text = resp.get_data(as_text=True)
    for secret in ("Sanne", "Verzonnen", "Robert", "Emma", "Ｓａｎｎｅ"):
        assert secret not in text and secret not in json.dumps(payload, ensure_ascii=False)
        assert not any(secret in r.getMessage() for r in caplog.records)
    if case.status in (200, 201):
        assert set(payload) == {"id", "reference", "status", "received_at"}
        main, keys = dump(data_dir)
        assert len(main) > len(before[0]) and len(keys) > len(before[1])
        q = db.conn.execute
        assert q("SELECT count(*) FROM signals").fetchone()[0] == 1
        assert q("SELECT count(*) FROM sealed s JOIN keys.data_keys k ON k.sealed_id = s.id"
                 " WHERE s.purpose = 'receiver'").fetchone()[0] == 1
        assert q("SELECT count(*) FROM keys.intake").fetchone()[0] == 1
        for path in data_dir.iterdir():
            if path.is_file():
                blob = path.read_bytes()
                assert case.name.encode("utf-8") not in blob, path.name
                assert case.name.encode("utf-16-le") not in blob, path.name
    else:
        assert "error" in payload
        assert dump(data_dir) == before, "a refused input changed the database"


def test_same_reference_other_content_is_409_and_changes_nothing(client, data_dir, tokens):
    first = send(client, Hostile("first", body(reference="DUP-1"), 201), tokens)
    assert first.status_code == 201
    before = dump(data_dir)
    again = send(client, Hostile("again", body(reference="DUP-1", birth_date="2017-04-03"), 409),
                 tokens)
    assert again.status_code == 409
    assert dump(data_dir) == before
    same = send(client, Hostile("same", body(reference="DUP-1"), 200), tokens)
    assert same.status_code == 200 and same.get_json() == first.get_json()
    assert dump(data_dir) == before


@pytest.mark.parametrize("path, status", [
    ("/api/v1/signals/..%2F..%2Fetc%2Fpasswd", 404),
    ("/api/v1/signals/REF%00", 404),
    ("/api/v1/signals/" + "R" * 5000, 404),
    ("/api/v1/signals/%27%20OR%201%3D1--", 404),
    ("/api/v1/signals/%3Cscript%3E", 404),
])
def test_hostile_receipt_lookups(client, data_dir, tokens, path, status):
    before = dump(data_dir)
    resp = client.get(path, headers={"Authorization": tokens["valid"]})
    assert resp.status_code == status
    assert resp.get_json()["error"]
    assert dump(data_dir) == before


def test_receipt_of_another_municipality_is_404(client, data_dir, tokens):
    assert send(client, Hostile("mine", body(reference="MINE-1"), 201), tokens).status_code == 201
    before = dump(data_dir)
    resp = client.get("/api/v1/signals/MINE-1", headers={"Authorization": tokens["other"]})
    assert resp.status_code == 404
    assert dump(data_dir) == before


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_body_size_boundary_is_exactly_8_KiB(client, data_dir, tokens, chunked):
    """8192 bytes are accepted, 8193 refused — with or without a Content-Length."""
    def padded(reference, size):
        text = json.dumps(body(reference=reference)).encode()
        return text + b" " * (size - len(text))

    ok = send(client, Hostile("at-limit", padded("EDGE-1", 8192), 201, chunked=chunked), tokens)
    assert ok.status_code == 201
    before = dump(data_dir)
    over = send(client, Hostile("over", padded("EDGE-2", 8193), 413, chunked=chunked), tokens)
    assert over.status_code == 413
    assert dump(data_dir) == before


@pytest.mark.parametrize("method, path", [
    ("PUT", "/api/v1/signals"), ("DELETE", "/api/v1/signals"), ("PATCH", "/api/v1/signals"),
    ("PUT", "/api/v1/signals/REF-1"),
    ("DELETE", "/api/v1/signals/REF-1"), ("POST", "/api/v1/signals/REF-1"),
])
def test_other_methods_are_405_and_change_nothing(client, data_dir, tokens, method, path):
    before = dump(data_dir)
    resp = client.open(path, method=method, headers={"Authorization": tokens["valid"],
                                                     "Content-Type": "application/json"},
                       data=json.dumps(body()))
    assert resp.status_code == 405
    assert resp.get_json() == {"error": "method not allowed"}
    assert "Sanne" not in resp.get_data(as_text=True)
    assert dump(data_dir) == before


def test_405_carries_an_allow_header(client, tokens):
    resp = client.put("/api/v1/signals", headers={"Authorization": tokens["valid"]})
    assert resp.status_code == 405
    assert set(resp.headers.get("Allow", "").split(", ")) == {"GET", "HEAD", "OPTIONS", "POST"}
