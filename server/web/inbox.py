"""The receiver's and backup's pages: the inbox, the view-once reveal, and the case.

Routes stay thin: they check who may act, call the state machine, and render. The name is only
ever on the response to the reveal POST (never a GET), which is `no-store` like every page here.
"""
from __future__ import annotations

import json
from urllib.parse import quote

from flask import Blueprint, abort, jsonify, redirect, render_template, request, url_for

from .. import (
    access,
    auditlog,
    casework,
    device_seal,
    devicekeys,
    inbox_view,
    intake,
    note_rules,
    phone_copies,
    schools,
    signals,
    tasks,
    teacher_picker,
    tips,
)
from .. import staff as staff_mod
from ..clock import local, parse
from ..db import write
from ..dutch import long_date, time_of, when
from .base import deadlines, get_db, now
from .confirm import unconfirmed
from .guards import (
    assertion_is_fresh,
    current_staff,
    proved_phone,
    role_required,
    step_up_required,
)

bp = Blueprint("inbox", __name__, url_prefix="/inbox")

PARENT_CHOICES = [
    ("by_teacher", "Ouders geïnformeerd door de leerkracht"),
    ("by_me", "Ouders geïnformeerd door mij"),
    ("later", "Nog niet, dat volgt (het signaal blijft open)"),
    ("deliberately_not", "Bewust niet (veiligheid of eigen afspraak)"),
]


def _school_signal(signal_id: str) -> dict:
    """The signal if it belongs to the user's school; 404 otherwise (no hint it exists)."""
    try:
        return access.school_signal(get_db(), current_staff(), signal_id)
    except access.NotVisible:
        abort(404)


def _school():
    return schools.get(get_db(), current_staff().school_id)


def _teachers(school_id: int) -> list[dict]:
    return staff_mod.teachers(get_db(), school_id)


def _chosen_teacher(source=None) -> int:
    """The teacher picked in the form: an active teacher of this school, else 400."""
    try:
        teacher_id = int((source or request.form).get("teacher_id", ""))
    except ValueError:
        abort(400)
    if teacher_id not in {t["id"] for t in _teachers(current_staff().school_id)}:
        abort(400)
    return teacher_id


#: A school's teacher has a phone or two; a note sealed to more is not from our page.
MAX_NOTE_ENTRIES = 20


def _browser_note(signal_id: str) -> phone_copies.BrowserNote | None:
    """The note the receiver's browser made (the hand-over is on their phone), or None: sealed
    entries for the teacher's phones, or the one line for a teacher without such a phone.

    Only the one who opened the signal can make it: the server cannot check what a note says,
    so nobody else at the school may put words in it (403)."""
    sealed, line = request.form.get("note_sealed", ""), request.form.get("note_line", "")
    if not sealed and not line:
        return None
    row = _school_signal(signal_id)
    if row["opened_by"] != current_staff().id:
        abort(403)
    try:
        if sealed:
            entries = json.loads(sealed)
            if not isinstance(entries, list) or not 0 < len(entries) <= MAX_NOTE_ENTRIES:
                abort(400)
            return phone_copies.BrowserNote(entries=tuple(device_seal.check_entry(e) for e in entries))
        name, birth = intake.note_line(json.loads(line),
                                       local(parse(row["received_at"])).date())
    except (ValueError, device_seal.BadEntry, intake.Invalid):
        abort(400)
    return phone_copies.BrowserNote(child=signals.Child(name=name, birth_date=birth.isoformat()))


def _name_of(staff_id: int | None) -> str:
    return staff_mod.display_name(get_db(), staff_id) or "een collega"


@bp.get("/")
@bp.get("")  # registered first: url_for builds the path without a slash
@role_required("receiver", "backup")
def index():
    me, moment = current_staff(), now()
    database = get_db()
    may_open = access.opener(database, moment, me)
    page = request.args.get("pagina", "1")
    shown = inbox_view.view(database, me.school_id, moment, deadlines().case_autoclose,
                            page=int(page) if page.isdigit() and len(page) < 7 else 1)
    # One url_for for the page, not one per row: ids are URL-safe tokens, quoted all the same.
    signal_path = url_for("inbox.confirm", signal_id="-").removesuffix("-")
    waiting = [dict(r, may_open=may_open(r), url=signal_path + quote(r["id"], safe=""))
               for r in shown["waiting"]]
    return render_template("inbox/index.html", waiting=waiting, cases=shown["cases"],
                           groups=shown["groups"], traces=shown["traces"],
                           start_time=shown["start_time"], school=shown["school"],
                           waiting_total=shown["waiting_total"], page=shown["page"],
                           pages=shown["pages"])


