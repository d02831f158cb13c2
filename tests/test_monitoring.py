"""The director's monitoring page and CSV (/admin/monitoring): figures seeded through the real
state machine with a FakeClock, director-only, own school only, and nothing in page or CSV that
names a child, gives a birth date or the moment of one signal."""
from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timezone

import pytest

from server import expiry
from server import municipalities, signals, stats, tasks

from .auth_helpers import Device, enrolled
from .conftest import OTHER_BRIN

NAMES = ["Sanne Verzonnen", "Joris Bedenksel", "Mila Fantasia", "Teun Onecht", "Lotte Nepper"]
BIRTHS = ["2017-04-02", "2016-09-14", "2018-01-23", "2015-12-05", "2019-06-30"]
OTHER_NAMES = [f"Kim Anderschool{i}" for i in range(7)]


def utc(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=timezone.utc)


def cells(html: str, month_label: str) -> list[str]:
    """The table cells of one month's row."""
    match = re.search(r'<th scope="row">' + month_label + r"</th>(.*?)</tr>", html, re.S)
    assert match, month_label
    return re.findall(r'<td class="num">([^<]*)</td>', match.group(1))


@pytest.fixture
def seeded(app, db, clock, school, other_school, municipality, staff):
    """School A: October 1 signal (opened after 30 min), November 4 signals (opened after 10,
    100 and 20 minutes; teacher informed twice; one returned; one expired). School B: 7 signals
    in November, none opened. Received at 07:00 Dutch time; school starts at 08:30."""
    receiver = staff("Ilse Bedacht", ["receiver"])
    teacher = staff("Tom Leraar", ["teacher"], "groep 5")
    refs = []

    def receive(i, when, school_id=school["id"], muni=municipality["id"], names=NAMES,
                births=BIRTHS):
        clock.set(when)
        ref = f"MON-{school_id}-{i}"
        refs.append(ref)
        row, _ = signals.receive(db, clock.now(), municipality_id=muni, school_id=school_id,
                                 reference=ref, child=signals.Child(names[i], births[i % 5]))
        return row["id"]

    sid = receive(0, utc(10, 15, 5))                # Thu 15 Oct 07:00 CEST
    signals.mark_notified(db, clock.advance(minutes=1), sid)
    signals.reveal(db, clock.advance(minutes=29), sid, receiver)
    sid = receive(1, utc(11, 2, 6))                 # Mon 2 Nov 07:00 CET
    signals.mark_notified(db, clock.advance(minutes=1), sid)
    signals.reveal(db, clock.advance(minutes=9), sid, receiver)
    signals.assign_teacher(db, clock.advance(minutes=2), sid, teacher)
    signals.teacher_read(db, clock.advance(minutes=40), sid, teacher)
    sid = receive(2, utc(11, 3, 6))
    signals.reveal(db, clock.advance(minutes=100), sid, receiver)   # 08:40: after the start
    signals.told_in_person(db, clock.advance(minutes=5), sid, "self")
    tasks.told(db, clock.now(), sid)  # issue 12: the "Verteld" tap
    sid = receive(3, utc(11, 4, 6))
    signals.reveal(db, clock.advance(minutes=20), sid, receiver)
    signals.return_signal(db, clock.advance(minutes=1), sid)
    receive(4, utc(11, 5, 6))                       # nobody opens this one
    clock.set(utc(11, 24, 5))
    assert expiry.sweep(db, clock.now())["expired_unopened"] == 1

    _row, token = municipalities.add(db, clock.now(), name="Gemeente Elders", brins=[OTHER_BRIN])
    other_muni = municipalities.authenticate(db, token)["id"]
    for i in range(7):
        receive(i, utc(11, 24, 6, i), other_school["id"], other_muni, OTHER_NAMES)
    moments = sorted({v for row in db.query("SELECT * FROM signals")
                      for k, v in row.items() if k.endswith("_at") and v})
    clock.set(utc(11, 26, 12))
    return {"refs": refs, "moments": moments}


