"""URL converters: ids in a path are what SQLite can hold, or the route answers 404.

Werkzeug's `int` accepts any number of digits (and any script's digits), so
`/admin/staff/99999999999999999999` reached SQLite, which refused the Python int with an
OverflowError: a 500. Every `<int:…>` route gets this converter instead (`create_app`
registers it as `int`), so an id past 64 bits is simply not found.
"""
from __future__ import annotations

from werkzeug.routing import IntegerConverter

#: The largest INTEGER SQLite stores (a signed 64-bit number).
SQLITE_MAX_INT = 2**63 - 1


class SqliteId(IntegerConverter):
    # At most 18 ASCII digits (< 10**18 < 2**63), in the pattern itself: a value refused only by
    # `max` would turn into a 405 where the same path has a GET and a POST rule. No id of ours
    # comes near 10**18.
    regex = r"[0-9]{1,18}"

    def __init__(self, map, fixed_digits=0, min=None, max=None, signed=False):
        super().__init__(map, fixed_digits=fixed_digits, min=min,
                         max=SQLITE_MAX_INT if max is None else max, signed=signed)
