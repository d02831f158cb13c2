"""The teacher's (or mentor's) one-line note: listed without content, read once by POST."""
from __future__ import annotations

from flask import Blueprint, abort, render_template

from . import schools, signals, tips
from .auth import current_staff, role_required
from .dutch import long_date, when
from .web import get_db, now

bp = Blueprint("teacher", __name__, url_prefix="/notes")


@bp.get("")
@bp.get("/")
@role_required("teacher")
def index():
    moment = now()
    notes = [dict(n, when=when(n["assigned_at"], moment))
             for n in signals.notes_for(get_db(), current_staff().id)]
    return render_template("teacher/index.html", notes=notes)


@bp.post("/<signal_id>/read")
@role_required("teacher")
def read(signal_id: str):
    me = current_staff()
    try:
        child = signals.teacher_read(get_db(), now(), signal_id, me.id)
    except signals.NotFound:
        abort(404)
    except signals.WrongState:
        return render_template("teacher/gone.html"), 410
    school = schools.get(get_db(), me.school_id)
    return render_template("teacher/note.html", child=child, birth=long_date(child.birth_date),
                           tips=tips.tips_for("teacher", school["type"]), school=school)
