"""Schema fuzzing of the municipality API (schemathesis, in process, with a valid token).

The engine lives in `bench/fuzz_api.py` (the longer run); here it runs a bounded, deterministic
number of examples so CI stays fast, and four deliberately broken servers prove each of its
checks can fail: a 5xx, a response the document does not describe, a refused request that leaves
a trace in the database, and an error message that repeats the child's name.
"""
from __future__ import annotations

import pytest

from bench.fuzz_api import Fuzzer
from server import intake
from server.web import api

#: Examples per operation and generation mode. About 300 requests, a few seconds.
EXAMPLES = 50


@pytest.fixture
def fuzzer(tmp_path):
    return Fuzzer(tmp_path / "data")


def test_fuzzing_finds_no_5xx_no_schema_violation_no_stored_refusal_no_echo(fuzzer):
    report = fuzzer.run(EXAMPLES, derandomize=True)
    assert report.failures == [], report.summary()
    seen = {(label.split()[-1], status) for (label, status) in report.statuses}
    # The run must reach the interesting outcomes, or it proves little.
    assert ("steered", 201) in seen, report.summary()   # accepted, stored sealed
    assert ("positive", 422) in seen                    # fits the schema, refused by the rules
    assert ("known", 200) in seen                       # receipts in several states
    assert any(status == 400 for (_l, status) in seen) or any(
        status == 401 for (_l, status) in seen)
    assert report.examples >= 5 * EXAMPLES


def _statuses(report):
    return {status for (_label, status) in report.statuses}


def test_the_fuzzer_notices_a_server_error(fuzzer, monkeypatch):
    def broken(payload, today):
        raise RuntimeError("boom")

    monkeypatch.setattr(intake, "validate", broken)
    report = fuzzer.run(5, derandomize=True)
    assert 500 in _statuses(report)
    assert any("server error" in f for f in report.failures)


def test_the_fuzzer_notices_a_response_the_document_does_not_describe(fuzzer, monkeypatch):
    real = api.error

    def undocumented(status, message, details=None, headers=None):
        resp = real(status, message, details, headers)
        if status == 422:
            resp.status_code = 418
        return resp

    monkeypatch.setattr(api, "error", undocumented)
    report = fuzzer.run(5, derandomize=True)
    assert any("schema/contract" in f for f in report.failures), report.summary()


def test_the_fuzzer_notices_a_refused_signal_that_left_a_trace(fuzzer, monkeypatch):
    real = api.error

    def leaky(status, message, details=None, headers=None):
        if status == 422:
            api.get_db().conn.execute(
                "INSERT INTO audit_events (actor, action, at) VALUES ('api', 'refused', 'now')")
        return real(status, message, details, headers)

    monkeypatch.setattr(api, "error", leaky)
    report = fuzzer.run(5, derandomize=True)
    assert any("databases changed" in f for f in report.failures), report.summary()


def test_the_fuzzer_notices_an_echoed_name(fuzzer, monkeypatch):
    def chatty(name):
        return f"{name!s} is not a name we accept" if isinstance(name, str) else "not a string"

    monkeypatch.setattr(intake, "_name_problem", chatty)
    report = fuzzer.run(5, derandomize=True)
    assert any("repeats a submitted name" in f for f in report.failures), report.summary()
