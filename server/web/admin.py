"""The director's pages: staff and roles, invites (link + QR), school times and holidays.

Every route is director-only (one `before_request` guard, so a new route cannot forget it) and
every lookup is scoped to the director's own school: another school's ids answer 404.
Routes only parse forms and call `server.staff`; the rules and audit events live there.
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
from markupsafe import Markup

from .. import access, auditlog, devicekeys, schools, stats, traces
from .. import staff as staff_mod
from ..clock import iso, local
from ..dutch import MONTHS, date_time, long_date
from .base import cfg, get_db, limiter, now, qr_markup
from .confirm import unconfirmed
from .guards import current_staff, login_manager, step_up_required

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.app_template_filter("lokaal")
def local_time(stamp: str | None) -> str:
    """A stored UTC timestamp as Dutch wall-clock time (`dutch.date_time`)."""
    return date_time(stamp)


@bp.app_template_filter("datum")
def dutch_date(iso_date: str | None) -> str:
    """An ISO date as 'za 19 december 2026' (issue 12: Dutch dates everywhere)."""
    return long_date(iso_date) if iso_date else ""


@bp.before_request
def _director_only():
    me = current_staff()
    if me is None:
        return login_manager.unauthorized()
    if "director" not in me.roles:
        abort(403)
    return None


def _me():
    return current_staff()


def _actor() -> str:
    return f"staff:{_me().id}"


def _back(endpoint="admin.staff_list", **kw):
    return redirect(url_for(endpoint, **kw), code=303)


# --- staff ------------------------------------------------------------------------------------

@bp.get("/")
def staff_list():
    db, me = get_db(), _me()
    return render_template(
        "admin/staff.html", school=schools.get(db, me.school_id),
        people=staff_mod.list_staff(db, me.school_id),
        invites=staff_mod.pending_invites(db, me.school_id, now()),
        warnings=staff_mod.warnings(db, me.school_id), labels=staff_mod.ROLE_LABELS,
        now_stamp=iso(now()), phones=devicekeys.school_status(db, me.school_id, now()))


def _person_or_404(staff_id: int) -> dict:
    try:
        return access.staff_member(get_db(), _me(), staff_id)
    except access.NotVisible:
        abort(404)


@bp.get("/staff/<int:staff_id>")
def staff_detail(staff_id):
    person = _person_or_404(staff_id)
    return render_template("admin/staff_detail.html", person=person, now_stamp=iso(now()),
                           passkeys=staff_mod.passkeys_of(get_db(), staff_id),
                           roles=staff_mod.ROLES, labels=staff_mod.ROLE_LABELS,
                           is_me=person["id"] == _me().id)


# Giving someone a role or a new passkey is how a stolen director session would let itself in
# as a receiver: these need a passkey check of the last 2 minutes, like opening a signal. So
# does everything else that decides who receives a child's name: a name and group (the receiver
# picks the teacher by them: a renamed "Tom Leraar — groep 5" gets the next note) and switching
# someone back on (with their roles, passkeys and pushes) — and the school's escalation times
# (`settings_save`: from then on a backup may open an unopened signal). Switching off, revoking and
# withdrawing only take access away and stay one step, so a director can act fast. The GETs are
# where the step-up page sends the browser back to.
@bp.get("/staff/<int:staff_id>/roles")
@bp.get("/staff/<int:staff_id>/reinvite")
@bp.get("/staff/<int:staff_id>/details")
@bp.get("/staff/<int:staff_id>/reactivate")
def staff_step_up_back(staff_id):
    return _back("admin.staff_detail", staff_id=staff_id)


@bp.post("/staff/<int:staff_id>/roles")
@step_up_required
def staff_roles(staff_id):
    _person_or_404(staff_id)
    try:
        staff_mod.set_roles(get_db(), now(), school_id=_me().school_id, staff_id=staff_id,
                            roles=request.form.getlist("roles"), actor=_actor())
        flash("De rollen zijn opgeslagen.")
    except staff_mod.StaffError as exc:
        flash(str(exc), "error")
    return _back("admin.staff_detail", staff_id=staff_id)


@bp.post("/staff/<int:staff_id>/details")
@step_up_required
def staff_details(staff_id):
    _person_or_404(staff_id)
    try:
        staff_mod.update_details(get_db(), now(), school_id=_me().school_id, staff_id=staff_id,
                                 display_name=request.form.get("display_name", ""),
                                 group_name=request.form.get("group_name", ""), actor=_actor())
        flash("Opgeslagen.")
    except staff_mod.StaffError as exc:
        flash(str(exc), "error")
    return _back("admin.staff_detail", staff_id=staff_id)


@bp.post("/staff/<int:staff_id>/deactivate")
def staff_deactivate(staff_id):
    person = _person_or_404(staff_id)
    ask = unconfirmed(f"{person['display_name']} uitschakelen?",
                      "Deze persoon wordt op alle apparaten uitgelogd en kan niet meer inloggen "
                      "tot je het weer inschakelt.", "Ja, uitschakelen",
                      url_for("admin.staff_detail", staff_id=staff_id))
    if ask:
        return ask
    try:
        staff_mod.deactivate(get_db(), now(), school_id=_me().school_id, staff_id=staff_id,
                             actor=_actor(), actor_id=_me().id)
        flash("Uitgeschakeld. Deze persoon is op alle apparaten uitgelogd.")
    except staff_mod.StaffError as exc:
        flash(str(exc), "error")
    return _back("admin.staff_detail", staff_id=staff_id)


@bp.post("/staff/<int:staff_id>/delete")
def staff_delete(staff_id):
    person = _person_or_404(staff_id)
    ask = unconfirmed(f"De gegevens van {person['display_name']} wissen?",
                      "Naam, rollen en passkeys worden gewist. Dat is niet terug te draaien.",
                      "Ja, wissen", url_for("admin.staff_detail", staff_id=staff_id))
    if ask:
        return ask
    try:
        staff_mod.delete(get_db(), now(), school_id=_me().school_id, staff_id=staff_id,
                         actor=_actor())
    except staff_mod.StaffError as exc:
        flash(str(exc), "error")
        return _back("admin.staff_detail", staff_id=staff_id)
    flash("De gegevens van deze persoon zijn gewist.")
    return _back()


@bp.post("/staff/<int:staff_id>/reactivate")
@step_up_required
def staff_reactivate(staff_id):
    _person_or_404(staff_id)
    staff_mod.reactivate(get_db(), now(), school_id=_me().school_id, staff_id=staff_id,
                         actor=_actor())
    flash("Weer ingeschakeld.")
    return _back("admin.staff_detail", staff_id=staff_id)


@bp.post("/staff/<int:staff_id>/passkeys/<int:passkey_id>/revoke")
def passkey_revoke(staff_id, passkey_id):
    person = _person_or_404(staff_id)
    ask = unconfirmed(f"Een passkey van {person['display_name']} intrekken?",
                      "Met die passkey kan niemand meer inloggen, en deze persoon wordt op alle "
                      "apparaten uitgelogd. Een nieuwe passkey kan alleen met een nieuwe "
                      "uitnodiging.", "Ja, intrekken",
                      url_for("admin.staff_detail", staff_id=staff_id))
    if ask:
        return ask
    try:
        staff_mod.revoke_passkey(get_db(), now(), staff_id=staff_id, passkey_id=passkey_id,
                                 actor=_actor(), school_id=_me().school_id)
    except LookupError:
        abort(404)
    flash("De passkey werkt niet meer. Deze persoon is op alle apparaten uitgelogd.")
    return _back("admin.staff_detail", staff_id=staff_id)


@bp.post("/staff/<int:staff_id>/reinvite")
@step_up_required
def staff_reinvite(staff_id):
    _person_or_404(staff_id)
    try:
        invite, token = staff_mod.create_invite(get_db(), now(), school_id=_me().school_id,
                                                staff_id=staff_id, actor=_actor())
    except staff_mod.StaffError as exc:
        flash(str(exc), "error")
        return _back("admin.staff_detail", staff_id=staff_id)
    return _show_invite(invite, token)


# --- invites ----------------------------------------------------------------------------------

@bp.get("/invite")
def invite_form():
    return render_template("admin/invite.html", roles=staff_mod.ROLES, labels=staff_mod.ROLE_LABELS,
                           form={}, error=None)


@bp.post("/invite")
@limiter.limit(lambda: "30/hour")
@step_up_required
def invite_create():
    form = {"display_name": request.form.get("display_name", ""),
            "group_name": request.form.get("group_name", ""),
            "roles": request.form.getlist("roles")}
    try:
        invite, token = staff_mod.create_invite(get_db(), now(), school_id=_me().school_id,
                                                actor=_actor(), **form)
    except staff_mod.StaffError as exc:
        return render_template("admin/invite.html", roles=staff_mod.ROLES,
                               labels=staff_mod.ROLE_LABELS, form=form, error=str(exc)), 400
    return _show_invite(invite, token)


def _show_invite(invite: dict, token: str):
    """The link is shown once (only its hash is stored), with its QR code inline in the page."""
    link = staff_mod.invite_link(cfg().base_url, token)
    return render_template("admin/invite_created.html", invite=invite, link=link,
                           qr=qr_markup(link), labels=staff_mod.ROLE_LABELS)


@bp.post("/invites/<int:invite_id>/withdraw")
def invite_withdraw(invite_id):
    if staff_mod.get_invite(get_db(), invite_id, _me().school_id) is None:
        abort(404)
    ask = unconfirmed("Deze uitnodiging intrekken?",
                      "De link werkt daarna niet meer. Je kunt wel een nieuwe uitnodiging maken.",
                      "Ja, intrekken", url_for("admin.staff_list"))
    if ask:
        return ask
    try:
        staff_mod.withdraw_invite(get_db(), now(), school_id=_me().school_id, invite_id=invite_id,
                                  actor=_actor())
    except LookupError:
        abort(404)
    flash("De uitnodiging is ingetrokken. De link werkt niet meer.")
    return _back()


# --- school settings --------------------------------------------------------------------------

@bp.get("/settings")
def settings():
    school = schools.get(get_db(), _me().school_id)
    return render_template("admin/settings.html", school=school, form=school, error=None)


@bp.post("/settings")
@step_up_required  # the escalation times decide when a backup may open a signal
def settings_save():
    db = get_db()
    form = {k: request.form.get(k, "") for k in schools.SETTING_FIELDS}
    try:
        changed = schools.update_settings(db, now(), school_id=_me().school_id, values=form,
                                          actor=_actor())
    except schools.SchoolError as exc:
        school = schools.get(db, _me().school_id)
        return render_template("admin/settings.html", school=school, form=form, error=str(exc)), 400
    flash("De instellingen zijn opgeslagen." if changed else "Er was niets veranderd.")
    return _back("admin.settings")


@bp.get("/holidays")
def holidays():
    return render_template("admin/holidays.html",
                           holidays=schools.holiday_rows(get_db(), _me().school_id),
                           form={}, error=None)


@bp.post("/holidays")
def holiday_add():
    form = {k: request.form.get(k, "") for k in ("first_day", "last_day", "label")}
    try:
        schools.add_holiday(get_db(), now(), school_id=_me().school_id, actor=_actor(), **form)
    except schools.SchoolError as exc:
        return render_template("admin/holidays.html",
                               holidays=schools.holiday_rows(get_db(), _me().school_id),
                               form=form, error=str(exc)), 400
    flash("De vakantie is toegevoegd.")
    return _back("admin.holidays")


@bp.post("/holidays/<int:holiday_id>/delete")
def holiday_delete(holiday_id):
    try:
        schools.remove_holiday(get_db(), now(), school_id=_me().school_id, holiday_id=holiday_id,
                                 actor=_actor())
    except LookupError:
        abort(404)
    flash("De vakantie is verwijderd.")
    return _back("admin.holidays")


@bp.get("/audit")
def audit():
    return render_template("admin/audit.html",
                           lines=auditlog.lines(get_db(), _me().school_id))


# --- monitoring -------------------------------------------------------------------------------

def _monitoring_range() -> tuple[str, str]:
    """`?from=YYYY-MM&to=YYYY-MM`, else the last 12 months. Raises stats.StatsError."""
    first, last = stats.default_range(local(now()).date())
    first = request.args.get("from") or first
    last = request.args.get("to") or last
    stats.month_range(first, last)
    return first, last


_RANGE_ERRORS = {"from": "Kies een geldige beginmaand (niet na de eindmaand).",
                 "to": f"Kies een geldige eindmaand, hoogstens {stats.MAX_MONTHS} maanden na de "
                       "beginmaand."}


@bp.get("/monitoring")
def monitoring():
    """Anonymous monthly figures of the director's own school (nothing per signal or child)."""
    error, status = None, 200
    try:
        first, last = _monitoring_range()
    except stats.StatsError as exc:
        error, status = _RANGE_ERRORS.get(exc.field, _RANGE_ERRORS["from"]), 400
        first, last = stats.default_range(local(now()).date())
    rows = stats.monthly_rows(get_db(), _me().school_id, first, last)
    chart = Markup(stats.svg_chart(rows, id_prefix="monitoring"))  # escaped by stats.svg_chart
    push = stats.push_minutes(get_db(), _me().school_id, first, last)
    return render_template("admin/monitoring.html", rows=rows, chart=chart, first=first,
                           last=last, error=error, month_names=MONTHS, push=push,
                           traces_count=traces.count(get_db(), _me().school_id,
                                                     iso(now() - traces.KEEP)),
                           school=schools.get(get_db(), _me().school_id)), status


@bp.get("/monitoring.csv")
def monitoring_csv():
    try:
        first, last = _monitoring_range()
    except stats.StatsError as exc:
        abort(400, _RANGE_ERRORS.get(exc.field, _RANGE_ERRORS["from"]))
    school = schools.get(get_db(), _me().school_id)
    body = stats.csv_bytes(stats.monthly_rows(get_db(), school["id"], first, last))
    resp = Response(body, mimetype="text/csv")
    resp.headers["Content-Disposition"] = (
        f'attachment; filename="hwc-monitoring-{school["brin"]}-{first}-{last}.csv"')
    resp.headers["Cache-Control"] = "no-store"
    return resp
