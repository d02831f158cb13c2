"""Support tips as data: short Dutch guidance shown at the moment it helps.

Tips live in one JSON file per moment (``<moment>.json``) so they can be reviewed and rewritten by
people who are not programmers. A tip holds a short title, one or two sentences and optional
"more" text; it may be limited to one school type (``school_types``) or override its wording for
one (``"po": {...}`` / ``"vo": {...}``), because in secondary school the mentor is only told
after the pupil agrees. Everything is validated once at load, so a typo in a file stops the app
at start instead of showing a broken tip to a receiver at 07:30.
"""
from __future__ import annotations

import copy
import json
import re
from functools import lru_cache
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: The moments a tip can be shown at, in the order the tips page lists them.
MOMENTS = ("receiver_before", "receiver_after", "teacher")
SCHOOL_TYPES = ("po", "vo")

#: Headings per moment and school type (the tips page and the include use them).
MOMENT_LABELS = {
    "receiver_before": {"po": "Voordat je het signaal opent", "vo": "Voordat je het signaal opent"},
    "receiver_after": {"po": "Nadat je het signaal hebt gelezen",
                       "vo": "Nadat je het signaal hebt gelezen"},
    "teacher": {"po": "Voor de leerkracht", "vo": "Voor de mentor"},
}

_TIP_KEYS = {"id", "title", "text", "more", "school_types", "po", "vo"}
_TEXT_KEYS = {"title", "text", "more"}
_ID = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")  # fullmatch only
_SENTENCE_END = re.compile(r"[.!?][’'”\")]*(?:\s|$)")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# Any run of digits (with separators) long enough to be a phone number.
_PHONE = re.compile(r"(?:\+|\b)\d[\d\s\-().]{6,}\d")
ALLOWED_PHONES = {"0800-2000"}  # Veilig Thuis, a public service number
_URL = re.compile(r"https?://|www\.", re.I)

MAX_TITLE = 60
MAX_TEXT = 260
MAX_MORE = 400


class TipsError(ValueError):
    """A tips file is malformed; the message names the file and the tip."""


def sentence_count(text: str) -> int:
    return len(_SENTENCE_END.findall(text.strip()))


def forbidden_contacts(text: str) -> list[str]:
    """E-mail addresses, phone numbers (other than the allowed service numbers) and URLs."""
    found = _EMAIL.findall(text) + _URL.findall(text)
    found += [m.strip() for m in _PHONE.findall(text) if m.strip() not in ALLOWED_PHONES]
    return found


def _check_text(where: str, key: str, value) -> None:
    if not isinstance(value, str) or not value.strip():
        raise TipsError(f"{where}: '{key}' must be a non-empty string")
    if value != value.strip() or "  " in value:
        raise TipsError(f"{where}: '{key}' has stray spaces")
    limit = {"title": MAX_TITLE, "text": MAX_TEXT, "more": MAX_MORE}[key]
    if len(value) > limit:
        raise TipsError(f"{where}: '{key}' is longer than {limit} characters")
    if key == "title" and value.endswith("."):
        raise TipsError(f"{where}: a title does not end with a full stop")
    if key == "text" and not 1 <= sentence_count(value) <= 2:
        raise TipsError(f"{where}: 'text' must be one or two sentences")
    bad = forbidden_contacts(value)
    if bad:
        raise TipsError(f"{where}: '{key}' contains contact details or links: {bad}")


def _resolve(tip: dict, school_type: str) -> dict:
    out = {k: tip[k] for k in ("id", "title", "text", "more") if k in tip}
    out.update(tip.get(school_type, {}))
    return out


def _validate(moment: str, data) -> dict[str, list[dict]]:
    where = f"tips/{moment}.json"
    if not isinstance(data, dict) or set(data) != {"moment", "tips"}:
        raise TipsError(f"{where}: expected an object with exactly 'moment' and 'tips'")
    if data["moment"] != moment:
        raise TipsError(f"{where}: says moment {data['moment']!r}, file name says {moment!r}")
    tips = data["tips"]
    if not isinstance(tips, list) or not tips:
        raise TipsError(f"{where}: 'tips' must be a non-empty list")
    seen: set[str] = set()
    by_type: dict[str, list[dict]] = {t: [] for t in SCHOOL_TYPES}
    for i, tip in enumerate(tips):
        at = f"{where} tip {i}"
        if not isinstance(tip, dict):
            raise TipsError(f"{at}: must be an object")
        unknown = set(tip) - _TIP_KEYS
        if unknown:
            raise TipsError(f"{at}: unknown field(s) {sorted(unknown)}")
        tid = tip.get("id")
        if not isinstance(tid, str) or not _ID.fullmatch(tid):
            raise TipsError(f"{at}: 'id' must be a lower-case slug")
        at = f"{where} tip {tid!r}"
        if tid in seen:
            raise TipsError(f"{at}: duplicate id")
        seen.add(tid)
        for key in ("title", "text"):
            if key not in tip:
                raise TipsError(f"{at}: '{key}' is required")
        for key in _TEXT_KEYS & set(tip):
            _check_text(at, key, tip[key])
        types = tip.get("school_types", list(SCHOOL_TYPES))
        if (not isinstance(types, list) or not types or len(set(types)) != len(types)
                or not set(types) <= set(SCHOOL_TYPES)):
            raise TipsError(f"{at}: 'school_types' must be a non-empty list of {SCHOOL_TYPES}")
        for st in SCHOOL_TYPES:
            if st not in tip:
                continue
            override = tip[st]
            if not isinstance(override, dict) or not override or not set(override) <= _TEXT_KEYS:
                raise TipsError(f"{at}: '{st}' may only override {sorted(_TEXT_KEYS)}")
            if st not in types:
                raise TipsError(f"{at}: override for {st!r} but the tip is not shown there")
            for key, value in override.items():
                _check_text(f"{at} ({st})", key, value)
        for st in types:
            by_type[st].append(_resolve(tip, st))
    for st, resolved in by_type.items():
        if not resolved:
            raise TipsError(f"{where}: no tips for school type {st!r}")
    return by_type


@lru_cache(maxsize=None)
def _load_all() -> dict[str, dict[str, list[dict]]]:
    loaded = {}
    for moment in MOMENTS:
        path = HERE / f"{moment}.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise TipsError(f"tips/{moment}.json is missing") from None
        except json.JSONDecodeError as exc:
            raise TipsError(f"tips/{moment}.json is not valid JSON (line {exc.lineno})") from None
        loaded[moment] = _validate(moment, data)
    return loaded


def tips_for(moment: str, school_type: str) -> list[dict]:
    """The tips for one moment and school type ('po' or 'vo'), each a fresh dict with
    ``id``, ``title``, ``text`` and optionally ``more``."""
    if moment not in MOMENTS:
        raise ValueError(f"unknown tips moment {moment!r}; expected one of {MOMENTS}")
    if school_type not in SCHOOL_TYPES:
        raise ValueError(f"unknown school type {school_type!r}; expected 'po' or 'vo'")
    return copy.deepcopy(_load_all()[moment][school_type])


def label_for(moment: str, school_type: str) -> str:
    """The Dutch heading for a moment, e.g. 'Voor de mentor'."""
    if moment not in MOMENTS or school_type not in SCHOOL_TYPES:
        raise ValueError(f"unknown moment or school type: {moment!r}, {school_type!r}")
    return MOMENT_LABELS[moment][school_type]


def validate_all() -> None:
    """Load every file now (called at app start so a broken file fails fast)."""
    _load_all()