@pytest.fixture
def director(app, db, clock, school):
    return enrolled(app, db, clock, school["id"], roles=("director",), name="Dirk Baas")


def test_director_sees_chart_and_table(seeded, director):
    resp = director.client.get("/admin/monitoring")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and resp.headers["Cache-Control"] == "no-store"
    assert "Monitoring van OBS De Kastanje" in html
    # The chart is real SVG (marked safe), not escaped text; one per page.
    assert html.count('<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img"') == 1
    assert "&lt;svg" not in html
    assert '<title id="monitoring-title">Signalen per maand</title>' in html
    assert "5 signalen ontvangen, waarvan 3 geopend voor schooltijd, over 12 maanden" in html
    # received, before start, median, p90, teacher informed, returned, expired
    # columns: received, before start, minutes to first push, median/p90 to open, informed,
    # returned, expired
    assert cells(html, "november 2026") == ["4", "2", "1", "20", "100", "2", "1", "1"]
    assert cells(html, "oktober 2026") == ["1", "1", "1", "30", "30", "0", "0", "0"]
    assert cells(html, "december 2025") == ["0", "0", "–", "–", "–", "0", "0", "0"]
    assert "januari 2026" in html and "november 2025" not in html  # the last 12 months
    assert "alleen anonieme aantallen" in html
    assert "wanneer de eerste melding" in html  # what notified_at is, in one sentence
    assert 'href="/admin/monitoring.csv?from=2025-12&amp;to=2026-11"' in html
    assert '<a href="/admin/monitoring">Monitoring</a>' in html  # in the director's menu
    assert "<script>" not in html and "style=" not in html


def test_csv_download(seeded, director):
    resp = director.client.get("/admin/monitoring.csv")
    assert resp.status_code == 200
    assert resp.mimetype == "text/csv"
    assert resp.headers["Content-Disposition"] == \
        'attachment; filename="hwc-monitoring-12AB-2025-12-2026-11.csv"'
    assert resp.headers["Cache-Control"] == "no-store"
    text = resp.get_data().decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text[1:]), delimiter=";"))
    assert rows[0] == [stats.CSV_HEADINGS[f] for f in stats.FIELDS]
    assert rows[0][:4] == ["maand", "ontvangen", "geopend", "geopend_voor_schooltijd"]
    assert len(rows) == 13
    by_month = {r[0]: dict(zip(stats.FIELDS, r)) for r in rows[1:]}
    nov = by_month["2026-11"]
    assert (nov["received"], nov["opened"], nov["opened_before_start"]) == ("4", "3", "2")
    assert (nov["median_minutes_to_open"], nov["p90_minutes_to_open"]) == ("20", "100")
    assert (nov["teacher_informed"], nov["returned"], nov["expired"]) == ("2", "1", "1")
    assert by_month["2026-10"]["received"] == "1"
    assert by_month["2026-01"]["median_minutes_to_open"] == ""


def test_chosen_range(seeded, director):
    html = director.client.get("/admin/monitoring?from=2026-10&to=2026-11").get_data(as_text=True)
    assert len(re.findall(r'<th scope="row">', html)) == 2
    assert "over 2 maanden" in html
    resp = director.client.get("/admin/monitoring.csv?from=2026-10&to=2026-11")
    assert resp.headers["Content-Disposition"].endswith('-2026-10-2026-11.csv"')
    assert len(resp.get_data().decode("utf-8-sig").strip().split("\r\n")) == 3
    for bad in ("from=2026-12&to=2026-11", "from=2026-13", "to=<script>", "from=2020-01"):
        resp = director.client.get(f"/admin/monitoring?{bad}")
        html = resp.get_data(as_text=True)
        assert resp.status_code == 400, bad
        assert 'role="alert"' in html and "<script>" not in html
        assert cells(html, "november 2026")[0] == "4"  # the default range, still useful
        assert director.client.get(f"/admin/monitoring.csv?{bad}").status_code == 400


