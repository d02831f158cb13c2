"""Anonymous monitoring: a month seeded through the real state machine with a fake clock, the
exact figures for the director, small-cell suppression for the municipality, and proof that no
output holds a name, a birth date or the moment of one signal."""
from __future__ import annotations

import csv
import io
import json
import re
from datetime import datetime, timezone

import jsonschema
import pytest

from server import expiry
from server import municipalities, signals, stats, tasks
from server.openapi import openapi_document

BRIN, OTHER_BRIN = "12AB", "34CD"  # as in conftest

NAMES = ["Sanne Verzonnen", "Joris Bedenksel", "Mila Fantasia", "Teun Onecht", "Lotte Nepper",
         "Bram Gefingeerd", "Noor Denkbeeld", "Stijn Verzinsel", "Fleur Fictief", "Daan Droom",
         "Evi Luchtkasteel", "Sem Sprookje", "Roos Kwansel", "Gijs Pretend"]
BIRTHS = [f"201{i % 8}-0{1 + i % 9}-1{i % 9}" for i in range(len(NAMES))]

# Opening delays (minutes) of the ten November signals that are opened. Received 07:00 local,
# school starts 08:30: the first eight are opened before the start.
DELAYS = [5, 10, 15, 20, 30, 45, 60, 80, 120, 200]


def at(day: int, month: int = 11, hour: int = 6, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=timezone.utc)


@pytest.fixture
def seeded(db, clock, school, municipality, staff):
    """November 2026: 12 signals (10 opened, 2 expired); December: 2 signals."""
    receiver = staff("Ilse Bedacht", ["receiver"])
    teacher = staff("Tom Leraar", ["teacher"], "groep 5")
    weekdays = [2, 3, 4, 5, 6, 9, 10, 11, 12, 13]  # Mon 2 .. Fri 13 November 2026
    moments = []

    def receive(i, when):
        clock.set(when)
        row, _ = signals.receive(db, clock.now(), municipality_id=municipality["id"],
                                 school_id=school["id"], reference=f"NOV-{i}",
                                 child=signals.Child(NAMES[i], BIRTHS[i]))
        return row["id"]

    for i, (day, delay) in enumerate(zip(weekdays, DELAYS)):
        sid = receive(i, at(day))
        clock.advance(minutes=delay)
        signals.reveal(db, clock.now(), sid, receiver)
        clock.advance(minutes=3)
        if i == 9:
            signals.return_signal(db, clock.now(), sid)  # 'not our pupil'
            continue
        if i % 2:
            signals.told_in_person(db, clock.now(), sid, "self")
            tasks.told(db, clock.now(), sid)  # issue 12: the "Verteld" tap
        else:
            signals.assign_teacher(db, clock.now(), sid, teacher)
            clock.advance(minutes=20)
            signals.teacher_read(db, clock.now(), sid, teacher)
        signals.record_parent_contact(db, clock.now(), sid, "by_teacher")
    receive(10, at(16))
    receive(11, at(17))
    clock.set(at(25))
    assert expiry.sweep(db, clock.now())["expired_unopened"] == 2
    # December: two signals, one opened after school start.
    sid = receive(12, at(1, 12))
    clock.advance(minutes=150)
    signals.reveal(db, clock.now(), sid, receiver)
    receive(13, at(2, 12))
    for row in db.query("SELECT * FROM signals"):
        moments.extend(v for k, v in row.items() if k.endswith("_at") and v)
    return {"school": school, "moments": sorted(set(moments))}


def test_median_and_percentile():
    assert stats.median([]) is None and stats.percentile([], 90) is None
    assert stats.median([7]) == 7 and stats.percentile([7], 90) == 7
    assert stats.median([1, 2]) == 2  # 1.5 rounds half up
    assert stats.median([3, 1, 2]) == 2
    assert stats.percentile(list(range(1, 11)), 90) == 9  # nearest rank: ceil(9.0) = 9th
    assert stats.percentile(list(range(1, 12)), 90) == 10  # ceil(9.9) = 10th
    with pytest.raises(ValueError):
        stats.percentile([1], 0)


