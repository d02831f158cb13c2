"""Receipts pushed back: a real local HTTP receiver checks every HMAC signature itself, sees each
receipt change exactly once and in order, and a receiver that is down gets retries (with
backoff on the fake clock, no sleeping) and then every event, without loss."""
from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from click.testing import CliRunner

from server import cli, jobs, municipalities, signals, webhooks
from server import config as config_mod
from server.clock import iso, parse


class Receiver:
    """A webhook endpoint on 127.0.0.1 that verifies signatures the way the docs tell
    municipalities to (independent of server.webhooks.verify)."""

    def __init__(self, secret: str | None = None, port: int = 0):
        self.secret = secret
        self.received: list[dict] = []  # verified, accepted events
        self.requests = 0
        self.fail_ids: set[int] = set()  # answer 500 once for these event ids
        self.status = 204
        self.redirect_to = None
        self.clock_unix = None  # the receiver's idea of now (fake clock)
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with outer.lock:
                    outer.requests += 1
                    code = outer.handle(body, self.headers)
                self.send_response(code)
                if code in (301, 302, 307, 308):
                    self.send_header("Location", outer.redirect_to)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hwc/receipts"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def handle(self, body: bytes, headers) -> int:
        if self.redirect_to:
            return 302
        if self.status >= 300:
            return self.status
        header = headers.get("X-HwC-Signature", "")
        fields = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
        expected = hmac.new(self.secret.encode(), fields.get("t", "").encode() + b"." + body,
                            hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, fields.get("v1", "")):
            return 401
        if self.clock_unix is not None and abs(self.clock_unix - int(fields["t"])) > 300:
            return 401
        event = json.loads(body)
        assert headers["X-HwC-Event-Id"] == str(event["id"])
        if event["id"] in self.fail_ids:
            self.fail_ids.discard(event["id"])
            return 500
        self.received.append(event)
        return 204

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made = []

    def _make(secret=None, port=0):
        r = Receiver(secret, port)
        made.append(r)
        return r
    yield _make
    for r in made:
        r.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def deliver(db, clock):
    return webhooks.deliver_due(db, clock.now())


def pending(db):
    return list(db.query("SELECT * FROM receipt_events WHERE delivered_at IS NULL ORDER BY id"))


def test_each_change_once_in_order_and_signed(db, clock, receive, staff, municipality, receiver):
    r = receiver()
    secret = municipalities.set_webhook(db, municipality["name"], r.url)
    r.secret = secret
    r.clock_unix = int(clock.now().timestamp())
    ib, teacher = staff("Ilse Bedacht"), staff("Tom Leraar", ["teacher"])
    a, b = receive("A-1", "Sanne Verzonnen"), receive("B-1", "Joris Bedenksel", "2016-05-06")
    signals.reveal(db, clock.now(), a, ib)
    signals.assign_teacher(db, clock.now(), a, teacher)
    clock.advance(minutes=5)
    signals.teacher_read(db, clock.now(), a, teacher)
    signals.reveal(db, clock.now(), b, ib)
    signals.return_signal(db, clock.now(), b)
    signals.record_parent_contact(db, clock.now(), a, "by_teacher")
    r.clock_unix = int(clock.now().timestamp())
    result = deliver(db, clock)
    assert result["webhooks_delivered"] == 5 and result["webhooks_failed"] == 0
    got = [(e["receipt"]["reference"], e["receipt"]["status"]) for e in r.received]
    assert got == [("A-1", "opened"), ("A-1", "teacher_informed"), ("B-1", "opened"),
                   ("B-1", "returned"), ("A-1", "closed")]
    ids = [e["id"] for e in r.received]
    assert ids == sorted(ids) and len(set(ids)) == 5
    assert r.received[-1]["receipt"]["closed_at"] == iso(clock.now())
    assert set(r.received[0]["receipt"]) == {"reference", "status", "received_at", "notified_at",
                                             "opened_at", "teacher_informed_at", "closed_at"}
    raw = json.dumps(r.received)
    for secret_word in ("Sanne", "Verzonnen", "Joris", "2017-04-02", "2016-05-06"):
        assert secret_word not in raw
    # Nothing is sent twice.
    clock.advance(hours=2)
    assert deliver(db, clock)["webhooks_delivered"] == 0
    assert r.requests == 5 and not pending(db)


