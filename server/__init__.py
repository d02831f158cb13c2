"""HwC Inbox: a school-side inbox for Handle with Care signals.

The layers (ARCHITECTURE.md): `server.web` is the only package that imports Flask; everything
else here is the domain and its storage, importable and testable without a web framework.
`create_app` is re-exported lazily so `import server` stays free of Flask.
"""
from __future__ import annotations

from .config import PROJECT_ROOT as ROOT  # noqa: F401  (the checkout, for tools and tests)


def create_app(overrides: dict | None = None, *, clock=None, env: dict | None = None):
    """Make the web app, a flask.Flask (see `server.web.app.create_app`)."""
    from .web.app import create_app as factory
    return factory(overrides, clock=clock, env=env)
