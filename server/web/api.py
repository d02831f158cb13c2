"""Municipality API v1 — the contract in DESIGN.md. Thin: parse, authorise, call the domain.

Nothing refused is stored or logged, and no response or log line repeats a submitted name.
"""
from __future__ import annotations

import json
import logging
import sqlite3
from datetime import date, datetime, time, timedelta

from flask import Blueprint, Response, current_app, g, jsonify, request, url_for

from .. import intake, municipalities, receipts, signals, stats, submissions
from ..clock import LOCAL_TZ, iso, local, parse
from ..db import snapshot
from ..openapi import openapi_document
from ..push.kick import kick
from .base import cfg, deadlines, get_db, limiter, now

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
    with snapshot(get_db(), one_statement=True) as database:
        municipality = municipalities.authenticate(database, token)
    if municipality is None:
        return error(401, "unauthorized", headers={"WWW-Authenticate": 'Bearer realm="hwc-inbox"'})
    g.municipality = municipality
    return None


class ApiError(Exception):
    """A refusal with its status and contract message; raised anywhere, answered in one place."""

    def __init__(self, status: int, message: str, details: list | None = None,
                 headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.details, self.headers = status, message, details, headers


@bp.errorhandler(ApiError)
def _refused(exc: ApiError):
    return error(exc.status, exc.message, exc.details, exc.headers)


@bp.errorhandler(sqlite3.Error)  # StorageError is one too
def _storage_unavailable(exc):
    log.warning("storage failure on %s: %s", "intake" if request.endpoint == "api.post_signal"
                else "api", type(exc).__name__)
    return error(503, "storage unavailable, retry later", headers={"Retry-After": "30"})


@bp.errorhandler(intake.Invalid)
def _invalid(exc: intake.Invalid):
    return error(422, "invalid signal", exc.details)


@bp.errorhandler(submissions.OutOfScope)
def _out_of_scope(_exc):
    return error(403, "this token may not send to that school")


@bp.errorhandler(signals.ReferenceConflict)
def _reference_taken(exc):
    if isinstance(exc, signals.ReferenceSpent):
        return error(409, "reference belongs to a signal that was already opened or has ended; "
                          "see its receipt, and send a new signal under a new reference")
    return error(409, "reference already used for a different signal")


@bp.errorhandler(429)
def too_many(_exc):
    return error(429, "rate limited, slow down", headers={"Retry-After": "60"})


@bp.errorhandler(413)
def too_large(_exc):
    return error(413, f"body larger than {MAX_BODY} bytes")


class _Duplicate(ValueError):
    pass


def _no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise _Duplicate("duplicate key")
    return dict(pairs)


def _reject_constant(_name):
    raise ValueError("NaN and Infinity are not JSON")


def parse_json_body() -> object:
    """The request's body as strict JSON: UTF-8, no duplicate keys, no NaN; else ApiError."""
    if request.mimetype != "application/json":
        raise ApiError(415, "send the signal as application/json")
    charset = request.mimetype_params.get("charset")
    if charset and charset.lower() not in ("utf-8", "utf8"):
        raise ApiError(415, "send the signal as application/json in UTF-8")
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise ApiError(413, f"body larger than {MAX_BODY} bytes")
    raw = request.get_data(cache=False)
    if len(raw) > MAX_BODY:
        raise ApiError(413, f"body larger than {MAX_BODY} bytes")
    try:
        text = raw.decode("utf-8")  # UnicodeDecodeError is a ValueError
        return json.loads(text, object_pairs_hook=_no_duplicates,
                          parse_constant=_reject_constant)
    except _Duplicate:
        raise ApiError(400, "malformed JSON: duplicate key") from None
    except (ValueError, RecursionError):
        raise ApiError(400, "malformed JSON") from None


@bp.post("/signals")
@limiter.limit(_rate_limit)
def post_signal():
    row, created = submissions.submit(get_db(), now(), municipality_id=g.municipality["id"],
                                      payload=parse_json_body(), deadlines=deadlines())
    resp = jsonify({"id": row["id"], "reference": row["reference"],
                    "status": receipts.public_status(row), "received_at": row["received_at"]})
    resp.status_code = 201 if created else 200
    resp.headers["Location"] = url_for("api.get_receipt", reference=row["reference"])
    if created:
        log.info("signal received id=%s school_id=%s", row["id"], row["school_id"])
        kick(current_app._get_current_object())  # the first push now; never raises
    return resp


@bp.get("/signals/<reference>")
@limiter.limit(_rate_limit)
def get_receipt(reference: str):
    if not intake.REFERENCE_RE.fullmatch(reference):
        return error(404, "no signal with that reference")
    row = receipts.by_reference(get_db(), g.municipality["id"], reference)
    if row is None:
        return error(404, "no signal with that reference")
    return jsonify(receipts.for_municipality(get_db(), row))


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
    rows = receipts.changed_since(get_db(), g.municipality["id"], since,
                                  RECEIPT_LIST_MAX + 1)
    return jsonify({"since": since, "truncated": len(rows) > RECEIPT_LIST_MAX,
                    "receipts": receipts.many(get_db(), rows[:RECEIPT_LIST_MAX])})


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
    return jsonify({"from": first, "to": last, "min_cell": stats.MIN_CELL,
                    "small_cell": stats.SMALL, "schools": body})


@bp.get("/openapi.json")
def openapi():
    return Response(json.dumps(openapi_document(cfg().base_url), indent=2),
                    mimetype="application/json")
