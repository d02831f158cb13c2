"""A confirmation step before every irreversible action, without JavaScript (issue 12).

The first POST of such a form changes nothing: it answers with a page that says what will happen
and posts the same fields again with `confirmed=1`. Only that second POST acts. Because the check
is on the server, a double tap, a stale form or a script cannot skip it, and it works on any
phone. The page never shows a child's data: only the sentence the route gives it.
"""
from __future__ import annotations

from flask import render_template, request


def unconfirmed(question: str, explanation: str, button: str, cancel_url: str):
    """None once confirmed; otherwise the confirmation page to return from the route."""
    if request.form.get("confirmed") == "1":
        return None
    fields = [(k, v) for k, v in request.form.items(multi=True)
              if k not in ("csrf_token", "confirmed")]
    return render_template("confirm_action.html", question=question, explanation=explanation,
                           button=button, cancel_url=cancel_url, fields=fields,
                           action=request.path)
