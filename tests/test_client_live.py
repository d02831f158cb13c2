"""The send tool end to end: `hwc-inbox send` and `receipts` as subprocesses against a live
`hwc-inbox serve` subprocess (real waitress, real HTTP), with invented children."""
from __future__ import annotations

import csv
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from server import db as db_mod
from server.datadir import init_data_dir
from server import municipalities, schools
from server.clock import SystemClock

from .conftest import give_receiver

ROOT = Path(__file__).resolve().parent.parent
FIRST = ["Sanne", "Joris", "Mila", "Teun", "Lotte", "Bram", "Noor", "Stijn", "Fleur", "Daan"]
LAST = ["Verzonnen", "Bedenksel", "Fantasia", "Onecht", "Nepper"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path):
    data = tmp_path / "data"
    init_data_dir(data)
    database = db_mod.connect(data)
    now = SystemClock().now()
    school = schools.add(database, now, brin="12AB", name="OBS De Kastanje")
    give_receiver(database, now, school["id"])
    _row, token = municipalities.add(database, now, name="Gemeente Testdorp", brins=["12AB"])
    database.close()
    port = free_port()
    log = open(tmp_path / "server.log", "wb")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HWC_")}
    proc = subprocess.Popen([sys.executable, "-m", "server.cli", "--data-dir", str(data),
                             "serve", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://localhost:{port}"
    try:
        for _ in range(150):  # at most ~15 s
            if proc.poll() is not None:
                raise AssertionError("the server exited: " + (tmp_path / "server.log").read_text())
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=1) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                time.sleep(0.1)
        else:
            raise AssertionError("the server did not come up")
        yield {"url": url, "token": token, "log": tmp_path / "server.log", "dir": tmp_path}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def hwc(*args, token=None, env_extra=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HWC_")}
    if token:
        env["HWC_TOKEN"] = token
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "server.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def write_csv(path: Path) -> list[dict]:
    rows = []
    for i in range(1, 21):
        rows.append({"school": "12AB", "reference": f"GEM-2026-{i:03d}",
                     "name": f"{FIRST[i % 10]} {LAST[i % 5]}",
                     "birth_date": f"201{i % 6 + 2}-0{i % 9 + 1}-1{i % 9}"})
    rows[6]["birth_date"] = "2017-02-30"  # refused locally: not a real date
    rows[14]["school"] = "99XX"  # refused by the server: unknown school
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["school", "reference", "name", "birth_date"])
        writer.writeheader()
        writer.writerows(rows)
    return rows


def outcomes(stdout: str) -> dict[str, str]:
    """reference -> the outcome text after the colon."""
    result = {}
    for line in stdout.splitlines():
        head, _, rest = line.partition(": ")
        result[head.split()[-1]] = rest
    return result


@pytest.mark.slow
def test_send_csv_then_rerun(server):
    csv_path = server["dir"] / "signals.csv"
    rows = write_csv(csv_path)
    names = {part for r in rows for part in r["name"].split()}

    first = hwc("send", "--url", server["url"], "--file", str(csv_path), token=server["token"])
    assert first.returncode == 1, first.stderr
    result = outcomes(first.stdout)
    assert len(first.stdout.splitlines()) == 20 and len(result) == 20
    assert sum(v == "accepted" for v in result.values()) == 18, first.stdout
    assert result["GEM-2026-007"] == "refused — geboortedatum: schrijf dd-mm-jjjj (bijvoorbeeld 31-01-2017) of jjjj-mm-dd"
    assert result["GEM-2026-015"] == "refused — school: unknown school"
    assert first.stdout.splitlines()[6].startswith("row 8  GEM-2026-007")  # header is row 1
    assert "18 accepted, 0 already accepted, 2 refused, 0 failed" in first.stderr

    again = hwc("send", "--url", server["url"], "--file", str(csv_path), token=server["token"])
    assert again.returncode == 1
    result = outcomes(again.stdout)
    assert sum(v == "already accepted" for v in result.values()) == 18
    assert sum(v.startswith("refused — ") for v in result.values()) == 2

    receipts = hwc("receipts", "--url", server["url"], token=server["token"])
    assert receipts.returncode == 0, receipts.stderr
    lines = receipts.stdout.splitlines()
    assert lines[0].split() == ["reference", "status", "received_at", "opened_at",
                                "teacher_informed_at", "closed_at"]
    assert sorted(l.split()[0] for l in lines[1:]) == sorted(
        r["reference"] for i, r in enumerate(rows) if i not in (6, 14))
    assert all(l.split()[1] == "received" for l in lines[1:])

    one = hwc("receipts", "--url", server["url"], "--reference", "GEM-2026-001",
              "--reference", "GEM-2026-015", token=server["token"])
    assert one.stdout.splitlines()[1].split()[:2] == ["GEM-2026-001", "received"]
    assert one.stdout.splitlines()[2].startswith("GEM-2026-015  unknown (none or purged)")

    # No child's name or birth date anywhere: tool output, or the server's log.
    everything = (first.stdout + first.stderr + again.stdout + again.stderr + receipts.stdout
                  + server["log"].read_text())
    for word in names:
        assert word not in everything
    for r in rows:
        assert r["birth_date"] not in everything


@pytest.mark.slow
def test_send_one_from_flags_with_token_file_and_verbose(server):
    token_file = server["dir"] / "token"
    token_file.write_text(server["token"] + "\n")
    args = ["send", "--url", server["url"], "--token-file", str(token_file), "--school", "12AB",
            "--reference", "GEM-FLAG-1", "--name", "Fleur Fictief", "--birth-date", "2016-06-16"]
    quiet = hwc(*args)
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stdout.strip() == "GEM-FLAG-1: accepted" and "Fleur" not in quiet.stderr
    loud = hwc(*args, "--verbose")
    assert loud.returncode == 0
    assert loud.stdout.strip() == "GEM-FLAG-1: already accepted  [Fleur Fictief, 2016-06-16]"
    # Same reference, other child: the server refuses (409); the tool says so and exits 1.
    clash = hwc(*args[:-4], "--name", "Daan Droom", "--birth-date", "2016-06-16")
    assert clash.returncode == 1
    assert clash.stdout.strip() == ("GEM-FLAG-1: refused — reference already used for a "
                                    "different signal")
    # A wrong token: failed, clearly, without retries piling up.
    no_file = [a for a in args if a not in ("--token-file", str(token_file))]
    bad = hwc(*no_file, env_extra={"HWC_TOKEN": "hwc_wrong"})  # the token from the environment
    assert bad.returncode == 1
    assert bad.stdout.strip() == "GEM-FLAG-1: failed — the server refused the token (401)"
    assert hwc("send", "--url", server["url"], "--school", "12AB").returncode != 0  # no token
    assert "--token " not in hwc("send", "--help").stdout  # there is no such option


@pytest.mark.slow
def test_send_works_against_the_demo(tmp_path):
    import signal as signal_mod

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HWC_")}
    env["PYTHONUNBUFFERED"] = "1"
    proc = subprocess.Popen([sys.executable, "-m", "server.cli", "demo", "--port", str(port)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True)
    try:
        token = send_line = None
        for _ in range(60):  # the demo prints its instructions first, then serves
            line = proc.stdout.readline()
            if not line:
                break
            if line.strip().startswith("export HWC_TOKEN="):
                token = line.strip().split("=", 1)[1]
            if line.strip().startswith("hwc-inbox send"):
                send_line = line.strip()
                break
        assert token and send_line, "the demo did not print a token and a send command"
        url = f"http://localhost:{port}"
        for _ in range(150):
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=1):
                    break
            except OSError:
                time.sleep(0.1)
        import shlex
        args = shlex.split(send_line)[1:]
        sent = hwc(*args, token=token)
        assert sent.returncode == 0, sent.stdout + sent.stderr
        assert sent.stdout.strip() == "DEMO-2: accepted"
        shown = hwc("receipts", "--url", url, "--reference", "DEMO-2", token=token)
        assert shown.stdout.splitlines()[1].split()[:2] == ["DEMO-2", "received"]
    finally:
        proc.send_signal(signal_mod.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()
