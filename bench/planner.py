"""Push planner benchmark: one `push.plan()` with many waiting signals, against baselines
measured in the same run (a bare `SELECT count(*)` over the signals, and the plan with 100
waiting signals). Statements are counted with `set_trace_callback`. Not a test.

    python bench/planner.py [WAITING] [SCHOOLS] [SCHOOLS_WITH_DEVICE]

Signals are inserted as rows (the planner reads only the `signals` table; sealing is not what
is measured here). They arrived on Saturday and the plan runs on Sunday: every one is held until
Monday morning, so the planner must look at each waiting signal of a school with a device-holder
and decide it is not due yet - the most work a plan does that writes nothing, every minute.
"""
from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from server import datadir, municipalities, schools  # noqa: E402
from server import db as db_mod  # noqa: E402
from server.clock import iso  # noqa: E402
from server.push import plan as push_plan  # noqa: E402

SATURDAY = datetime(2026, 11, 21, 10, 0, tzinfo=timezone.utc)
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)  # Sunday: nothing new is due


def build(data_dir: Path, waiting: int, n_schools: int, with_device: int):
    datadir.init_data_dir(data_dir)
    db = db_mod.connect(data_dir)
    brins = [f"{i:02d}ZZ" for i in range(n_schools)]
    rows = [schools.add(db, SATURDAY, brin=b, name=f"School {i}") for i, b in enumerate(brins)]
    muni, _tok = municipalities.add(db, SATURDAY, name="Gemeente Bank", brins=brins)
    for i, school in enumerate(rows):
        for role in ("receiver", "backup", "director"):
            sid = db["staff"].insert({"school_id": school["id"], "display_name": f"{role} {i}",
                                      "group_name": "", "user_handle": os.urandom(32),
                                      "active": 1, "created_at": iso(SATURDAY)}).last_pk
            db["staff_roles"].insert({"staff_id": sid, "role": role})
            if i < with_device:
                db["push_subscriptions"].insert({
                    "staff_id": sid, "endpoint": f"http://127.0.0.1:9/{sid}", "p256dh": "k",
                    "auth": "a", "created_at": iso(SATURDAY)})
    db["signals"].insert_all({
        "id": f"s{n}", "school_id": rows[n % n_schools]["id"], "municipality_id": muni["id"],
        "reference": f"r{n}", "state": "received",
        "received_at": iso(SATURDAY + timedelta(seconds=n)),
        "updated_at": iso(SATURDAY)} for n in range(waiting))
    return db


def measure(fn, repeat=7):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def statements(db, fn) -> int:
    seen: list[str] = []
    db.conn.set_trace_callback(seen.append)
    try:
        fn()
    finally:
        db.conn.set_trace_callback(None)
    return len(seen)


def run(waiting: int, n_schools: int, with_device: int):
    with tempfile.TemporaryDirectory() as tmp:
        db = build(Path(tmp) / "data", waiting, n_schools, with_device)
        push_plan.plan(db, NOW)  # warm: the calendars, the rule memo
        count = lambda: db.conn.execute("SELECT count(*) FROM signals").fetchone()  # noqa: E731
        result = {"count_ms": measure(count), "plan_ms": measure(lambda: push_plan.plan(db, NOW)),
                  "statements": statements(db, lambda: push_plan.plan(db, NOW))}
        db.close()
        return result


def main():
    waiting = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    n_schools = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    with_device = int(sys.argv[3]) if len(sys.argv) > 3 else 10
    small = run(100, n_schools, with_device)
    big = run(waiting, n_schools, with_device)
    every = run(waiting, n_schools, n_schools)
    print(f"schools {n_schools}, with a device-holder {with_device}")
    print(f"{'waiting':>8} {'device schools':>15} {'plan ms':>8} {'statements':>11} "
          f"{'count(*) ms':>12} {'plan / 100-plan':>16}")
    for label, r, dev in (("100", small, with_device), (str(waiting), big, with_device),
                          (str(waiting), every, n_schools)):
        print(f"{label:>8} {dev:>15} {r['plan_ms']:8.2f} {r['statements']:11d} "
              f"{r['count_ms']:12.3f} {r['plan_ms'] / small['plan_ms']:16.2f}")


if __name__ == "__main__":
    main()
