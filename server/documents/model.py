"""The school documents' data: the facts a school gives (`SchoolFacts`), the shape of a document
(`Document`, `Section`, `Block`), the phrases the texts share, and the plain-text rendering.

See `server.documents` for why these documents exist and why child data cannot get in.
"""
from __future__ import annotations

import re
import textwrap
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import date
from typing import Any

from ..dutch import long_date

#: Roles a person can have in these documents, with the Dutch word used in them.
ROLES = {"receiver": "ontvanger", "backup": "achterwacht"}

#: The school's deadlines as the documents describe them. They are the defaults of
#: `server.config.DEADLINE_BOUNDS`; a test keeps the two equal, so a letter never promises a
#: shorter life for a name than the software gives it. Pass `deadlines=` to describe an instance
#: that runs with other settings.
DEFAULT_DEADLINES: dict[str, int] = {
    "unopened_expiry_days": 7,
    "note_unread_expiry_days": 3,
    "case_autoclose_days": 14,
    "receipt_purge_days": 30,
    "handover_minutes": 30,
}

#: Public numbers only (the seeds' rule): no person's number ever goes in a document.
VEILIG_THUIS = "0800-2000"
KINDERTELEFOON = "0800-0432"

_HHMM = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")  # fullmatch only
_NAME_MAX = 200


@dataclass(frozen=True)
class Kind:
    """One kind of document: its URL slug, its Dutch title and who it is for."""
    slug: str
    title: str
    audience: str
    file_stem: str


#: Every kind, in the order a director works through them.
KINDS: tuple[Kind, ...] = (
    Kind("ouders", "Brief aan ouders en verzorgers", "ouders en verzorgers", "brief-ouders"),
    Kind("leerlingen", "Brief voor leerlingen", "leerlingen", "brief-leerlingen"),
    Kind("website", "Tekst voor website en schoolgids", "website en schoolgids",
         "tekst-website-schoolgids"),
    Kind("werkproces", "Werkproces Handle with Care", "intern", "werkproces"),
    Kind("privacy", "Privacy bij Handle with Care: samenvatting voor de (G)MR", "(G)MR",
         "privacy-gmr"),
)
_BY_SLUG = {k.slug: k for k in KINDS}


def kinds() -> list[tuple[str, str]]:
    """(slug, Dutch title) of every document, for a list of links or a checklist."""
    return [(k.slug, k.title) for k in KINDS]


def template_for(slug: str) -> str:
    """The Jinja template that renders a kind; one per kind so each can have its own shape."""
    _kind(slug)
    return f"documents/{slug}.html"


# --- the input -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Contact:
    """A member of staff who may open signals: a receiver (ontvanger) or a backup (achterwacht)."""
    name: str
    role: str

    def __post_init__(self):
        object.__setattr__(self, "name", _clean_name(self.name, "receivers"))
        if self.role not in ROLES:
            raise ValueError(f"receivers: role must be one of {sorted(ROLES)}, not {self.role!r}")


@dataclass(frozen=True)
class SchoolFacts:
    """What the documents need to know about a school, and nothing about any child.

    `type` is 'po' (primary: the intern begeleider receives, the teacher is told) or 'vo'
    (secondary: the zorgcoördinator receives and talks with the pupil first). Times are local
    'HH:MM'. `receivers` holds receivers and backups together, each a `Contact`, a
    (name, role) pair or a mapping with 'name' (or 'display_name') and 'role'.
    """
    name: str
    type: str
    place: str = ""
    start_time: str = "08:30"
    escalation_time: str = "08:00"
    receivers: tuple[Contact, ...] = ()
    directors: tuple[str, ...] = ()
    municipalities: tuple[str, ...] = ()

    def __post_init__(self):
        set_ = object.__setattr__
        set_(self, "name", _clean_name(self.name, "name"))
        if self.type not in ("po", "vo"):
            raise ValueError(f"type must be 'po' or 'vo', not {self.type!r}")
        set_(self, "place", _clean_name(self.place, "place", allow_empty=True))
        for key in ("start_time", "escalation_time"):
            value = getattr(self, key)
            if not isinstance(value, str) or not _HHMM.fullmatch(value):
                raise ValueError(f"{key} must be 'HH:MM', not {value!r}")
        set_(self, "receivers", tuple(_contact(c) for c in _seq(self.receivers, "receivers")))
        set_(self, "directors",
             tuple(_clean_name(d, "directors") for d in _seq(self.directors, "directors")))
        set_(self, "municipalities", tuple(_clean_name(m, "municipalities")
                                           for m in _seq(self.municipalities, "municipalities")))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> SchoolFacts:
        """Build from a plain dict (a form, a database row), refusing any key it does not know.

        Refusing instead of ignoring is the point: a caller that passes a child's name by mistake
        hears about it here, before the name can end up in a printed letter.
        """
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown field(s): {', '.join(unknown)}")
        return cls(**dict(data))

    # Words that differ between primary and secondary schools, in one place.

    @property
    def is_vo(self) -> bool:
        return self.type == "vo"

    @property
    def receiver_title(self) -> str:
        """The usual job of the receiver: the handbook's intern begeleider / zorgcoördinator."""
        return "zorgcoördinator" if self.is_vo else "intern begeleider"

    @property
    def teacher_word(self) -> str:
        return "mentor" if self.is_vo else "leerkracht"

    @property
    def receiver_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.receivers if c.role == "receiver")

    @property
    def backup_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.receivers if c.role == "backup")


