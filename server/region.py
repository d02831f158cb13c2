"""The region's people: operators (beheerders) and leerplicht officers, and what the operator sees.

They are rows in `staff` without a school (docs/decisions/0012-region-people-in-staff.md), so
passkeys, sessions, step-up and push work for them unchanged; only who they are and how they are
invited lives here. An officer belongs to one municipality and sends as that municipality, within
its scope. Readiness is computed from what exists (receivers, backups, devices for push) — never
from a signal, and it names no staff member.
"""
from __future__ import annotations

import os

from . import municipalities, onboarding
from . import staff as staff_mod
from .audit import audit
from .clock import iso
from .db import write
from .tokens import digest, new_token

REGION_ROLES = ("operator", "officer")
LABELS = {"operator": "beheerder", "officer": "leerplichtambtenaar"}


def create_invite(db, now, *, role: str, display_name: str, actor: str,
                  municipality_id: int | None = None) -> tuple[dict, str]:
    """A one-time enrolment link (72 h) for an operator, or an officer of one municipality.

    The token is returned once; only its digest is stored, as for staff invites.
    """
    if role not in REGION_ROLES:
        raise staff_mod.StaffError("Kies beheerder of leerplichtambtenaar.")
    if (role == "officer") != (municipality_id is not None):
        raise staff_mod.StaffError("Een leerplichtambtenaar hoort bij precies één gemeente.")
    display_name = staff_mod._clean_name(display_name)
    token = new_token()
    with write(db):
        if municipality_id is not None and municipalities.get(db, municipality_id) is None:
            raise LookupError(municipality_id)
        invite_id = db["invites"].insert({
            "school_id": None, "municipality_id": municipality_id, "token_hash": digest(token),
            "user_handle": os.urandom(32), "staff_id": None, "display_name": display_name,
            "group_name": "", "roles": role, "created_by": actor, "created_at": iso(now),
            "expires_at": iso(now + staff_mod.INVITE_TTL)}).last_pk
        audit(db, now, None, actor, "invite.created", f"invite:{invite_id} roles={role}"
              + (f" municipality:{municipality_id}" if municipality_id else ""))
    return staff_mod.get_invite(db, invite_id), token


def officers(db, municipality_id: int) -> list[dict]:
    """The officers of a municipality, for the operator (names of region people, not school staff)."""
    return list(db.query(
        "SELECT s.id, s.display_name, s.active FROM staff s JOIN staff_roles r"
        " ON r.staff_id = s.id AND r.role = 'officer' WHERE s.municipality_id = ?"
        " ORDER BY s.display_name COLLATE NOCASE", (municipality_id,)))


def readiness(db, now) -> list[dict]:
    """Per school: can it receive a signal today, and how far is its preparation? Counts only —
    the operator sees no staff names.

    The rules are `onboarding.readiness` (one home, shared with the director's checklist):
    `receiver` counts active receivers (with a working passkey) and `receiver_invited` open
    invites for one; the same for `backup` and `director`; `devices` the receivers and backups
    with a push device; `checklist_done` / `checklist_total` the director's checklist.
    """
    rows = list(db.query("SELECT id, brin, name, type, place FROM schools"
                         " ORDER BY name COLLATE NOCASE"))
    for row in rows:
        ready = onboarding.readiness(db, row["id"], now)
        for role, key in (("receiver", "receivers"), ("backup", "backups"),
                          ("director", "directors")):
            row[role] = ready[key]["active"]
            row[role + "_invited"] = ready[key]["invited"]
        row["devices"] = ready["push"]["with_device"]
        row["checklist_done"], row["checklist_total"] = ready["done"], ready["total"]
        row["ready"] = bool(ready["has_receiver"] and ready["has_backup"] and row["devices"])
    return rows


# --- the operator's changes (Dutch errors: they are shown on /beheer/) ----------------------

def _in_use(db, school_id: int) -> bool:
    """A school with staff, invites or signals: its identity (BRIN, type) is fixed."""
    return any(db.conn.execute(sql, (school_id,)).fetchone() for sql in (
        "SELECT 1 FROM staff WHERE school_id = ? LIMIT 1",
        "SELECT 1 FROM invites WHERE school_id = ? LIMIT 1",
        "SELECT 1 FROM signals WHERE school_id = ? LIMIT 1"))


