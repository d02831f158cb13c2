"""'Mijn instellingen': a logged-in person's own settings page.

Shows who they are (read-only: the director changes names and roles), the devices that get their
notifications (removed through `/push/unsubscribe/<id>`, which only ever deletes the person's own
rows), a link to their passkeys, and for receivers and backups 'Afwezig tot ...'. While someone
is away, `push.plan.new_signal_recipients` skips them, so new signals reach the backups instead.

Routes are thin: the away rules (bounds, audit) live in `staff.set_away`; this module only turns
a Dutch wall-clock time from the form into UTC.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from flask import Blueprint, flash, redirect, render_template, request, url_for

from .. import staff as staff_mod
from ..clock import LOCAL_TZ, local, parse
from ..dutch import MONTHS, when
from ..push import subscriptions
from .base import get_db, now
from .guards import current_staff, role_required

bp = Blueprint("me", __name__, url_prefix="/me")

#: What `<input type="datetime-local">` sends (seconds only if the page asked for them).
_LOCAL_FORMATS = ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S")


def parse_local(text: str | None) -> datetime:
    """A Dutch wall-clock time from the form ('2026-11-30T08:00') as an aware UTC datetime.

    In the autumn hour that occurs twice the first (summer-time) one is meant; a time in the
    spring gap is read as if the clocks had not moved yet (zoneinfo's fold=0), which is at most
    an hour early - harmless for 'away until'.
    """
    text = (text or "").strip()
    for fmt in _LOCAL_FORMATS:
        try:
            naive = datetime.strptime(text, fmt)
        except ValueError:
            continue
        return naive.replace(tzinfo=LOCAL_TZ).astimezone(timezone.utc)
    raise staff_mod.AwayError("Vul een datum en tijd in, bijvoorbeeld 30-11-2026 08:00.")


def _day(stamp: str | None) -> str:
    if not stamp:
        return ""
    moment = local(parse(stamp))
    return f"{moment.day} {MONTHS[moment.month - 1]} {moment.year}"


def _page(error: str | None = None, form_value: str = "", status: int = 200):
    db, me, at = get_db(), current_staff(), now()
    devices = [{"id": d["id"], "label": d["label"] or "Onbekend apparaat",
                "since": _day(d["created_at"]),
                "last_success": when(d["last_success_at"], at) if d["last_success_at"] else ""}
               for d in subscriptions.list_for(db, me.id)]
    away = staff_mod.away_until(db, me.id, at)
    may_be_away = me.has_role(*staff_mod.OPENING_ROLES)
    start = local(at + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M")
    last = local(at + staff_mod.MAX_AWAY - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    roles = [staff_mod.ROLE_LABELS[r] for r in staff_mod.PEOPLE_ROLES if r in me.roles]
    return render_template(
        "me/index.html", me=me, roles=roles, devices=devices, may_be_away=may_be_away,
        away_text=when(away, at) if away else None, only_backup=not me.has_role("receiver"),
        away_min=start, away_max=last, error=error, form_value=form_value), status


@bp.get("/")
@bp.get("")  # registered first: url_for builds the path without a slash
@role_required(*staff_mod.PEOPLE_ROLES)
def index():
    return _page()


@bp.post("/away")
@role_required(*staff_mod.OPENING_ROLES)
def away():
    me, at = current_staff(), now()
    if request.form.get("action") == "back":
        staff_mod.set_away(get_db(), at, me.id, me.school_id, None)
        flash("Welkom terug. Nieuwe signalen komen weer bij jou binnen.")
        return redirect(url_for("me.index"), code=303)
    value = request.form.get("until", "")
    try:
        until = parse_local(value)
        staff_mod.set_away(get_db(), at, me.id, me.school_id, until)
    except staff_mod.AwayError as exc:
        return _page(error=str(exc), form_value=value[:19], status=400)
    flash(f"Je staat als afwezig tot {when(until, at)}.")
    return redirect(url_for("me.index"), code=303)