def test_signature_helpers_refuse_tampering_and_replay():
    body = b'{"id":1}'
    header = webhooks.sign("whsec_x", body, 1_800_000_000)
    assert webhooks.verify("whsec_x", body, header, 1_800_000_100)
    assert not webhooks.verify("whsec_x", body + b" ", header, 1_800_000_100)
    assert not webhooks.verify("whsec_y", body, header, 1_800_000_100)
    assert not webhooks.verify("whsec_x", body, header, 1_800_000_000 + 301)  # replayed later
    assert not webhooks.verify("whsec_x", body, "garbage", 1_800_000_000)
    assert not webhooks.verify("whsec_x", body, header.replace("t=1800000000", "t=1800000100"),
                               1_800_000_100)  # the timestamp is signed too


def test_receiver_down_gets_retries_with_backoff_then_everything(db, clock, receive, staff,
                                                                 municipality, receiver):
    port = free_port()
    url = f"http://127.0.0.1:{port}/hwc/receipts"
    secret = municipalities.set_webhook(db, municipality["name"], url)
    ib = staff()
    refs = ["D-1", "D-2", "D-3"]
    for ref in refs:
        signals.reveal(db, clock.now(), receive(ref), ib)
    # Down: connection refused. Only the first event is tried (strictly in order).
    result = deliver(db, clock)
    assert (result["webhooks_delivered"], result["webhooks_failed"]) == (0, 1)
    rows = pending(db)
    assert [r["attempts"] for r in rows] == [1, 0, 0]
    assert rows[0]["last_error"].startswith("connection failed")
    assert parse(rows[0]["next_attempt_at"]) == clock.now() + webhooks.backoff(1)
    clock.advance(seconds=59)
    assert deliver(db, clock)["webhooks_failed"] == 0  # not due yet: no attempt at all
    assert pending(db)[0]["attempts"] == 1
    clock.advance(seconds=1)
    assert deliver(db, clock)["webhooks_failed"] == 1
    assert parse(pending(db)[0]["next_attempt_at"]) == clock.now() + webhooks.backoff(2)
    # Up but failing (HTTP 503): still retried, the backoff grows.
    r = receiver(secret, port)
    r.status = 503
    clock.advance(minutes=2)
    assert deliver(db, clock)["webhooks_failed"] == 1
    row = pending(db)[0]
    assert (row["attempts"], row["last_error"]) == (3, "HTTP 503")
    assert parse(row["next_attempt_at"]) == clock.now() + webhooks.backoff(3)
    # Healthy again: everything arrives, in order, once.
    r.status = 204
    clock.advance(minutes=4)
    assert deliver(db, clock)["webhooks_delivered"] == 3
    assert [e["receipt"]["reference"] for e in r.received] == refs
    assert not pending(db) and r.requests == 4


def test_a_failing_event_holds_back_the_ones_after_it(db, clock, receive, staff, municipality,
                                                      receiver):
    r = receiver()
    r.secret = municipalities.set_webhook(db, municipality["name"], r.url)
    ib = staff()
    for ref in ("O-1", "O-2", "O-3"):
        signals.reveal(db, clock.now(), receive(ref), ib)
    first, second, _third = [e["id"] for e in pending(db)]
    r.fail_ids = {second}
    result = deliver(db, clock)
    assert (result["webhooks_delivered"], result["webhooks_failed"]) == (1, 1)
    assert [e["id"] for e in r.received] == [first]  # the third was not sent before the second
    clock.advance(minutes=1)
    deliver(db, clock)
    assert [e["receipt"]["reference"] for e in r.received] == ["O-1", "O-2", "O-3"]


def test_backoff_is_exponential_and_capped():
    minutes = [webhooks.backoff(n).total_seconds() / 60 for n in range(1, 10)]
    assert minutes == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    assert webhooks.backoff(10_000) == webhooks.BACKOFF_CAP


def test_redirects_are_never_followed(db, clock, receive, staff, municipality, receiver):
    target = receiver("whsec_irrelevant")
    r = receiver()
    r.redirect_to = target.url
    municipalities.set_webhook(db, municipality["name"], r.url)
    signals.reveal(db, clock.now(), receive(), staff())
    assert deliver(db, clock)["webhooks_failed"] == 1
    assert pending(db)[0]["last_error"] == "redirect not followed (HTTP 302)"
    assert target.requests == 0


