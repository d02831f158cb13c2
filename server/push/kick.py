"""Running the push step: from the minute sweep, and at once after a new signal (`kick`).

Both derive everything from the database, so a restart loses no timer.
"""
from __future__ import annotations

import logging
import threading
from datetime import datetime

from .. import db as db_mod
from ..deadlines import Deadlines
from .deliver import deliver_due
from .plan import plan

log = logging.getLogger("hwc.push")


def sweep_job(db, now: datetime, cfg) -> dict:
    """The minute sweep's push step (listed in `jobs.STEPS`): plan, then deliver."""
    result = plan(db, now, Deadlines.from_config(cfg))
    result.update(deliver_due(db, now, cfg))
    return result


def run_now(cfg, clock) -> dict:
    database = db_mod.connect(cfg.data_dir)
    try:
        return sweep_job(database, clock.now(), cfg)
    finally:
        database.close()


class Kicker:
    """Runs plan + deliver in a short-lived background thread, coalescing bursts of kicks.

    The thread exits when there is nothing left to do, so idle apps keep no thread around.
    Any failure is logged by type only; the sweep will try again within a minute.
    """

    def __init__(self, cfg, clock):
        self.cfg, self.clock = cfg, clock
        self._lock = threading.Lock()
        self._pending = False
        self._thread: threading.Thread | None = None
        self.idle = threading.Event()
        self.idle.set()

    def kick(self) -> None:
        with self._lock:
            self._pending = True
            if self._thread is not None:
                return
            self.idle.clear()
            self._thread = threading.Thread(target=self._run, name="hwc-push-kick", daemon=True)
            self._thread.start()

    #: A short pause before planning, so a municipality's batch of signals wakes the planner
    #: once, and its reads do not hold up the commits of the signals still arriving (in a
    #: rollback journal, a reader delays a writer's commit).
    DEBOUNCE_SECONDS = 0.3

    def _run(self) -> None:
        threading.Event().wait(self.DEBOUNCE_SECONDS)
        while True:
            with self._lock:
                if not self._pending:
                    self._thread = None
                    self.idle.set()
                    return
                self._pending = False
            try:
                run_now(self.cfg, self.clock)
            except Exception as exc:  # never the message: it could hold an endpoint
                log.error("push kick failed: %s", type(exc).__name__)


_kicker_lock = threading.Lock()


def kicker_for(app) -> Kicker:
    with _kicker_lock:
        kicker = app.extensions.get("hwc_push_kicker")
        if kicker is None:
            kicker = Kicker(app.config["HWC"], app.extensions["hwc_clock"])
            app.extensions["hwc_push_kicker"] = kicker
        return kicker


def kick(app) -> None:
    """Deliver the first push of a new signal now instead of at the next sweep.

    Returns at once and never raises: a push problem must not touch the API's answer.
    Disabled with `extra={"push_kick": False}` in the app's config overrides.
    """
    try:
        if app.config["HWC"].extra.get("push_kick", True) is False:
            return
        kicker_for(app).kick()
    except Exception as exc:
        log.error("push kick not started: %s", type(exc).__name__)
