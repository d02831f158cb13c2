"""The director's onboarding pages: the checklist ("Aan de slag") and the school's documents.

Director-only like /admin/ (one `before_request` guard, so a new route cannot forget it), and
everything is the director's own school: there is no school id in any URL. Routes parse, call
`server.onboarding` / `server.documents`, and render. The documents carry the school's facts
only (`SchoolFacts` has no field for a child), and like every page here they are `no-store`.
"""
from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)

from .. import documents, schools
from .. import onboarding as onboarding_mod
from ..config import DEADLINE_BOUNDS
from .base import cfg, get_db, now
from .guards import current_staff, login_manager

bp = Blueprint("onboarding", __name__, url_prefix="/admin/start")

_TITLES = dict(documents.kinds())


@bp.before_request
def _director_only():
    me = current_staff()
    if me is None:
        return login_manager.unauthorized()
    if "director" not in me.roles:
        abort(403)
    return None


@bp.app_template_global()
def onboarding_progress() -> dict | None:
    """For the "Aan de slag" card on the director's first page; None for anyone else."""
    me = current_staff()
    if me is None or "director" not in me.roles:
        return None
    return onboarding_mod.progress(get_db(), me.school_id, now())


@bp.get("/")
def checklist():
    db, me = get_db(), current_staff()
    facts = onboarding_mod.school_facts(db, me.school_id)
    entries = onboarding_mod.checklist(db, me.school_id, now())
    return render_template("onboarding/checklist.html", school=schools.get(db, me.school_id),
                           items=entries, done=sum(1 for e in entries if e["done"]),
                           titles=_TITLES, gaps=documents.gaps(facts))


@bp.post("/items/<item>")
def tick(item):
    if item not in onboarding_mod.TICKABLE:
        abort(404)
    if request.form.get("done") not in ("0", "1"):
        abort(400)  # a hand-made request: neither tick nor untick, so change nothing
    done = request.form["done"] == "1"
    me = current_staff()
    onboarding_mod.tick(get_db(), now(), school_id=me.school_id, item=item, done=done,
                        staff_id=me.id)
    flash("Afgevinkt. Dank je wel!" if done else "Het vinkje is weggehaald.")
    return redirect(url_for("onboarding.checklist", _anchor=f"item-{item}"), code=303)


def _document(kind: str):
    if kind not in _TITLES:
        abort(404)
    facts = onboarding_mod.school_facts(get_db(), current_staff().school_id)
    deadlines = {name: getattr(cfg(), name) for name in DEADLINE_BOUNDS}
    return documents.build(kind, facts, deadlines=deadlines), facts


@bp.get("/documents/<kind>")
def document(kind):
    """A printable page (print.css); the browser's 'Afdrukken' makes paper or a pdf."""
    doc, facts = _document(kind)
    return render_template(documents.template_for(kind), doc=doc, school=facts,
                           back_url=url_for("onboarding.checklist"),
                           text_url=url_for("onboarding.document_text", kind=kind))


@bp.get("/documents/<kind>.txt")
def document_text(kind):
    """The same document as a plain-text download, to paste into a newsletter or website."""
    doc, _facts = _document(kind)
    resp = Response(documents.render_text(doc), mimetype="text/plain")
    resp.headers["Content-Disposition"] = f'attachment; filename="{doc.filename}"'
    resp.headers["Cache-Control"] = "no-store"
    return resp
