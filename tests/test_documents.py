"""The school documents: every kind renders for a primary and a secondary school, says what the
school actually arranged, and can never carry a child.

Templates are rendered with a bare Jinja environment and a stub `url_for`, so these tests need
no Flask app; that the module itself imports without Flask is checked in a fresh interpreter.
"""
from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from server import documents
from server.config import DEADLINE_BOUNDS
from server.documents import SchoolFacts

ROOT = Path(__file__).resolve().parent.parent

PO = SchoolFacts(
    name="OBS De Vlinderboom", type="po", place="Goirle", start_time="08:30",
    escalation_time="08:05",
    receivers=[("Ineke Verzonnen", "receiver"), {"name": "Bram Bedacht", "role": "backup"}],
    directors=["Hanna Fictief"], municipalities=["Goirle", "Tilburg"])
VO = SchoolFacts(
    name="Zuiderlicht College", type="vo", start_time="08:15", escalation_time="07:50",
    receivers=[documents.Contact("Mo Gefingeerd", "receiver"),
               documents.Contact("Lies Ontworpen", "receiver"),
               documents.Contact("Teun Proef", "backup")],
    directors=("Wim Voorbeeld",), municipalities=("Waalwijk",))
SCHOOLS = {"po": PO, "vo": VO}
SLUGS = [slug for slug, _ in documents.kinds()]
ON = date(2026, 1, 12)


def env(autoescape: bool = False) -> Environment:
    e = Environment(loader=FileSystemLoader(str(ROOT / "templates")), autoescape=autoescape,
                    undefined=StrictUndefined)
    e.globals["url_for"] = lambda endpoint, **kw: f"/{endpoint}/{kw.get('filename', '')}"
    return e


def render(slug: str, facts: SchoolFacts, *, autoescape: bool = False) -> str:
    ctx = documents.context(slug, facts, on=ON)
    return env(autoescape).get_template(documents.template_for(slug)).render(**ctx)


def visible_text(html: str) -> str:
    """The words a reader sees, whitespace folded, entities decoded: what the asserts look at."""
    import html as html_mod
    text = re.sub(r"<[^>]+>", " ", html)
    return " ".join(html_mod.unescape(text).split())


# --- every kind, both school types ----------------------------------------------------------

@pytest.mark.parametrize("school_type", ["po", "vo"])
@pytest.mark.parametrize("slug", SLUGS)
def test_every_kind_renders_as_a_standalone_printable_page(slug, school_type):
    facts = SCHOOLS[school_type]
    html = render(slug, facts)
    assert html.lstrip().startswith("<!doctype html>")
    assert '<html lang="nl">' in html
    title = re.search(r"<title>(.*?)</title>", html, re.DOTALL).group(1)
    assert documents.build(slug, facts).title in title
    assert '<link rel="stylesheet" href="/static/css/print.css">' in html
    assert html.count("<h1>") == 1
    # The CSP allows no inline script or style.
    assert "<script" not in html and "<style" not in html and " style=" not in html
    assert not re.search(r"\son[a-z]+=", html)
    assert facts.name in visible_text(html)


@pytest.mark.parametrize("school_type", ["po", "vo"])
@pytest.mark.parametrize("slug", SLUGS)
def test_plain_text_is_the_same_document_without_markup(slug, school_type):
    facts = SCHOOLS[school_type]
    doc = documents.build(slug, facts, on=ON)
    text = documents.render_text(doc)
    assert text.strip()
    assert not re.search(r"<[a-zA-Z/!]", text), "plain text must hold no HTML"
    assert "&amp;" not in text and "&#" not in text
    assert all(len(line) <= 78 for line in text.splitlines())
    assert doc.heading in text
    # Every section heading of the printed page is in the text too.
    for section in doc.sections:
        assert section.heading in text
    assert doc.filename.endswith(".txt") and re.fullmatch(r"[a-z0-9.-]+", doc.filename)


def test_build_all_gives_every_kind_in_order_with_dutch_titles():
    built = documents.build_all(PO)
    assert list(built) == ["ouders", "leerlingen", "website", "werkproces", "privacy"]
    titles = dict(documents.kinds())
    assert titles["ouders"] == "Brief aan ouders en verzorgers"
    assert all(built[s].title == titles[s] for s in built)
    with pytest.raises(ValueError):
        documents.build("dossier", PO)


# --- the work process names what the school arranged -----------------------------------------

@pytest.mark.parametrize("school_type", ["po", "vo"])
def test_work_process_names_the_schools_people_and_times(school_type):
    facts = SCHOOLS[school_type]
    for out in (visible_text(render("werkproces", facts)),
                documents.render_text(documents.build("werkproces", facts))):
        for name in facts.receiver_names + facts.backup_names + facts.directors:
            assert name in out
        assert facts.start_time in out
        assert facts.escalation_time in out
        assert "HwC Inbox" in out and "pushbericht" in out
        assert "één keer" in out
        assert "Veilig Thuis" in out and "0800-2000" in out


