"""The municipality's side: send signals to a HwC Inbox server and read their receipts.

Importable by other programs (no Flask; only the standard library and `server.intake`):

    from server.client import Client, send_many, load_file
    client = Client("https://hwc.school.nl", token)
    for outcome in send_many(client, load_file("today.csv")):
        print(outcome.line())

The standard library's `urllib.request` is used rather than `requests` so that a municipality's
script needs nothing beyond this package; it verifies TLS certificates by default and the client
needs no sessions, cookies or redirects.

Every signal is validated locally first (the same `intake.validate` the server runs), so a typo is
refused before anything leaves the building. Sending is safe to retry: the municipality's
reference makes a POST idempotent, so a timeout or a 503 is simply tried again with backoff, and
a rerun of the whole file answers "already accepted" for what arrived the first time.

Outcome lines never contain a name or birth date unless asked for (`verbose`): they end up in
terminal scroll-back, cron mails and log files.
"""
from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

from . import csvin, intake
from .clock import LOCAL_TZ

ACCEPTED = "accepted"
ALREADY = "already accepted"
REFUSED = "refused"
FAILED = "failed"

CSV_COLUMNS = ("school", "reference", "name", "birth_date")
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")
RETRY_STATUSES = (429, 500, 502, 503, 504)
MAX_WAIT = 60.0
MAX_BODY = 4 * 1024 * 1024  # a receipt list of 1000 is ~250 KB


class ClientError(Exception):
    """A problem with the input or setup (file, URL, token); the message names no child."""


class Unauthorized(ClientError):
    pass


# --- setup ------------------------------------------------------------------------------------

