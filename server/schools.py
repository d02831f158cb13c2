"""Schools and their calendar: the BRIN, the name and the type (PO primary, VO secondary) decide
the flow; the start time, escalation time, quiet hours and holidays decide every deadline and
push. The director changes the calendar here; `escalation.py` and `schooltime.py` compute with it.
"""
from __future__ import annotations

import re
from datetime import date, datetime

from .audit import audit
from .clock import iso
from .db import write
from .intake import BRIN_RE

HHMM_RE = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")  # fullmatch only


class SchoolError(ValueError):
    """Refused school data; the message is safe to show (Dutch for the director's forms)."""


def add(db, now: datetime, *, brin: str, name: str, type: str = "po") -> dict:
    brin = brin.strip().upper()
    if not BRIN_RE.fullmatch(brin):
        raise SchoolError("BRIN must be 2 digits followed by 2 capital letters or digits")
    if not name.strip() or len(name) > 200:
        raise SchoolError("school name must be 1-200 characters")
    if type not in ("po", "vo"):
        raise SchoolError("type must be po or vo")
    with write(db):
        if by_brin(db, brin):
            raise SchoolError(f"school {brin} already exists")
        db["schools"].insert({"brin": brin, "name": name.strip(), "type": type,
                              "created_at": iso(now)})
    return by_brin(db, brin)


def by_brin(db, brin: str) -> dict | None:
    rows = list(db.query("SELECT * FROM schools WHERE brin = ?", (brin,)))
    return rows[0] if rows else None


def get(db, school_id: int) -> dict | None:
    rows = list(db.query("SELECT * FROM schools WHERE id = ?", (school_id,)))
    return rows[0] if rows else None


def all_schools(db) -> list[dict]:
    return list(db.query("SELECT * FROM schools ORDER BY brin"))


def holidays(db, school_id: int) -> list[tuple[str, str]]:
    """The school's holidays as (first_day, last_day) ISO dates, what the time rules take."""
    return [(r["first_day"], r["last_day"]) for r in db.query(
        "SELECT first_day, last_day FROM holidays WHERE school_id = ?", (school_id,))]


def calendar(db, school_id: int) -> tuple[dict, list[tuple[str, str]]]:
    """The school row (its times) and its holidays: everything a deadline or push time needs."""
    return get(db, school_id), holidays(db, school_id)


class Calendars:
    """A per-run cache of `calendar()`, for the sweep that looks at many signals at once."""

    def __init__(self, db):
        self.db, self._cache = db, {}

    def __call__(self, school_id: int):
        if school_id not in self._cache:
            self._cache[school_id] = calendar(self.db, school_id)
        return self._cache[school_id]


SETTING_FIELDS = ("type", "start_time", "escalation_time", "escalation_delay_minutes",
                  "quiet_start", "quiet_end", "receipt_contact", "talk_until")
#: Until when a VO hand-over copy may wait for the talk with the pupil (`casework.talk_first`).
TALK_BOUNDS = ("12:00", "18:00")


def update_settings(db, now, *, school_id: int, values: dict, actor: str) -> list[str]:
    """Validate all fields first, then store them in one go; returns the names that changed."""
    clean: dict = {}
    if values.get("type") not in ("po", "vo"):
        raise SchoolError("Kies het schooltype: PO of VO.")
    clean["type"] = values["type"]
    for name, label in (("start_time", "Begintijd school"), ("escalation_time", "Escalatietijd"),
                        ("quiet_start", "Begin rusttijd"), ("quiet_end", "Einde rusttijd")):
        text = (values.get(name) or "").strip()
        if not HHMM_RE.fullmatch(text):
            raise SchoolError(f"{label}: vul een tijd in als 08:30.")
        clean[name] = text
    try:
        delay = int(str(values.get("escalation_delay_minutes", "")).strip())
    except ValueError:
        raise SchoolError("Escalatie overdag: vul een aantal minuten in.") from None
    if not 5 <= delay <= 240:
        raise SchoolError("Escalatie overdag: kies tussen 5 en 240 minuten.")
    clean["escalation_delay_minutes"] = delay
    contact = (values.get("receipt_contact") or "").strip()
    if len(contact) > 500:
        raise SchoolError("Contact voor de gemeente mag hoogstens 500 tekens zijn.")
    clean["receipt_contact"] = contact
    talk = (values.get("talk_until") or "").strip()
    if talk:  # optional in the form: left out, it keeps its value
        if not HHMM_RE.match(talk) or not TALK_BOUNDS[0] <= talk <= TALK_BOUNDS[1]:
            raise SchoolError("Gesprek met de leerling: kies een tijd tussen 12:00 en 18:00.")
        clean["talk_until"] = talk
    if clean["escalation_time"] > clean["start_time"]:
        raise SchoolError("De escalatietijd moet vóór of op de begintijd van de school liggen.")
    with write(db):
        rows = list(db.query("SELECT * FROM schools WHERE id = ?", (school_id,)))
        if not rows:
            raise LookupError(school_id)
        changed = [k for k in SETTING_FIELDS if k in clean and rows[0][k] != clean[k]]
        if changed:
            db["schools"].update(school_id, clean)
            audit(db, now, school_id, actor, "settings.changed", "fields=" + ",".join(changed))
    return changed


def holiday_rows(db, school_id: int) -> list[dict]:
    """The director's list of holidays, with ids and labels."""
    return list(db.query("SELECT * FROM holidays WHERE school_id = ? ORDER BY first_day", (school_id,)))


def add_holiday(db, now, *, school_id: int, first_day: str, last_day: str, label: str,
                actor: str) -> int:
    try:
        first, last = date.fromisoformat(first_day.strip()), date.fromisoformat(last_day.strip())
    except (ValueError, AttributeError):
        raise SchoolError("Vul twee geldige datums in.") from None
    if last < first:
        raise SchoolError("De laatste dag ligt vóór de eerste dag.")
    if (last - first).days > 366:
        raise SchoolError("Een vakantie duurt hoogstens een jaar.")
    label = " ".join((label or "").split())[:60]
    with write(db):
        hid = db["holidays"].insert({"school_id": school_id, "first_day": first.isoformat(),
                                     "last_day": last.isoformat(), "label": label}).last_pk
        audit(db, now, school_id, actor, "holiday.added",
              f"holiday:{hid} {first.isoformat()}..{last.isoformat()}")
    return hid


def remove_holiday(db, now, *, school_id: int, holiday_id: int, actor: str) -> None:
    with write(db):
        cur = db.conn.execute("DELETE FROM holidays WHERE id = ? AND school_id = ?",
                              (holiday_id, school_id))
        if cur.rowcount != 1:
            raise LookupError(holiday_id)
        audit(db, now, school_id, actor, "holiday.removed", f"holiday:{holiday_id}")