def invite_first_director(db, now, *, school_id: int, name: str, actor: str) -> tuple[dict, str]:
    """The one invite an operator makes for school staff: the school's FIRST director.

    Refused once the school has an active director or an open director invite: from then on
    the school's own directors decide who gets in. Otherwise an operator could make themselves
    a director of a running school, invite a receiver and read a child's name.
    """
    with write(db):
        active = db.conn.execute(
            "SELECT 1 FROM staff s JOIN staff_roles r ON r.staff_id = s.id AND r.role = 'director'"
            " WHERE s.school_id = ? AND s.active = 1 LIMIT 1", (school_id,)).fetchone()
        pending = db.conn.execute(
            "SELECT 1 FROM invites WHERE school_id = ? AND used_at IS NULL AND withdrawn_at IS NULL"
            " AND expires_at > ? AND (',' || roles || ',') LIKE '%,director,%' LIMIT 1",
            (school_id, iso(now))).fetchone()
        if active or pending:
            raise RegionError("Deze school heeft al een directeur of een openstaande uitnodiging "
                              "voor een directeur. Een nieuwe directeur nodigt de school zelf uit.")
        return staff_mod.create_invite(db, now, school_id=school_id, display_name=name,
                                       roles=("director",), actor=actor)

class RegionError(ValueError):
    """Refused operator input; the message is Dutch and holds no submitted value."""


def save_school(db, now, *, brin: str, name: str, type: str, place: str, actor: str,
                school_id: int | None = None) -> dict:
    """Add a school, or edit one (BRIN, name, PO/VO, place). Onboarding data only."""
    from . import schools
    from .intake import BRIN_RE

    brin, name, place = (brin or "").strip().upper(), " ".join((name or "").split()), \
        " ".join((place or "").split())
    if not BRIN_RE.match(brin):
        raise RegionError("De BRIN-code is 2 cijfers en 2 hoofdletters of cijfers, bijvoorbeeld 12AB.")
    if not 1 <= len(name) <= 200:
        raise RegionError("Vul de naam van de school in (hoogstens 200 tekens).")
    if type not in ("po", "vo"):
        raise RegionError("Kies PO of VO.")
    if len(place) > 100:
        raise RegionError("De plaats mag hoogstens 100 tekens zijn.")
    with write(db):
        other = schools.by_brin(db, brin)
        if other and other["id"] != school_id:
            raise RegionError("Er is al een school met deze BRIN-code.")
        if school_id is None:
            school_id = db["schools"].insert({"brin": brin, "name": name, "type": type,
                                              "place": place, "created_at": iso(now)}).last_pk
            audit(db, now, school_id, actor, "school.added", f"school:{school_id}")
        else:
            current = schools.get(db, school_id)
            if current is None:
                raise LookupError(school_id)
            if (brin, type) != (current["brin"], current["type"]) and _in_use(db, school_id):
                # Signals find a school by its BRIN: changing it (or swapping two schools'
                # codes) on a school in use would send children's names to another school.
                raise RegionError("De BRIN-code en de soort school kunnen niet meer veranderen "
                                  "zodra de school medewerkers of signalen heeft. Klopt de code "
                                  "niet, voeg dan een nieuwe school toe.")
            cur = db.conn.execute("UPDATE schools SET brin = ?, name = ?, type = ?, place = ?"
                                  " WHERE id = ?", (brin, name, type, place, school_id))
            if cur.rowcount != 1:
                raise LookupError(school_id)
            audit(db, now, school_id, actor, "school.edited", f"school:{school_id}")
    return schools.get(db, school_id)


def add_municipality(db, now, *, name: str, school_ids: list[int], actor: str) -> tuple[dict, str]:
    """A municipality with its scope; returns (row, API token shown once)."""
    name = " ".join((name or "").split())
    if not 1 <= len(name) <= 200:
        raise RegionError("Vul de naam van de gemeente in (hoogstens 200 tekens).")
    if any(m["name"].casefold() == name.casefold() for m in municipalities.all_municipalities(db)):
        raise RegionError("Deze gemeente bestaat al.")
    from . import schools
    brins = [s["brin"] for s in schools.all_schools(db) if s["id"] in set(school_ids)]
    if not brins:
        raise RegionError("Kies minstens één school waar de gemeente naar mag sturen.")
    row, token = municipalities.add(db, now, name=name, brins=brins)
    with write(db):
        audit(db, now, None, actor, "municipality.added", f"municipality:{row['id']}")
    return row, token


