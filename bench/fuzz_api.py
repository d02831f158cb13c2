"""Fuzz the municipality API with schemathesis, in process, against its own OpenAPI document.

For every operation in `/api/v1/openapi.json`, schemathesis generates requests that fit the
schema (positive) and requests that break it (negative); a third stream steers valid-looking
bodies at the one known school so that accepted signals are exercised too. Every response must:

- not be a 5xx, and be described by the document (status, content type, headers, body schema);
- leave both databases byte-for-byte unchanged (`iterdump` of hwc.db and keys.db) unless it is a
  201 — a refused signal, an idempotent 200 and every GET store nothing;
- for a 201: add exactly one signal with its sealed copy, its key and its intake MAC, and leave
  the name in no file of the data directory (it is stored sealed, never in clear);
- never repeat a submitted name, in the response or in any log line.

The test suite runs a small deterministic run (`tests/test_fuzz_api.py`); this script is the longer
run for people who want more evidence:

    python bench/fuzz_api.py [--examples 300] [--seed 1234]

It exits 1 and prints each problem (without the generated name) if anything is wrong.
"""
from __future__ import annotations

import argparse
import ast
import json
import logging
import os
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, given, seed as hyp_seed, settings, strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.core.failures import FailureGroup

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from server import create_app  # noqa: E402
from server import db as db_mod  # noqa: E402
from server import municipalities, schools, signals  # noqa: E402
from server.clock import FakeClock, iso  # noqa: E402
from server.web.base import limiter  # noqa: E402

BRIN = "12AB"
OUT_OF_SCOPE_BRIN = "34CD"
START = "2026-11-23T06:00:00Z"  # a Monday, 07:00 in the Netherlands
#: Birth dates that give an age of 3-21 on START (steered bodies use them).
GOOD_BIRTH_DATES = ["2023-11-23", "2019-02-28", "2016-02-29", "2012-07-15", "2004-11-24"]

#: What "matches the schema" means: schemathesis's own checks, minus `positive_data_acceptance`
#: (a body can fit the schema and still be refused with 422: an unknown school or an age outside
#: 3-21 cannot be expressed in JSON Schema — the document says so in its descriptions).
CHECK_NAMES = [
    "not_a_server_error", "status_code_conformance", "content_type_conformance",
    "response_headers_conformance", "response_schema_conformance", "negative_data_rejection",
    "use_after_free", "ensure_resource_availability", "ignored_auth",
]
# (unsupported_method and missing_required_header only act in schemathesis's coverage phase,
# which this in-process run does not use; tests/test_hostile_inputs.py covers 405 directly.)

#: Known receipts in different states, so GET /signals/{reference} returns 200 bodies too.
KNOWN = {"K-RECEIVED": "Kees Verzinsel", "K-OPENED": "Lotte Bedenksel", "K-RETURNED": "Mees Fictief"}

#: A submitted name shorter than this is not searched for in responses and logs: a one- or
#: two-letter "name" occurs in ordinary words ("unauthorized") without being an echo.
MIN_ECHO_LEN = 5

# Letters of any script, combining marks and the punctuation names may hold: a name generator
# that produces mostly acceptable names, so the accept path is fuzzed, not only refusals.
NAME_CHARS = st.one_of(
    st.characters(categories=["Lu", "Ll", "Lt", "Lo", "Mn"]),
    st.sampled_from(list(" -'’.")),
)
NAMES = st.text(NAME_CHARS, min_size=1, max_size=200)


@dataclass
class Report:
    statuses: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    examples: int = 0
    seconds: float = 0.0

    def fail(self, label: str, status: int, what: str) -> None:
        if len(self.failures) < 200:
            self.failures.append(f"{label} -> {status}: {what}")

    def summary(self) -> str:
        lines = [f"{self.examples} requests in {self.seconds:.1f} s"]
        for (label, status), n in sorted(self.statuses.items()):
            lines.append(f"  {label:<40} {status}  x{n}")
        lines.append(f"{len(self.failures)} problem(s)")
        lines.extend(f"  ! {f}" for f in self.failures)
        return "\n".join(lines)