def test_months_and_ranges():
    assert stats.month_range("2026-11", "2027-02") == ["2026-11", "2026-12", "2027-01", "2027-02"]
    assert stats.shift_month("2026-01", -1) == "2025-12"
    assert stats.default_range(datetime(2026, 3, 9).date()) == ("2025-04", "2026-03")
    for bad in ("2026-13", "2026-1", "26-11", "2026-11-01", "", "2026-00"):
        with pytest.raises(stats.StatsError):
            stats.month_range(bad, "2026-12")
    with pytest.raises(stats.StatsError) as err:
        stats.month_range("2026-12", "2026-11")
    assert err.value.field == "from"
    with pytest.raises(stats.StatsError):
        stats.month_range("2020-01", "2026-12")  # longer than 36 months


def test_director_rows_are_exact(db, seeded):
    rows = stats.monthly_rows(db, seeded["school"]["id"], "2026-10", "2026-12")
    assert [r["month"] for r in rows] == ["2026-10", "2026-11", "2026-12"]
    assert rows[0] == {"month": "2026-10", **{m: 0 for m in stats.COUNT_METRICS},
                       "median_minutes_to_open": None, "p90_minutes_to_open": None}
    assert rows[1] == {"month": "2026-11", "received": 12, "opened": 10,
                       "opened_before_start": 8, "median_minutes_to_open": 38,
                       "p90_minutes_to_open": 120, "teacher_informed": 9, "returned": 1,
                       "expired": 2, "closed": 9}
    assert rows[2]["received"] == 2 and rows[2]["opened"] == 1
    assert rows[2]["opened_before_start"] == 0 and rows[2]["median_minutes_to_open"] == 150
    assert list(rows[1]) == list(stats.FIELDS)


def test_suppression_of_small_cells():
    row = {"month": "2026-11", "received": 12, "opened": 5, "opened_before_start": 4,
           "median_minutes_to_open": 30, "p90_minutes_to_open": 90, "teacher_informed": 1,
           "returned": 0, "expired": 7, "closed": 5}
    out = stats.suppress(row)
    assert out == {"month": "2026-11", "received": 12, "opened": 5, "opened_before_start": "<5",
                   "median_minutes_to_open": 30, "p90_minutes_to_open": 90,
                   "teacher_informed": "<5", "returned": "<5", "expired": 7, "closed": 5}
    row["opened"] = 4
    out = stats.suppress(row)
    assert out["opened"] == "<5"
    assert out["median_minutes_to_open"] is None and out["p90_minutes_to_open"] is None


def test_csv_for_the_director(db, seeded):
    rows = stats.monthly_rows(db, seeded["school"]["id"], "2026-11", "2026-12")
    data = stats.csv_bytes(rows)
    assert data.startswith("\ufeff".encode())
    table = list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
    assert table[0] == [stats.CSV_HEADINGS[f] for f in stats.FIELDS]
    assert table[1] == ["2026-11", "12", "10", "8", "38", "120", "9", "1", "2", "9"]
    assert table[2][0] == "2026-12" and table[2][4] == "150"
    outward = list(csv.reader(io.StringIO(stats.csv_bytes(rows, outward=True).decode("utf-8-sig")),
                              delimiter=";"))
    assert outward[1] == ["2026-11", "12", "10", "8", "38", "120", "9", "<5", "<5", "9"]
    assert outward[2] == ["2026-12", "<5", "<5", "<5", "", "", "<5", "<5", "<5", "<5"]


def test_svg_chart_is_escaped_and_has_no_style_or_script(db, seeded):
    rows = stats.monthly_rows(db, seeded["school"]["id"], "2026-11", "2026-12")
    svg = stats.svg_chart(rows, title='Signalen <script>alert("x")</script> & meer')
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    import xml.etree.ElementTree as ET
    ET.fromstring(svg)  # well-formed XML, so it can be inlined in HTML or served as image/svg+xml
    assert "<script" not in svg and "&lt;script&gt;" in svg and "&amp; meer" in svg
    assert "style=" not in svg and "onload" not in svg
    assert "14 signalen ontvangen, waarvan 8 geopend voor schooltijd, over 2 maanden" in svg
    bars = re.findall(r'<rect class="chart-received"[^>]*height="([0-9.]+)"[^>]*><title>', svg)
    assert len(bars) == 2  # one per month (the legend's swatch has no title)
    assert float(bars[0]) > float(bars[1]) > 0  # 12 vs 2, to scale
    assert "<title>nov 26: 12 ontvangen</title>" in svg
    with pytest.raises(ValueError):
        stats.svg_chart(rows, id_prefix='x" onload="y')
    assert "</title></rect>" not in stats.svg_chart([])  # no months, no bars, still valid