def test_work_process_po_tells_the_teacher_who_contacts_the_parents():
    out = documents.render_text(documents.build("werkproces", PO))
    assert "groepsleerkracht" in out
    assert "De leerkracht neemt contact op met de ouders" in out
    assert "mentor" not in out
    assert "geen contact op met de gemeente" in out


def test_work_process_vo_talks_with_the_pupil_first():
    out = documents.render_text(documents.build("werkproces", VO))
    pupil, mentor = out.index("Eerst de leerling"), out.index("Mentor of niet")
    assert pupil < mentor, "the talk with the pupil comes before anything goes to the mentor"
    assert "wie het mag weten" in out
    assert "De leerling wil niet dat de mentor het weet" in out
    assert "zorgcoördinator contact op met de ouders" in " ".join(out.split())


def test_work_process_says_what_is_still_missing_instead_of_naming_nobody():
    bare = SchoolFacts(name="Kindcentrum Nieuw", type="po", escalation_time="08:45")
    out = documents.render_text(documents.build("werkproces", bare))
    assert "Nog te regelen" in out
    assert "nog niet aangewezen" in out
    assert documents.gaps(bare) and len(documents.gaps(bare)) == 4
    assert documents.gaps(PO) == [] and documents.gaps(VO) == []
    assert "Nog te regelen" not in documents.render_text(documents.build("werkproces", PO))


# --- PO and VO wording -----------------------------------------------------------------------

def test_vo_documents_mention_the_pupil_conversation_and_the_mentor():
    for slug in ("ouders", "leerlingen", "website"):
        out = visible_text(render(slug, VO))
        assert "mentor" in out, slug
        assert "zorgcoördinator" in out, slug
        assert "begin van de schooldag op" in out, slug
        assert "wie op school het mag weten" in out, slug


def test_po_documents_mention_the_teacher_and_the_parents():
    for slug in ("ouders", "website"):
        out = visible_text(render(slug, PO))
        assert "groepsleerkracht" in out, slug
        assert "ouders" in out, slug
        assert "mentor" not in out, slug
    pupils = visible_text(render("leerlingen", PO))
    assert "juf of meester" in pupils and "ouders" in pupils
    assert "mentor" not in pupils and "zorgcoördinator" not in pupils


def test_parents_letter_explains_the_chain_the_minimal_data_and_the_rights():
    out = visible_text(render("ouders", PO))
    chain = [out.index(w) for w in ("De politie komt", "Veilig Thuis geeft",
                                    "leerplicht van de gemeente", "stuurt het signaal")]
    assert chain == sorted(chain)
    assert "alleen de naam en de geboortedatum van het kind en het codewoord" in out
    assert "De school hoort niet wat er is gebeurd" in out
    assert "niet uit" in out  # no questioning
    assert "gewist" in out
    assert "klachtenregeling" in out and "directeur" in out and "Veilig Thuis zelf" in out
    assert "Goirle of Tilburg" in out
    assert "Goirle, 12 januari 2026" in out
    assert "Hanna Fictief" in out and "Ineke Verzonnen" in out


def test_pupils_letters_use_words_for_their_age():
    po = visible_text(render("leerlingen", PO))
    vo = visible_text(render("leerlingen", VO))
    assert "Hallo allemaal," in po and "Beste leerling," in vo
    assert "0800-0432" in po and "0800-0432" in vo  # Kindertelefoon, a public number
    assert "dossier" not in po  # a word for the older pupils' letter
    assert "nooit" in po and "schuld" in po


def test_privacy_summary_follows_docs_privacy_facts():
    out = documents.render_text(documents.build("privacy", VO))
    flat = " ".join(out.split())
    d = documents.DEFAULT_DEADLINES
    assert f"gewist na {d['unopened_expiry_days']} dagen" in flat
    assert f"binnen {d['handover_minutes']} minuten" in flat
    assert f"na {d['note_unread_expiry_days']} schooldagen" in flat
    assert f"hoogstens {d['case_autoclose_days']} dagen" in flat
    assert f"verwijderd na {d['receipt_purge_days']} dagen" in flat
    assert "crypto-shredding" in flat
    assert "nooit in een back-up" in flat
    assert "logbestanden, pushberichten" in flat
    assert "Klachten" in flat and "Inzage" in flat
    assert "de leerling dat goedvindt" in flat  # VO: the mentor hears it only with consent


def test_deadlines_in_the_documents_are_the_software_defaults():
    """A letter must not promise a shorter life for a name than the code gives it."""
    assert documents.DEFAULT_DEADLINES == {k: v[0] for k, v in DEADLINE_BOUNDS.items()}


def test_an_instance_with_other_deadlines_gets_documents_that_say_so():
    out = documents.render_text(documents.build("privacy", PO, deadlines={
        "unopened_expiry_days": 5}))
    assert "gewist na 5 dagen" in " ".join(out.split())
    with pytest.raises(ValueError):
        documents.build("privacy", PO, deadlines={"keep_names_days": 999})


# --- no child, ever --------------------------------------------------------------------------

CHILDISH = re.compile(r"child|kind|pupil|leerling|birth|geboort|bsn", re.IGNORECASE)


