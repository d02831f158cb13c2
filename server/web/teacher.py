"""The teacher's (or mentor's) one-line note: listed without content, read once by POST."""
from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request, url_for

from .. import auditlog, casework, device_seal, inbox_view, phone_copies, schools, signals, tips
from .. import staff as staff_mod
from ..db import write
from ..dutch import long_date, when
from .base import get_db, now
from .guards import (
    assertion_is_fresh,
    current_staff,
    proved_phone,
    role_required,
    step_up_required,
)

bp = Blueprint("teacher", __name__, url_prefix="/notes")


@bp.get("/")
@bp.get("")  # registered first: url_for builds the path without a slash
@role_required("teacher")
def index():
    moment = now()
    notes = [dict(n, when=when(n["assigned_at"], moment))
             for n in inbox_view.notes_for(get_db(), current_staff().id)]
    read = [dict(n, when=when(n["teacher_informed_at"], moment))
            for n in casework.read_notes(get_db(), current_staff().id)]
    school = schools.get(get_db(), current_staff().school_id)
    return render_template("teacher/index.html", notes=notes, fresh=assertion_is_fresh(),
                           read=read, parent_choices=casework.TEACHER_PARENT, school=school)


@bp.get("/<signal_id>/parents")
@role_required("teacher")
def parents_get(signal_id: str):
    return redirect(url_for("teacher.index"), code=303)


@bp.post("/<signal_id>/parents")
@role_required("teacher")
def parents(signal_id: str):
    """After reading, the teacher records the parent contact - one of three words, no name."""
    choice = request.form.get("choice", "")
    if choice not in casework.TEACHER_PARENT:
        abort(400)
    try:
        casework.teacher_parents(get_db(), now(), signal_id, current_staff().id, choice)
    except signals.NotFound:
        abort(404)
    return redirect(url_for("teacher.index", done="parents"), code=303)


@bp.get("/<signal_id>/read")
@role_required("teacher")
def read_get(signal_id: str):
    """Where the step-up page sends the browser back to: never reads, shows the list."""
    return redirect(url_for("teacher.index"), code=303)


@bp.post("/<signal_id>/read")
@role_required("teacher")
@step_up_required
def read(signal_id: str):
    """The note holds a name: like the reveal, it needs a passkey check of the last 2 minutes
    (a classroom PC left logged in, or a stolen cookie, must not burn it)."""
    me = current_staff()
    school = schools.get(get_db(), me.school_id)
    note_tips = tips.tips_for("teacher", school["type"])
    before = signals.get(get_db(), signal_id) if _mine(signal_id, me.id) else {}
    sender = staff_mod.display_name(get_db(), before.get("opened_by"))
    phone = proved_phone(request.form.get("phone"))
    try:
        with write(get_db()):  # the read and its log line: one commit (see inbox.reveal)
            shown = signals.teacher_read(get_db(), now(), signal_id, me.id, phone)
            auditlog.signal_event(get_db(), now(), me.school_id, me.id, "signal.read",
                                  before["received_at"])
    except signals.NotFound:
        abort(404)
    except signals.WrongState:
        return render_template("teacher/gone.html"), 410
    except phone_copies.NotForThisPhone:  # nothing changed: the note can still be read
        return render_template("teacher/not_for_this_phone.html"), 403
    child = shown.child
    return render_template("teacher/note.html", child=child, sealed=shown.sealed,
                           aad=device_seal.aad(signal_id).decode(),
                           birth=long_date(child.birth_date) if child else "",
                           tips=note_tips, school=school, sender=sender,
                           pupil_agreed=bool(before.get("pupil_agreed")))


def _mine(signal_id: str, teacher_id: int) -> bool:
    try:
        return signals.get(get_db(), signal_id)["teacher_id"] == teacher_id
    except signals.NotFound:
        return False
