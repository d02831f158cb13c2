"""Input edges found by an adversarial review: each one was accepted (or a 500) before.

- a reference (or BRIN, time, month) with a trailing newline passed `re.match(r"…$")`;
- names made only or partly of invisible letters, or with a pile of combining marks;
- ids past 64 bits in a URL reached SQLite and gave a 500;
- a teacher of another school got 410 (not 404) for an ended note: an oracle.
All names are invented.
"""
from __future__ import annotations

from datetime import date

import pytest

from server import expiry
from server import intake, schools, signals, stats

from .auth_helpers import enrolled
from .conftest import signal_body
from .test_web_security import concrete, world  # noqa: F401, F811  (a fixture)

TODAY = date(2026, 11, 23)


def refused(field: str, payload: dict) -> list[dict]:
    with pytest.raises(intake.Invalid) as exc:
        intake.validate(payload, TODAY)
    return [d for d in exc.value.details if d["field"] == field]


@pytest.mark.parametrize("reference", ["REF-1\n", "REF-1\r\n", "\nREF-1", "REF-1\x00"])
def test_reference_with_a_line_break_is_refused(reference):
    assert refused("reference", signal_body(reference=reference))


def test_brin_with_a_trailing_newline_is_refused():
    assert refused("school", signal_body(school="12AB\n"))


def test_the_same_child_cannot_be_sent_twice_through_a_newline(client, db, auth, school_receives):
    first = client.post("/api/v1/signals", json=signal_body("REF-1"), headers=auth)
    again = client.post("/api/v1/signals", json=signal_body("REF-1\n"), headers=auth)
    assert (first.status_code, again.status_code) == (201, 422)
    assert client.get("/api/v1/signals/REF-1%0A", headers=auth).status_code == 404
    assert db.conn.execute("SELECT count(*) FROM signals").fetchone()[0] == 1


def test_other_validators_use_fullmatch_and_ascii_digits():
    with pytest.raises(stats.StatsError):
        stats.parse_month("2026-11\n", "from")
    with pytest.raises(stats.StatsError):
        stats.parse_month("\u0662\u0660\u0662\u0666-11", "from")  # Arabic-Indic digits
    for text in ("08:30\n", "\u0660\u0668:30"):
        assert schools.HHMM_RE.fullmatch(text) is None
    from server.documents import model
    assert model._HHMM.fullmatch("08:30\n") is None
    assert intake.REFERENCE_RE.fullmatch("REF-1\n") is None
    assert intake.BRIN_RE.fullmatch("12AB\n") is None


@pytest.mark.parametrize("name", [
    "\u3164",                      # Hangul filler alone: a name that looks empty
    "\u115f\u1160",                # Hangul choseong/jungseong fillers
    "\uffa0",                      # halfwidth Hangul filler
    "Sanne\u3164Verzonnen",        # partly invisible: looks like another child's name
    "Sanne\u034fVerzonnen",        # combining grapheme joiner
    "Sanne Verzonnen\u034f",
    "Sanne\ufe0fVerzonnen",        # variation selector
    "Sanne\u00adVerzonnen",        # soft hyphen
    "Sanne\U000e0041",             # tag character
    "S" + "\u0301" * 199 + "anne",  # 199 combining marks on one letter
    "x\u0301\u0302\u0303\u0304",   # four marks that compose with nothing
    "\u0301Sanne",                 # a mark without a letter
    "Sanne -\u0301Verzonnen",      # a mark on a hyphen
])
def test_invisible_or_overloaded_names_are_refused(name):
    assert refused("child.name", signal_body(name=name))


@pytest.mark.parametrize("name", [
    "Sanne Verzonnen", "Nguyễn Thị Ánh", "Zoë-Ĳsbrand d’Artagnan", "J. van der Berg",
    "क्षितिज", "ท้องฟ้า", "x\u0301\u0302\u0303",  # three marks on one letter are fine
])
def test_real_names_still_pass(name):
    intake.validate(signal_body(name=name), TODAY)


def test_ids_past_64_bits_are_404_on_every_int_route(world, app):  # noqa: F811
    people, values = world
    huge = {key: 2**64 + 7 for key in values}
    int_rules = [r for r in app.url_map.iter_rules() if "<int:" in r.rule]
    assert len(int_rules) >= 10
    failures = []
    for rule in int_rules:
        url = concrete(rule.rule, {**values, **{k: huge[k] for k in rule.arguments}})
        for role in ("director", "receiver", "teacher"):
            client = people[role].client
            for method in sorted(rule.methods & {"GET", "POST"}):
                got = client.open(url, method=method).status_code
                if got != 404:
                    failures.append(f"{role} {method} {url}: {got}")
    assert failures == []
    # The largest id SQLite holds is just not found (the director's staff page).
    assert people["director"].client.get(f"/admin/staff/{2**63 - 1}").status_code == 404


def test_an_ended_note_of_another_school_is_404_not_410(app, db, clock, school, other_school,
                                                        staff, receive):
    teacher = staff(name="Tom Leraar", roles=("teacher",), group="groep 5")
    ib = staff(name="Ilse Bedacht", roles=("receiver",))
    sid = receive()
    signals.reveal(db, clock.now(), sid, ib)
    signals.assign_teacher(db, clock.now(), sid, teacher)
    clock.advance(days=30)
    expiry.sweep(db, clock.now())  # the unread note expired: teacher_id is forgotten
    assert signals.get(db, sid)["state"] == "expired"
    stranger = enrolled(app, db, clock, other_school["id"], ("teacher",), "Olga Anders")
    stranger.step_up()
    token = stranger.csrf()
    resp = stranger.client.post(f"/notes/{sid}/read", data={"csrf_token": token})
    assert resp.status_code == 404
    # The school's own teacher still hears calmly that it is gone (410).
    with pytest.raises(signals.WrongState):
        signals.teacher_read(db, clock.now(), sid, teacher)
    with pytest.raises(signals.NotFound):
        signals.teacher_read(db, clock.now(), sid, stranger_id(db))


def stranger_id(db) -> int:
    return db.conn.execute("SELECT id FROM staff WHERE display_name = 'Olga Anders'").fetchone()[0]


@pytest.mark.parametrize("reference", ["Floor.Verzonnen.2017-04-02", "VERZONNEN-1", "verzonnen",
                                        "ref-02042017", "R-170402", "floor_1", "20170402"])
def test_a_reference_that_carries_the_name_or_birth_date_is_refused(reference):
    """Review: the reference outlives the signal (receipts, webhook copies): with the name in it,
    the name would too. Refused with 422 on `reference`, without repeating the value."""
    payload = {"school": "12AB", "reference": reference,
               "child": {"name": "Floor Verzonnen", "birth_date": "2017-04-02"}}
    with pytest.raises(intake.Invalid) as exc:
        intake.validate(payload, date(2026, 12, 3))
    assert [d["field"] for d in exc.value.details] == ["reference"]
    assert reference not in str(exc.value.details) and "Verzonnen" not in str(exc.value.details)


@pytest.mark.parametrize("reference", ["HWC-20261203-AB12CD34", "REF-1", "2024-00017", "LPA.771"])
def test_an_ordinary_reference_is_still_accepted(reference):
    payload = {"school": "12AB", "reference": reference,
               "child": {"name": "Floor Verzonnen", "birth_date": "2017-04-02"}}
    assert intake.validate(payload, date(2026, 12, 3)).reference == reference
