"""The client module on its own: input files, local validation, retries and backoff against a
scripted HTTP server (sleep injected, so nothing waits), token handling, quiet output."""
from __future__ import annotations

import json
import subprocess
import sys
import threading
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from server import client as cl

ROOT = Path(__file__).resolve().parent.parent
TODAY = date(2026, 11, 23)


class Scripted:
    """An HTTP server answering POST/GET from a list of (status, body, headers); then 201."""

    def __init__(self, script):
        self.script = list(script)
        self.seen = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                outer.seen.append({"method": self.command, "path": self.path,
                                   "auth": self.headers.get("Authorization"),
                                   "body": self.rfile.read(length) if length else b""})
                status, body, headers = outer.script.pop(0) if outer.script else (
                    201, {"id": "x", "reference": "R", "status": "received",
                          "received_at": "2026-11-23T06:00:00Z"}, {})
                raw = json.dumps(body).encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            do_POST = do_GET = _answer

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def scripted():
    made = []

    def _make(*script):
        s = Scripted(script)
        made.append(s)
        return s
    yield _make
    for s in made:
        s.close()


def make_client(url, sleeps, **kw):
    return cl.Client(url, "hwc_testtoken", sleep=sleeps.append, min_interval=0, **kw)


def signal(ref="REF-1", name="Sanne Verzonnen", birth="2017-04-02", school="12AB"):
    return cl.Row("", cl.signal_payload(school, ref, name, birth))


def test_the_client_does_not_import_flask():
    code = "import sys, server.client; assert 'flask' not in sys.modules, 'flask imported'"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


def test_retries_5xx_with_backoff_then_accepted(scripted):
    srv = scripted((503, {"error": "storage unavailable, retry later"}, {"Retry-After": "3"}),
                   (502, {}, {}))
    sleeps = []
    [out] = cl.send_many(make_client(srv.url, sleeps), [signal()], TODAY)
    assert out.status == cl.ACCEPTED and out.attempts == 3
    assert sleeps == [3.0, 2.0]  # Retry-After honoured, then exponential backoff
    sent = json.loads(srv.seen[0]["body"])
    assert sent == {"school": "12AB", "reference": "REF-1",
                    "child": {"name": "Sanne Verzonnen", "birth_date": "2017-04-02"}}
    assert srv.seen[0]["auth"] == "Bearer hwc_testtoken"
    assert all(s["body"] == srv.seen[0]["body"] for s in srv.seen)  # same idempotent request


def test_already_there_after_a_lost_answer_counts_as_accepted(scripted):
    srv = scripted((504, {}, {}), (200, {"id": "x", "reference": "REF-1", "status": "received",
                                          "received_at": "2026-11-23T06:00:00Z"}, {}))
    [out] = cl.send_many(make_client(srv.url, []), [signal()], TODAY)
    assert out.status == cl.ACCEPTED
    srv = scripted((429, {"error": "rate limited"}, {"Retry-After": "500"}),
                   (200, {"id": "x", "reference": "REF-1", "status": "opened",
                          "received_at": "2026-11-23T06:00:00Z"}, {}))
    sleeps = []
    [out] = cl.send_many(make_client(srv.url, sleeps), [signal()], TODAY)
    assert out.status == cl.ALREADY  # a 429 was not processed: the earlier send was another run
    assert sleeps == [cl.MAX_WAIT]  # Retry-After is capped


def test_gives_up_after_the_retries(scripted):
    srv = scripted(*[(503, {"error": "storage unavailable, retry later"}, {})] * 10)
    sleeps = []
    [out] = cl.send_many(make_client(srv.url, sleeps, retries=3), [signal()], TODAY)
    assert out.status == cl.FAILED and not out.ok
    assert out.reason == "storage unavailable, retry later; gave up after 4 attempts"
    assert sleeps == [1.0, 2.0, 4.0]


def test_no_server_at_all_fails_clearly():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sleeps = []
    [out] = cl.send_many(make_client(f"http://127.0.0.1:{port}", sleeps, retries=2),
                         [signal()], TODAY)
    assert out.status == cl.FAILED and out.reason.startswith("no answer from the server")
    assert len(sleeps) == 2


