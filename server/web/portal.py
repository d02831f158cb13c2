"""The leerplicht portal (/gemeente/): an officer sends signals by form and reads receipts.

Officer-only (one `before_request` guard). The officer sends as their municipality, through
`server.portal.send` → `submissions.submit`, the API's own intake. The check step posts the form
data through: the page that shows it is `no-store` (base.py's default) and holds it in hidden
fields, never in the session store or a table. Sending needs a fresh passkey (step-up); without
one the check page is shown again with the data still in its form, so nothing is lost and nothing
is parked on the server. No name, birth date or school choice ever goes into a URL.
"""
from __future__ import annotations

import re
import secrets

from flask import Blueprint, abort, render_template, request
from flask_wtf.csrf import ValidationError, validate_csrf

from .. import csvin, municipalities
from .. import portal as portal_mod
from .base import cfg, deadlines, get_db, limiter, now
from .guards import assertion_is_fresh, csrf, current_staff, login_manager

bp = Blueprint("portal", __name__, url_prefix="/gemeente")
EMPTY_ROWS = 3
#: An upload is read in memory only: werkzeug keeps a file part in memory up to 500 KiB, so a
#: limit well below that means the spreadsheet never touches a disk (no temporary file).
UPLOAD_MAX = 64 * 1024  # docs/deploy.md: the proxy limits bodies to 64 KiB too


@bp.before_request
def _officer_only():
    if request.endpoint == "portal.upload_preview" and request.method == "POST":
        # The size limit must be set before anything reads the body, so this one form's CSRF
        # check runs here instead of in CSRFProtect (which reads the form first).
        request.max_content_length = UPLOAD_MAX
        try:
            validate_csrf(request.form.get("csrf_token"))
        except ValidationError:
            abort(400)
    me = current_staff()
    if me is None:
        return login_manager.unauthorized()
    if "officer" not in me.roles or not me.municipality_id:
        abort(403)
    return None


def _municipality_id() -> int:
    return current_staff().municipality_id


def _send_rate() -> str:
    return cfg().api_rate_limit


def _children_from_form() -> list[portal_mod.Child]:
    f = request.form
    return portal_mod.rows_from_form(f.getlist("school"), f.getlist("name"),
                                     f.getlist("birth_date"), f.getlist("reference"))


@bp.get("/")
def index():
    db = get_db()
    rows = portal_mod.receipt_rows(db, now(), _municipality_id())
    return render_template("portal/index.html",
                           municipality=municipalities.get(db, _municipality_id()),
                           action=[r for r in rows if r["action"]])


@bp.get("/signalen/nieuw")
def new():
    schools = portal_mod.schools_in_scope(get_db(), _municipality_id())
    blank = [portal_mod.Child(school="", name="", birth_date="", reference="")] * EMPTY_ROWS
    return render_template("portal/form.html", schools=schools, children=blank, problems=False,
                           form_id=secrets.token_hex(8))


def _form_id() -> str:
    value = request.form.get("form_id", "")
    return value if re.fullmatch(r"[0-9a-f]{16}", value) else ""


@bp.post("/signalen/controle")
def check():
    """The check step: the form again with Dutch errors, or 'Controleer' with a send button."""
    db, at = get_db(), now()
    schools = portal_mod.schools_in_scope(db, _municipality_id())
    children = portal_mod.check(db, at, _municipality_id(), _children_from_form(), _form_id())
    if not children:
        blank = [portal_mod.Child(school="", name="", birth_date="", reference="")] * EMPTY_ROWS
        return render_template("portal/form.html", schools=schools, children=blank,
                               problems=True, empty=True), 422
    if not all(c.ok for c in children):
        return render_template("portal/form.html", schools=schools, children=children,
                               problems=True, form_id=_form_id()), 422
    return render_template("portal/check.html", children=children, stale=False)


@bp.post("/signalen")
@limiter.limit(_send_rate)
def send():
    """Send after the check step and a fresh passkey; every child through submissions.submit."""
    db, at = get_db(), now()
    children = portal_mod.check(db, at, _municipality_id(), _children_from_form())
    if not children or not all(c.ok for c in children):
        schools = portal_mod.schools_in_scope(db, _municipality_id())
        return render_template("portal/form.html", schools=schools, children=children or [],
                               problems=True, empty=not children), 422
    if not assertion_is_fresh():
        return render_template("portal/check.html", children=children, stale=True), 401
    results = portal_mod.send(db, at, _municipality_id(), children, deadlines())
    status = 201 if all(r.ok for r in results) else 207
    return render_template("portal/sent.html", results=results), status


@bp.get("/ontvangstbevestigingen")
def receipts():
    rows = portal_mod.receipt_rows(get_db(), now(), _municipality_id())
    return render_template("portal/receipts.html", rows=rows)


@bp.get("/upload")
def upload():
    return render_template("portal/upload.html", error=None)


@bp.post("/upload")
@csrf.exempt  # checked in _officer_only, after the size limit is set
def upload_preview():
    """Preview of an uploaded CSV: valid rows to confirm (the check step), refused rows by line
    number with Dutch errors and without their values. The file is parsed in memory, never
    saved; confirming posts the valid rows to the same send route as the form."""
    db, at = get_db(), now()
    file = request.files.get("file")
    raw = file.read(UPLOAD_MAX + 1) if file else b""
    try:
        if not raw:
            raise csvin.CsvError("Kies een CSV-bestand.")
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = raw.decode("cp1252", errors="replace")  # Excel's 'CSV' on Windows
        lines = csvin.read(text)
    except csvin.CsvError as exc:
        return render_template("portal/upload.html", error=str(exc)), 422
    good, refused = portal_mod.check_upload(db, at, _municipality_id(), lines)
    return render_template("portal/check.html", children=good, refused=refused, stale=False,
                           upload=True), (200 if good else 422)
