"""Validation of a signal as the municipality sends it. Pure; shared by the API and the send tool.

The rule is *minimal data*: exactly school, reference, and the child's name and birth date.
Anything else is refused, naming the field, and nothing refused is kept. Error messages never
repeat a submitted value: they may end up in a log on either side.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date

# Use these with `fullmatch`, never `match`: with `match` and `$`, "REF-1\n" passed as a reference
# of its own (`$` also matches before a final newline), so one child could be sent twice.
BRIN_RE = re.compile(r"[0-9]{2}[A-Z0-9]{2}")
REFERENCE_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")
TOP_FIELDS = ("school", "reference", "child")
CHILD_FIELDS = ("name", "birth_date")
MIN_AGE, MAX_AGE = 3, 21
NAME_MAX = 200
# Letters (any script's letters and their combining marks), spaces, hyphens, apostrophes, and a
# dot for initials. Digits, symbols, control and format characters (RTL overrides) are refused.
_NAME_PUNCT = set(" -'’.")
# Letters and marks that show nothing: Unicode's default-ignorable code points (hangul fillers
# U+115F, U+1160, U+3164, U+FFA0, the combining grapheme joiner U+034F, variation selectors, …).
# A name made of them looks empty, and one that contains them looks like another child's name.
_INVISIBLE = ((0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160),
              (0x17B4, 0x17B5), (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E),
              (0x2060, 0x206F), (0x3164, 0x3164), (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF),
              (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A),
              (0xE0000, 0xE0FFF))
#: Real names need at most a few combining marks on one letter (Vietnamese takes two); more is
#: "zalgo" text that hides or overdraws the letters around it.
MAX_MARKS_PER_LETTER = 3


def _invisible(ch: str) -> bool:
    code = ord(ch)
    return any(low <= code <= high for low, high in _INVISIBLE)


@dataclass(frozen=True)
class Signal:
    school: str
    reference: str
    name: str = field(repr=False)  # never in a traceback or debugger dump
    birth_date: date = field(repr=False)


class Invalid(ValueError):
    """Validation failed; `details` is a list of {field, message} without submitted values."""

    def __init__(self, details: list[dict]):
        super().__init__("invalid signal")
        self.details = details


def _name_problem(name: object) -> str | None:
    if not isinstance(name, str):
        return "must be a string"
    if not name.strip():
        return "must not be empty"
    if len(name) > NAME_MAX:
        return f"must be at most {NAME_MAX} characters"
    if name != name.strip() or "  " in name:
        return "must not start or end with spaces or contain double spaces"
    marks = MAX_MARKS_PER_LETTER  # a mark before any letter is refused
    for ch in unicodedata.normalize("NFC", name):
        cat = unicodedata.category(ch)
        if _invisible(ch):
            return "must not contain invisible characters"
        if cat[0] == "M":
            marks += 1
            if marks > MAX_MARKS_PER_LETTER:
                return (f"may have at most {MAX_MARKS_PER_LETTER} accents on a letter, "
                        "and an accent only on a letter")
            continue
        if cat[0] == "L" or ch in _NAME_PUNCT:
            marks = 0 if cat[0] == "L" else MAX_MARKS_PER_LETTER
            continue
        return "may contain only letters, spaces, hyphens, apostrophes and dots"
    if not any(unicodedata.category(ch)[0] == "L" for ch in name):
        return "must contain letters"
    return None


def age_on(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def validate(payload: object, today: date) -> Signal:
    """Return a clean Signal or raise Invalid with every problem found."""
    details: list[dict] = []

    def bad(field: str, message: str) -> None:
        details.append({"field": field, "message": message})

    def field_name(key: object) -> str:
        # Name an unknown field only if it looks like a field name, never echo arbitrary text.
        key = str(key)
        return key if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,39}", key) else "(unnamed field)"

    if not isinstance(payload, dict):
        raise Invalid([{"field": "", "message": "body must be a JSON object"}])
    for key in payload:
        if key not in TOP_FIELDS:
            bad(field_name(key), "unknown field (only school, reference and child are allowed)")
    school = payload.get("school")
    if "school" not in payload:
        bad("school", "is required")
    elif not isinstance(school, str) or not BRIN_RE.fullmatch(school):
        bad("school", "must be a BRIN code: 2 digits and 2 capital letters or digits")
    reference = payload.get("reference")
    if "reference" not in payload:
        bad("reference", "is required")
    elif not isinstance(reference, str) or not REFERENCE_RE.fullmatch(reference):
        bad("reference", "must be 1-64 characters of A-Z a-z 0-9 . _ -")
    name = birth = None
    if "child" not in payload:
        bad("child", "is required")
    else:
        name, birth = _check_child(payload["child"], today, bad, field_name)
    if not details and reveals_child(reference, name, birth):
        bad("reference", "must not contain the child's name or birth date: the reference "
                         "outlives the signal (in receipts for 30 days)")
    if details:
        raise Invalid(details)
    return Signal(school=school, reference=reference, name=name, birth_date=birth)


def _check_child(child: object, today: date, bad, field_name) -> tuple:
    """The child part's rules (name, birth date, age on `today`), shared by the intake and the
    teacher's one line (`note_line`). Reports through `bad`; returns (name, birth) or Nones."""
    name = birth = None
    if not isinstance(child, dict):
        bad("child", "must be an object with name and birth_date")
    else:
        for key in child:
            if key not in CHILD_FIELDS:
                bad(f"child.{field_name(key)}", "unknown field (only name and birth_date are allowed)")
        if "name" not in child:
            bad("child.name", "is required")
        else:
            problem = _name_problem(child["name"])
            if problem:
                bad("child.name", problem)
            else:
                name = unicodedata.normalize("NFC", child["name"])
        if "birth_date" not in child:
            bad("child.birth_date", "is required")
        else:
            raw = child["birth_date"]
            if not isinstance(raw, str) or not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", raw):
                bad("child.birth_date", "must be a date as YYYY-MM-DD")
            else:
                try:
                    birth = date.fromisoformat(raw)
                except ValueError:
                    bad("child.birth_date", "is not a real date")
                else:
                    if not MIN_AGE <= age_on(birth, today) <= MAX_AGE:
                        bad("child.birth_date",
                            f"gives an age outside {MIN_AGE}-{MAX_AGE} years on the day of receipt")
    return name, birth


def _fold(text: str) -> str:
    """Lower case, accents off, letters and digits only: how a name hides in a reference."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if ch.isalnum() and unicodedata.category(ch)[0] != "M")


def reveals_child(reference: str, name: str, birth: date) -> bool:
    """True when the reference carries a part of the name (3 letters or more) or the birth date
    in a common spelling. The reference is kept after the name is gone — in the receipt, the
    webhook copies and the municipality's own systems — so it must not identify the child."""
    ref = _fold(reference)
    parts = [p for p in (_fold(w) for w in re.split(r"[\s\-'’.]+", name)) if len(p) >= 3]
    if any(p in ref for p in parts):
        return True
    dates = {birth.strftime(f) for f in ("%Y%m%d", "%d%m%Y", "%d%m%y", "%y%m%d")}
    return any(d in ref for d in dates)


def note_line(child: object, received: date) -> tuple[str, date]:
    """The teacher's one line as a receiver's browser sends it when only a phone held the signal
    (ADR 0013): checked by the intake's rules for the child (age on the day of receipt), so
    nothing else rides along. Invalid if not."""
    details: list[dict] = []
    name, birth = _check_child(child, received,
                               lambda f, m: details.append({"field": f, "message": m}),
                               lambda key: "(field)")
    if details:
        raise Invalid(details)
    return name, birth