def test_only_directors(app, db, clock, school, seeded):
    anon = Device(app)
    for url in ("/admin/monitoring", "/admin/monitoring.csv"):
        resp = anon.client.get(url)
        assert resp.status_code == 302 and resp.headers["Location"].startswith("/auth/login")
    for roles, name in ((("teacher",), "Tom Tweede"), (("receiver", "backup"), "Rita Ontvang")):
        person = enrolled(app, db, clock, school["id"], roles=roles, name=name)
        for url in ("/admin/monitoring", "/admin/monitoring.csv"):
            resp = person.client.get(url)
            assert resp.status_code == 403, (roles, url)
            assert b"ontvangen" not in resp.get_data()


def test_each_director_sees_only_their_own_school(app, db, clock, school, other_school, seeded,
                                                  director):
    other = enrolled(app, db, clock, other_school["id"], roles=("director",), name="Door Elders")
    html = other.client.get("/admin/monitoring").get_data(as_text=True)
    assert "Monitoring van CSG Het Baken" in html and "De Kastanje" not in html
    assert cells(html, "november 2026") == ["7", "0", "–", "–", "–", "0", "0", "0"]
    assert cells(html, "oktober 2026") == ["0", "0", "–", "–", "–", "0", "0", "0"]
    text = other.client.get("/admin/monitoring.csv").get_data().decode("utf-8-sig")
    assert "2026-11;7;0;0;;;0;0;0;0" in text and "2026-10;0;" in text
    mine = director.client.get("/admin/monitoring").get_data(as_text=True)
    assert cells(mine, "november 2026")[0] == "4"
    # A school id in the query string changes nothing: the school is the director's own.
    assert cells(other.client.get(f"/admin/monitoring?school={school['id']}")
                 .get_data(as_text=True), "november 2026")[0] == "7"


def test_no_personal_data_or_signal_moments(seeded, director):
    page = director.client.get("/admin/monitoring").get_data(as_text=True)
    csv_text = director.client.get("/admin/monitoring.csv").get_data().decode("utf-8-sig")
    assert seeded["moments"]  # the seeding did leave timestamps in the signals table
    for out in (page, csv_text):
        for secret in NAMES + OTHER_NAMES + BIRTHS + seeded["refs"]:
            assert secret not in out
        for part in ("Sanne", "Verzonnen", "Fantasia"):
            assert part not in out
        for moment in seeded["moments"]:
            assert moment not in out and moment[:10] not in out
        assert not re.search(r"\d{4}-\d{2}-\d{2}", out)          # no day, only months
        assert not re.search(r"\b\d{1,2}:\d{2}\b", out)          # no time of day
        assert not re.search(r"\b\d{1,2}[-/]\d{1,2}[-/]\d{2,4}\b", out)


def test_monitoring_shows_minutes_to_the_first_push(app, db, clock, school):
    """Issue 5: the director sees how long it took until the first push went out (median per
    month) — from the receipt's notified_at, kept only as a number of minutes."""
    from server import signals

    from .auth_helpers import enrolled
    director = enrolled(app, db, clock, school["id"], ("director",), "Dirk Directeur")
    _r, _tok = __import__("server").municipalities.add(db, clock.now(), name="G Push",
                                                         brins=[school["brin"]])
    mid = db.conn.execute("SELECT id FROM municipalities WHERE name='G Push'").fetchone()[0]
    for i, delay in enumerate((0, 10, 40)):
        row, _ = signals.receive(db, clock.now(), municipality_id=mid, school_id=school["id"],
                                 reference=f"P-{i}", child=signals.Child("Kind Verzonnen",
                                                                         "2017-01-01"))
        from datetime import timedelta
        signals.mark_notified(db, clock.now() + timedelta(minutes=delay), row["id"])
        signals.mark_notified(db, clock.now() + timedelta(minutes=99), row["id"])  # once only
    page = director.client.get("/admin/monitoring").get_data(as_text=True)
    assert "Mediaan minuten tot eerste melding" in page
    assert db.conn.execute("SELECT group_concat(minutes) FROM notify_minutes").fetchone()[0] \
        == "0,10,40"
    assert '<td class="num">10</td>' in page
