"""Municipality API v1 — the contract in DESIGN.md. Thin: parse, authorise, call the domain.

Nothing refused is stored or logged, and no response or log line repeats a submitted name.
"""
from __future__ import annotations

import json
import logging
import sqlite3
from datetime import date, datetime, time, timedelta

from flask import Blueprint, Response, current_app, g, jsonify, request, url_for

from . import intake, municipalities, push, schools, signals, stats
from .clock import LOCAL_TZ, iso, local, parse
from .db import StorageError
from .openapi import openapi_document
from .web import cfg, get_db, limiter, now

log = logging.getLogger("hwc.api")

bp = Blueprint("api", __name__, url_prefix="/api/v1")

MAX_BODY = 8 * 1024


def error(status: int, message: str, details: list | None = None, headers: dict | None = None):
    body = {"error": message}
    if details is not None:
        body["details"] = details
    resp = jsonify(body)
    resp.status_code = status
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


def _rate_limit() -> str:
    return cfg().api_rate_limit


@bp.before_request
def authenticate():
    # One byte over the limit, so that a body without Content-Length (chunked, on a server that
    # streams it) can be *seen* to be too large: werkzeug's limited stream stops silently at the
    # limit, which would cut a body at 8 KiB instead of refusing it. parse_json_body checks.
    request.max_content_length = MAX_BODY + 1
    if request.endpoint == "api.openapi":
        return None
    header = request.headers.get("Authorization", "")
    token = header[7:].strip() if header.startswith("Bearer ") else None
    try:
        municipality = municipalities.authenticate(get_db(), token)
    except (sqlite3.Error, StorageError):
        return error(503, "storage unavailable, retry later", headers={"Retry-After": "30"})
    if municipality is None:
        return error(401, "unauthorized", headers={"WWW-Authenticate": 'Bearer realm="hwc-inbox"'})
    g.municipality = municipality
    return None


@bp.errorhandler(429)
def too_many(_exc):
    return error(429, "rate limited, slow down", headers={"Retry-After": "60"})


@bp.errorhandler(413)
def too_large(_exc):
    return error(413, f"body larger than {MAX_BODY} bytes")


class _Duplicate(ValueError):
    pass


class _TooLarge(ValueError):
    pass


def _no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise _Duplicate("duplicate key")
    return dict(pairs)


def _reject_constant(_name):
    raise ValueError("NaN and Infinity are not JSON")


def parse_json_body() -> object:
    """Strict JSON: UTF-8, no duplicate keys, no NaN; raises ValueError on anything else."""
    raw = request.get_data(cache=False)
    if len(raw) > MAX_BODY:
        raise _TooLarge("body too large")
    text = raw.decode("utf-8")  # UnicodeDecodeError is a ValueError
    return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)


@bp.post("/signals")
@limiter.limit(_rate_limit)
def post_signal():
    if request.mimetype != "application/json":
        return error(415, "send the signal as application/json")
    charset = request.mimetype_params.get("charset")
    if charset and charset.lower() not in ("utf-8", "utf8"):
        return error(415, "send the signal as application/json in UTF-8")
    if request.content_length is not None and request.content_length > MAX_BODY:
        return error(413, f"body larger than {MAX_BODY} bytes")
    try:
        payload = parse_json_body()
    except _TooLarge:
        return error(413, f"body larger than {MAX_BODY} bytes")
    except _Duplicate:
        return error(400, "malformed JSON: duplicate key")
    except (ValueError, RecursionError):
        return error(400, "malformed JSON")
    moment = now()
    try:
        clean = intake.validate(payload, local(moment).date())
    except intake.Invalid as exc:
        return error(422, "invalid signal", exc.details)
    database = get_db()
    try:
        school = schools.by_brin(database, clean.school)
        if school is None:
            return error(422, "invalid signal",
                         [{"field": "school", "message": "unknown school"}])
        if school["id"] not in municipalities.school_ids(database, g.municipality["id"]):
            return error(403, "this token may not send to that school")
        row, created = signals.receive(
            database, moment, municipality_id=g.municipality["id"], school_id=school["id"],
            reference=clean.reference,
            child=signals.Child(name=clean.name, birth_date=clean.birth_date.isoformat()),
            deadlines=signals.Deadlines.from_config(cfg()))
    except signals.ReferenceSpent:
        return error(409, "reference belongs to a signal that was already opened or has ended; "
                          "see its receipt, and send a new signal under a new reference")
    except signals.ReferenceConflict:
        return error(409, "reference already used for a different signal")
    except (sqlite3.Error, StorageError) as exc:
        log.warning("storage failure on intake: %s", type(exc).__name__)
        return error(503, "storage unavailable, retry later", headers={"Retry-After": "30"})
    body = {"id": row["id"], "reference": row["reference"],
            "status": signals.public_status(row), "received_at": row["received_at"]}
    resp = jsonify(body)
    resp.status_code = 201 if created else 200
    resp.headers["Location"] = url_for("api.get_receipt", reference=row["reference"])
    if created:
        log.info("signal received id=%s school=%s", row["id"], school["brin"])
        # First push now, in a background thread; returns at once and never raises.
        push.kick(current_app._get_current_object())
    return resp