def test_a_silent_receiver_times_out():
    with socket.socket() as listener:  # accepts connections (backlog) but never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        problem = webhooks.post(f"http://127.0.0.1:{port}/x", b"{}", {}, timeout=0.3)
    assert problem is not None and problem.startswith("connection failed")


@pytest.mark.parametrize("url", [
    "http://example.nl/hook", "ftp://example.nl/hook", "https://user:pw@example.nl/hook",
    "https://example.nl/hook#x", "/relative", "", "https://exa mple.nl/", "https://x.nl:99999/"])
def test_bad_webhook_urls_are_refused(db, municipality, url):
    with pytest.raises(municipalities.MunicipalityError):
        municipalities.set_webhook(db, municipality["name"], url)
    assert municipalities.get(db, municipality["id"])["webhook_url"] is None


def test_good_webhook_urls(db, municipality):
    for url in ("https://gemeente.example.nl/hwc/receipts", "http://localhost:8080/x",
                "http://127.0.0.1:9/x"):
        assert municipalities.set_webhook(db, municipality["name"], url).startswith("whsec_")
    with pytest.raises(municipalities.MunicipalityError):
        municipalities.set_webhook(db, "Gemeente Onbekend", "https://gemeente.example.nl/x")


def test_removing_the_webhook_stops_events(db, clock, receive, staff, municipality):
    municipalities.set_webhook(db, municipality["name"], "https://gemeente.example.nl/x")
    ib = staff()
    signals.reveal(db, clock.now(), receive("R-1"), ib)
    assert municipalities.remove_webhook(db, municipality["name"]) == 1
    signals.reveal(db, clock.now(), receive("R-2"), ib)
    assert db.conn.execute("SELECT count(*) FROM receipt_events").fetchone()[0] == 0


def test_purge_after_thirty_days(db, clock, receive, staff, municipality, receiver):
    r = receiver()
    r.secret = municipalities.set_webhook(db, municipality["name"], r.url)
    ib = staff()
    signals.reveal(db, clock.now(), receive("P-1"), ib)
    deliver(db, clock)
    # A second event that never gets through.
    municipalities.set_webhook(db, municipality["name"], f"http://127.0.0.1:{free_port()}/x")
    signals.reveal(db, clock.now(), receive("P-2"), ib)
    deliver(db, clock)
    clock.advance(days=30, seconds=-1)
    result = webhooks.purge(db, clock.now())
    assert result == {"webhook_events_purged": 0, "webhook_events_abandoned": 0}
    clock.advance(seconds=1)
    result = webhooks.purge(db, clock.now())
    assert result == {"webhook_events_purged": 1, "webhook_events_abandoned": 1}
    assert db.conn.execute("SELECT count(*) FROM receipt_events").fetchone()[0] == 0


def test_the_sweep_runs_the_delivery_job(app, db, data_dir, clock, receive, staff, municipality,
                                         receiver):
    assert [name for name, _step in jobs.STEPS][-1] == "webhooks"  # last: it waits on peers
    r = receiver()
    r.secret = municipalities.set_webhook(db, municipality["name"], r.url)
    signals.reveal(db, clock.now(), receive(), staff())
    result = jobs.run_once(config_mod.load({"data_dir": data_dir}, env={}), clock)
    assert result["webhooks_delivered"] == 1 and len(r.received) == 1


def test_cli_registers_a_webhook_and_shows_the_secret_once(app, db, data_dir, school):
    runner = CliRunner()
    out = runner.invoke(cli.main, ["--data-dir", str(data_dir), "municipality", "add",
                                   "--name", "Gemeente Haakdorp", "--school", "12AB",
                                   "--webhook", "https://haakdorp.example.nl/hwc"])
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    secret = lines[lines.index(next(l for l in lines if "signing secret" in l)) + 1]
    row = next(m for m in municipalities.all_municipalities(db) if m["name"] == "Gemeente Haakdorp")
    assert row["webhook_url"] == "https://haakdorp.example.nl/hwc"
    assert row["webhook_secret"] == secret and secret.startswith("whsec_")
    out = runner.invoke(cli.main, ["--data-dir", str(data_dir), "municipality", "webhook",
                                   "--name", "Gemeente Haakdorp", "--url",
                                   "https://haakdorp.example.nl/hwc2"])
    assert out.exit_code == 0 and secret not in out.output  # rotated
    bad = runner.invoke(cli.main, ["--data-dir", str(data_dir), "municipality", "add",
                                   "--name", "Gemeente Plat", "--school", "12AB",
                                   "--webhook", "http://plat.example.nl/hwc"])
    assert bad.exit_code != 0 and "https" in bad.output
    assert "Gemeente Plat" not in {m["name"] for m in municipalities.all_municipalities(db)}


