"""Onboarding a school: the director's checklist, the school's readiness, and the facts its
documents are built from.

Why a checklist at all: the regional handbook (seed 004, ch. 2) lists what a school must arrange
before the first signal — people who receive it, a backup, the teachers who will be told, the
team informed, the (G)MR's consent, parents and pupils informed, a text on the website. A school
that skips one finds out on the morning a child needs it. So the director's first page shows
what is still open, and the region's operator can see which schools are not ready yet.

Two kinds of item:

- *derived* items (receiver, backup, teachers) follow the staff table. Nobody ticks them: a
  ticked box that says "backup named" after the backup left would be worse than no box.
- *ticked* items (team, (G)MR, parents and pupils, website) are things that happen outside the
  app; the director ticks and unticks them. Who and when is kept in `onboarding_ticks`, and every
  change is an audit event (item key only, never a name).

`readiness(db, school_id, now)` is the summary for the operator (`/beheer/`): counts and
booleans, no staff names, nothing about any signal. `school_facts(db, school_id)` gives the
documents (`server.documents`) the school's own name, times and people; it has no field that
could hold a child.

Nothing here imports Flask; the director's pages are `server/web/onboarding.py`.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from . import access, documents, municipalities, schools
from . import staff as staff_mod
from .audit import audit
from .clock import iso
from .db import write
from .push import subscriptions as push_subscriptions


class UnknownItem(LookupError):
    """Not an item the director can tick (a derived item, or no item at all)."""


@dataclass(frozen=True)
class Item:
    """One line of the checklist: its key, its Dutch label and one line of help, whether it
    follows from the staff table (`derived`), and which school documents help with it."""
    key: str
    label: str
    help: str
    derived: bool = False
    docs: tuple[str, ...] = ()


def items(school_type: str = "po") -> tuple[Item, ...]:
    """The checklist in the handbook's order, in the words of a primary or secondary school."""
    vo = school_type == "vo"
    receiver_job = "zorgcoördinator" if vo else "intern begeleider"
    teachers = "mentoren" if vo else "leerkrachten"
    who_hears = ("Alleen de mentor hoort het, en alleen als de leerling dat goedvindt"
                 if vo else "Alleen de leerkracht van het kind hoort het")
    return (
        Item("receiver", "Ontvanger aangewezen",
             f"Meestal de {receiver_job}: kijkt elke schooldag vóór schooltijd of er een "
             "signaal is, met een passkey op de eigen telefoon.", derived=True),
        Item("backup", "Achterwacht aangewezen",
             "Neemt het over als de ontvanger er niet is of een signaal niet op tijd opent. "
             "Houd de kring klein: het gaat om vertrouwelijke informatie.", derived=True),
        Item("teachers", f"{teachers.capitalize()} uitgenodigd",
             f"{who_hears}, met een kort bericht in de app. Daarvoor is een account nodig.",
             derived=True),
        Item("team_informed", "Team geïnformeerd",
             "Vertel het team wat Handle with Care is, wie de ontvanger is en hoe je een kind "
             "die dag steunt. Het werkproces op één pagina helpt daarbij.",
             docs=("werkproces",)),
        Item("gmr_agreed", "(G)MR heeft ingestemd",
             "De (G)MR stemt in met de werkwijze. Geef de privacysamenvatting en het "
             "werkproces mee.", docs=("privacy", "werkproces")),
        Item("parents_informed", "Ouders en leerlingen geïnformeerd",
             "Stuur de brief aan ouders en verzorgers, en bespreek de brief voor leerlingen in "
             "de klas.", docs=("ouders", "leerlingen")),
        Item("website_text", "Tekst op de website en in de schoolgids",
             "Zet de tekst op de website van de school en neem hem op in de schoolgids.",
             docs=("website",)),
    )


#: The keys the director ticks by hand (the rest follow the staff table).
TICKABLE = tuple(i.key for i in items() if not i.derived)
#: Roles whose people count in readiness (directors too: someone must run the school's pages).
_COUNTED_ROLES = ("receiver", "backup", "teacher", "director")


