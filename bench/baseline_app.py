"""The bare baseline for bench/load.py: Flask + one SQLite table under waitress, nothing else.

    python bench/baseline_app.py PORT DB_PATH
"""
import json
import sqlite3
import sys
import threading

import waitress
from flask import Flask, request

port, path = int(sys.argv[1]), sys.argv[2]
app = Flask("baseline")
local = threading.local()


def conn():
    if not hasattr(local, "c"):
        local.c = sqlite3.connect(path, isolation_level=None, timeout=15)
    return local.c


conn().execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, reference TEXT UNIQUE, body TEXT)")


@app.post("/api/v1/signals")
def post():
    payload = json.loads(request.get_data())
    conn().execute("INSERT OR IGNORE INTO t (reference, body) VALUES (?, ?)",
                   (payload["reference"], json.dumps(payload["child"])))
    return {"ok": True}, 201


@app.get("/inbox")
def page():
    n = conn().execute("SELECT count(*) FROM t").fetchone()[0]
    return f"<!doctype html><title>Inbox</title><p>{n} signals</p>"


@app.get("/healthz")
def health():
    return {"status": "ok"}


waitress.serve(app, host="127.0.0.1", port=port, threads=8, _quiet=True)
