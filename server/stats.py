"""Anonymous monitoring: monthly figures per school, built only from the anonymous counters.

Pure functions over `monthly_counts` and `open_minutes` (written by `signals.py`); no Flask. What
stays inside the school (the director's page and CSV) shows exact counts; what leaves the school
(the municipality API) goes through `suppress()`, which replaces every count below 5 with "<5" the
way statistics offices protect small cells, and drops the minutes-to-open figures when they rest
on fewer than 5 openings (a median of one is that one signal's exact time).

Nothing here ever reads the `signals` table: the figures cannot hold a name, a birth date or the
moment of one signal, only a month and a count.
"""
from __future__ import annotations

import csv
import html
import io
import math
import re
from datetime import date

#: The counters in the order the table, CSV and API show them.
COUNT_METRICS = ("received", "opened", "opened_before_start", "teacher_informed", "returned",
                 "expired", "closed")
MINUTE_FIELDS = ("median_minutes_to_open", "p90_minutes_to_open")
FIELDS = ("month",) + COUNT_METRICS[:3] + MINUTE_FIELDS + COUNT_METRICS[3:]

#: Cells below this are shown as SMALL in anything that leaves the school.
MIN_CELL = 5
SMALL = "<5"
MONTH_RE = re.compile(r"([0-9]{4})-(0[1-9]|1[0-2])")  # fullmatch only
MAX_MONTHS = 36

#: Dutch column headings for the director's CSV download (the UI language).
CSV_HEADINGS = {
    "month": "maand",
    "received": "ontvangen",
    "opened": "geopend",
    "opened_before_start": "geopend_voor_schooltijd",
    "median_minutes_to_open": "mediaan_minuten_tot_openen",
    "p90_minutes_to_open": "p90_minuten_tot_openen",
    "teacher_informed": "leerkracht_geinformeerd",
    "returned": "teruggestuurd",
    "expired": "verlopen",
    "closed": "afgesloten",
}


class StatsError(ValueError):
    """A bad month or range; the message names the parameter, never echoes arbitrary input."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


# --- months -----------------------------------------------------------------------------------

def parse_month(text: str | None, field: str) -> tuple[int, int]:
    match = MONTH_RE.fullmatch(text or "")
    if not match:
        raise StatsError(field, "must be a month as YYYY-MM")
    return int(match.group(1)), int(match.group(2))


def month_str(year: int, month: int) -> str:
    return f"{year:04d}-{month:02d}"


def shift_month(month: str, delta: int) -> str:
    year, mon = parse_month(month, "month")
    index = year * 12 + (mon - 1) + delta
    return month_str(index // 12, index % 12 + 1)


def month_range(first: str, last: str) -> list[str]:
    """Every month from `first` to `last` inclusive (both 'YYYY-MM')."""
    y1, m1 = parse_month(first, "from")
    y2, m2 = parse_month(last, "to")
    start, end = y1 * 12 + m1 - 1, y2 * 12 + m2 - 1
    if start > end:
        raise StatsError("from", "must not be after to")
    if end - start + 1 > MAX_MONTHS:
        raise StatsError("to", f"the range may span at most {MAX_MONTHS} months")
    return [month_str(i // 12, i % 12 + 1) for i in range(start, end + 1)]


def default_range(today: date, months: int = 12) -> tuple[str, str]:
    """The last `months` months up to and including the current one."""
    last = month_str(today.year, today.month)
    return shift_month(last, -(months - 1)), last


# --- figures ----------------------------------------------------------------------------------

def median(values: list[int]) -> int | None:
    """The median in whole minutes (halves round up); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    n = len(ordered)
    mid = n // 2
    if n % 2:
        return ordered[mid]
    return math.floor((ordered[mid - 1] + ordered[mid]) / 2 + 0.5)


def percentile(values: list[int], p: float) -> int | None:
    """Nearest-rank percentile: the smallest value with at least p% of values at or below it.

    Always a value that occurred (no interpolation), so it is the same in any spreadsheet check.
    """
    if not values:
        return None
    if not 0 < p <= 100:
        raise ValueError("p must be in (0, 100]")
    ordered = sorted(values)
    rank = math.ceil(p / 100 * len(ordered))
    return ordered[rank - 1]


def monthly_rows(db, school_id: int, first: str, last: str) -> list[dict]:
    """One row per month from `first` to `last` (inclusive, oldest first) with exact figures.

    Months without any signal are included with zeros, so a table or chart has no gaps and the
    absence of a row says nothing. Keys: FIELDS.
    """
    months = month_range(first, last)
    counts: dict[tuple[str, str], int] = {}
    for row in db.query(
            "SELECT month, metric, value FROM monthly_counts"
            " WHERE school_id = ? AND month BETWEEN ? AND ?", (school_id, months[0], months[-1])):
        counts[(row["month"], row["metric"])] = row["value"]
    minutes: dict[str, list[int]] = {}
    for row in db.query(
            "SELECT month, minutes FROM open_minutes WHERE school_id = ? AND month BETWEEN ? AND ?",
            (school_id, months[0], months[-1])):
        minutes.setdefault(row["month"], []).append(row["minutes"])
    rows = []
    for month in months:
        row: dict = {"month": month}
        for metric in COUNT_METRICS:
            row[metric] = counts.get((month, metric), 0)
        values = minutes.get(month, [])
        row["median_minutes_to_open"] = median(values)
        row["p90_minutes_to_open"] = percentile(values, 90)
        rows.append({k: row[k] for k in FIELDS})
    return rows