# --- who is there ---------------------------------------------------------------------------

def _people(db, school_id: int, now: datetime) -> dict:
    """Per role: `active` (an active person with a working passkey: can log in today) and
    `invited` (an open, unexpired invite for someone not counted as active), plus the active
    people themselves for the push count."""
    counts = {role: {"active": 0, "invited": 0} for role in _COUNTED_ROLES}
    can_log_in = set()
    staff_rows = staff_mod.list_staff(db, school_id)
    for person in staff_rows:
        if person["active"] and person["passkey_count"] > 0:
            can_log_in.add(person["id"])
            for role in person["roles"] & set(_COUNTED_ROLES):
                counts[role]["active"] += 1
    for invite in staff_mod.pending_invites(db, school_id, now):
        if invite["staff_id"] in can_log_in:
            continue  # a second passkey for someone who can already log in
        for role in set(filter(None, invite["roles"].split(","))) & set(_COUNTED_ROLES):
            counts[role]["invited"] += 1
    openers = [p for p in staff_rows if p["id"] in can_log_in
               and p["roles"] & {"receiver", "backup"}]
    return {"counts": counts, "openers": openers}


def _ticks(db, school_id: int) -> dict[str, dict]:
    return {r["item"]: r for r in db.query(
        "SELECT item, ticked_by, ticked_at FROM onboarding_ticks WHERE school_id = ?",
        (school_id,))}


def _derived_state(counts: dict) -> tuple[bool, str]:
    """(done, state) of a derived item: done once someone can log in with that role;
    'waiting' while there is only an invite nobody has used yet."""
    if counts["active"]:
        return True, "done"
    return False, "waiting" if counts["invited"] else "todo"


# --- the checklist --------------------------------------------------------------------------

def checklist(db, school_id: int, now: datetime) -> list[dict]:
    """The director's checklist with the state of every item.

    Each entry: `key`, `label`, `help`, `derived`, `docs` (document slugs), `done`, `state`
    ('done', 'waiting' or 'todo'), and for derived items `active`/`invited` counts, for ticked
    ones `ticked_at` and `ticked_by_name` (a colleague's name: for the director's own page only,
    `readiness` leaves it out).
    """
    school = schools.get(db, school_id)
    if school is None:
        raise LookupError(school_id)
    counts = _people(db, school_id, now)["counts"]
    role_of = {"receiver": "receiver", "backup": "backup", "teachers": "teacher"}
    ticks = _ticks(db, school_id)
    out = []
    for item in items(school["type"]):
        entry = {"key": item.key, "label": item.label, "help": item.help,
                 "derived": item.derived, "docs": item.docs}
        if item.derived:
            c = counts[role_of[item.key]]
            entry["done"], entry["state"] = _derived_state(c)
            entry.update(active=c["active"], invited=c["invited"])
        else:
            tick = ticks.get(item.key)
            entry["done"] = tick is not None
            entry["state"] = "done" if tick else "todo"
            entry["ticked_at"] = tick["ticked_at"] if tick else None
            entry["ticked_by_name"] = (staff_mod.display_name(db, tick["ticked_by"])
                                       if tick else None)
        out.append(entry)
    return out


def progress(db, school_id: int, now: datetime) -> dict:
    """How far the school is: `done`, `total`, `complete` (for the card on the director's
    first page, which disappears once everything is done)."""
    entries = checklist(db, school_id, now)
    done = sum(1 for e in entries if e["done"])
    return {"done": done, "total": len(entries), "complete": done == len(entries)}