def check_url(url: str) -> str:
    """The server's origin; https, or http only to this machine (a token must not travel bare)."""
    parts = urlsplit((url or "").strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ClientError("--url must be the server's address, like https://hwc.school.nl")
    if parts.scheme == "http" and parts.hostname not in LOCAL_HOSTS:
        raise ClientError("--url must use https (plain http only for localhost)")
    if parts.query or parts.fragment or parts.username:
        raise ClientError("--url must be just the server's address")
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


def read_token(token_file: str | os.PathLike | None = None, env: dict | None = None) -> str:
    """The API token from a file or the HWC_TOKEN environment variable — never from the command
    line, where other users see it in the process list and shells keep it in their history."""
    env = os.environ if env is None else env
    if token_file:
        try:
            token = Path(token_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ClientError(f"cannot read the token file ({exc.strerror})") from None
    else:
        token = env.get("HWC_TOKEN", "").strip()
    if not token:
        raise ClientError("no token: set HWC_TOKEN or pass --token-file")
    if len(token) > 200 or any(ch.isspace() for ch in token):
        raise ClientError("the token does not look like an HwC Inbox token")
    return token


def local_today():
    return datetime.now(timezone.utc).astimezone(LOCAL_TZ).date()


# --- HTTP -------------------------------------------------------------------------------------

@dataclass
class Response:
    status: int | None  # None: no answer (network error)
    body: object = None
    retry_after: float | None = None
    problem: str | None = None
    attempts: int = 1


class Client:
    """A thin client for the municipality API v1. `sleep` is injectable so tests never wait."""

    def __init__(self, url: str, token: str, *, timeout: float = 15.0, retries: int = 4,
                 backoff: float = 1.0, min_interval: float = 0.1, sleep=time.sleep,
                 monotonic=time.monotonic):
        self.url = check_url(url)
        self._token = token
        self.timeout, self.retries, self.backoff, self.sleep = timeout, retries, backoff, sleep
        # Pace requests (default at most 10 a second) so a batch stays under the server's rate
        # limit instead of running into 429s and their long Retry-After.
        self.min_interval, self._monotonic, self._last = min_interval, monotonic, None
        handlers = [urllib.request.HTTPRedirectHandler()]
        if urlsplit(self.url).hostname in LOCAL_HOSTS:
            handlers.append(urllib.request.ProxyHandler({}))
        self._opener = urllib.request.build_opener(*handlers)

    def __repr__(self) -> str:  # never show the token
        return f"Client({self.url!r})"

    def _once(self, method: str, path: str, body: bytes | None = None) -> Response:
        if self._last is not None and self.min_interval > 0:
            gap = self.min_interval - (self._monotonic() - self._last)
            if gap > 0:
                self.sleep(gap)
        self._last = self._monotonic()
        headers = {"Authorization": f"Bearer {self._token}", "Accept": "application/json",
                   "User-Agent": "hwc-inbox-client/1"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(self.url + path, data=body, method=method, headers=headers)
        try:
            with self._opener.open(req, timeout=self.timeout) as resp:
                status, raw, headers_in = resp.status, resp.read(MAX_BODY), resp.headers
        except urllib.error.HTTPError as exc:
            status, raw, headers_in = exc.code, exc.read(MAX_BODY), exc.headers
            exc.close()
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            return Response(None, problem=f"no answer from the server ({type(reason).__name__})")
        try:
            parsed = json.loads(raw.decode("utf-8")) if raw else None
        except ValueError:
            parsed = None
        retry_after = None
        try:
            retry_after = float(headers_in.get("Retry-After")) if headers_in else None
        except (TypeError, ValueError):
            pass
        return Response(status, parsed, retry_after)

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[Response, bool]:
        """One call with retries on no answer, 429 and 5xx. Returns (last response, unsure):
        `unsure` is True when an earlier attempt may have reached the server (no answer, or a
        gateway error) — then a later 'already there' is really our own first attempt."""
        attempt, unsure = 0, False
        while True:
            attempt += 1
            resp = self._once(method, path, body)
            if (resp.status is not None and resp.status not in RETRY_STATUSES) \
                    or attempt > self.retries:
                resp.attempts = attempt
                return resp, unsure
            unsure = unsure or resp.status in (None, 500, 502, 504)
            wait = min(self.backoff * 2 ** (attempt - 1), MAX_WAIT)
            if resp.retry_after is not None:
                wait = min(max(wait, resp.retry_after), MAX_WAIT)
            self.sleep(wait)

    def _json(self, path: str) -> object:
        resp, _ = self.request("GET", path)
        if resp.status == 401:
            raise Unauthorized("the server refused the token (401)")
        if resp.status != 200:
            raise ClientError(_reason(resp))
        return resp.body

    def send(self, signal: intake.Signal) -> "Outcome":
        """POST one locally validated signal; never raises for a refusal, returns the outcome."""
        payload = {"school": signal.school, "reference": signal.reference,
                   "child": {"name": signal.name, "birth_date": signal.birth_date.isoformat()}}
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        resp, unsure = self.request("POST", "/api/v1/signals", body)
        attempts = resp.attempts
        outcome = Outcome(reference=signal.reference, signal=signal, attempts=attempts,
                          http_status=resp.status)
        if resp.status == 201:
            outcome.status = ACCEPTED
        elif resp.status == 200:
            # A retry after a lost answer finds our own first attempt: that is still 'accepted'.
            outcome.status = ACCEPTED if unsure else ALREADY
        elif resp.status == 401:
            outcome.status, outcome.reason = FAILED, "the server refused the token (401)"
        elif resp.status is None or resp.status in RETRY_STATUSES:
            outcome.status = FAILED
            outcome.reason = f"{_reason(resp)}; gave up after {attempts} attempts"
        else:
            outcome.status, outcome.reason = REFUSED, _reason(resp)
        return outcome

    def receipt(self, reference: str) -> dict | None:
        """The receipt of one reference, or None when the server has none (or purged it)."""
        if not intake.REFERENCE_RE.fullmatch(reference or ""):
            raise ClientError("a reference is 1-64 characters of A-Z a-z 0-9 . _ -")
        resp, _ = self.request("GET", "/api/v1/signals/" + quote(reference, safe=""))
        if resp.status == 404:
            return None
        if resp.status == 401:
            raise Unauthorized("the server refused the token (401)")
        if resp.status != 200:
            raise ClientError(_reason(resp))
        return resp.body

    def receipts(self, since: str | None = None) -> dict:
        """Receipts that changed since `since` (YYYY-MM-DD or a UTC timestamp; default 7 days)."""
        query = "?" + urlencode({"since": since}) if since else ""
        return self._json("/api/v1/signals" + query)

    def stats(self, first: str | None = None, last: str | None = None) -> dict:
        """Anonymous monthly figures per school (small cells given as "<5")."""
        params = {k: v for k, v in (("from", first), ("to", last)) if v}
        return self._json("/api/v1/stats" + ("?" + urlencode(params) if params else ""))


def _reason(resp: Response) -> str:
    if resp.status is None:
        return resp.problem or "no answer from the server"
    body = resp.body if isinstance(resp.body, dict) else {}
    message = str(body.get("error") or f"HTTP {resp.status}")
    details = body.get("details")
    if isinstance(details, list) and details:
        parts = [f"{d.get('field')}: {d.get('message')}" for d in details if isinstance(d, dict)]
        return "; ".join(parts) or message
    if resp.status == 409:
        return "reference already used for a different signal"
    return message


# --- input ------------------------------------------------------------------------------------

@dataclass
class Row:
    """One input signal before validation; `where` says where it came from (row 4, item 2)."""
    where: str
    payload: object = field(repr=False)  # holds the child's name: never in a traceback


@dataclass
class Outcome:
    reference: str | None
    status: str = FAILED
    reason: str | None = None
    where: str = ""
    signal: intake.Signal | None = field(default=None, repr=False)
    attempts: int = 0
    row: Row | None = field(default=None, repr=False)
    http_status: int | None = None

    @property
    def ok(self) -> bool:
        return self.status in (ACCEPTED, ALREADY)

    def line(self, verbose: bool = False) -> str:
        """One line for people; the child's name and birth date only if `verbose`."""
        ref = self.reference if self.reference and intake.REFERENCE_RE.fullmatch(self.reference) \
            else "(no valid reference)"
        head = f"{self.where}  {ref}" if self.where else ref
        text = f"{head}: {self.status}"
        if self.reason:
            text += f" — {self.reason}"
        if verbose and self.signal is not None:
            text += f"  [{self.signal.name}, {self.signal.birth_date.isoformat()}]"
        return text

    def __repr__(self) -> str:
        return f"Outcome({self.reference!r}, {self.status!r})"


def signal_payload(school=None, reference=None, name=None, birth_date=None) -> dict:
    """The API's JSON shape from flat fields (missing ones are left out, so validation names
    them)."""
    payload: dict = {}
    if school is not None:
        payload["school"] = school
    if reference is not None:
        payload["reference"] = reference
    child = {k: v for k, v in (("name", name), ("birth_date", birth_date)) if v is not None}
    payload["child"] = child
    return payload


def load_file(path: str | os.PathLike) -> list[Row]:
    """Signals from a CSV (header: school, reference, name, birth_date; ',' or ';') or a JSON
    list of objects (flat like the CSV, or the API's shape with a `child` object).

    A file with any other column is refused as a whole: minimal data means nothing else should
    be in it, and quietly dropping a column would hide that it was there."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ClientError(f"{path.name} is not UTF-8 text") from None
    except OSError as exc:
        raise ClientError(f"cannot read {path.name} ({exc.strerror})") from None
    if path.suffix.lower() == ".json":
        return _load_json(text, path.name)
    return _load_csv(text, path.name)


def _load_csv(text: str, filename: str) -> list[Row]:
    """Dutch headers and dates are accepted (server/csvin.py, shared with the portal upload)."""
    try:
        read = csvin.read(text)
    except csvin.CsvError as exc:
        raise ClientError(f"{filename}: {exc} / the header must be exactly the columns "
                          f"{', '.join(CSV_COLUMNS)} (in any order)") from None
    return [Row(f"row {line}", None if values is None else signal_payload(
        values["school"], values["reference"], values["name"], values["birth_date"]))
        for line, values in read]


def _load_json(text: str, filename: str) -> list[Row]:
    try:
        data = json.loads(text)
    except ValueError:
        raise ClientError(f"{filename} is not valid JSON") from None
    if not isinstance(data, list):
        raise ClientError(f"{filename} must hold a JSON list of signals")
    rows = []
    for i, item in enumerate(data, start=1):
        where = f"item {i}"
        if isinstance(item, dict) and "child" not in item and (
                "name" in item or "birth_date" in item):
            extra = set(item) - set(CSV_COLUMNS)
            if extra:
                raise ClientError(f"{filename} {where}: only the fields "
                                  f"{', '.join(CSV_COLUMNS)} are allowed")
            item = signal_payload(item.get("school"), item.get("reference"), item.get("name"),
                                  item.get("birth_date"))
        rows.append(Row(where, item))
    return rows


def prepare(rows: list[Row], today) -> tuple[list[tuple[Row, intake.Signal]], list[Outcome]]:
    """Validate locally; returns (signals to send, refusals). A reference used twice in one
    input is refused the second time (the server would answer 409 or a silent duplicate)."""
    good, refused, seen = [], [], set()
    for row in rows:
        reference = row.payload.get("reference") if isinstance(row.payload, dict) else None
        reference = reference if isinstance(reference, str) else None
        if row.payload is None:
            refused.append(Outcome(reference, REFUSED, "wrong number of columns", row.where,
                                   row=row))
            continue
        try:
            signal = intake.validate(row.payload, today)
        except intake.Invalid as exc:
            reason = "; ".join(csvin.DATE_HELP if d["field"] == "child.birth_date"
                               and "age" not in d["message"] else f"{d['field']}: {d['message']}"
                               for d in exc.details)
            refused.append(Outcome(reference, REFUSED, reason, row.where, row=row))
            continue
        if signal.reference in seen:
            refused.append(Outcome(reference, REFUSED, "reference appears earlier in this input",
                                   row.where, signal, row=row))
            continue
        seen.add(signal.reference)
        good.append((row, signal))
    return good, refused


def send_many(client: Client, rows: list[Row], today=None) -> list[Outcome]:
    """Validate all, send the valid ones; outcomes in input order. After a 401 nothing more is
    sent (every further call would be refused the same way)."""
    good, refused = prepare(rows, today or local_today())
    order = {id(row): i for i, row in enumerate(rows)}
    results = list(refused)
    stop = False
    for row, signal in good:
        if stop:
            outcome = Outcome(signal.reference, FAILED, "not sent (the token was refused)",
                              row.where, signal, row=row)
        else:
            outcome = client.send(signal)
            outcome.where, outcome.row = row.where, row
            stop = outcome.http_status == 401
        results.append(outcome)
    return sorted(results, key=lambda o: order[id(o.row)])


def summary(outcomes: list[Outcome]) -> str:
    counts = {s: sum(1 for o in outcomes if o.status == s)
              for s in (ACCEPTED, ALREADY, REFUSED, FAILED)}
    return ", ".join(f"{n} {s}" for s, n in counts.items())