def suppress(row: dict) -> dict:
    """The outward form of a row: counts below MIN_CELL become SMALL; the minutes-to-open figures
    are given only when at least MIN_CELL openings are behind them (else None)."""
    out: dict = {"month": row["month"]}
    for key in FIELDS[1:]:
        if key in MINUTE_FIELDS:
            out[key] = row[key] if row["opened"] >= MIN_CELL else None
        else:
            out[key] = row[key] if row[key] >= MIN_CELL else SMALL
    return out


def school_stats(db, school_ids: list[int], first: str, last: str) -> list[dict]:
    """The municipality's view: per school (BRIN) the suppressed monthly rows."""
    result = []
    for school_id in sorted(set(school_ids)):
        school = list(db.query("SELECT brin FROM schools WHERE id = ?", (school_id,)))
        if not school:
            continue
        result.append({"school": school[0]["brin"],
                       "months": [suppress(r) for r in monthly_rows(db, school_id, first, last)]})
    return sorted(result, key=lambda s: s["school"])


# --- outputs for the director -----------------------------------------------------------------

def csv_bytes(rows: list[dict], *, outward: bool = False) -> bytes:
    """The table as CSV for a spreadsheet: Dutch headings, ';' separated (what Dutch Excel
    expects), UTF-8 with BOM. `outward=True` applies small-cell suppression (for anything
    that leaves the school). Only months and numbers: nothing in it can start a formula."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow([CSV_HEADINGS[f] for f in FIELDS])
    for row in rows:
        row = suppress(row) if outward else row
        writer.writerow(["" if row[f] is None else row[f] for f in FIELDS])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def _month_label(month: str) -> str:
    names = ("jan", "feb", "mrt", "apr", "mei", "jun", "jul", "aug", "sep", "okt", "nov", "dec")
    year, mon = parse_month(month, "month")
    return f"{names[mon - 1]} {year % 100:02d}"


def svg_chart(rows: list[dict], *, title: str = "Signalen per maand", width: int = 480,
              height: int = 180, id_prefix: str = "chart") -> str:
    """A small bar chart (per month: received, and opened before school start) as an inline SVG
    string. No script, no style attributes (the CSP forbids inline style): colours come from
    classes `chart-received` / `chart-before-start` in app.css, with presentation-attribute
    fallbacks. Every text is escaped; the chart has a title and a text alternative."""
    pad_left, pad_bottom, pad_top = 28, 22, 24
    plot_w, plot_h = width - pad_left - 4, height - pad_bottom - pad_top
    top = max([1] + [r["received"] for r in rows] + [r["opened_before_start"] for r in rows])
    slot = plot_w / max(1, len(rows))
    bar = max(2.0, slot * 0.35)
    esc = html.escape
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]{0,30}", id_prefix):
        raise ValueError("id_prefix must be a simple identifier")
    total_received = sum(r["received"] for r in rows)
    total_before = sum(r["opened_before_start"] for r in rows)
    desc = (f"{total_received} signalen ontvangen, waarvan {total_before} geopend voor "
            f"schooltijd, over {len(rows)} maanden")
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'aria-labelledby="{id_prefix}-title {id_prefix}-desc">',
        f'<title id="{id_prefix}-title">{esc(title)}</title>',
        f'<desc id="{id_prefix}-desc">{esc(desc)}</desc>',
        f'<line class="chart-axis" x1="{pad_left}" y1="{pad_top + plot_h}" x2="{width - 4}" '
        f'y2="{pad_top + plot_h}" stroke="#555" stroke-width="1"/>',
        f'<text class="chart-label" x="{pad_left - 4}" y="{pad_top + 8}" text-anchor="end" '
        f'font-size="10">{int(top)}</text>',
        f'<text class="chart-label" x="{pad_left - 4}" y="{pad_top + plot_h}" text-anchor="end" '
        f'font-size="10">0</text>',
    ]
    legend_x = pad_left
    for cls, fill, label in (("chart-received", "#3b6ea5", "ontvangen"),
                             ("chart-before-start", "#6aa84f", "geopend voor schooltijd")):
        parts.append(f'<rect class="{cls}" x="{legend_x}" y="4" width="10" height="10" '
                     f'fill="{fill}"/><text class="chart-label" x="{legend_x + 14}" y="13" '
                     f'font-size="10">{esc(label)}</text>')
        legend_x += 14 + 7 * len(label) + 16
    for i, row in enumerate(rows):
        x = pad_left + i * slot + slot * 0.1
        for j, (key, cls, fill, label) in enumerate((
                ("received", "chart-received", "#3b6ea5", "ontvangen"),
                ("opened_before_start", "chart-before-start", "#6aa84f",
                 "geopend voor schooltijd"))):
            value = int(row[key])
            h = plot_h * value / top
            parts.append(
                f'<rect class="{cls}" x="{x + j * bar:.1f}" y="{pad_top + plot_h - h:.1f}" '
                f'width="{bar:.1f}" height="{h:.1f}" fill="{fill}">'
                f'<title>{esc(_month_label(row["month"]))}: {value} {esc(label)}</title></rect>')
        parts.append(
            f'<text class="chart-label" x="{x + bar:.1f}" y="{height - 6}" text-anchor="middle" '
            f'font-size="9">{esc(_month_label(row["month"]))}</text>')
    parts.append("</svg>")
    return "".join(parts)


def push_minutes(db, school_id: int, first: str, last: str) -> dict[str, int | None]:
    """Per month: the median minutes from receipt to the first push (the receipt's
    `notified_at`), or None for a month without pushes. For the director's page only."""
    values: dict[str, list[int]] = {}
    for row in db.query(
            "SELECT month, minutes FROM notify_minutes WHERE school_id = ?"
            " AND month BETWEEN ? AND ?", (school_id, first, last)):
        values.setdefault(row["month"], []).append(row["minutes"])
    return {month: median(v) for month, v in values.items()}
