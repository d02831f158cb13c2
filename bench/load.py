"""Load benchmark: the real server (`hwc-inbox serve`, waitress) under a bounded loopback load of
municipality pushes mixed with staff page views, against a bare Flask + SQLite baseline served
the same way in the same run. Prints throughput, p50/p95/p99 latency, peak RSS, and ratios.

    python bench/load.py [--seconds 120] [--clients 8] [--against REV]

`--against REV` also serves an earlier commit (checked out in a temporary git worktree) under the
same load in the same run, so "faster than before" is a ratio measured side by side, not a number
remembered from another day. Traffic goes to 127.0.0.1 only and stops by itself after --seconds
per server.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


#: Pushes are spread over this many schools, as a region's would be (a school gets 0-13 signals
#: a year); the logged-in receiver is at school 00ZZ and sees its share in the inbox.
SCHOOLS = 100


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(port: int, proc) -> None:
    for _ in range(300):
        if proc.poll() is not None:
            raise SystemExit(f"server exited early ({proc.returncode})")
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            c.request("GET", "/healthz")
            if c.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit("server did not come up")


def _status_kb(pid: int, field: str) -> int:
    """A memory figure of a process from /proc (VmHWM peak, VmRSS now), in KiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def peak_rss_kb(pid: int) -> int:
    return _status_kb(pid, "VmHWM")


def drive(port: int, seconds: float, clients: int, headers_get: dict, headers_post: dict,
          prefix: str) -> dict:
    """Each client: one push, then three page views, repeated until time is up."""
    deadline = time.monotonic() + seconds
    born = date(date.today().year - 9, 5, 1).isoformat()
    lat = {"push": [], "page": []}
    errors = []
    lock = threading.Lock()

    def client(n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        i = 0
        while time.monotonic() < deadline:
            i += 1
            ops = [("push", "POST", "/api/v1/signals")] + [("page", "GET", "/inbox")] * 3
            for kind, method, path in ops:
                body = None
                headers = headers_get
                if method == "POST":
                    body = json.dumps({"school": f"{(n * 7919 + i) % SCHOOLS:02d}ZZ",
                                       "reference": f"{prefix}-{n}-{i}",
                                       "child": {"name": "Last Verzonnen", "birth_date": born}})
                    headers = headers_post
                t0 = time.perf_counter()
                try:
                    conn.request(method, path, body=body, headers=headers)
                    resp = conn.getresponse()
                    resp.read()
                    ok = resp.status in (200, 201)
                except OSError as exc:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                    ok, resp = False, exc
                dt = (time.perf_counter() - t0) * 1000
                with lock:
                    if ok:
                        lat[kind].append(dt)
                    else:
                        errors.append(getattr(resp, "status", str(resp)))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    return {"lat": lat, "errors": errors, "elapsed": elapsed}


def q(samples, p):
    if len(samples) < 2:
        return float("nan")
    return statistics.quantiles(samples, n=100)[p - 1]


def current_rss_kb(pid: int) -> int:
    return _status_kb(pid, "VmRSS")


#: Run inside a checkout (its own code): make the schools, a municipality and a logged-in
#: receiver, and print the token and the session cookie as JSON.
SETUP = """
import json, sys
from pathlib import Path
from server import create_app, schools, municipalities
from server import db as db_mod
from server import staff as staff_mod
from server.clock import SystemClock
from tests.auth_helpers import enrolled
data, base, n = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
app = create_app({"data_dir": data, "base_url": base}, env={})
database = db_mod.connect(data)
clock = SystemClock()
brins = [f"{k:02d}ZZ" for k in range(n)]
for brin in brins:
    schools.add(database, clock.now(), brin=brin, name=f"School {brin}")
for brin in brins[1:]:  # every school has someone who can open a signal (else it refuses them)
    staff_mod.create_invite(database, clock.now(), school_id=schools.by_brin(database, brin)["id"],
                            display_name="Ontvanger", roles=("receiver",), actor="bench")
school = schools.by_brin(database, "00ZZ")
_r, token = municipalities.add(database, clock.now(), name="Load", brins=brins)
device = enrolled(app, database, clock, school["id"], ("receiver",), "Ilse Bedacht")
print(json.dumps({"token": token, "cookie": device.client.get_cookie("hwc_session").value}))
"""


def serve_and_drive(checkout: Path, tmp: Path, args) -> tuple[dict, int, int]:
    """Set up and serve `checkout`'s code, drive it; returns (result, peak RSS, idle RSS)."""
    tmp.mkdir(parents=True, exist_ok=True)
    port = free_port()
    data = tmp / "data"
    base = f"http://localhost:{port}"
    env = dict(os.environ, PYTHONPATH=str(checkout), HWC_API_RATE_LIMIT="1000000/minute",
               PYTHONUNBUFFERED="1")
    made = subprocess.run([sys.executable, "-c", SETUP, str(data), base, str(SCHOOLS)],
                          cwd=checkout, env=env, check=True, capture_output=True, text=True)
    secrets = json.loads(made.stdout.strip().splitlines()[-1])
    proc = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "--data-dir", str(data), "serve", "--port",
         str(port), "--base-url", base], cwd=checkout, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_healthy(port, proc)
        time.sleep(1)
        idle = current_rss_kb(proc.pid)
        result = drive(port, args.seconds, args.clients,
                       {"Cookie": f"hwc_session={secrets['cookie']}",
                        "Host": f"localhost:{port}"},
                       {"Authorization": f"Bearer {secrets['token']}",
                        "Content-Type": "application/json"}, "L")
        return result, peak_rss_kb(proc.pid), idle
    finally:
        proc.kill()
        proc.wait()


