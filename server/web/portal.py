"""The leerplicht portal (/gemeente/): an officer sends signals by form and reads receipts.

Officer-only (one `before_request` guard). The officer sends as their municipality, through
`server.portal.send` → `submissions.submit`, the API's own intake. The check step posts the form
data through: the page that shows it is `no-store` (base.py's default) and holds it in hidden
fields, never in the session store or a table. Sending needs a fresh passkey (step-up); without
one the check page is shown again with the data still in its form, so nothing is lost and nothing
is parked on the server. No name, birth date or school choice ever goes into a URL.
"""
from __future__ import annotations

from flask import Blueprint, abort, render_template, request

from .. import municipalities
from .. import portal as portal_mod
from .base import cfg, deadlines, get_db, limiter, now
from .guards import assertion_is_fresh, current_staff, login_manager

bp = Blueprint("portal", __name__, url_prefix="/gemeente")
EMPTY_ROWS = 3


@bp.before_request
def _officer_only():
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
    return render_template("portal/form.html", schools=schools, children=blank, problems=False)


@bp.post("/signalen/controle")
def check():
    """The check step: the form again with Dutch errors, or 'Controleer' with a send button."""
    db, at = get_db(), now()
    schools = portal_mod.schools_in_scope(db, _municipality_id())
    children = portal_mod.check(db, at, _municipality_id(), _children_from_form())
    if not children:
        blank = [portal_mod.Child(school="", name="", birth_date="", reference="")] * EMPTY_ROWS
        return render_template("portal/form.html", schools=schools, children=blank,
                               problems=True, empty=True), 422
    if not all(c.ok for c in children):
        return render_template("portal/form.html", schools=schools, children=children,
                               problems=True), 422
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
