"""Counts the fsync/fdatasync calls of the receiver's reveal flow and of the whole morning.

Durability costs syncs, and syncs are what a cheap server's disk is slowest at. A two-file commit
(hwc.db + keys.db, with a super-journal) needs several; a write that touches only hwc.db should
need only the ones of a one-file commit. This script runs the real routes (Flask test client,
software passkey) in a child process under `strace -f` and counts the sync calls between two
markers, so the number is exact and repeatable (not a timing).

    python bench/fsyncs.py          # needs strace (apt-get install strace)

Flows:
- reveal: the receiver's step-up (options + verify) and the reveal POST;
- morning: the reveal flow, assigning the teacher, the teacher's step-up and read, and the
  receiver recording the parent contact.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MARK = "hwc-fsync-mark-"


def _mark(name: str) -> None:
    try:
        os.stat(f"/{MARK}{name}")  # a syscall strace sees; the file need not exist
    except OSError:
        pass


def child() -> None:
    """The flow itself, run under strace by `main`."""
    sys.path.insert(0, str(ROOT))
    from server import create_app, municipalities, schools
    from server import db as db_mod
    from server.clock import SystemClock
    from tests.auth_helpers import enrolled

    tmp = Path(tempfile.mkdtemp())
    app = create_app({"data_dir": tmp / "data", "testing": True,
                      "extra": {"push_kick": False}}, env={})
    database = db_mod.connect(tmp / "data")
    clock = SystemClock()
    school = schools.add(database, clock.now(), brin="12AB", name="Bench School")
    _m, token = municipalities.add(database, clock.now(), name="Bench", brins=["12AB"])
    ib = enrolled(app, database, clock, school["id"], ("receiver",), "Ilse Bench")
    teacher = enrolled(app, database, clock, school["id"], ("teacher",), "Tom Bench", "groep 5")
    api = app.test_client()
    resp = api.post("/api/v1/signals", headers={"Authorization": f"Bearer {token}"},
                    json={"school": "12AB", "reference": "F-1",
                          "child": {"name": "Fenna Verzonnen", "birth_date": "2017-04-02"}})
    assert resp.status_code == 201, resp.status_code
    sid = resp.get_json()["id"]
    teacher_id = database.conn.execute(
        "SELECT id FROM staff WHERE display_name = 'Tom Bench'").fetchone()[0]
    csrf = ib.csrf()

    _mark("reveal-start")
    assert ib.step_up().status_code == 200
    resp = ib.client.post(f"/inbox/signal/{sid}/reveal", data={"csrf_token": csrf})
    assert resp.status_code == 200, resp.status_code
    _mark("reveal-end")
    resp = ib.client.post(f"/inbox/case/{sid}/assign",
                          data={"csrf_token": csrf, "teacher_id": teacher_id})
    assert resp.status_code in (302, 303), resp.status_code
    assert teacher.step_up().status_code == 200
    note = teacher.client.post(f"/notes/{sid}/read", data={"csrf_token": teacher.csrf()})
    assert note.status_code == 200, note.status_code
    resp = ib.client.post(f"/inbox/case/{sid}/parent-contact",
                          data={"csrf_token": csrf, "choice": "by_teacher"})
    assert resp.status_code in (200, 302, 303), resp.status_code
    _mark("morning-end")
    database.close()
    shutil.rmtree(tmp, ignore_errors=True)


def count(trace: str) -> dict[str, int]:
    """Sync calls between the markers in an `strace -f` output."""
    counts, current = {"reveal": 0, "morning": 0}, []
    for line in trace.splitlines():
        if MARK in line:
            name = re.search(MARK + r"([a-z-]+)", line).group(1)
            current = {"reveal-start": ["reveal", "morning"], "reveal-end": ["morning"],
                       "morning-end": []}[name]
        elif re.search(r"\b(fsync|fdatasync)\(", line):
            for flow in current:
                counts[flow] += 1
    return counts


def main() -> int:
    if shutil.which("strace") is None:
        print("strace is not installed (apt-get install strace)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "trace"
        subprocess.run(["strace", "-f", "-qq", "-e", "trace=fsync,fdatasync,stat,newfstatat",
                        "-o", str(out), sys.executable, __file__, "--child"],
                       check=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
        counts = count(out.read_text(errors="replace"))
    print(f"reveal flow (step-up + reveal):        {counts['reveal']:3d} fsync/fdatasync")
    print(f"whole morning (reveal .. parent contact): {counts['morning']:3d} fsync/fdatasync")
    return 0


if __name__ == "__main__":
    if "--child" in sys.argv:
        child()
    else:
        sys.exit(main())