@bp.get("/signals/<reference>")
@limiter.limit(_rate_limit)
def get_receipt(reference: str):
    if not intake.REFERENCE_RE.match(reference):
        return error(404, "no signal with that reference")
    try:
        rows = list(get_db().query(
            "SELECT * FROM signals WHERE municipality_id = ? AND reference = ?",
            (g.municipality["id"], reference)))
    except (sqlite3.Error, StorageError):
        return error(503, "storage unavailable, retry later", headers={"Retry-After": "30"})
    if not rows:
        return error(404, "no signal with that reference")
    return jsonify(signals.receipt(rows[0]))


RECEIPT_LIST_MAX = 1000
RECEIPT_LIST_DEFAULT_DAYS = 7


def _since_param(text: str | None):
    """`since` as a UTC timestamp string: a full timestamp, or a date meaning local midnight."""
    if text is None or text == "":
        return iso(now() - timedelta(days=RECEIPT_LIST_DEFAULT_DAYS))
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return iso(datetime.combine(day, time(0, 0), tzinfo=LOCAL_TZ))
        return iso(parse(text))
    except ValueError:
        return None


@bp.get("/signals")
@limiter.limit(_rate_limit)
def list_receipts():
    """Receipts of this token's signals that changed since a moment (default: the last 7 days)."""
    unknown = sorted(set(request.args) - {"since"})
    if unknown:
        return error(422, "invalid query", [{"field": "query", "message":
                                             "only the parameter since is allowed"}])
    since = _since_param(request.args.get("since"))
    if since is None:
        return error(422, "invalid query", [{"field": "since", "message":
                                             "must be YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ"}])
    try:
        rows = list(get_db().query(
            "SELECT * FROM signals WHERE municipality_id = ? AND updated_at >= ?"
            " ORDER BY received_at, reference LIMIT ?",
            (g.municipality["id"], since, RECEIPT_LIST_MAX + 1)))
    except (sqlite3.Error, StorageError):
        return error(503, "storage unavailable, retry later", headers={"Retry-After": "30"})
    return jsonify({"since": since, "truncated": len(rows) > RECEIPT_LIST_MAX,
                    "receipts": [signals.receipt(r) for r in rows[:RECEIPT_LIST_MAX]]})


@bp.get("/stats")
@limiter.limit(_rate_limit)
def get_stats():
    """Anonymous monthly figures per school in this token's scope, small cells suppressed."""
    unknown = sorted(set(request.args) - {"from", "to"})
    if unknown:
        return error(422, "invalid query", [{"field": "query", "message":
                                             "only the parameters from and to are allowed"}])
    first, last = stats.default_range(local(now()).date())
    if request.args.get("to"):
        last = request.args["to"]
        if not request.args.get("from"):
            try:
                first = stats.shift_month(last, -11)
            except stats.StatsError:
                pass  # reported below
    if request.args.get("from"):
        first = request.args["from"]
    try:
        stats.month_range(first, last)
        database = get_db()
        scope = municipalities.school_ids(database, g.municipality["id"])
        body = stats.school_stats(database, sorted(scope), first, last)
    except stats.StatsError as exc:
        return error(422, "invalid query", [{"field": exc.field, "message": exc.message}])
    except (sqlite3.Error, StorageError):
        return error(503, "storage unavailable, retry later", headers={"Retry-After": "30"})
    return jsonify({"from": first, "to": last, "min_cell": stats.MIN_CELL,
                    "small_cell": stats.SMALL, "schools": body})


@bp.get("/openapi.json")
def openapi():
    return Response(json.dumps(openapi_document(cfg().base_url), indent=2),
                    mimetype="application/json")