def test_refusals_are_not_retried_and_carry_the_reason(scripted):
    srv = scripted((422, {"error": "invalid signal", "details": [
        {"field": "school", "message": "unknown school"}]}, {}),
        (403, {"error": "this token may not send to that school"}, {}),
        (409, {"error": "reference already used for a different signal"}, {}))
    sleeps = []
    outs = cl.send_many(make_client(srv.url, sleeps), [signal("A"), signal("B"), signal("C")],
                        TODAY)
    assert [o.reason for o in outs] == ["school: unknown school",
                                        "this token may not send to that school",
                                        "reference already used for a different signal"]
    assert all(o.status == cl.REFUSED for o in outs) and sleeps == [] and len(srv.seen) == 3


def test_a_refused_token_stops_the_batch(scripted):
    srv = scripted((401, {"error": "unauthorized"}, {}))
    outs = cl.send_many(make_client(srv.url, []), [signal("A"), signal("B")], TODAY)
    assert [o.status for o in outs] == [cl.FAILED, cl.FAILED]
    assert outs[1].reason == "not sent (the token was refused)" and len(srv.seen) == 1


def test_local_validation_sends_nothing_invalid(scripted):
    srv = scripted()
    rows = [signal("OK-1"), signal("BAD-1", birth="2017-02-30"), signal("BAD-2", name="R2D2"),
            signal("OK-1", name="Joris Bedenksel"), cl.Row("row 9", None),
            cl.Row("item 3", {"school": "12AB", "reference": "X-1",
                              "child": {"name": "Mila Fantasia", "birth_date": "2017-01-01",
                                        "bsn": "123456782"}})]
    outs = cl.send_many(make_client(srv.url, []), rows, TODAY)
    assert len(srv.seen) == 1
    assert [o.status for o in outs] == [cl.ACCEPTED] + [cl.REFUSED] * 5
    assert outs[1].reason == "geboortedatum: schrijf dd-mm-jjjj (bijvoorbeeld 31-01-2017) of jjjj-mm-dd"
    assert outs[2].reason.startswith("child.name: may contain only letters")
    assert outs[3].reason == "reference appears earlier in this input"
    assert outs[4].reason == "wrong number of columns"
    assert outs[5].reason.startswith("child.bsn: unknown field")
    assert "123456782" not in outs[5].line(verbose=True)


def test_output_lines_show_names_only_when_verbose():
    good, refused = cl.prepare([signal("REF-9"), signal("Bad ref!", name="Noor Denkbeeld")], TODAY)
    out = cl.Outcome("REF-9", cl.ACCEPTED, where="row 2", signal=good[0][1])
    assert out.line() == "row 2  REF-9: accepted"
    assert out.line(verbose=True) == "row 2  REF-9: accepted  [Sanne Verzonnen, 2017-04-02]"
    assert "Sanne" not in repr(out)
    line = refused[0].line()
    assert line.startswith("(no valid reference): refused — reference: must be")
    assert "Noor" not in line and "Bad ref" not in line