def _schema(name):
    doc = openapi_document("http://localhost")
    return {"$ref": f"#/components/schemas/{name}", "components": doc["components"]}


def test_api_stats_suppressed_per_school_in_scope(client, auth, db, clock, seeded, other_school):
    resp = client.get("/api/v1/stats?from=2026-11&to=2026-12", headers=auth)
    assert resp.status_code == 200 and resp.headers["Cache-Control"] == "no-store"
    body = resp.get_json()
    jsonschema.validate(body, _schema("Stats"))
    assert [s["school"] for s in body["schools"]] == [BRIN]  # OTHER_BRIN is out of scope
    nov, dec = body["schools"][0]["months"]
    assert nov == {"month": "2026-11", "received": 12, "opened": 10, "opened_before_start": 8,
                   "median_minutes_to_open": 38, "p90_minutes_to_open": 120,
                   "teacher_informed": 9, "returned": "<5", "expired": "<5", "closed": 9}
    assert dec["received"] == "<5" and dec["median_minutes_to_open"] is None
    # Another municipality, scoped to the other school only, sees nothing of ours.
    _row, other = municipalities.add(db, clock.now(), name="Gemeente Elders", brins=[OTHER_BRIN])
    body = client.get("/api/v1/stats?from=2026-11&to=2026-11",
                      headers={"Authorization": f"Bearer {other}"}).get_json()
    assert [s["school"] for s in body["schools"]] == [OTHER_BRIN]
    assert body["schools"][0]["months"][0]["received"] == "<5"


def test_api_stats_defaults_and_errors(client, auth, clock, school):
    body = client.get("/api/v1/stats", headers=auth).get_json()
    assert (body["from"], body["to"]) == ("2025-12", "2026-11")  # the clock is in Nov 2026
    assert len(body["schools"][0]["months"]) == 12
    jsonschema.validate(body, _schema("Stats"))
    assert client.get("/api/v1/stats?to=2026-03", headers=auth).get_json()["from"] == "2025-04"
    for query, field in (("from=2026-13", "from"), ("to=2026-11-01", "to"),
                         ("from=2026-12&to=2026-11", "from"), ("from=2020-01&to=2026-11", "to"),
                         ("day=2026-11-02", "query")):
        resp = client.get(f"/api/v1/stats?{query}", headers=auth)
        assert resp.status_code == 422, query
        jsonschema.validate(resp.get_json(), _schema("ValidationError"))
        assert resp.get_json()["details"][0]["field"] == field
    assert client.get("/api/v1/stats").status_code == 401


def test_nothing_identifies_a_child_or_a_moment(client, auth, db, seeded):
    school_id = seeded["school"]["id"]
    rows = stats.monthly_rows(db, school_id, "2026-11", "2026-12")
    outputs = {
        "api": client.get("/api/v1/stats?from=2026-11&to=2026-12", headers=auth).get_data(
            as_text=True),
        "csv": stats.csv_bytes(rows).decode("utf-8-sig"),
        "csv_outward": stats.csv_bytes(rows, outward=True).decode("utf-8-sig"),
        "svg": stats.svg_chart(rows),
        "rows": json.dumps(rows),
    }
    moments = seeded["moments"]
    assert len(moments) > 20  # the seed really produced per-signal timestamps to look for
    days = {m[:10] for m in moments}
    clock_times = {m[11:16] for m in moments}
    for where, text in outputs.items():
        for name in NAMES:
            for part in name.split():
                assert part not in text, (where, "name")
        for birth in BIRTHS:
            assert birth not in text, (where, "birth date")
        for moment in moments:
            assert moment not in text, (where, "timestamp")
        for day in days:
            assert day not in text, (where, "day")
        assert not re.search(r"\d{4}-\d\d-\d\d", text), where  # nothing finer than a month
        assert not any(f"{t}" in text for t in clock_times if t != "00:00"), where
