"""Ingest benchmark: N signal POSTs through the real app vs two bare Flask routes.

All run in the same process and run, through Flask's test client, on files in a temporary
directory. Two baselines:

- one-file: a bare route inserting one row into one SQLite file (the cheapest possible write);
- two-file: a bare route doing what the privacy design needs at the least — one durable
  transaction over two files (hwc.db + keys.db ATTACHed, secure_delete ON, DELETE journal,
  synchronous FULL, so a super-journal) on a kept connection. This is the honest floor: the
  ratio against it shows what HwC Inbox adds on top of the storage it must do (token check,
  validation, AES-GCM sealing, counters, idempotency MAC).

    python bench/ingest.py [N]
"""
from __future__ import annotations

import json
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from flask import Flask, request

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from server import create_app  # noqa: E402
from server import db as db_mod  # noqa: E402
from server import municipalities, schools  # noqa: E402
from server.clock import SystemClock  # noqa: E402


def percentiles(samples: list[float]) -> tuple[float, float]:
    qs = statistics.quantiles(samples, n=100)
    return qs[49], qs[94]


def baseline_app(path: Path) -> Flask:
    app = Flask("baseline")
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, reference TEXT UNIQUE, body TEXT)")

    @app.post("/signals")
    def post():
        payload = json.loads(request.get_data())
        conn.execute("INSERT INTO t (reference, body) VALUES (?, ?)",
                     (payload["reference"], json.dumps(payload["child"])))
        return {"ok": True}, 201
    return app


def two_file_baseline_app(directory: Path) -> Flask:
    app = Flask("baseline2")
    conn = sqlite3.connect(directory / "main.db", isolation_level=None, check_same_thread=False)
    conn.execute("ATTACH DATABASE ? AS keys", (str(directory / "keys.db"),))
    for schema in ("main", "keys"):
        conn.execute(f"PRAGMA {schema}.secure_delete=ON")
        conn.execute(f"PRAGMA {schema}.journal_mode=DELETE")
        conn.execute(f"PRAGMA {schema}.synchronous=FULL")
    conn.execute("CREATE TABLE main.t (id INTEGER PRIMARY KEY, reference TEXT UNIQUE, body TEXT)")
    conn.execute("CREATE TABLE keys.k (id INTEGER PRIMARY KEY, key BLOB)")

    @app.post("/signals")
    def post():
        payload = json.loads(request.get_data())
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO main.t (reference, body) VALUES (?, ?)",
                     (payload["reference"], json.dumps(payload["child"])))
        conn.execute("INSERT INTO keys.k (key) VALUES (?)", (b"k" * 32,))
        conn.execute("COMMIT")
        return {"ok": True}, 201
    return app


def run(client, url, headers, n, prefix) -> list[float]:
    samples = []
    born = date(date.today().year - 9, 5, 1).isoformat()
    for i in range(n):
        body = json.dumps({"school": "12AB", "reference": f"{prefix}-{i}",
                           "child": {"name": "Bench Verzonnen", "birth_date": born}})
        t0 = time.perf_counter()
        resp = client.post(url, data=body, headers={"Content-Type": "application/json", **headers})
        samples.append((time.perf_counter() - t0) * 1000)
        assert resp.status_code == 201, resp.status_code
    return samples


def measure(n: int, kick: bool) -> tuple[list[float], list[float], list[float]]:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        app = create_app({"data_dir": data, "api_rate_limit": "1000000/minute",
                          "extra": {"push_kick": kick}}, env={})
        database = db_mod.connect(data)
        schools.add(database, SystemClock().now(), brin="12AB", name="Bench School")
        _r, token = municipalities.add(database, SystemClock().now(), name="Bench", brins=["12AB"])
        # A school has a receiver, so each signal's first push is planned once (no device, so
        # nothing is sent): the push planner woken after every signal is part of the real path.
        staff_id = database["staff"].insert({
            "school_id": 1, "display_name": "Bench Ontvanger", "user_handle": b"b" * 32,
            "created_at": "2026-01-01T00:00:00Z"}).last_pk
        database["staff_roles"].insert({"staff_id": staff_id, "role": "receiver"})
        database.close()
        base = baseline_app(Path(tmp) / "baseline.db").test_client()
        (Path(tmp) / "two").mkdir()
        base2 = two_file_baseline_app(Path(tmp) / "two").test_client()
        real = app.test_client()
        run(base, "/signals", {}, 20, "warm")  # warm-up all three
        run(base2, "/signals", {}, 20, "warm")
        run(real, "/api/v1/signals", {"Authorization": f"Bearer {token}"}, 20, "warm")
        # Interleaved in rounds, so a noisy moment on the machine hits all three alike.
        b, b2, r = [], [], []
        for round_ in range(10):
            b += run(base, "/signals", {}, n // 10, f"b{round_}")
            b2 += run(base2, "/signals", {}, n // 10, f"t{round_}")
            r += run(real, "/api/v1/signals", {"Authorization": f"Bearer {token}"}, n // 10,
                     f"r{round_}")
        kicker = app.extensions.get("hwc_push_kicker")  # the push planner woken by each signal
        if kicker is not None:
            kicker.idle.wait(30)
    return b, b2, r


def main(n: int = 500) -> None:
    print(f"N={n} POSTs each, same process, same run")
    for kick, label in ((False, "intake only (push planner off)"),
                        (True, "as served (push planner woken after each signal)")):
        b, b2, r = measure(n, kick)
        (b50, b95), (t50, t95), (r50, r95) = percentiles(b), percentiles(b2), percentiles(r)
        print(f"-- {label}")
        print(f"baseline one-file (bare Flask + one INSERT):     p50 {b50:.2f} ms  p95 {b95:.2f} ms")
        print(f"baseline two-file (bare Flask + durable 2-file): p50 {t50:.2f} ms  p95 {t95:.2f} ms")
        print(f"HwC Inbox POST /api/v1/signals:                  p50 {r50:.2f} ms  p95 {r95:.2f} ms")
        print(f"vs two-file: ratio p50 {r50 / t50:.2f}x  p95 {r95 / t95:.2f}x   (target p50 <= 1.5)")
        print(f"vs one-file: ratio p50 {r50 / b50:.2f}x  p95 {r95 / b95:.2f}x   (two-file floor "
              f"alone: {t50 / b50:.2f}x)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 500)
