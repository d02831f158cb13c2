"""Issue 11 item 1: every outgoing call ends at a total deadline, and a slow webhook receiver never
makes a deadline or an escalation late.

The peers here trickle their answer, one byte at a time, on loopback. Time bounds below are
behavioural (a 2-second deadline must not take 60), deliberately generous, not performance claims.
"""
from __future__ import annotations

import dataclasses
import socket
import threading
import time

import pytest
from py_vapid import Vapid

from server import jobs, municipalities, outbound, signals, webhooks
from server.push import deliver as push_deliver
from server.push import subscriptions
from tests.push_helpers import Device, PushService

HTTP_TRICKLE = b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 60
#: A TLS handshake record header announcing 16 KiB, whose body then trickles.
TLS_TRICKLE = b"\x16\x03\x03\x40\x00" + b"\x00" * 60


class Trickler:
    """A loopback peer that reads the request, then answers one byte every `every` seconds (at
    most `len(stream)` bytes, so a broken client costs the test a bounded time)."""

    def __init__(self, stream: bytes = HTTP_TRICKLE, every: float = 0.5):
        self.stream, self.every = stream, every
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.port = self.listener.getsockname()[1]
        self.connected = threading.Event()
        self.stopped = threading.Event()
        self.bytes_sent = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, scheme="http", path="/hook") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def _accept(self):
        while not self.stopped.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._trickle, args=(conn,), daemon=True).start()

    def _trickle(self, conn):
        with conn:
            try:
                conn.settimeout(5)
                conn.recv(65536)  # the request (or the TLS ClientHello)
                self.connected.set()
                for i in range(len(self.stream)):
                    if self.stopped.wait(self.every):
                        return
                    conn.sendall(self.stream[i:i + 1])
                    self.bytes_sent += 1
            except OSError:
                return

    def close(self):
        self.stopped.set()
        self.listener.close()


@pytest.fixture
def trickler():
    made = []

    def _make(**kw):
        made.append(Trickler(**kw))
        return made[-1]
    yield _make
    for t in made:
        t.close()


def test_a_trickling_answer_ends_at_the_total_deadline(trickler):
    peer = trickler()
    started = time.monotonic()
    with pytest.raises(outbound.DeadlineExceeded):
        outbound.post(peer.url(), b"{}", {}, timeout=2, loopback_ok=True)
    assert time.monotonic() - started < 5
    assert peer.bytes_sent >= 2  # it did trickle: no single read waited the whole deadline


def test_a_trickling_webhook_receiver_fails_at_the_deadline(trickler):
    peer = trickler()
    started = time.monotonic()
    problem = webhooks.post(peer.url(), b"{}", {}, timeout=2)
    assert time.monotonic() - started < 5
    assert problem == "connection failed (DeadlineExceeded)"


def test_a_trickling_push_service_is_a_retry_at_the_deadline(trickler):
    peer = trickler()
    vapid = Vapid()
    vapid.generate_keys()
    device = Device(peer.url(path="/push/x")).subscription()
    sub = {"endpoint": device["endpoint"], **device["keys"]}
    started = time.monotonic()
    outcome = push_deliver.send(sub, {"title": "HwC Inbox"}, 60, "high", vapid=vapid,
                                subject="mailto:beheer@hwc-inbox.nl", timeout=2,
                                allow_local=True)
    assert time.monotonic() - started < 5
    assert outcome.kind == "retry" and peer.connected.is_set()


def test_a_trickling_tls_handshake_ends_at_the_deadline(trickler):
    peer = trickler(stream=TLS_TRICKLE)
    started = time.monotonic()
    with pytest.raises(outbound.DeadlineExceeded):
        outbound.post(peer.url("https"), b"{}", {}, timeout=2, loopback_ok=True)
    assert time.monotonic() - started < 5 and peer.connected.is_set()


def test_a_name_lookup_that_hangs_ends_at_the_deadline(monkeypatch):
    release = threading.Event()

    def hanging_lookup(*args, **kwargs):
        release.wait(30)
        raise socket.gaierror(socket.EAI_AGAIN, "too late")

    monkeypatch.setattr(socket, "getaddrinfo", hanging_lookup)
    started = time.monotonic()
    try:
        with pytest.raises(outbound.DeadlineExceeded):
            outbound.post("https://receiver.gemeente.example/hook", b"{}", {}, timeout=1)
        assert time.monotonic() - started < 4
    finally:
        release.set()


def test_the_webhook_run_stops_starting_deliveries_when_its_budget_is_spent(
        db, clock, receive, staff, municipality):
    municipalities.set_webhook(db, municipality["name"], "https://hook.gemeente.example/x")
    ib = staff("Ilse Bedacht")
    for i in range(3):
        signals.reveal(db, clock.now(), receive(f"B-{i}", "Sanne Verzonnen"), ib)
    ticks = iter(range(0, 1000, 20))  # every look at the clock: 20 more seconds have passed
    sent = []

    def send(url, body, headers):
        sent.append(url)

    result = webhooks.deliver_due(db, clock.now(), send=send, budget=45,
                                  monotonic=lambda: next(ticks))
    assert len(sent) == 2 and result["webhooks_deferred"] == 1
    assert webhooks.deliver_due(db, clock.now(), send=send)["webhooks_delivered"] == 1