def _clean_name(value: Any, what: str, *, allow_empty: bool = False) -> str:
    """A single line of at most 200 characters: it is printed in a letter heading or greeting."""
    if not isinstance(value, str):
        raise ValueError(f"{what}: expected text, not {type(value).__name__}")
    value = " ".join(value.split())
    if not value and not allow_empty:
        raise ValueError(f"{what}: may not be empty")
    if len(value) > _NAME_MAX:
        raise ValueError(f"{what}: at most {_NAME_MAX} characters")
    return value


def _seq(value: Any, what: str) -> tuple:
    if value is None:
        return ()
    if isinstance(value, (str, bytes)):
        return (value,) if what != "receivers" else _fail(f"{what}: expected a list")
    if isinstance(value, Mapping):
        _fail(f"{what}: expected a list, not a mapping")
    return tuple(value)


def _fail(message: str):
    raise ValueError(message)


def _contact(value: Any) -> Contact:
    if isinstance(value, Contact):
        return value
    if isinstance(value, Mapping):
        extra = set(value) - {"name", "display_name", "role"}
        if extra:
            raise ValueError(f"receivers: unknown field(s): {', '.join(sorted(extra))}")
        return Contact(value.get("name", value.get("display_name", "")), value.get("role", ""))
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return Contact(value[0], value[1])
    raise ValueError("receivers: each entry is a Contact, a (name, role) pair or a mapping")


# --- the output ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    """One piece of running text: a paragraph ('p'), a bullet list ('ul'), numbered steps ('ol')
    or label/value pairs ('dl'). `lead` is a few words printed bold before a paragraph or step."""
    kind: str
    text: str = ""
    items: tuple = ()
    lead: str = ""


@dataclass(frozen=True)
class Section:
    heading: str
    blocks: tuple[Block, ...]


@dataclass(frozen=True)
class Document:
    """A finished document: everything a template or the text renderer prints, nothing more."""
    slug: str
    title: str
    filename: str
    heading: str
    sections: tuple[Section, ...]
    letterhead: str = ""
    audience: str = ""
    dateline: str = ""
    subject: str = ""
    greeting: str = ""
    closing: str = ""
    signature: tuple[str, ...] = ()
    notice: str = ""
    footer: str = ""

    @property
    def is_letter(self) -> bool:
        return bool(self.greeting)


def _p(text: str, lead: str = "") -> Block:
    return Block("p", text=text, lead=lead)


def _ul(*items: str) -> Block:
    return Block("ul", items=tuple(items))


def _ol(*items: tuple[str, str] | str) -> Block:
    """Numbered steps; an item may be (lead, text) so the step's name stands out."""
    return Block("ol", items=tuple(i if isinstance(i, tuple) else ("", i) for i in items))


def _dl(*pairs: tuple[str, str]) -> Block:
    return Block("dl", items=tuple(pairs))


def _join(names: Iterable[str], last: str = "en") -> str:
    """'A', 'A en B', 'A, B en C' — the way a Dutch sentence lists people."""
    names = list(names)
    if len(names) <= 1:
        return "".join(names)
    return f"{', '.join(names[:-1])} {last} {names[-1]}"


def _slugify(text: str) -> str:
    ascii_ = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_.lower()).strip("-") or "school"


def _kind(slug: str) -> Kind:
    try:
        return _BY_SLUG[slug]
    except KeyError:
        raise ValueError(f"unknown document kind {slug!r}") from None


def _deadlines(overrides: Mapping[str, int] | None) -> dict[str, int]:
    merged = dict(DEFAULT_DEADLINES)
    for key, value in (overrides or {}).items():
        if key not in merged:
            raise ValueError(f"unknown deadline {key!r}")
        merged[key] = int(value)
    return merged


