"""The OpenAPI 3.1 description of the municipality API. Tests check real responses against it."""
from __future__ import annotations

from .intake import MAX_AGE, MIN_AGE, NAME_MAX

TIMESTAMP = {"type": "string", "format": "date-time", "pattern": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$"}
NULLABLE_TS = {"oneOf": [TIMESTAMP, {"type": "null"}]}
REFERENCE = {"type": "string", "pattern": r"^[A-Za-z0-9._-]{1,64}$"}
MONTH = {"type": "string", "pattern": r"^\d{4}-(0[1-9]|1[0-2])$"}


RETRY_AFTER = {"Retry-After": {"required": True, "description": "Seconds to wait before retrying.",
                               "schema": {"type": "string", "pattern": r"^[0-9]+$"}}}
WWW_AUTHENTICATE = {"WWW-Authenticate": {"required": True, "schema": {"type": "string"}}}
LOCATION = {"Location": {"required": True, "description": "The receipt of this signal.",
                         "schema": {"type": "string"}}}


def _error_response(description: str, with_details: bool = False,
                    headers: dict | None = None) -> dict:
    ref = "#/components/schemas/ValidationError" if with_details else "#/components/schemas/Error"
    resp = {"description": description, "content": {"application/json": {"schema": {"$ref": ref}}}}
    if headers:
        resp["headers"] = headers
    return resp


def openapi_document(base_url: str) -> dict:
    errors = {
        "401": _error_response("Missing, wrong or revoked token (no hint which).",
                               headers=WWW_AUTHENTICATE),
        "429": _error_response("Rate limited; see Retry-After.", headers=RETRY_AFTER),
        "503": _error_response("Storage failure; nothing was stored, retry later (see "
                               "Retry-After).", headers=RETRY_AFTER),
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "HwC Inbox — municipality API",
            "version": "1.0.0",
            "description": (
                "Push Handle with Care signals to a school and read receipts. A signal holds only "
                "the child's name and birth date, the school (BRIN) and the municipality's own "
                "reference. Receipts never contain personal data and are purged 30 days after "
                "their last change."),
        },
        "servers": [{"url": base_url}],
        "security": [{"bearer": []}],
        "paths": {
            "/api/v1/signals": {
                "post": {
                    "operationId": "pushSignal",
                    "summary": "Push one signal for one child",
                    "requestBody": {"required": True, "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/SignalIn"}}}},
                    "responses": {
                        "201": {"description": "Stored.",
                                "headers": LOCATION,
                                "content": {"application/json": {"schema": {
                                    "$ref": "#/components/schemas/Accepted"}}}},
                        "200": {"description": "Idempotent retry: same reference, same content. "
                                               "The status is the signal's current one.",
                                "headers": LOCATION,
                                "content": {"application/json": {"schema": {
                                    "$ref": "#/components/schemas/Accepted"}}}},
                        "400": _error_response("Malformed JSON (also: invalid UTF-8, duplicate keys)."),
                        "403": _error_response("The school is outside this token's scope."),
                        "409": _error_response("Same reference, different content."),
                        "413": _error_response("Body over 8 KiB."),
                        "415": _error_response("Not application/json (UTF-8)."),
                        "422": _error_response(
                            "Invalid or extra field, unknown school, impossible birth date; or "
                            "(checked after the scope, field `school`) nobody at the school can "
                            "receive signals yet: no active or invited receiver or backup - use "
                            "the agreed fallback. Nothing is stored.", with_details=True),
                        **errors,
                    },
                },
                "get": {
                    "operationId": "listReceipts",
                    "summary": "Receipts of this token's signals that changed since a moment",
                    "parameters": [{
                        "name": "since", "in": "query", "required": False,
                        "description": "A UTC timestamp (YYYY-MM-DDTHH:MM:SSZ) or a date "
                                       "(YYYY-MM-DD, from local midnight in the Netherlands). "
                                       "Default: the last 7 days.",
                        "schema": {"type": "string"}}],
                    "responses": {
                        "200": {"description": "Receipts, oldest first, at most 1000.",
                                "content": {"application/json": {"schema": {
                                    "$ref": "#/components/schemas/ReceiptList"}}}},
                        "422": _error_response("Bad `since` or an unknown parameter.",
                                               with_details=True),
                        **errors,
                    },
                },
            },
            "/api/v1/stats": {
                "get": {
                    "operationId": "getStats",
                    "summary": "Anonymous monthly figures per school in this token's scope",
                    "description": (
                        "Per school (BRIN) and month: signals received, opened, opened before "
                        "school start, teacher informed, returned, expired and closed, and the "
                        "median and 90th percentile of minutes from receipt to opening. Months are "
                        "those of receipt (Dutch time). Counts below 5 are given as \"<5\"; the "
                        "minutes are null when fewer than 5 signals were opened. Figures are the "
                        "school's totals over all senders. Nothing per day or per signal."),
                    "parameters": [
                        {"name": "from", "in": "query", "required": False, "schema": MONTH,
                         "description": "First month (default: 11 months before `to`)."},
                        {"name": "to", "in": "query", "required": False, "schema": MONTH,
                         "description": "Last month (default: the current month). At most 36 "
                                        "months in all."}],
                    "responses": {
                        "200": {"description": "Every month in the range, for every school.",
                                "content": {"application/json": {"schema": {
                                    "$ref": "#/components/schemas/Stats"}}}},
                        "422": _error_response("Bad month, from after to, range too long, or an "
                                               "unknown parameter.", with_details=True),
                        **errors,
                    },
                }
            },
            "/api/v1/signals/{reference}": {
                "get": {
                    "operationId": "getReceipt",
                    "summary": "The receipt of a signal this token pushed",
                    "parameters": [{"name": "reference", "in": "path", "required": True,
                                    "schema": REFERENCE}],
                    "responses": {
                        "200": {"description": "The receipt.", "content": {"application/json": {
                            "schema": {"$ref": "#/components/schemas/Receipt"}}}},
                        "404": _error_response("No such reference for this token (or purged)."),
                        **errors,
                    },
                }
            },
            "/api/v1/openapi.json": {
                "get": {"operationId": "openapi", "summary": "This document", "security": [],
                        "responses": {"200": {"description": "OpenAPI 3.1 document",
                                              "content": {"application/json": {
                                                  "schema": {"type": "object"}}}}}}
            },
            "/healthz": {
                "get": {"operationId": "health", "summary": "For monitors", "security": [],
                        "responses": {
                            "200": {"description": "Up", "content": {"application/json": {
                                "schema": {"$ref": "#/components/schemas/Health"}}}},
                            "503": {"description": "Storage unavailable", "content": {
                                "application/json": {"schema": {
                                    "$ref": "#/components/schemas/Health"}}}}}}
            },
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "Token from `hwc-inbox municipality add`."}},
            "schemas": {
                "SignalIn": {
                    "type": "object", "additionalProperties": False,
                    "required": ["school", "reference", "child"],
                    "properties": {
                        "school": {"type": "string", "pattern": r"^[0-9]{2}[A-Z0-9]{2}$",
                                   "description": "BRIN of a school known to this server."},
                        "reference": dict(REFERENCE, description=(
                            "Your own id for the signal. It must not contain any part of the "
                            "child's name (3 letters or more) or the birth date: the reference "
                            "outlives the signal, so such a reference is refused with 422.")),
                        "child": {
                            "type": "object", "additionalProperties": False,
                            "required": ["name", "birth_date"],
                            "properties": {
                                "name": {"type": "string", "minLength": 1, "maxLength": NAME_MAX,
                                         "description": "Letters (any script), spaces, hyphens, "
                                                        "apostrophes and dots; no control or "
                                                        "format characters, no invisible "
                                                        "letters, at most 3 accents on a "
                                                        "letter."},
                                "birth_date": {"type": "string", "format": "date",
                                               "description": f"A real date giving an age of "
                                                              f"{MIN_AGE}-{MAX_AGE} on the day "
                                                              f"of receipt."},
                            },
                        },
                    },
                },
                "Accepted": {
                    "type": "object", "additionalProperties": False,
                    "required": ["id", "reference", "status", "received_at"],
                    "properties": {"id": {"type": "string"}, "reference": REFERENCE,
                                   "status": {"$ref": "#/components/schemas/Status"},
                                   "received_at": TIMESTAMP},
                },
                "Receipt": {
                    "type": "object", "additionalProperties": False,
                    "required": ["reference", "status", "received_at", "notified_at",
                                 "opened_at", "teacher_informed_at", "closed_at"],
                    "properties": {"reference": REFERENCE,
                                   "status": {"$ref": "#/components/schemas/Status"},
                                   "received_at": TIMESTAMP, "notified_at": NULLABLE_TS,
                                   "opened_at": NULLABLE_TS, "teacher_informed_at": NULLABLE_TS,
                                   "closed_at": NULLABLE_TS,
                                   # Optional, added compatibly (issue 12): how to reach the
                                   # school, as its director wrote it; absent when left empty.
                                   "school_contact": {"type": "string", "maxLength": 500,
                                                      "description": "How to reach the school "
                                                      "(its own words; never a child's data). "
                                                      "Absent when the school left it empty."}},
                },
                "ReceiptList": {
                    "type": "object", "additionalProperties": False,
                    "required": ["since", "truncated", "receipts"],
                    "properties": {"since": TIMESTAMP, "truncated": {"type": "boolean"},
                                   "receipts": {"type": "array", "maxItems": 1000, "items": {
                                       "$ref": "#/components/schemas/Receipt"}}},
                },
                "Count": {"oneOf": [{"type": "integer", "minimum": 5},
                                    {"type": "string", "const": "<5"}]},
                "Minutes": {"oneOf": [{"type": "integer", "minimum": 0}, {"type": "null"}]},
                "StatsMonth": {
                    "type": "object", "additionalProperties": False,
                    "required": ["month", "received", "opened", "opened_before_start",
                                 "median_minutes_to_open", "p90_minutes_to_open",
                                 "teacher_informed", "returned", "expired", "closed"],
                    "properties": {
                        "month": MONTH,
                        **{k: {"$ref": "#/components/schemas/Count"} for k in (
                            "received", "opened", "opened_before_start", "teacher_informed",
                            "returned", "expired", "closed")},
                        "median_minutes_to_open": {"$ref": "#/components/schemas/Minutes"},
                        "p90_minutes_to_open": {"$ref": "#/components/schemas/Minutes"},
                    },
                },
                "Stats": {
                    "type": "object", "additionalProperties": False,
                    "required": ["from", "to", "min_cell", "small_cell", "schools"],
                    "properties": {
                        "from": MONTH, "to": MONTH,
                        "min_cell": {"type": "integer", "const": 5},
                        "small_cell": {"type": "string", "const": "<5"},
                        "schools": {"type": "array", "items": {
                            "type": "object", "additionalProperties": False,
                            "required": ["school", "months"],
                            "properties": {
                                "school": {"type": "string", "pattern": r"^[0-9]{2}[A-Z0-9]{2}$"},
                                "months": {"type": "array", "items": {
                                    "$ref": "#/components/schemas/StatsMonth"}}}}},
                    },
                },
                "Status": {"type": "string", "enum": [
                    "received", "opened", "teacher_informed", "closed", "returned", "expired"]},
                "Error": {"type": "object", "required": ["error"],
                          "properties": {"error": {"type": "string"}}},
                "ValidationError": {
                    "type": "object", "required": ["error", "details"],
                    "properties": {"error": {"type": "string"}, "details": {
                        "type": "array", "items": {
                            "type": "object", "required": ["field", "message"],
                            "properties": {"field": {"type": "string"},
                                           "message": {"type": "string"}}}}}},
                "Health": {"type": "object", "required": ["status"],
                           "properties": {"status": {"type": "string"}}},
            },
        },
    }