def set_scope(db, now, *, municipality_id: int, school_ids: list[int], actor: str) -> None:
    """Which schools a municipality (its token and its officers) may send to."""
    with write(db):
        if municipalities.get(db, municipality_id) is None:
            raise LookupError(municipality_id)
        known = {r[0] for r in db.conn.execute("SELECT id FROM schools")}
        db.conn.execute("DELETE FROM municipality_schools WHERE municipality_id = ?",
                        (municipality_id,))
        for sid in sorted(set(school_ids) & known):
            db.conn.execute("INSERT INTO municipality_schools (municipality_id, school_id)"
                            " VALUES (?, ?)", (municipality_id, sid))
        audit(db, now, None, actor, "municipality.scope",
              f"municipality:{municipality_id} schools={len(set(school_ids) & known)}")


def new_api_token(db, now, *, municipality_id: int, actor: str) -> str:
    """Replace a municipality's API token (the old one stops at once); shown once."""
    token = new_token(municipalities.TOKEN_PREFIX)
    with write(db):
        cur = db.conn.execute("UPDATE municipalities SET token_hash = ?, revoked_at = NULL"
                              " WHERE id = ?", (digest(token), municipality_id))
        if cur.rowcount != 1:
            raise LookupError(municipality_id)
        audit(db, now, None, actor, "municipality.token", f"municipality:{municipality_id}")
    return token


def revoke_api_token(db, now, *, municipality_id: int, actor: str) -> None:
    """Stop the API token (the officers keep their portal: they log in with passkeys)."""
    with write(db):
        cur = db.conn.execute("UPDATE municipalities SET revoked_at = ? WHERE id = ?"
                              " AND revoked_at IS NULL", (iso(now), municipality_id))
        if cur.rowcount != 1:
            raise LookupError(municipality_id)
        audit(db, now, None, actor, "municipality.revoked", f"municipality:{municipality_id}")


def region_figures(db, first: str, last: str) -> list[dict]:
    """The region's anonymous monthly counts: all schools added up, then small cells suppressed
    (stats.MIN_CELL), as for anything that leaves a school. No minutes: medians do not add up."""
    from . import stats

    months = stats.month_range(first, last)
    totals = {m: dict.fromkeys(stats.COUNT_METRICS, 0) for m in months}
    for (sid,) in db.conn.execute("SELECT id FROM schools").fetchall():
        for row in stats.monthly_rows(db, sid, first, last):
            for key in stats.COUNT_METRICS:
                totals[row["month"]][key] += row[key]
    return [{"month": m, **{k: (v if v >= stats.MIN_CELL else stats.SMALL)
                            for k, v in totals[m].items()}} for m in months]


def deactivate_officer(db, now, *, municipality_id: int, staff_id: int, actor: str) -> None:
    """An officer who leaves (or lost their phone) is switched off at once: logged out
    everywhere, their devices no longer pushed, open invites for them withdrawn."""
    with write(db):
        cur = db.conn.execute(
            "UPDATE staff SET active = 0 WHERE id = ? AND municipality_id = ? AND active = 1 AND"
            " EXISTS (SELECT 1 FROM staff_roles WHERE staff_id = staff.id AND role = 'officer')",
            (staff_id, municipality_id))
        if cur.rowcount != 1:
            raise LookupError(staff_id)
        staff_mod.end_sessions(db, staff_id)
        db.conn.execute("DELETE FROM push_subscriptions WHERE staff_id = ?", (staff_id,))
        db.conn.execute("UPDATE invites SET withdrawn_at = ? WHERE staff_id = ? AND used_at IS NULL"
                        " AND withdrawn_at IS NULL", (iso(now), staff_id))
        audit(db, now, None, actor, "staff.deactivated",
              f"staff:{staff_id} municipality:{municipality_id}")