def _municipality_phrase(s: SchoolFacts, *, chain: bool = False) -> str:
    """The municipalities that may send, for a sentence.

    In the chain (`chain=True`) only one municipality acts for a given child: the one where the
    child lives, so several names are offered as a choice; otherwise they are listed as partners.
    """
    names = s.municipalities
    if not names:
        return "de gemeente"
    if len(names) == 1:
        return f"de gemeente {names[0]}"
    if chain:
        return f"de gemeente waar het kind woont ({_join(names, 'of')})"
    return f"de gemeenten {_join(names)}"


def _receivers_phrase(s: SchoolFacts) -> str:
    """Who opens signals here: named where the director has named them, else by usual job.

    Named people are called 'contactpersoon' and not by job title: on a small school the
    receiver may be the director, and a letter must not call them the intern begeleider.
    """
    names = s.receiver_names
    if not names:
        return f"de {s.receiver_title}"
    noun = "onze contactpersoon" if len(names) == 1 else "onze contactpersonen"
    return f"{_join(names)}, {noun} voor Handle with Care"


def _contact_people(s: SchoolFacts) -> str:
    """The people parents and pupils may ask: the receivers, else the school's director(s)."""
    if s.receiver_names:
        return _join(s.receiver_names, "of")
    if s.directors:
        return _join(s.directors, "of")
    return f"de {s.receiver_title}"


def _dateline(s: SchoolFacts, on: date | None) -> str:
    if on is None:
        return s.place
    day = long_date(on.isoformat())
    return f"{s.place}, {day}" if s.place else day


def _signature(s: SchoolFacts) -> tuple[str, ...]:
    if s.directors:
        role = "directeur" if len(s.directors) == 1 else "directie"
        return (_join(s.directors), f"{role} {s.name}")
    return (f"Het team van {s.name}",)


def gaps(facts: SchoolFacts) -> list[str]:
    """What the school still has to arrange before the work process holds, in Dutch.

    The documents are printable before the set-up is finished (a director may want the GMR to see
    them early); the work process then says plainly what is missing instead of naming nobody.
    """
    out = []
    if not facts.receiver_names:
        out.append(f"Wijs een ontvanger aan (meestal de {facts.receiver_title}).")
    if not facts.backup_names:
        out.append("Wijs een achterwacht aan voor als de ontvanger er niet is.")
    if facts.escalation_time >= facts.start_time:
        out.append(f"Zet het tijdstip voor de achterwacht ({facts.escalation_time}) vóór het "
                   f"begin van de school ({facts.start_time}), zodat het signaal op tijd bij "
                   f"de {facts.teacher_word} is.")
    if not facts.directors:
        out.append("Vul de naam van de directeur in.")
    return out


# --- plain text ----------------------------------------------------------------------------

_WIDTH = 78


def _wrap(text: str, first: str = "", rest: str | None = None) -> list[str]:
    rest = " " * len(first) if rest is None else rest
    return textwrap.wrap(text, _WIDTH, initial_indent=first, subsequent_indent=rest,
                         break_long_words=False, break_on_hyphens=False) or [first.rstrip()]


def _block_text(block: Block) -> list[str]:
    if block.kind == "p":
        return _wrap(f"{block.lead} {block.text}" if block.lead else block.text)
    if block.kind == "ul":
        return [line for item in block.items for line in _wrap(item, "- ")]
    if block.kind == "ol":
        return [line for n, (lead, text) in enumerate(block.items, 1)
                for line in _wrap(f"{lead} {text}" if lead else text, f"{n}. ")]
    if block.kind == "dl":
        width = max(len(term) for term, _ in block.items) + 2
        return [line for term, value in block.items
                for line in _wrap(value, f"{term}:".ljust(width), " " * width)]
    raise ValueError(f"unknown block kind {block.kind!r}")


def render_text(doc: Document) -> str:
    """The document as plain UTF-8 text for a download: no markup, lines of at most 78."""
    out: list[str] = _wrap(doc.letterhead) + [""]
    if doc.audience:
        out += _wrap(doc.audience) + [""]
    if doc.dateline:
        out += [doc.dateline, ""]
    if doc.subject:
        out += _wrap(f"Betreft: {doc.subject}") + [""]
    out += [doc.heading, "=" * min(len(doc.heading), _WIDTH), ""]
    if doc.greeting:
        out += [doc.greeting, ""]
    for section in doc.sections:
        if section.heading:
            out += [section.heading, "-" * len(section.heading), ""]
        for block in section.blocks:
            out += _block_text(block) + [""]
    if doc.closing:
        out += [doc.closing, ""]
    out += list(doc.signature)
    return "\n".join(out).rstrip() + "\n"