def report(label: str, result: dict, rss_kb: int, idle_kb: int | None) -> dict:
    allx = result["lat"]["push"] + result["lat"]["page"]
    rps = len(allx) / result["elapsed"]
    row = {"rps": rps, "p50": q(allx, 50), "p95": q(allx, 95), "p99": q(allx, 99),
           "push_p95": q(result["lat"]["push"], 95), "page_p95": q(result["lat"]["page"], 95),
           "rss": rss_kb / 1024, "idle_rss": (idle_kb or 0) / 1024,
           "errors": len(result["errors"])}
    idle = f"idle RSS {row['idle_rss']:.0f} MiB, " if idle_kb else ""
    print(f"{label:12} {rps:8.1f} req/s  p50 {row['p50']:6.1f}  p95 {row['p95']:6.1f}  "
          f"p99 {row['p99']:6.1f} ms  (push p95 {row['push_p95']:.1f}, page p95 "
          f"{row['page_p95']:.1f})  {idle}peak RSS {row['rss']:.0f} MiB  "
          f"errors {row['errors']}")
    return row


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=120)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--against", default=None, metavar="REV",
                    help="also measure this earlier commit, side by side in the same run")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        results = [("HwC Inbox", *serve_and_drive(ROOT, Path(tmp) / "now", args))]
        if args.against:
            old = Path(tmp) / "old-checkout"
            subprocess.run(["git", "worktree", "add", "--detach", str(old), args.against],
                           cwd=ROOT, check=True, capture_output=True)
            try:
                results.append((f"@{args.against[:10]}",
                                *serve_and_drive(old, Path(tmp) / "old", args)))
            finally:
                subprocess.run(["git", "worktree", "remove", "--force", str(old)], cwd=ROOT,
                               capture_output=True)
        # --- baseline --------------------------------------------------------------------------
        bport = free_port()
        bproc = subprocess.Popen([sys.executable, str(ROOT / "bench" / "baseline_app.py"),
                                  str(bport), str(Path(tmp) / "baseline.db")],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_healthy(bport, bproc)
            base_res = drive(bport, args.seconds, args.clients, {},
                             {"Content-Type": "application/json"}, "B")
            base_rss = peak_rss_kb(bproc.pid)
        finally:
            bproc.kill()
            bproc.wait()

    print(f"{args.clients} clients, {args.seconds:.0f} s each; per client: 1 push (to one of "
          f"{SCHOOLS} schools) then 3 page views (/inbox, logged in), repeated; loopback only")
    rows = [(label, report(label, res, rss, idle)) for label, res, rss, idle in results]
    b = report("baseline", base_res, base_rss, None)
    r = rows[0][1]
    print(f"ratios (HwC / baseline): throughput {r['rps'] / b['rps']:.2f}x  "
          f"p50 {r['p50'] / b['p50']:.2f}x  p95 {r['p95'] / b['p95']:.2f}x  "
          f"p99 {r['p99'] / b['p99']:.2f}x  RSS {r['rss'] / b['rss']:.2f}x")
    for label, old in rows[1:]:
        print(f"ratios (now / {label}): throughput {r['rps'] / old['rps']:.2f}x  "
              f"p50 {r['p50'] / old['p50']:.2f}x  p95 {r['p95'] / old['p95']:.2f}x  "
              f"RSS idle {r['idle_rss'] / old['idle_rss']:.2f}x")
    return 0 if r["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
