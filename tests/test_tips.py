"""Support tips: every moment loads for PO and VO, every topic the programme asks for is there,
no tip carries contact details of people, and the files are checked at load."""
from __future__ import annotations

import json
import re

import pytest

from server import tips

ALL = [(m, s) for m in tips.MOMENTS for s in tips.SCHOOL_TYPES]


def text_of(moment, school_type) -> str:
    return " ".join(" ".join(t.get(k, "") for k in ("title", "text", "more"))
                    for t in tips.tips_for(moment, school_type)).lower()


@pytest.mark.parametrize("moment,school_type", ALL)
def test_every_moment_loads_for_po_and_vo(moment, school_type):
    got = tips.tips_for(moment, school_type)
    assert len(got) >= 3
    for tip in got:
        assert set(tip) <= {"id", "title", "text", "more"}
        assert tip["title"] and tip["text"]
        assert 1 <= tips.sentence_count(tip["text"]) <= 2, tip["id"]
    assert len({t["id"] for t in got}) == len(got)
    assert tips.label_for(moment, school_type)


def test_results_are_copies():
    first = tips.tips_for("teacher", "po")
    first[0]["title"] = "changed"
    first.clear()
    assert tips.tips_for("teacher", "po")[0]["title"] != "changed"


@pytest.mark.parametrize("bad", ["", "teacher_before", "Teacher", "../teacher", None])
def test_unknown_moment_is_a_value_error(bad):
    with pytest.raises(ValueError):
        tips.tips_for(bad, "po")


@pytest.mark.parametrize("bad", ["", "mbo", "PO", None])
def test_unknown_school_type_is_a_value_error(bad):
    with pytest.raises(ValueError):
        tips.tips_for("teacher", bad)


# (moment, school types, topic, every one of these keyword groups must match: any-of per group)
TOPICS = [
    ("receiver_before", "po vo", "take a moment", [["rustig moment", "neem even de tijd"]]),
    ("receiver_before", "po", "only the teacher is told", [["alleen aan de leerkracht"]]),
    ("receiver_before", "vo", "pupil decides before the mentor hears", [["leerling"], ["mentor"]]),
    ("receiver_before", "po vo", "no notes in the dossier", [["dossier"], ["nergens op"]]),
    ("receiver_after", "po", "tell the teacher in one sentence", [["leerkracht"], ["één zin"]]),
    ("receiver_after", "vo", "tell the mentor in one sentence", [["mentor"], ["één zin"]]),
    ("receiver_after", "po vo", "parent contact usually helps",
     [["ouders"], ["helpt", "steunt"], ["klem"]]),
    ("receiver_after", "po vo", "not when unsafe", [["ouders"], ["veilig"], ["achterwege"]]),
    ("receiver_after", "vo", "agree with the pupil who may know",
     [["spreek samen af", "afspreken"], ["wie op school het mag weten"]]),
    ("receiver_after", "po vo", "no contact with the municipality afterwards",
     [["gemeente"], ["leerplicht"], ["niet"]]),
    ("receiver_after", "po vo", "Veilig Thuis for advice", [["veilig thuis"], ["0800-2000"],
                                                              ["advies"]]),
    ("receiver_after", "po vo", "meldcode for new concerns", [["meldcode"], ["nieuws", "nieuwe"]]),
    ("teacher", "po vo", "observe first", [["let op hoe", "kijk eerst"]]),
    ("teacher", "po vo", "do not ask what happened", [["vraag niet wat er gebeurd is"]]),
    ("teacher", "po vo", "extra attention, rest, structure",
     [["aandacht"], ["rust"], ["structuur", "voorspelbaar"]]),
    ("teacher", "po vo", "a quiet place", [["rustige plek"]]),
    ("teacher", "po vo", "flexibility with a test or homework", [["toets"], ["huiswerk"]]),
    ("teacher", "po vo", "supportive instead of corrective on lateness",
     [["te laat"], ["steunend in plaats van corrigerend"]]),
    ("teacher", "po vo", "contact with classmates", [["klasgeno"]]),
    ("teacher", "po vo", "keep asking in the coming days", [["komende dagen"], ["hoe het gaat"]]),
    ("teacher", "po vo", "not treated differently", [["niet anders behandeld"]]),
    ("teacher", "po vo", "one in five absent, not a reason to punish",
     [["één op de vijf"], ["straf"]]),
]


