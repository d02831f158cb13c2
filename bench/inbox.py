"""Inbox benchmark: size and render time of `/inbox` for a logged-in receiver at 10, 100 and
1,000 waiting signals, as ratios to the 10-signal case measured in the same run. Not a test.

    python bench/inbox.py

Waiting signals are inserted as rows (the inbox lists them without opening anything). The page
shows the oldest `inbox_view.PAGE_SIZE` with the total, so size and time should stay flat.
"""
from __future__ import annotations

import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from server import create_app, municipalities, schools  # noqa: E402
from server import db as db_mod  # noqa: E402
from server.clock import FakeClock, iso  # noqa: E402
from tests.auth_helpers import enrolled  # noqa: E402

MONDAY_0700 = "2026-11-23T06:00:00Z"


def run(waiting: int, repeat: int = 15) -> tuple[int, float]:
    with tempfile.TemporaryDirectory() as tmp:
        clock = FakeClock(MONDAY_0700)
        app = create_app({"data_dir": Path(tmp) / "data", "testing": True}, clock=clock, env={})
        db = db_mod.connect(Path(tmp) / "data")
        school = schools.add(db, clock.now(), brin="99ZZ", name="OBS Bank")
        muni, _tok = municipalities.add(db, clock.now(), name="Gemeente Bank", brins=["99ZZ"])
        ib = enrolled(app, db, clock, school["id"], ("receiver",), "Ilse Bedacht")
        db["signals"].insert_all({
            "id": f"w{i:05d}", "school_id": school["id"], "municipality_id": muni["id"],
            "reference": f"W-{i}", "state": "received",
            "received_at": iso(clock.now() - timedelta(seconds=waiting - i)),
            "updated_at": iso(clock.now())} for i in range(waiting))
        size, times = 0, []
        for _ in range(repeat):
            t = time.perf_counter()
            resp = ib.client.get("/inbox")
            times.append((time.perf_counter() - t) * 1000)
            assert resp.status_code == 200
            size = len(resp.get_data())
        db.close()
        return size, statistics.median(times)


def main():
    results = {n: run(n) for n in (10, 100, 1000)}
    base_size, base_ms = results[10]
    print(f"{'waiting':>8} {'bytes':>8} {'ms (p50)':>9} {'size ratio':>11} {'time ratio':>11}")
    for n, (size, ms) in results.items():
        print(f"{n:>8} {size:>8} {ms:9.2f} {size / base_size:11.2f} {ms / base_ms:11.2f}")


if __name__ == "__main__":
    main()