@bp.get("/signal/<signal_id>")
@role_required("receiver", "backup")
def confirm(signal_id: str):
    """The confirmation page before the one reveal. A GET never changes anything."""
    row = _school_signal(signal_id)
    me, moment = current_staff(), now()
    if row["state"] != "received":
        return _already_opened(row)
    if not access.may_open(get_db(), moment, me, row):
        return render_template("inbox/not_yet.html", row=row,
                               when=when(row["received_at"], moment)), 403
    school = _school()
    return render_template("inbox/confirm.html", row=row, when=when(row["received_at"], moment),
                           fresh=assertion_is_fresh(), school=school,
                           tips=tips.tips_for("receiver_before", school["type"]))


def _already_opened(row: dict):
    if row["state"] in signals.ENDED:
        return render_template("inbox/gone.html"), 410
    return render_template("inbox/already_opened.html", row=row,
                           who=_name_of(row["opened_by"]), at=time_of(row["opened_at"])), 409


@bp.get("/signal/<signal_id>/reveal")
@role_required("receiver", "backup")
def reveal_get(signal_id: str):
    """Where the step-up page sends the browser back to: never reveals, shows the button again."""
    return redirect(url_for("inbox.confirm", signal_id=signal_id), code=303)


@bp.post("/signal/<signal_id>/reveal")
@role_required("receiver", "backup")
@step_up_required
def reveal(signal_id: str):
    row = _school_signal(signal_id)
    me, moment = current_staff(), now()
    if row["state"] == "received" and not access.may_open(get_db(), moment, me, row):
        abort(403)
    # Everything the page needs is loaded *before* the one-time transition, so nothing after it
    # can fail and burn the only view without showing it.
    school = _school()
    picker = teacher_picker.pick(
        [t for t in _teachers(school["id"]) if t["id"] != me.id])  # not to oneself
    after_tips = tips.tips_for("receiver_after", school["type"])
    phone = proved_phone(request.form.get("phone"))
    try:
        # The view and its line in the director's log are one commit: a log that cannot be
        # written must not leave a burnt view that was never shown.
        with write(get_db()):
            shown = signals.reveal(get_db(), moment, signal_id, me.id, phone)
            auditlog.signal_event(get_db(), moment, row["school_id"], me.id, "signal.opened",
                                  row["received_at"])
    except signals.WrongState as exc:
        return _already_opened(exc.row or row)
    except signals.Unreadable:
        return render_template("inbox/gone.html"), 410
    except phone_copies.NotForThisPhone:  # nothing changed: the view is not spent
        return render_template("inbox/not_for_this_phone.html", row=row), 403
    return render_template(
        "inbox/reveal.html", row=shown.signal, child=shown.child, sealed=shown.sealed,
        aad=device_seal.aad(signal_id).decode(),
        birth=long_date(shown.child.birth_date) if shown.child else "", school=school,
        teachers=picker["teachers"], picker=picker, tips=after_tips)


@bp.get("/case/<signal_id>/note-keys")
@role_required("receiver", "backup")
def note_keys(signal_id: str):
    """What the browser needs to make the teacher's note itself (ADR 0013): whether the
    hand-over is on the opener's phone, and the teacher's phone keys (public; no name)."""
    row = _school_signal(signal_id)
    teacher_id = _chosen_teacher(request.args)
    return jsonify({"on_phone": phone_copies.note_needs_browser(get_db(), row),
                    "keys": [device_seal.b64(k)
                             for k in devicekeys.of_person(get_db(), teacher_id)],
                    "aad": device_seal.aad(signal_id).decode()})