def test_load_csv_semicolons_bom_and_order(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("\ufeffReference;name;birth_date;school\r\nR-1;Sanne Verzonnen;2017-04-02;12AB"
                    "\r\n\r\nR-2;Joris Bedenksel;2016-05-06;12AB\r\n", encoding="utf-8")
    rows = cl.load_file(path)
    assert [r.where for r in rows] == ["row 2", "row 4"]
    assert rows[1].payload == {"school": "12AB", "reference": "R-2",
                               "child": {"name": "Joris Bedenksel", "birth_date": "2016-05-06"}}


@pytest.mark.parametrize("header", ["school,reference,name", "school,reference,name,birth_date,bsn",
                                    "school,reference,name,name", ""])
def test_csv_with_wrong_columns_is_refused_whole(tmp_path, header):
    path = tmp_path / "s.csv"
    path.write_text(header + "\n12AB,R-1,Sanne Verzonnen,2017-04-02,x\n", encoding="utf-8")
    with pytest.raises(cl.ClientError):
        cl.load_file(path)


def test_load_json_both_shapes(tmp_path):
    path = tmp_path / "s.json"
    path.write_text(json.dumps([
        {"school": "12AB", "reference": "J-1", "name": "Sanne Verzonnen",
         "birth_date": "2017-04-02"},
        {"school": "12AB", "reference": "J-2",
         "child": {"name": "Joris Bedenksel", "birth_date": "2016-05-06"}}]))
    rows = cl.load_file(path)
    good, refused = cl.prepare(rows, TODAY)
    assert [s.reference for _r, s in good] == ["J-1", "J-2"] and not refused
    path.write_text(json.dumps([{"school": "12AB", "reference": "J-1", "name": "X",
                                 "birth_date": "2017-04-02", "address": "Dorpsstraat 1"}]))
    with pytest.raises(cl.ClientError) as err:
        cl.load_file(path)
    assert "Dorpsstraat" not in str(err.value)
    path.write_text('{"not": "a list"}')
    with pytest.raises(cl.ClientError):
        cl.load_file(path)


def test_token_comes_from_a_file_or_the_environment(tmp_path):
    assert cl.read_token(env={"HWC_TOKEN": " hwc_abc\n"}) == "hwc_abc"
    f = tmp_path / "t"
    f.write_text("hwc_fromfile\n")
    assert cl.read_token(f, env={"HWC_TOKEN": "hwc_env"}) == "hwc_fromfile"
    for bad_env in ({}, {"HWC_TOKEN": ""}, {"HWC_TOKEN": "two words"}):
        with pytest.raises(cl.ClientError):
            cl.read_token(env=bad_env)
    with pytest.raises(cl.ClientError):
        cl.read_token(tmp_path / "missing", env={})
    assert "hwc_x" not in repr(cl.Client("https://hwc.example.nl", "hwc_x"))


def test_urls():
    assert cl.check_url("https://hwc.example.nl/") == "https://hwc.example.nl"
    assert cl.check_url("http://localhost:8000") == "http://localhost:8000"
    for bad in ("http://hwc.example.nl", "hwc.example.nl", "https://hwc.example.nl/?x=1",
                "https://u@hwc.example.nl", "ftp://hwc.example.nl"):
        with pytest.raises(cl.ClientError):
            cl.check_url(bad)


def test_pacing_keeps_under_the_rate_limit(scripted):
    srv = scripted()
    sleeps, now = [], [100.0]
    client = cl.Client(srv.url, "hwc_t", sleep=sleeps.append, min_interval=0.1,
                       monotonic=lambda: now[0])
    cl.send_many(client, [signal("P-1"), signal("P-2")], TODAY)
    assert sleeps == [pytest.approx(0.1)]


def test_receipts_and_stats_calls(scripted):
    srv = scripted((200, {"since": "2026-11-16T06:00:00Z", "truncated": False, "receipts": []}, {}),
                   (404, {"error": "no signal with that reference"}, {}),
                   (200, {"from": "2026-01", "to": "2026-11", "schools": []}, {}),
                   (401, {"error": "unauthorized"}, {}))
    client = make_client(srv.url, [])
    assert client.receipts("2026-11-16")["receipts"] == []
    assert client.receipt("NOPE") is None
    assert client.stats("2026-01", "2026-11")["to"] == "2026-11"
    with pytest.raises(cl.Unauthorized):
        client.receipts()
    assert [s["path"] for s in srv.seen] == ["/api/v1/signals?since=2026-11-16",
                                             "/api/v1/signals/NOPE",
                                             "/api/v1/stats?from=2026-01&to=2026-11",
                                             "/api/v1/signals"]
    with pytest.raises(cl.ClientError):
        client.receipt("../etc")


def test_load_csv_dutch_headers_and_dates(tmp_path):
    """A leerplicht office's spreadsheet: Dutch column names, dd-mm-jjjj, ';' (issue 13)."""
    path = tmp_path / "s.csv"
    path.write_text("Naam;Geboortedatum;School;Kenmerk\n"
                    "Sanne Verzonnen;31-01-2017;12AB;R-1\nJoris Bedenksel;31-02-2017;12AB;R-2\n",
                    encoding="utf-8")
    rows = cl.load_file(path)
    assert rows[0].payload["child"]["birth_date"] == "2017-01-31"
    good, refused = cl.prepare(rows, TODAY)
    assert [s.reference for _r, s in good] == ["R-1"]
    assert refused[0].reason.startswith("geboortedatum: schrijf dd-mm-jjjj")
