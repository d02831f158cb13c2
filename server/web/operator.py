"""The operator's pages (/beheer/): schools, municipalities and their scope, API tokens, invites
for first directors and leerplicht officers, per-school readiness and the region's figures.

Operator-only (one `before_request` guard). An operator never sees a signal, a name, a case or a
school's staff: readiness is counts (server/region.py). Links and tokens are shown once, on the
response to the POST that made them (a no-store page), with the QR code inline — never in a URL.
Making a token or an invite lets someone in, so it needs a fresh passkey, as a director's invite.
"""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from .. import municipalities, region, schools, stats
from .. import staff as staff_mod
from ..clock import local
from ..dutch import MONTHS
from .base import cfg, get_db, now, qr_markup
from .guards import current_staff, login_manager, step_up_required

bp = Blueprint("operator", __name__, url_prefix="/beheer")


@bp.before_request
def _operator_only():
    me = current_staff()
    if me is None:
        return login_manager.unauthorized()
    if "operator" not in me.roles:
        abort(403)
    return None


def _actor() -> str:
    return f"staff:{current_staff().id}"


def _back(endpoint: str, **kw):
    return redirect(url_for(endpoint, **kw), code=303)


def _ids(name: str) -> list[int]:
    return [int(v) for v in request.form.getlist(name) if v.isdigit()]


def _shown_once(title: str, link: str | None = None, token: str | None = None, back: str = ""):
    qr = qr_markup(link) if link else None
    return render_template("operator/shown_once.html", title=title, link=link, token=token,
                           qr=qr, back=back)


@bp.get("/")
def index():
    db = get_db()
    return render_template("operator/index.html", rows=region.readiness(db, now()))


# --- schools ----------------------------------------------------------------------------------

@bp.get("/scholen/nieuw")
def school_new():
    return render_template("operator/school.html", school=None, form={}, error=None)


@bp.post("/scholen")
def school_add():
    return _save_school(None)


@bp.get("/scholen/<int:school_id>")
def school_edit(school_id):
    school = schools.get(get_db(), school_id) or abort(404)
    return render_template("operator/school.html", school=school, form=school, error=None)


@bp.post("/scholen/<int:school_id>")
def school_save(school_id):
    schools.get(get_db(), school_id) or abort(404)
    return _save_school(school_id)


def _save_school(school_id):
    form = {k: request.form.get(k, "") for k in ("brin", "name", "type", "place")}
    try:
        row = region.save_school(get_db(), now(), school_id=school_id, actor=_actor(), **form)
    except region.RegionError as exc:
        school = schools.get(get_db(), school_id) if school_id else None
        return render_template("operator/school.html", school=school, form=form,
                               error=str(exc)), 422
    flash("De school is opgeslagen.")
    return _back("operator.school_edit", school_id=row["id"])


@bp.get("/scholen/<int:school_id>/directeur")
def director_back(school_id):
    return _back("operator.school_edit", school_id=school_id)


@bp.post("/scholen/<int:school_id>/directeur")
@step_up_required
def director_invite(school_id):
    """The school's first director: the one invite an operator makes for school staff."""
    schools.get(get_db(), school_id) or abort(404)
    try:
        _row, token = region.invite_first_director(
            get_db(), now(), school_id=school_id, name=request.form.get("name", ""),
            actor=_actor())
    except (staff_mod.StaffError, region.RegionError) as exc:
        flash(str(exc), "error")
        return _back("operator.school_edit", school_id=school_id)
    return _shown_once("Uitnodiging voor de directeur", link=staff_mod.invite_link(cfg().base_url, token),
                       back=url_for("operator.school_edit", school_id=school_id))


# --- municipalities ---------------------------------------------------------------------------

@bp.get("/gemeenten")
def municipality_list():
    db = get_db()
    rows = municipalities.all_municipalities(db)
    for row in rows:
        row["school_ids"] = municipalities.school_ids(db, row["id"])
        row["officers"] = region.officers(db, row["id"])
    return render_template("operator/municipalities.html", rows=rows,
                           schools=schools.all_schools(db), error=None)


@bp.get("/gemeenten/nieuw")
@bp.get("/gemeenten/<int:municipality_id>/token")
@bp.get("/gemeenten/<int:municipality_id>/ambtenaar")
def municipality_back(municipality_id=None):
    return _back("operator.municipality_list")


@bp.post("/gemeenten/nieuw")
@step_up_required
def municipality_add():
    db = get_db()
    try:
        _row, token = region.add_municipality(db, now(), name=request.form.get("name", ""),
                                              school_ids=_ids("school"), actor=_actor())
    except region.RegionError as exc:
        flash(str(exc), "error")
        return _back("operator.municipality_list")
    return _shown_once("API-sleutel voor de gemeente", token=token,
                       back=url_for("operator.municipality_list"))


@bp.post("/gemeenten/<int:municipality_id>/scholen")
def municipality_scope(municipality_id):
    try:
        region.set_scope(get_db(), now(), municipality_id=municipality_id,
                         school_ids=_ids("school"), actor=_actor())
    except LookupError:
        abort(404)
    flash("De scholen van de gemeente zijn opgeslagen.")
    return _back("operator.municipality_list")


@bp.post("/gemeenten/<int:municipality_id>/token")
@step_up_required
def municipality_token(municipality_id):
    try:
        token = region.new_api_token(get_db(), now(), municipality_id=municipality_id,
                                     actor=_actor())
    except LookupError:
        abort(404)
    return _shown_once("Nieuwe API-sleutel", token=token, back=url_for("operator.municipality_list"))


@bp.post("/gemeenten/<int:municipality_id>/intrekken")
def municipality_revoke(municipality_id):
    try:
        region.revoke_api_token(get_db(), now(), municipality_id=municipality_id, actor=_actor())
        flash("De API-sleutel is ingetrokken.")
    except LookupError:
        flash("Deze sleutel was al ingetrokken.", "error")
    return _back("operator.municipality_list")


@bp.post("/gemeenten/<int:municipality_id>/ambtenaar")
@step_up_required
def officer_invite(municipality_id):
    try:
        _row, token = region.create_invite(get_db(), now(), role="officer",
                                           display_name=request.form.get("name", ""),
                                           municipality_id=municipality_id, actor=_actor())
    except LookupError:
        abort(404)
    except staff_mod.StaffError as exc:
        flash(str(exc), "error")
        return _back("operator.municipality_list")
    return _shown_once("Uitnodiging voor de leerplichtambtenaar",
                       link=staff_mod.invite_link(cfg().base_url, token),
                       back=url_for("operator.municipality_list"))


@bp.post("/gemeenten/<int:municipality_id>/ambtenaar/<int:staff_id>/uitschakelen")
def officer_deactivate(municipality_id, staff_id):
    try:
        region.deactivate_officer(get_db(), now(), municipality_id=municipality_id,
                                  staff_id=staff_id, actor=_actor())
        flash("Uitgeschakeld. Deze leerplichtambtenaar is op alle apparaten uitgelogd.")
    except LookupError:
        abort(404)
    return _back("operator.municipality_list")


# --- figures ----------------------------------------------------------------------------------

@bp.get("/cijfers")
def figures():
    first, last = stats.default_range(local(now()).date())
    return render_template("operator/figures.html", rows=region.region_figures(get_db(), first, last),
                           month_names=MONTHS)
