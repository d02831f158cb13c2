"""An in-memory rate-limit store that starts no thread per request.

`limits`' MemoryStorage expires old entries from a `threading.Timer` of 10 ms that it starts again
whenever the last one has finished — under steady traffic that is a new OS thread for almost every
request (a thread clone each time; ~6% of an intake's time in the profile). This subclass expires
lazily instead: in the calling thread, at most once a second, which is all a per-minute limit
needs. Counts and windows are exactly the parent's.
"""
from __future__ import annotations

import threading
import time

import flask
from flask_limiter import Limiter
from limits.storage import MemoryStorage

#: How often stale windows are swept, in seconds (they are also checked on every read).
SWEEP_EVERY = 1.0


class LazyMemoryStorage(MemoryStorage):
    STORAGE_SCHEME = ["hwc-memory"]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options):
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self.timer.cancel()  # the parent starts one at birth; it is not needed
        self._sweep_lock = threading.Lock()
        self._next_sweep = time.monotonic() + SWEEP_EVERY

    def _MemoryStorage__schedule_expiry(self) -> None:  # replaces the parent's timer thread
        now = time.monotonic()
        if now < self._next_sweep or not self._sweep_lock.acquire(blocking=False):
            return
        try:
            self._next_sweep = now + SWEEP_EVERY
            self._MemoryStorage__expire_events()
        finally:
            self._sweep_lock.release()


def _routes_only(decorate):
    """A limit decorator that refuses a blueprint: a blueprint-wide limit is enforced only by
    the hook `DecoratorOnlyLimiter` skips."""
    def only_routes(obj):
        if isinstance(obj, flask.Blueprint):
            raise TypeError("a blueprint-wide limit would never be checked: limit routes")
        return decorate(obj)

    return only_routes


class DecoratorOnlyLimiter(Limiter):
    """Flask-Limiter with only the per-route decorators (`@limiter.limit`) checked.

    Flask-Limiter also checks every request in a `before_request` hook, for default, application
    and blueprint limits. This app has none of those — every limit is a decorator on the route it
    guards, and the decorator does its own check — so that hook resolved an empty list of limits
    on every page view (~9% of a page view's time under bench/load.py). This subclass skips the
    hook's check and refuses to be given limits that only the hook would enforce, so a limit can
    never be configured and then silently not apply.
    """

    def __init__(self, key_func, **kwargs):
        for kind in ("default_limits", "application_limits", "meta_limits"):
            if kwargs.get(kind):
                raise ValueError(f"{kind} would never be checked: limit the routes instead")
        super().__init__(key_func, **kwargs)

    def init_app(self, app) -> None:
        for name in ("RATELIMIT_DEFAULT", "RATELIMIT_APPLICATION", "RATELIMIT_META"):
            if app.config.get(name):
                raise ValueError(f"{name} would never be checked: limit the routes instead")
        super().init_app(app)

    def limit(self, *args, **kwargs):
        return _routes_only(super().limit(*args, **kwargs))

    def shared_limit(self, *args, **kwargs):
        return _routes_only(super().shared_limit(*args, **kwargs))

    def _check_request_limit(self, callable_name=None, in_middleware=True) -> None:
        if in_middleware:
            return  # nothing to check here: see the class docstring
        super()._check_request_limit(callable_name=callable_name, in_middleware=in_middleware)
