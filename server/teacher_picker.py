"""How many teachers a picker shows: a phone needs a short list, not all 500 of a large VO
school (issue 14: 66 KB pages). Pure: the full list still comes from `staff.teachers`, so the
server checks a chosen teacher against every active teacher, not against what was shown.

A school with more teachers than `LIMIT` gets a server-side search (`?zoek=` on the case page,
a GET that changes nothing); the picker's JS filter keeps working on what is shown.
"""
from __future__ import annotations

#: At most this many teachers in one picker (one scrollable screen or two on a phone).
LIMIT = 60
#: A search longer than this is cut (it is a name or a group, never more).
MAX_SEARCH = 60


def clean_search(text) -> str:
    return " ".join(str(text or "").split())[:MAX_SEARCH]


def pick(teachers: list[dict], search: str = "", limit: int = LIMIT) -> dict:
    """The teachers to show: those matching `search` (name or group, any case), at most
    `limit`, in the order given; with the counts the page needs to say what is left out."""
    search = clean_search(search)
    needle = search.casefold()
    found = [t for t in teachers if not needle or needle in t["display_name"].casefold()
             or needle in (t.get("group_name") or "").casefold()]
    return {"teachers": found[:limit], "found": len(found), "total": len(teachers),
            "search": search, "large": len(teachers) > limit, "limit": limit}
