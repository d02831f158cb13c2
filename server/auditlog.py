"""The director's log in plain Dutch sentences, and the signal events that belong in it.

Issue 12: "invite.created invite:9 roles=teacher" is no log for a director. Each stored line
(`audit.audit`: actor, action code, ids) becomes one sentence with names of staff - never a
child: a signal is only ever named by the moment it was received. Signal events (who opened,
assigned, read, told, returned, closed) are kept as long as receipts are
(`receipt_purge_days`), then purged by the sweep. No Flask here.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta

from . import onboarding
from . import staff as staff_mod
from .audit import audit
from .clock import iso, local, parse
from .db import write
from .dutch import day_month, short_moment

ROLE_NL = {"director": "directeur", "receiver": "ontvanger", "backup": "achterwacht",
           "teacher": "leerkracht/mentor"}
FIELD_NL = {"type": "soort school", "start_time": "begintijd", "escalation_time":
            "tijd achterwacht", "escalation_delay_minutes": "achterwacht overdag", "quiet_start":
            "geen meldingen vanaf", "quiet_end": "weer meldingen vanaf", "receipt_contact":
            "contact voor de gemeente", "talk_until": "gesprek met de leerling tot"}

SIGNAL_ACTIONS = ("signal.opened", "signal.assigned", "signal.read", "signal.told",
                  "signal.returned", "signal.closed", "signal.talk")

_TEMPLATES = {
    "signal.opened": "{who} opende een signaal{sig}",
    "signal.talk": "{who} spreekt eerst de leerling over een signaal{sig}",
    "signal.assigned": "{who} stuurde het bericht over een signaal{sig} naar {staff}",
    "signal.read": "{who} las het bericht over een signaal{sig}",
    "signal.told": "{who} vertelde het de leerkracht zelf, over een signaal{sig}",
    "signal.returned": "{who} stuurde een signaal{sig} terug naar de gemeente (niet onze leerling)",
    "signal.closed": "{who} sloot een signaal{sig} af",
    "settings.changed": "{who} veranderde de instellingen ({fields})",
    "holiday.added": "{who} voegde een vakantie toe",
    "holiday.removed": "{who} verwijderde een vakantie",
    "staff.roles": "{who} gaf {staff} de rollen: {roles}",
    "staff.details": "{who} veranderde naam of groep van {staff}",
    "staff.deactivated": "{who} schakelde {staff} uit",
    "staff.reactivated": "{who} schakelde {staff} weer in",
    "staff.deleted": "{who} wiste de gegevens van een collega",
    "staff.away_set": "{who} zette een afwezigheid",
    "staff.away_cleared": "{who} is weer aanwezig",
    "invite.created": "{who} nodigde iemand uit als {roles}",
    "invite.withdrawn": "{who} trok een uitnodiging in",
    "invite.used": "{who} nam de uitnodiging aan",
    "passkey.added": "{who} voegde een passkey toe",
    "passkey.revoked": "{who} trok een passkey van {staff} in",
    "onboarding.ticked": "{who} vinkte „{item}” af op de lijst Aan de slag",
    "onboarding.unticked": "{who} haalde het vinkje bij „{item}” weg op de lijst Aan de slag",
}






def signal_event(db, now: datetime, school_id: int, staff_id: int, action: str,
                 received_at: str, other_staff_id: int | None = None) -> None:
    """One line about a signal: who, what, and when the signal was received - nothing else."""
    if action not in SIGNAL_ACTIONS:
        raise ValueError("unknown signal action")
    detail = f"received={received_at}" + (f" staff:{other_staff_id}" if other_staff_id else "")
    with write(db):
        audit(db, now, school_id, f"staff:{staff_id}", action, detail)


def purge_signal_events(db, now: datetime, keep: timedelta) -> int:
    """Signal lines live as long as receipts do."""
    cutoff = iso(now - keep)
    marks = ",".join("?" * len(SIGNAL_ACTIONS))
    if db.conn.execute(f"SELECT 1 FROM audit_events WHERE action IN ({marks}) AND at < ?"
                       " LIMIT 1", (*SIGNAL_ACTIONS, cutoff)).fetchone() is None:
        return 0
    with write(db):
        return db.conn.execute(f"DELETE FROM audit_events WHERE action IN ({marks}) AND at < ?",
                               (*SIGNAL_ACTIONS, cutoff)).rowcount


def _name(db, ref: str | None, names: dict) -> str:
    if not ref or not ref.startswith("staff:"):
        return "Iemand" if not ref else ref
    try:
        staff_id = int(ref.split(":", 1)[1])
    except ValueError:
        return "Iemand"
    if staff_id not in names:
        names[staff_id] = staff_mod.display_name(db, staff_id) or "een oud-collega"
    return names[staff_id]


def _checklist_label(key: str) -> str:
    """The Dutch label of an onboarding checklist item ('Team geïnformeerd'), else the key."""
    for item in onboarding.items("po"):
        if item.key == key:
            return item.label
    return key


def sentence(db, event: dict, names: dict) -> str:
    detail = event["detail"] or ""
    found = dict(re.findall(r"(\w+)=(\S+)", detail))
    staff_refs = re.findall(r"staff:\d+", detail)
    who = _name(db, event["actor"], names)
    other = _name(db, staff_refs[-1], names) if staff_refs else "een collega"
    roles = ", ".join(ROLE_NL.get(r, r) for r in filter(None, found.get("roles", "").split(",")))
    fields = ", ".join(FIELD_NL.get(f, f) for f in filter(None, found.get("fields", "").split(",")))
    sig = f" (ontvangen {short_moment(found['received'])})" if "received" in found else ""
    item = _checklist_label(found.get("item", ""))
    template = _TEMPLATES.get(event["action"], "{who}: een wijziging")
    text = template.format(who=who, staff=other, roles=roles or "geen", fields=fields, sig=sig,
                           item=item)
    return f"{text} om {local(parse(event['at'])).strftime('%H:%M')}"


def lines(db, school_id: int, limit: int = 100) -> list[dict]:
    """The newest lines of a school's log: a Dutch day and one sentence each."""
    names: dict = {}
    rows = db.query("SELECT * FROM audit_events WHERE school_id = ? ORDER BY id DESC LIMIT ?",
                    (school_id, limit))
    return [{"day": day_month(r["at"]), "text": sentence(db, r, names)} for r in rows]