def test_the_verifying_snippet_in_the_docs_works():
    """The municipality copies this code; it must accept our signatures and refuse others."""
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "docs" / "municipality.md").read_text()
    snippet = next(block for block in re.findall(r"```python\n(.*?)```", text, re.S)
                   if "def verify" in block)
    scope: dict = {}
    exec(compile(snippet, "docs/municipality.md", "exec"), scope)
    body = webhooks.payload({"id": 7, "created_at": "2026-11-23T06:41:00Z",
                             "receipt": json.dumps({"reference": "R-1", "status": "opened"})})
    header = webhooks.sign("whsec_doc", body, 1_800_000_000)
    assert scope["verify"]("whsec_doc", body, header, now=1_800_000_010)
    assert not scope["verify"]("whsec_doc", body.replace(b"opened", b"closed"), header,
                               now=1_800_000_010)
    assert not scope["verify"]("whsec_doc", body, header, now=1_800_000_000 + 301)
    assert not scope["verify"]("whsec_other", body, header, now=1_800_000_010)


def test_a_broken_webhook_peer_does_not_stop_pushes_or_deadlines(tmp_path):
    """Review C2: a webhook peer that answers garbage must not stop the other sweep steps."""
    import socket
    import threading

    from server import config, jobs
    from server import webhooks
    from server.clock import FakeClock
    from server.datadir import init_data_dir

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(5)
    port = srv.getsockname()[1]

    def garbage():
        for _ in range(3):
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            conn.recv(65536)
            conn.sendall(b"GARBAGE NOT HTTP\r\n\r\n")
            conn.close()

    threading.Thread(target=garbage, daemon=True).start()
    assert webhooks.post(f"http://127.0.0.1:{port}/hook", b"{}", {}).startswith("bad answer")
    calls = []
    boom = lambda db, now, cfg: (_ for _ in ()).throw(RuntimeError("x"))  # noqa: E731
    after = lambda db, now, cfg: calls.append("ran") or {"after": 1}  # noqa: E731
    cfg = config.load({"data_dir": tmp_path / "d"}, env={})
    init_data_dir(cfg.data_dir)
    try:
        result = jobs.run_once(cfg, FakeClock(),
                               steps=(("boom", boom),) + jobs.STEPS + (("after", after),))
    finally:
        srv.close()
    assert calls == ["ran"] and result["after"] == 1 and "expired_unopened" in result
    assert any(k.startswith("failed:") for k in result)


def test_delivered_receipt_copies_live_no_longer_than_the_receipts(tmp_path):
    """Review M3: with receipt_purge_days=5 a delivered webhook event is gone after 5 days."""
    from server import config, webhooks
    from server import db as db_mod
    from server.clock import FakeClock, iso
    from server.datadir import init_data_dir

    cfg = config.load({"data_dir": tmp_path / "d", "receipt_purge_days": 5}, env={})
    init_data_dir(cfg.data_dir)
    database = db_mod.connect(cfg.data_dir)
    clock = FakeClock()
    database.conn.execute("INSERT INTO municipalities (name, token_hash, created_at)"
                          " VALUES ('G', 'x', ?)", (iso(clock.now()),))
    database.conn.execute(
        "INSERT INTO receipt_events (municipality_id, reference, status, receipt, created_at,"
        " next_attempt_at, delivered_at) VALUES (1, 'R', 'opened', '{}', ?, ?, ?)",
        (iso(clock.now()),) * 3)
    clock.advance(days=5, seconds=-1)
    assert webhooks.deliver_due(database, clock.now(), cfg)["webhook_events_purged"] == 0
    clock.advance(seconds=1)
    assert webhooks.deliver_due(database, clock.now(), cfg)["webhook_events_purged"] == 1
    database.close()
