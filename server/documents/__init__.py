"""The documents a school needs before it can receive Handle with Care signals.

A school that joins Handle with Care must tell parents and pupils (a letter each), put a text on
its website or in its schoolgids, write down its internal work process and ask its (G)MR to agree.
The regional handbook gives model texts, but they describe a shared mailbox that HwC Inbox
replaces and leave the school to fill in its own people and times. Here those documents are built
from the few facts the director has already entered, so what parents read matches what the app
does.

The module is pure on purpose: no Flask, no database. It takes a `SchoolFacts` and returns
`Document`s, plain data that a Jinja template turns into a printable page and `render_text` into a
downloadable .txt. Both renderings come from the same data, so the two can never say different
things.

A `SchoolFacts` has no field for a child, and `SchoolFacts.from_mapping` refuses any key it does
not know: these documents are written before any signal exists and must never be able to carry
one.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from .model import (  # noqa: F401
    DEFAULT_DEADLINES,  # noqa: F401
    KINDS,
    Block,
    Contact,
    Document,
    SchoolFacts,
    Section,
    _dateline,
    _deadlines,
    _kind,
    _slugify,
    gaps,
    kinds,
    render_text,
    template_for,
)
from .texts import _leerlingen, _ouders, _privacy, _website, _werkproces

_BUILDERS = {"ouders": _ouders, "leerlingen": _leerlingen, "website": _website,
             "werkproces": _werkproces, "privacy": _privacy}


def build(slug: str, facts: SchoolFacts, *, on: date | None = None,
          deadlines: Mapping[str, int] | None = None) -> Document:
    """One document for one school. `on` dates the letters; without it they carry no date,
    because a school may print a letter today and send it next week."""
    kind = _kind(slug)
    parts = _BUILDERS[slug](facts, _deadlines(deadlines))
    if parts.get("greeting"):
        parts.setdefault("dateline", _dateline(facts, on))
    parts.setdefault("notice", "Druk dit stuk af of bewaar het als pdf via ‘Afdrukken’ in je "
                               "browser.")
    return Document(slug=kind.slug, title=kind.title,
                    filename=f"hwc-{kind.file_stem}-{_slugify(facts.name)}.txt",
                    letterhead=" · ".join(x for x in (facts.name, facts.place) if x),
                    footer=f"{kind.title} · {facts.name}", **parts)


def build_all(facts: SchoolFacts, *, on: date | None = None,
              deadlines: Mapping[str, int] | None = None) -> dict[str, Document]:
    """Every document for one school, keyed by slug, in `KINDS` order."""
    return {k.slug: build(k.slug, facts, on=on, deadlines=deadlines) for k in KINDS}


def context(slug: str, facts: SchoolFacts, *, on: date | None = None,
            deadlines: Mapping[str, int] | None = None) -> dict[str, Any]:
    """What `template_for(slug)` needs: the document and the school it is for."""
    return {"doc": build(slug, facts, on=on, deadlines=deadlines), "school": facts}
