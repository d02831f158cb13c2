"""The receipt list the `receipts` command reads: only this token's signals, only receipts, and
described accurately by the OpenAPI document."""
from __future__ import annotations

import jsonschema

from server import municipalities, signals
from server.openapi import openapi_document


def schema(name):
    return {"$ref": f"#/components/schemas/{name}",
            "components": openapi_document("http://localhost")["components"]}


def test_list_receipts_since(client, auth, db, clock, receive, staff, other_school):
    first = receive("L-1")
    clock.advance(days=2)
    second = receive("L-2", "Joris Bedenksel")
    signals.reveal(db, clock.now(), second, staff())
    _row, other = municipalities.add(db, clock.now(), name="Gemeente Elders", brins=["34CD"])
    signals.receive(db, clock.now(), municipality_id=municipalities.authenticate(db, other)["id"],
                    school_id=other_school["id"], reference="L-3",
                    child=signals.Child("Mila Fantasia", "2016-01-01"))
    resp = client.get("/api/v1/signals", headers=auth)
    assert resp.status_code == 200 and resp.headers["Cache-Control"] == "no-store"
    body = resp.get_json()
    jsonschema.validate(body, schema("ReceiptList"))
    assert body["since"] == "2026-11-18T06:00:00Z" and body["truncated"] is False
    assert [(r["reference"], r["status"]) for r in body["receipts"]] == [
        ("L-1", "received"), ("L-2", "opened")]  # not the other municipality's L-3
    assert "Joris" not in resp.get_data(as_text=True)
    # since = a date is local midnight (CET: 23:00 UTC the day before).
    body = client.get("/api/v1/signals?since=2026-11-25", headers=auth).get_json()
    assert body["since"] == "2026-11-24T23:00:00Z"
    assert [r["reference"] for r in body["receipts"]] == ["L-2"]
    body = client.get("/api/v1/signals?since=2026-11-25T07:00:00Z", headers=auth).get_json()
    assert body["receipts"] == []
    assert first


def test_list_receipts_errors(client, auth, school):
    for query in ("since=yesterday", "since=2026-02-30", "since=2026-11-25T07:00:00",
                  "reference=L-1"):
        resp = client.get(f"/api/v1/signals?{query}", headers=auth)
        assert resp.status_code == 422, query
        jsonschema.validate(resp.get_json(), schema("ValidationError"))
    assert client.get("/api/v1/signals").status_code == 401


def test_openapi_document_is_valid_and_lists_the_new_routes(client):
    from openapi_spec_validator import validate

    doc = client.get("/api/v1/openapi.json").get_json()
    validate(doc)
    assert doc["paths"]["/api/v1/signals"]["get"]["operationId"] == "listReceipts"
    assert doc["paths"]["/api/v1/stats"]["get"]["operationId"] == "getStats"
