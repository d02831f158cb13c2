"""Signals from a spreadsheet: the CSV rules shared by `hwc-inbox send` and the portal upload.

Pure and standard-library only (the send tool runs on a municipality's machine). Dutch headers
and dates are accepted because that is what a leerplicht office's spreadsheet holds: `naam`,
`geboortedatum` as `31-01-2017`, `;` as separator. The header must name exactly the four
columns (in any order, Dutch or English): minimal data means nothing else may be in the file,
and quietly dropping a column would hide that it was there. Messages never repeat a value.
"""
from __future__ import annotations

import csv
import io
import re
from datetime import date

COLUMNS = ("school", "reference", "name", "birth_date")
ALIASES = {
    "school": "school", "brin": "school", "brin-code": "school", "brincode": "school",
    "reference": "reference", "kenmerk": "reference", "referentie": "reference",
    "name": "name", "naam": "name", "naam kind": "name",
    "birth_date": "birth_date", "geboortedatum": "birth_date",
}
HEADER_HELP = ("De eerste regel moet precies de kolommen school, kenmerk, naam en geboortedatum "
               "noemen (in elke volgorde; ook school, reference, name, birth_date).")
DATE_HELP = "geboortedatum: schrijf dd-mm-jjjj (bijvoorbeeld 31-01-2017) of jjjj-mm-dd"

_DMY = re.compile(r"^\s*([0-9]{1,2})[-/.]([0-9]{1,2})[-/.]([0-9]{4})\s*$")
_YMD = re.compile(r"^\s*([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})\s*$")


class CsvError(ValueError):
    """The file as a whole cannot be read; the message is Dutch and names no value."""


def iso_birth_date(text: str) -> str | None:
    """'31-01-2017', '31/1/2017', '2017-01-31' → '2017-01-31'; None if it is no real date."""
    text = (text or "").strip()
    m = _DMY.match(text)
    if m:
        day, month, year = (int(g) for g in m.groups())
    else:
        m = _YMD.match(text)
        if not m:
            return None
        year, month, day = (int(g) for g in m.groups())
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        return None


def read(text: str) -> list[tuple[int, dict | None]]:
    """(line number, {school, reference, name, birth_date}) per non-empty row; None for a row
    with the wrong number of cells. Dates are turned into ISO where they are real dates (else
    left as written, so validation refuses them)."""
    text = text.lstrip("\ufeff")
    first_line = text.split("\n", 1)[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = [ALIASES.get(h.strip().lower(), "?") for h in next(reader)]
    except StopIteration:
        raise CsvError("Het bestand is leeg.") from None
    except csv.Error:
        raise CsvError("Dit is geen leesbaar CSV-bestand.") from None
    if sorted(header) != sorted(COLUMNS):
        raise CsvError(HEADER_HELP)
    rows = []
    try:
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue
            if len(cells) != len(header):
                rows.append((reader.line_num, None))
                continue
            values = {k: v.strip() for k, v in zip(header, cells)}
            values["birth_date"] = iso_birth_date(values["birth_date"]) or values["birth_date"]
            rows.append((reader.line_num, values))
    except csv.Error:
        raise CsvError("Dit is geen leesbaar CSV-bestand.") from None
    return rows