@bp.post("/case/<signal_id>/handover")
@role_required("receiver", "backup")
@step_up_required
def handover(signal_id: str):
    """The opener's phone-sealed hand-over, to the phone that just proved itself and opened the
    signal, so its browser can make a note for a teacher. Changes nothing; closed to the
    server, and useless to any other phone."""
    _school_signal(signal_id)
    body = request.get_json(silent=True) or {}
    phone = proved_phone(body.get("phone") if isinstance(body, dict) else None)
    entry = phone_copies.handover_on_phone(get_db(), signal_id)
    if entry is None or phone is None or entry["pub"] != device_seal.b64(phone):
        return jsonify({"error": "Dit kan alleen op de telefoon waarmee je het signaal "
                                 "opende. Vertel het de leerkracht anders zelf."}), 403
    return jsonify({"entry": entry, "aad": device_seal.aad(signal_id).decode()})


@bp.get("/case/<signal_id>")
@role_required("receiver", "backup")
def case(signal_id: str):
    row = _school_signal(signal_id)
    if row["state"] == "received":
        return redirect(url_for("inbox.confirm", signal_id=signal_id))
    if row["state"] in signals.ENDED:
        return render_template("inbox/gone.html"), 410
    school = _school()
    teacher = _name_of(row["teacher_id"]) if row["teacher_id"] else None
    teacher_active = bool(row["teacher_id"]) and row["teacher_id"] in {
        t["id"] for t in _teachers(school["id"])}
    picker = teacher_picker.pick([t for t in _teachers(school["id"])
                                  if t["id"] not in (row["opened_by"], row["teacher_id"])],
                                 request.args.get("zoek", ""))
    return render_template(
        "inbox/case.html", row=row, school=school, teacher=teacher,
        handover=signals.handover_available(get_db(), signal_id), teacher_active=teacher_active,
        teachers=picker["teachers"], picker=picker,
        parent_choices=PARENT_CHOICES,
        opened=when(row["opened_at"], now()), read_at=time_of(row["teacher_informed_at"]),
        told_due=time_of(row["told_due_at"]), task_pending=tasks.pending(row),
        talk_until=time_of(row["handover_until"]),
        teacher_parents=casework.TEACHER_PARENT.get(row["teacher_parent_contact"] or ""),
        teacher_parents_at=when(row["teacher_parent_contact_at"], now()),
        tips=tips.tips_for("receiver_after", school["type"]))


def _act(signal_id: str, action, log: str | None = None, other: int | None = None):
    """Run one step on a case of this school; a stale form gets a calm answer.

    The step and its line in the director's log (`log`, naming `other` staff) are one commit:
    a log line is never missing for a step that happened, nor written for one that did not."""
    row = _school_signal(signal_id)
    try:
        with write(get_db()):
            action()
            if log:
                auditlog.signal_event(get_db(), now(), row["school_id"], current_staff().id,
                                      log, row["received_at"], other)
    except signals.HandoverGone:
        return redirect(url_for("inbox.case", signal_id=signal_id, gone=1))
    except phone_copies.NoteRefused:  # the teacher's phones changed meanwhile: nothing sent
        return render_template("inbox/note_again.html", signal_id=signal_id,
                               school=_school()), 409
    except note_rules.AlreadyKnows:  # a stale or hand-made form: they read the name already
        return render_template("inbox/already_knows.html", signal_id=signal_id,
                               school=_school()), 409
    except signals.WrongState as exc:
        if exc.state in signals.ENDED:
            return render_template("inbox/gone.html"), 410
        return redirect(url_for("inbox.case", signal_id=signal_id))
    return None


@bp.post("/case/<signal_id>/assign")
@role_required("receiver", "backup")
def assign(signal_id: str):
    teacher_id = _chosen_teacher()
    agreed = request.form.get("pupil_agreed") == "1"  # VO: the pupil wants the mentor to know
    note = _browser_note(signal_id)

    def act():
        if agreed:
            casework.pupil_agreed(get_db(), signal_id)
        signals.assign_teacher(get_db(), now(), signal_id, teacher_id, deadlines(), note)
    done = _act(signal_id, act, "signal.assigned", teacher_id)
    return done or redirect(url_for("inbox.case", signal_id=signal_id, done="assigned"))


@bp.post("/case/<signal_id>/reassign")
@role_required("receiver", "backup")
def reassign(signal_id: str):
    teacher_id = _chosen_teacher()
    note = _browser_note(signal_id)
    done = _act(signal_id, lambda: signals.reassign_note(get_db(), now(), signal_id, teacher_id,
                                                         deadlines(), note),
                "signal.assigned", teacher_id)
    return done or redirect(url_for("inbox.case", signal_id=signal_id, done="assigned"))