class _Capture(logging.Handler):
    """Keeps every formatted log line (message and traceback) emitted during the run."""

    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record):
        self.lines.append(self.format(record))


def dump(data_dir: Path) -> tuple[list[str], list[str]]:
    """A full logical dump of both databases (schema and every row)."""
    out = []
    for name in (db_mod.MAIN_DB, db_mod.KEYS_DB):
        conn = sqlite3.connect(f"file:{data_dir / name}?mode=ro", uri=True)
        try:
            out.append(list(conn.iterdump()))
        finally:
            conn.close()
    return out[0], out[1]


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def submitted_name(body) -> str | None:
    if isinstance(body, dict) and isinstance(body.get("child"), dict):
        name = body["child"].get("name")
        if isinstance(name, str) and len(name.strip()) >= MIN_ECHO_LEN:
            return name
    return None


def _source_strings() -> str:
    """Every string constant in the server package: the fixed vocabulary of messages and logs."""
    parts = []
    for path in sorted((Path(__file__).resolve().parent.parent / "server").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                parts.append(node.value)
    return "\n".join(parts)


SOURCE_TEXT = _source_strings()


class EchoDetector:
    """Decides whether a response or log line *repeats* a submitted name.

    schemathesis feeds words it saw in earlier responses back in as data, so a generated "name"
    is often a word of the API's own vocabulary ("message", "invalid signal"). That is not an
    echo. A string counts as vocabulary if it is in the server's source, or if the same complete
    response value was also produced for a request with a different name. What the API may
    legitimately return from the request (the reference, unknown field names) is removed first.
    """

    def __init__(self):
        self.seen: dict[str, set] = {}

    def learn(self, values: list[str], name: str | None) -> None:
        for v in values:
            names = self.seen.setdefault(v, set())
            if len(names) < 3:
                names.add(name)

    def _vocabulary(self, value: str, name: str) -> bool:
        return name in SOURCE_TEXT or bool(self.seen.get(value, set()) - {name})

    def in_response(self, values: list[str], name: str, body) -> bool:
        allowed = set()
        if isinstance(body, dict):
            allowed.update(k for k in body if isinstance(k, str))
            if isinstance(body.get("reference"), str):
                allowed.add(body["reference"])
            if isinstance(body.get("child"), dict):
                allowed.update(k for k in body["child"] if isinstance(k, str))
        for value in values:
            text = value
            for legit in sorted(allowed, key=len, reverse=True):
                if legit and legit != name:
                    text = text.replace(legit, "")
            if name in text and not self._vocabulary(value, name):
                return True
        return False

    @staticmethod
    def in_log(lines: list[str], name: str) -> bool:
        return name not in SOURCE_TEXT and any(name in line for line in lines)


class Fuzzer:
    """One app on a fresh data directory with a school, an out-of-scope school and a token."""

    def __init__(self, data_dir: Path):
        self.data_dir = Path(data_dir)
        self.clock = FakeClock(START)
        self.app = create_app({"data_dir": self.data_dir, "testing": True,
                               "api_rate_limit": "1000000/minute"}, clock=self.clock, env={})
        limiter.reset()
        database = db_mod.connect(self.data_dir)
        try:
            now = self.clock.now()
            school = schools.add(database, now, brin=BRIN, name="OBS De Fuzzboom")
            # A school accepts signals only when someone there can open them (422 otherwise).
            staff_id = database["staff"].insert({
                "school_id": school["id"], "display_name": "Rian Ontvanger",
                "user_handle": os.urandom(32), "active": 1, "created_at": iso(now)}).last_pk
            database["staff_roles"].insert({"staff_id": staff_id, "role": "receiver"})
            schools.add(database, now, brin=OUT_OF_SCOPE_BRIN, name="CSG Buiten Bereik", type="vo")
            row, self.token = municipalities.add(database, now, name="Gemeente Fuzz", brins=[BRIN])
            self._seed_known(database, now, school["id"], row["id"])
        finally:
            database.close()
        # Identity encoding: the in-process (WSGI) transport hands schemathesis the raw body, and
        # a Brotli-compressed one cannot be checked against the schema (ADR 0011 compresses).
        self.headers = {"Authorization": f"Bearer {self.token}", "Accept-Encoding": "identity"}
        self.schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", self.app)
        load_all_checks()
        self.checks = CHECKS.get_by_names(CHECK_NAMES)
        self.known_names = list(KNOWN.values())
        self.echo = EchoDetector()

    def _seed_known(self, database, now, school_id, municipality_id):
        staff = database["staff"].insert({
            "school_id": school_id, "display_name": "Ilse Bedacht", "user_handle": b"f" * 32,
            "created_at": iso(now)}).last_pk
        ids = {}
        for ref, name in KNOWN.items():
            row, _ = signals.receive(database, now, municipality_id=municipality_id,
                                     school_id=school_id, reference=ref,
                                     child=signals.Child(name, "2016-06-06"))
            ids[ref] = row["id"]
        signals.reveal(database, now, ids["K-OPENED"], staff)
        signals.reveal(database, now, ids["K-RETURNED"], staff)
        signals.return_signal(database, now, ids["K-RETURNED"])

    # --- one request ---------------------------------------------------------------------------

    def _steer(self, case, birth_date, name, reference):
        """Point a schema-valid body at the known school with a plausible age and name."""
        if isinstance(case.body, dict):
            body = json.loads(json.dumps(case.body))
            body["school"] = BRIN
            body["reference"] = reference
            if isinstance(body.get("child"), dict):
                body["child"]["birth_date"] = birth_date
                body["child"]["name"] = name
            case.body = body
        return case

    @staticmethod
    def _known_reference(case, reference):
        case.path_parameters = {**(case.path_parameters or {}), "reference": reference}
        return case

    def _occurrences(self, case) -> dict[str, int]:
        """How often the submitted name already occurs in each file (schema text, seeded rows)."""
        name = submitted_name(case.body) if case.method.upper() == "POST" else None
        if not name or len(name) < 4:
            return {}
        needle = name.encode("utf-8")
        return {p.name: p.read_bytes().count(needle) for p in self.data_dir.iterdir()
                if p.is_file()}

    def check(self, label: str, case, report: Report, log: _Capture) -> None:
        already = self._occurrences(case)
        before = dump(self.data_dir)
        lines_before = len(log.lines)
        response = case.call(headers=self.headers)
        status = response.status_code
        report.examples += 1
        report.statuses[(label, status)] += 1
        try:
            case.validate_response(response, checks=self.checks, headers=self.headers)
        except FailureGroup as exc:  # say which checks failed, not the data
            names = sorted({type(f).__name__ for f in exc.exceptions})
            report.fail(label, status, "schema/contract: " + ", ".join(names))
        if status >= 500:
            report.fail(label, status, "server error")
        after = dump(self.data_dir)
        is_post = case.method.upper() == "POST"
        if status == 201 and is_post:
            self._check_stored(label, status, before, after, case.body, report, already)
        elif before != after:
            report.fail(label, status, "the databases changed although nothing was accepted")
        name = submitted_name(case.body) if is_post else None
        text = response.content.decode("utf-8", "replace")
        try:
            values = _strings(json.loads(text))
        except ValueError:
            values = [text]
        for n in [n for n in (name,) if n] + self.known_names:
            if self.echo.in_response(values, n, case.body):
                report.fail(label, status, "the response repeats a submitted name")
            if self.echo.in_log(log.lines[lines_before:], n):
                report.fail(label, status, "a log line repeats a submitted name")
        self.echo.learn(values, name)

    def _check_stored(self, label, status, before, after, body, report, already):
        database = db_mod.connect(self.data_dir)
        try:
            q = database.conn.execute
            signals_n = q("SELECT count(*) FROM signals").fetchone()[0]
            bad = q("SELECT count(*) FROM signals g WHERE g.state = 'received' AND NOT EXISTS ("
                    " SELECT 1 FROM sealed s JOIN keys.data_keys k ON k.sealed_id = s.id"
                    " WHERE s.signal_id = g.id AND s.purpose = 'receiver')"
                    " OR (g.state = 'received' AND NOT EXISTS ("
                    " SELECT 1 FROM keys.intake i WHERE i.signal_id = g.id))").fetchone()[0]
        finally:
            database.close()
        before_rows = sum(1 for line in before[0] if line.startswith('INSERT INTO "signals"'))
        if signals_n != before_rows + 1:
            report.fail(label, status, f"201 but {signals_n - before_rows} new signal rows")
        if bad:
            report.fail(label, status, "a received signal without its sealed copy, key or MAC")
        # A generated name can be a word that is already in the file (a column name in the
        # schema, a seeded school's name): only new occurrences count.
        name = body["child"]["name"]
        for path in self.data_dir.iterdir():
            if path.is_file() and len(name) >= 4 and \
                    path.read_bytes().count(name.encode("utf-8")) > already.get(path.name, 0):
                report.fail(label, status, f"the name is readable in {path.name}")

    # --- the run -------------------------------------------------------------------------------

    def run(self, examples: int, *, derandomize: bool, seed: int | None = None) -> Report:
        report = Report()
        log = _Capture()
        root = logging.getLogger()
        old_level = root.level
        root.addHandler(log)
        root.setLevel(logging.DEBUG)
        started = time.perf_counter()
        counter = iter(range(10**9))
        try:
            for path, methods in self.schema.items():
                for method, operation in methods.items():
                    label = f"{method.upper()} {path}"
                    self._run_stream(f"{label} positive", operation.as_strategy(
                        GenerationMode.POSITIVE), examples, derandomize, seed, report, log)
                    if path in ("/api/v1/signals", "/api/v1/signals/{reference}"):
                        self._run_stream(f"{label} negative", operation.as_strategy(
                            GenerationMode.NEGATIVE), examples, derandomize, seed, report, log)
                    if path == "/api/v1/signals" and method.upper() == "POST":
                        steered = st.builds(
                            lambda c, b, n, i: self._steer(c, b, n, f"STEER-{i}"),
                            operation.as_strategy(GenerationMode.POSITIVE),
                            st.sampled_from(GOOD_BIRTH_DATES), NAMES,
                            st.builds(lambda: next(counter)))
                        self._run_stream(f"{label} steered", steered, examples, derandomize,
                                         seed, report, log)
                    if path == "/api/v1/signals/{reference}":
                        known = st.builds(self._known_reference, operation.as_strategy(
                            GenerationMode.POSITIVE), st.sampled_from(sorted(KNOWN)))
                        self._run_stream(f"{label} known", known, max(10, examples // 5),
                                         derandomize, seed, report, log)
        finally:
            root.removeHandler(log)
            root.setLevel(old_level)
        report.seconds = time.perf_counter() - started
        return report

    def _run_stream(self, label, strategy, examples, derandomize, seed, report, log):
        @settings(max_examples=examples, deadline=None, database=None, derandomize=derandomize,
                  suppress_health_check=list(HealthCheck), print_blob=False)
        @given(case=strategy)
        def stream(case):
            self.check(label, case, report, log)

        if seed is not None and not derandomize:
            stream = hyp_seed(seed)(stream)
        stream()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=300,
                        help="examples per operation and generation mode (default 300)")
    parser.add_argument("--seed", type=int, default=None, help="reproduce a previous run")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        fuzzer = Fuzzer(Path(tmp) / "data")
        report = fuzzer.run(args.examples, derandomize=False, seed=args.seed)
    print(report.summary())
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