@pytest.mark.parametrize("moment,types,topic,groups", TOPICS, ids=[t[2] for t in TOPICS])
def test_every_topic_is_covered(moment, types, topic, groups):
    for school_type in types.split():
        body = text_of(moment, school_type)
        for group in groups:
            assert any(k in body for k in group), f"{topic} ({school_type}): none of {group}"


def test_vo_speaks_of_the_mentor_and_po_of_the_teacher():
    assert "mentor" in text_of("teacher", "vo") + tips.label_for("teacher", "vo").lower()
    assert "mentor" not in text_of("receiver_after", "po")
    assert "mentor" in text_of("receiver_after", "vo")
    assert "leerkracht" in tips.label_for("teacher", "po").lower()


PHONE_LIKE = re.compile(r"\d[\d\s\-().]{5,}\d")


@pytest.mark.parametrize("moment,school_type", ALL)
def test_no_phone_number_but_veilig_thuis_and_no_email(moment, school_type):
    for tip in tips.tips_for(moment, school_type):
        for value in tip.values():
            assert "@" not in value
            assert "http" not in value and "www." not in value
            for number in PHONE_LIKE.findall(value):
                assert number.strip() == "0800-2000", (tip["id"], number)


def test_no_names_from_the_source_documents():
    # Spot-check people named in the seeds; tips speak of roles, never of people.
    body = " ".join(text_of(m, s) for m, s in ALL)
    for name in ("claudia", "marga", "lillian", "joey", "naomi", "iris", "janssen", "augeo"):
        assert name not in body


DUTCH_WORDS = {"de", "het", "een", "je", "niet", "en", "van", "dat", "is", "op", "als"}
ENGLISH_WORDS = {"the", "and", "you", "your", "please", "should", "child", "teacher", "of the"}


@pytest.mark.parametrize("moment,school_type", ALL)
def test_texts_are_dutch(moment, school_type):
    for tip in tips.tips_for(moment, school_type):
        for key in ("text", "more"):
            if key not in tip:
                continue
            words = set(re.findall(r"[a-zà-ÿ']+", tip[key].lower().replace("handle with care", "")))
            assert words & DUTCH_WORDS, (tip["id"], key)
            assert not words & ENGLISH_WORDS, (tip["id"], key, words & ENGLISH_WORDS)


# ---- validation at load -------------------------------------------------------------------

GOOD = {"id": "x", "title": "Titel", "text": "Een zin."}


@pytest.mark.parametrize("tip,msg", [
    ({**GOOD, "colour": "red"}, "unknown field"),
    ({**GOOD, "id": "Not A Slug"}, "slug"),
    ({"id": "x", "title": "Titel"}, "'text' is required"),
    ({**GOOD, "text": "Een. Twee. Drie."}, "one or two sentences"),
    ({**GOOD, "title": "Met punt."}, "full stop"),
    ({**GOOD, "text": "Mail naar hulp@school.nl voor vragen."}, "contact details"),
    ({**GOOD, "more": "Bel 06-12345678."}, "contact details"),
    ({**GOOD, "more": "Kijk op www.voorbeeld.nl."}, "contact details"),
    ({**GOOD, "school_types": ["mbo"]}, "school_types"),
    ({**GOOD, "school_types": ["po"], "vo": {"text": "Zin."}}, "not shown there"),
    ({**GOOD, "vo": {"id": "y"}}, "may only override"),
    ({**GOOD, "text": "x" * 300 + "."}, "longer than"),
])
def test_bad_tips_are_refused_with_a_clear_error(tip, msg):
    with pytest.raises(tips.TipsError, match=msg):
        tips._validate("teacher", {"moment": "teacher", "tips": [tip]})


def test_a_file_must_cover_both_school_types_and_match_its_name():
    with pytest.raises(tips.TipsError, match="no tips for school type 'vo'"):
        tips._validate("teacher", {"moment": "teacher",
                                   "tips": [{**GOOD, "school_types": ["po"]}]})
    with pytest.raises(tips.TipsError, match="file name says"):
        tips._validate("teacher", {"moment": "receiver_after", "tips": [GOOD]})
    with pytest.raises(tips.TipsError, match="duplicate"):
        tips._validate("teacher", {"moment": "teacher", "tips": [GOOD, GOOD]})


def test_shipped_files_are_exactly_the_moments():
    names = sorted(p.stem for p in tips.HERE.glob("*.json"))
    assert names == sorted(tips.MOMENTS)
    for moment in tips.MOMENTS:
        data = json.loads((tips.HERE / f"{moment}.json").read_text(encoding="utf-8"))
        tips._validate(moment, data)