@bp.post("/case/<signal_id>/withdraw")
@role_required("receiver", "backup")
def withdraw(signal_id: str):
    _school_signal(signal_id)
    ask = unconfirmed("Het bericht aan de leerkracht wissen?",
                      "Het ongelezen bericht wordt meteen gewist en is niet terug te halen. Doe "
                      "dit alleen als je het de leerkracht zelf hebt verteld.",
                      "Ja, ik heb het zelf verteld: wis het bericht",
                      url_for("inbox.case", signal_id=signal_id))
    if ask:
        return ask
    done = _act(signal_id, lambda: signals.withdraw_note(get_db(), now(), signal_id),
                "signal.told")
    return done or redirect(url_for("inbox.case", signal_id=signal_id, done="self"))


@bp.post("/case/<signal_id>/in-person")
@role_required("receiver", "backup")
def in_person(signal_id: str):
    """'Ik vertel het zelf' becomes a task (optionally naming the teacher); 'Ik heb het zelf
    verteld' (already=1) is the task and its 'Verteld' tap at once: the tap is the claim."""
    how = request.form.get("how", "")
    if how not in ("self", "pupil_declined"):
        abort(400)
    teacher_id = _chosen_teacher() if how == "self" and request.form.get("teacher_id") else None
    moment = now()

    already = how == "self" and request.form.get("already") == "1"

    def act():
        signals.told_in_person(get_db(), moment, signal_id, how, teacher_id)
        if already:
            tasks.told(get_db(), moment, signal_id)
    done = _act(signal_id, act, "signal.told" if already else None)
    return done or redirect(url_for("inbox.case", signal_id=signal_id, done=how))


@bp.post("/case/<signal_id>/talk")
@role_required("receiver", "backup")
def talk(signal_id: str):
    """VO: 'Ik spreek de leerling eerst' - the copy waits until the end of the school day."""
    done = _act(signal_id, lambda: casework.talk_first(get_db(), now(), signal_id),
                "signal.talk")
    return done or redirect(url_for("inbox.case", signal_id=signal_id, done="talk"))


@bp.post("/case/<signal_id>/told")
@role_required("receiver", "backup")
def told(signal_id: str):
    """The 'Verteld' tap: the receipt's teacher_informed_at is this moment."""
    done = _act(signal_id, lambda: tasks.told(get_db(), now(), signal_id), "signal.told")
    return done or redirect(url_for("inbox.case", signal_id=signal_id, done="told"))


@bp.post("/case/<signal_id>/return")
@role_required("receiver", "backup")
def return_signal(signal_id: str):
    _school_signal(signal_id)
    ask = unconfirmed("Dit kind is geen leerling van jullie school?",
                      "Het signaal gaat terug naar de gemeente en wordt hier meteen gewist. Dat "
                      "is niet terug te draaien.",
                      "Ja, terugsturen naar de gemeente",
                      url_for("inbox.case", signal_id=signal_id))
    if ask:
        return ask
    done = _act(signal_id, lambda: signals.return_signal(get_db(), now(), signal_id),
                "signal.returned")
    return done or render_template("inbox/returned.html")


@bp.get("/case/<signal_id>/return")
@bp.get("/case/<signal_id>/parent-contact")
@bp.get("/case/<signal_id>/told")
@role_required("receiver", "backup")
def after_post(signal_id: str):
    """Back to a page that answered a POST lands on the case (or 'afgerond'), never a 405."""
    _school_signal(signal_id)
    return redirect(url_for("inbox.case", signal_id=signal_id), code=303)


@bp.post("/case/<signal_id>/parent-contact")
@role_required("receiver", "backup")
def parent_contact(signal_id: str):
    choice = request.form.get("choice", "")
    if choice not in dict(PARENT_CHOICES):
        abort(400)
    if choice == "later":  # 'Nog niet' keeps the case open (issue 12)
        done = _act(signal_id, lambda: casework.parents_later(get_db(), now(), signal_id))
        return done or redirect(url_for("inbox.case", signal_id=signal_id, done="later"))
    done = _act(signal_id,
                lambda: signals.record_parent_contact(get_db(), now(), signal_id, choice),
                "signal.closed")
    return done or render_template("inbox/closed.html")
