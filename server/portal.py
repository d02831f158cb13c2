"""The leerplicht portal's rules: what an officer fills in, checks, sends and sees afterwards.

Flask-free. Sending goes through `submissions.submit` — the same intake as the API (validation,
scope, idempotency) — so the portal is a second door, not a second intake. Nothing here stores a
child's name: the check step carries the form data in the page itself (a hidden field on a
no-store page), never in the session store or a table, and after sending only the reference and
the receipt remain. Errors are Dutch and never repeat a submitted value.
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import date, datetime

from . import dutch, intake, municipalities, receipts, signals, submissions
from .clock import local
from .csvin import iso_birth_date

MAX_UPLOAD_ROWS = 50  # per form or upload; also caps the rows one send route accepts

DATE_HELP = "Schrijf de geboortedatum als dd-mm-jjjj, bijvoorbeeld 31-01-2017."
_FIELD_TEXT = {
    "school": "Kies een school uit de lijst van uw gemeente.",
    "reference": "Het kenmerk mag 1 tot 64 tekens zijn: letters, cijfers, punt, _ en -.",
    "child.name": "Vul de naam in zoals in de melding: alleen letters, spaties, koppeltekens, "
                  "apostroffen en punten.",
    "child.birth_date": DATE_HELP,
}


def dutch_problems(details: list[dict]) -> list[str]:
    """intake.Invalid details in plain Dutch (one line per field, no submitted value)."""
    out = []
    for item in details:
        name, message = item.get("field", ""), item.get("message", "")
        if name == "child.birth_date" and "age" in message:
            text = (f"De geboortedatum geeft een leeftijd buiten {intake.MIN_AGE}–"
                    f"{intake.MAX_AGE} jaar.")
        elif name == "reference" and "name or birth date" in message:
            text = ("Het kenmerk mag de naam of de geboortedatum van het kind niet bevatten: het "
                    "blijft bewaard nadat het signaal weg is.")
        elif name == "child.name" and ("required" in message or "empty" in message):
            text = "Vul de naam van het kind in."
        else:
            text = _FIELD_TEXT.get(name, "Dit veld wordt niet geaccepteerd.")
        if text not in out:
            out.append(text)
    return out


def new_reference(now: datetime) -> str:
    """A reference for an officer who leaves it empty: date and randomness, never the name."""
    return f"HWC-{local(now):%Y%m%d}-{secrets.token_hex(4).upper()}"


@dataclass
class Child:
    """One row of the form (or the upload): what the officer typed, and what the check found."""
    school: str
    name: str = field(repr=False)
    birth_date: str = field(repr=False)   # as typed
    reference: str
    iso_date: str | None = field(default=None, repr=False)
    problems: list[str] = field(default_factory=list)
    school_row: dict | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def payload(self) -> dict:
        return {"school": self.school, "reference": self.reference,
                "child": {"name": self.name, "birth_date": self.iso_date or self.birth_date}}


def schools_in_scope(db, municipality_id: int) -> list[dict]:
    """The schools this municipality may send to — the only ones the portal offers."""
    ids = municipalities.school_ids(db, municipality_id)
    rows = list(db.query("SELECT id, brin, name, type, place FROM schools ORDER BY name COLLATE NOCASE"))
    return [r for r in rows if r["id"] in ids]


def rows_from_form(schools_: list, names: list, dates: list, refs: list) -> list[Child]:
    """The filled-in rows of a form with repeated fields; a row left wholly empty is skipped."""
    out = []
    n = max(len(schools_), len(names), len(dates), len(refs), 0)
    for i in range(min(n, MAX_UPLOAD_ROWS)):
        get = lambda seq: (seq[i] if i < len(seq) else "") or ""  # noqa: E731
        name, birth, ref = " ".join(get(names).split()), get(dates).strip(), get(refs).strip()
        if not (name or birth or ref):
            continue
        out.append(Child(school=get(schools_).strip().upper(), name=name, birth_date=birth,
                         reference=ref))
    return out


def reference_for(form_id: str, row: int, now: datetime, attempt: int = 0) -> str:
    """The reference of a row the officer left empty: fixed by the form it was typed in (a
    random id made when the form was opened) and the row — so submitting the same form again
    (Back, reload) gives the same reference and the send stays an idempotent retry, not a
    second signal. Never derived from the child."""
    seed = hashlib.sha256(f"{form_id}|{row}|{attempt}".encode()).hexdigest()[:8].upper()
    return f"HWC-{local(now):%Y%m%d}-{seed}"


def check(db, now: datetime, municipality_id: int, children: list[Child],
          form_id: str = "") -> list[Child]:
    """Fill in problems (Dutch), the ISO date, the school and a generated reference; no writes."""
    scope = {s["brin"]: s for s in schools_in_scope(db, municipality_id)}
    seen = set()
    for index, child in enumerate(children):
        child.problems = []
        child.school_row = scope.get(child.school)
        child.iso_date = iso_birth_date(child.birth_date)
        if not child.reference:
            make = (lambda n, i=index: reference_for(form_id, i, now, n)) if form_id \
                else (lambda n: new_reference(now))
            for attempt in range(5):  # random letters that happen to spell part of the name
                child.reference = make(attempt)
                if child.iso_date is None or not intake.reveals_child(
                        child.reference, child.name, date.fromisoformat(child.iso_date)):
                    break
        payload = child.payload()
        if child.iso_date is None:
            payload["child"]["birth_date"] = "x"
        try:
            intake.validate(payload, local(now).date())
        except intake.Invalid as exc:
            child.problems = dutch_problems(exc.details)
        if child.school_row is None and _FIELD_TEXT["school"] not in child.problems:
            child.problems.insert(0, _FIELD_TEXT["school"])
        if child.reference in seen:
            child.problems.append("Dit kenmerk staat al op een andere regel.")
        seen.add(child.reference)
    return children


def check_upload(db, now: datetime, municipality_id: int,
                 lines: list[tuple[int, dict | None]]) -> tuple[list[Child], list[tuple[int, list[str]]]]:
    """The rows of an uploaded CSV, checked like the form: (valid children, [(line, problems)]).
    A refused row keeps only its line number and the Dutch problems — none of its values."""
    good, refused = [], []
    candidates = []
    for line, values in lines[:MAX_UPLOAD_ROWS]:
        if values is None:
            refused.append((line, ["Deze regel heeft niet precies vier kolommen."]))
            continue
        candidates.append((line, Child(school=values["school"].upper(), name=" ".join(values["name"].split()),
                                       birth_date=values["birth_date"], reference=values["reference"])))
    check(db, now, municipality_id, [c for _line, c in candidates])
    for line, child in candidates:
        (good.append(child) if child.ok else refused.append((line, child.problems)))
    if len(lines) > MAX_UPLOAD_ROWS:
        refused.append((lines[MAX_UPLOAD_ROWS][0], [f"Meer dan {MAX_UPLOAD_ROWS} regels: de rest is "
                                                    "niet gelezen. Verstuur die in een tweede bestand."]))
    return good, refused


@dataclass
class Sent:
    reference: str
    school: str
    ok: bool
    message: str


def send(db, now: datetime, municipality_id: int, children: list[Child], deadlines) -> list[Sent]:
    """Send each checked child through the one intake; a refused row stores nothing."""
    out = []
    for child in children:
        school = child.school_row["name"] if child.school_row else child.school
        if not child.ok:
            out.append(Sent(child.reference, school, False, " ".join(child.problems)))
            continue
        try:
            _row, created = submissions.submit(db, now, municipality_id=municipality_id,
                                               payload=child.payload(), deadlines=deadlines)
        except intake.Invalid as exc:
            out.append(Sent(child.reference, school, False, " ".join(dutch_problems(exc.details))))
        except submissions.OutOfScope:
            out.append(Sent(child.reference, school, False, _FIELD_TEXT["school"]))
        except signals.ReferenceConflict:
            out.append(Sent(child.reference, school, False,
                            "Dit kenmerk is al gebruikt voor een ander signaal. Kies een ander kenmerk."))
        else:
            out.append(Sent(child.reference, school, True,
                            "Verstuurd." if created else "Was al verstuurd (niet opnieuw)."))
    return out


# --- receipts ---------------------------------------------------------------------------------

STATUS_NL = {
    "received": "ontvangen",
    "notified": "gemeld op telefoon",
    "opened": "geopend",
    "teacher_informed": "leerkracht geïnformeerd",
    "returned": "teruggestuurd — niet onze leerling",
    "expired": "verlopen",
    "closed": "afgerond",
}
ACTION = ("returned", "expired")


def receipt_rows(db, now: datetime, municipality_id: int) -> list[dict]:
    """The municipality's own receipts, returned and expired first (they need action), then
    newest first. Reference, school, status and times only — never a name or birth date."""
    rows = list(db.query(
        "SELECT s.*, sc.name AS school_name, sc.receipt_contact FROM signals s"
        " JOIN schools sc ON sc.id = s.school_id WHERE s.municipality_id = ?",
        (municipality_id,)))
    out = []
    for row in rows:
        status = receipts.public_status(row)
        if status == "received" and row["notified_at"]:
            status = "notified"
        out.append({
            "reference": row["reference"], "school": row["school_name"],
            "contact": row["receipt_contact"], "status": status,
            "status_nl": STATUS_NL.get(status, status), "action": status in ACTION,
            "received": dutch.when(row["received_at"], now),
            "changed": dutch.when(row["updated_at"], now),
            "sort": row["received_at"],
        })
    out.sort(key=lambda r: r["sort"], reverse=True)
    out.sort(key=lambda r: not r["action"])
    return out