def tick(db, now: datetime, *, school_id: int, item: str, done: bool, staff_id: int) -> bool:
    """Tick (`done=True`) or untick a hand-ticked item; True when something changed.

    Ticking what is ticked, or unticking what is not, changes nothing and writes no audit line.
    Raises UnknownItem for a derived or unknown item and LookupError when `staff_id` is not a
    person of this school.
    """
    if item not in TICKABLE:
        raise UnknownItem(item)
    with write(db):
        if staff_mod.get(db, staff_id, school_id) is None:
            raise LookupError(staff_id)
        if done:
            changed = db.conn.execute(
                "INSERT INTO onboarding_ticks (school_id, item, ticked_by, ticked_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (school_id, item) DO NOTHING",
                (school_id, item, staff_id, iso(now))).rowcount == 1
        else:
            changed = db.conn.execute(
                "DELETE FROM onboarding_ticks WHERE school_id = ? AND item = ?",
                (school_id, item)).rowcount == 1
        if changed:
            audit(db, now, school_id, f"staff:{staff_id}",
                  "onboarding.ticked" if done else "onboarding.unticked", f"item={item}")
    return changed


# --- for the operator -----------------------------------------------------------------------

def readiness(db, school_id: int, now: datetime) -> dict:
    """Is this school ready to receive signals? For the operator's overview of the region.

    Pass the app's clock time as `now` (`server.web.base.now()`): open invites count only while
    they are valid. Returns plain data without any staff name or signal:

    - `receivers`, `backups`, `teachers`, `directors`: `{"active": n, "invited": n}` — active
      means an active person with a working passkey; invited means an open, unexpired invite;
    - `can_receive`: an active or invited receiver or backup exists (what the municipality API
      requires before it accepts a signal for the school);
    - `has_receiver`, `has_backup`: an *active* receiver / backup (someone reads it tomorrow);
    - `push`: `{"with_device": n, "without_device": n}` over the active receivers and backups
      (someone without a device hears of a signal only by opening the app);
    - `checklist`: `{key: done}` for every item, in order; `done`, `total`, `complete`.
    """
    people = _people(db, school_id, now)
    counts = people["counts"]
    with_device = sum(1 for p in people["openers"] if push_subscriptions.list_for(db, p["id"]))
    entries = checklist(db, school_id, now)
    done = sum(1 for e in entries if e["done"])
    return {
        "school_id": school_id,
        "receivers": dict(counts["receiver"]),
        "backups": dict(counts["backup"]),
        "teachers": dict(counts["teacher"]),
        "directors": dict(counts["director"]),
        "can_receive": access.school_can_receive(db, school_id, now),  # the API's own rule
        "has_receiver": counts["receiver"]["active"] > 0,
        "has_backup": counts["backup"]["active"] > 0,
        "push": {"with_device": with_device,
                 "without_device": len(people["openers"]) - with_device},
        "checklist": {e["key"]: e["done"] for e in entries},
        "done": done,
        "total": len(entries),
        "complete": done == len(entries),
    }


# --- the school's documents -----------------------------------------------------------------

def school_facts(db, school_id: int) -> documents.SchoolFacts:
    """What the school documents say about this school: its name, type, place, times, the
    active receivers, backups and directors by name, and the municipalities that may send.

    Only active people are named: someone invited but not yet enrolled may never start, and a
    letter to parents should name who will actually read the signal. A person who is both
    receiver and backup is named once, as receiver. Municipalities are named by place
    ("Gemeente Tilburg" becomes "Tilburg"), as the letters say "de gemeente Tilburg".
    """
    school = schools.get(db, school_id)
    if school is None:
        raise LookupError(school_id)
    contacts, directors = [], []
    for person in staff_mod.list_staff(db, school_id):
        if not person["active"]:
            continue
        if "receiver" in person["roles"]:
            contacts.append((person["display_name"], "receiver"))
        elif "backup" in person["roles"]:
            contacts.append((person["display_name"], "backup"))
        if "director" in person["roles"]:
            directors.append(person["display_name"])
    return documents.SchoolFacts(
        name=school["name"], type=school["type"], place=school.get("place") or "",
        start_time=school["start_time"], escalation_time=school["escalation_time"],
        receivers=contacts, directors=directors,
        municipalities=[_place_of(m) for m in municipalities.names_for_school(db, school_id)])


def _place_of(municipality: str) -> str:
    """'Gemeente Tilburg' → 'Tilburg': the letters already say "de gemeente …"."""
    words = municipality.split(maxsplit=1)
    if len(words) == 2 and words[0].lower() == "gemeente":
        return words[1]
    return municipality