def test_the_push_run_stops_starting_people_when_its_budget_is_spent(app, db, clock, staff,
                                                                     receive):
    from server.push import plan
    ib = staff("Ilse Bedacht", ["receiver"])
    subscriptions.subscribe(db, ib, Device("http://127.0.0.1:9/push/ib").subscription(), "ib",
                            clock.now(), allow_local=True)
    receive()
    plan.plan(db, clock.now())
    cfg = app.config["HWC"]
    result = push_deliver.deliver_due(db, clock.now(), cfg, budget=0)
    assert result["push_deferred"] == 1
    due = list(db.query("SELECT attempts, given_up_at FROM push_jobs"))
    assert due == [{"attempts": 0, "given_up_at": None}]  # untouched: the next run sends it


def test_a_trickling_webhook_does_not_make_deadlines_or_escalations_late(
        app, db, clock, school, staff, municipality, trickler, monkeypatch):
    """The reviewer's case: while the webhook worker is stuck on a receiver that trickles, the
    sweep still expires a due signal and plans the backup's escalation push on time."""
    monkeypatch.setattr(webhooks, "TIMEOUT_SECONDS", 25)  # stuck far longer than we wait below
    peer = trickler()
    municipalities.set_webhook(db, municipality["name"], peer.url())
    ib = staff("Ilse Bedacht", ["receiver"])
    backup = staff("Bas Achter", ["backup"])

    def receive_at(when, reference):
        clock.set(when)
        row, _ = signals.receive(db, clock.now(), municipality_id=municipality["id"],
                                 school_id=school["id"], reference=reference,
                                 child=signals.Child("Sanne Verzonnen", "2017-04-02"))
        return row["id"]

    old = receive_at("2026-11-16T06:30:00Z", "OLD-1")      # expires Mon 23 Nov 07:30 local
    new = receive_at("2026-11-23T06:05:00Z", "NEW-1")      # Mon 07:05 local: backup at 08:00
    signals.reveal(db, clock.now(), receive_at("2026-11-23T06:05:30Z", "SEEN-1"), ib)  # a receipt
    clock.set("2026-11-23T06:06:00Z")
    cfg = dataclasses.replace(app.config["HWC"], sweep_interval=1)
    with PushService() as service:
        subscriptions.subscribe(db, backup, service.device("backup").subscription(), "backup",
                                clock.now(), allow_local=True)
        loops = jobs.start_workers(cfg, clock)
        try:
            assert peer.connected.wait(10), "the webhook worker never called the receiver"
            clock.set("2026-11-23T07:00:30Z")  # both deadlines pass while the webhook trickles
            started = time.monotonic()
            while time.monotonic() - started < 10:
                expired = signals.get(db, old)["state"] == "expired"
                escalated = db.conn.execute(
                    "SELECT 1 FROM push_jobs WHERE signal_id = ? AND staff_id = ?"
                    " AND event = 'escalate'", (new, backup)).fetchone() is not None
                if expired and escalated:
                    break
                threading.Event().wait(0.05)
            assert expired and escalated
            assert peer.bytes_sent < len(HTTP_TRICKLE)  # the receiver was still trickling
        finally:
            for loop in loops:
                loop.stop()


def test_a_trickling_push_service_does_not_make_deadlines_late(
        app, db, clock, school, staff, municipality, trickler, monkeypatch):
    """Pushes run in their own loop too: while one is stuck on a push service that trickles, the
    sweep still expires a due signal on time."""
    monkeypatch.setattr(push_deliver, "SEND_TIMEOUT", 25)  # stuck far longer than we wait below
    peer = trickler()
    ib = staff("Ilse Bedacht", ["receiver"])
    subscriptions.subscribe(db, ib, Device(peer.url(path="/push/ib")).subscription(), "ib",
                            clock.now(), allow_local=True)

    def receive_at(when, reference):
        clock.set(when)
        row, _ = signals.receive(db, clock.now(), municipality_id=municipality["id"],
                                 school_id=school["id"], reference=reference,
                                 child=signals.Child("Sanne Verzonnen", "2017-04-02"))
        return row["id"]

    old = receive_at("2026-11-16T06:30:00Z", "OLD-1")      # expires Mon 23 Nov 07:30 local
    receive_at("2026-11-23T06:05:00Z", "NEW-1")            # its push goes to the trickler
    clock.set("2026-11-23T06:06:00Z")
    cfg = dataclasses.replace(app.config["HWC"], sweep_interval=1)
    loops = jobs.start_workers(cfg, clock)
    try:
        assert peer.connected.wait(10), "the push worker never called the push service"
        clock.set("2026-11-23T07:00:30Z")
        started = time.monotonic()
        while time.monotonic() - started < 10:
            if signals.get(db, old)["state"] == "expired":
                break
            threading.Event().wait(0.05)
        assert signals.get(db, old)["state"] == "expired"
        assert peer.bytes_sent < len(HTTP_TRICKLE)  # the push service was still trickling
    finally:
        for loop in loops:
            loop.stop()