def test_school_facts_have_no_field_for_a_child():
    names = [f.name for f in dataclasses.fields(SchoolFacts)]
    assert not [n for n in names if CHILDISH.search(n)]
    assert not [f.name for f in dataclasses.fields(documents.Contact)
                if CHILDISH.search(f.name)]


@pytest.mark.parametrize("extra", [
    {"child": {"name": "Sanne Verzonnen", "birth_date": "2017-04-02"}},
    {"child_name": "Sanne Verzonnen"},
    {"birth_date": "2017-04-02"},
])
def test_facts_refuse_a_child_instead_of_ignoring_it(extra):
    base = {"name": "OBS De Vlinderboom", "type": "po"}
    assert documents.SchoolFacts.from_mapping(base).name == "OBS De Vlinderboom"
    with pytest.raises(ValueError, match="unknown field"):
        documents.SchoolFacts.from_mapping({**base, **extra})
    with pytest.raises(ValueError, match="unknown field"):
        SchoolFacts(name="X", type="po",
                    receivers=[{"name": "Ineke Verzonnen", "role": "receiver", **extra}])


#: Fixed terms the texts use that look like a person's name but are not.
TERMS = ("Handle with Care", "Veilig Thuis", "HwC Inbox")


def name_like_pairs(out: str, facts: SchoolFacts) -> set[str]:
    """Two capitalised words in a row (how a child's name would look), per paragraph, once the
    school's own people, name, place, municipalities and the fixed terms are taken out."""
    paragraphs = re.split(r"<[^>]+>", out) if "<" in out else re.split(r"\n\s*\n", out)
    known = sorted({facts.name, facts.place, *facts.municipalities, *facts.directors,
                    *(c.name for c in facts.receivers), *TERMS} - {""}, key=len, reverse=True)
    found = set()
    for para in paragraphs:
        para = " ".join(para.split())
        for term in known:
            para = para.replace(term, " | ")
        found |= set(re.findall(r"\b[A-Z][a-zà-ÿ]+ [A-Z][a-zà-ÿ]+\b", para))
    return found


@pytest.mark.parametrize("school_type", ["po", "vo"])
@pytest.mark.parametrize("slug", SLUGS)
def test_no_document_holds_anything_that_looks_like_child_data(slug, school_type):
    """Rendering needs only the facts (StrictUndefined fails on any other name), and nothing in
    the result looks like a birth date or a person who is not one of the school's own staff."""
    facts = SCHOOLS[school_type]
    for out in (render(slug, facts), documents.render_text(documents.build(slug, facts, on=ON))):
        assert not re.search(r"\b\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}\b", out), "a birth-date look"
        assert not re.search(r"\b(19|20)\d\d-\d\d-\d\d\b", out), "an ISO date"
        assert name_like_pairs(out, facts) == set()


def test_the_name_check_would_see_a_childs_name():
    """The check above is not blind: a name slipped into a school's name field is found."""
    sneaky = dataclasses.replace(PO, place="")
    html = render("ouders", sneaky).replace("Beste ouders", "Sanne Verzonnen, 2-4-2017")
    assert "Sanne Verzonnen" in name_like_pairs(html, sneaky)
    assert re.search(r"\b\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}\b", html)


def test_a_hostile_school_name_is_escaped_with_or_without_autoescape():
    facts = SchoolFacts(name='<script>alert(1)</script> & "Co"', type="po",
                        receivers=[("<b>Ineke</b>", "receiver")])
    for auto in (False, True):
        for slug in SLUGS:
            html = render(slug, facts, autoescape=auto)
            assert "<script>" not in html and "<b>" not in html
            assert "&amp;amp;" not in html and "&amp;lt;" not in html, "escaped twice"
            assert "&lt;script&gt;" in html


def test_facts_are_validated():
    with pytest.raises(ValueError):
        SchoolFacts(name="X", type="mbo")
    with pytest.raises(ValueError):
        SchoolFacts(name="X", type="po", start_time="8:30")
    with pytest.raises(ValueError):
        SchoolFacts(name="X", type="po", escalation_time="24:00")
    with pytest.raises(ValueError):
        SchoolFacts(name=" ", type="po")
    with pytest.raises(ValueError):
        SchoolFacts(name="X", type="po", receivers=[("Ineke", "teacher")])
    with pytest.raises(ValueError):
        SchoolFacts(name="X", type="po", receivers="Ineke")
    facts = SchoolFacts(name="  OBS   De Vlinderboom ", type="po", directors="Hanna Fictief")
    assert facts.name == "OBS De Vlinderboom" and facts.directors == ("Hanna Fictief",)


def test_letters_are_undated_unless_a_date_is_given():
    assert documents.build("ouders", PO).dateline == "Goirle"
    assert documents.build("ouders", PO, on=ON).dateline == "Goirle, 12 januari 2026"
    assert documents.build("ouders", VO).dateline == ""
    assert documents.build("website", PO, on=ON).dateline == ""


# --- purity ----------------------------------------------------------------------------------

def test_module_imports_without_flask():
    env_ = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c",
         "import sys, server.documents; assert 'flask' not in sys.modules, 'flask imported'"],
        cwd=ROOT, env=env_, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
