"""Background work: the minute sweep. One loop inside `serve`, one-shot `purge` for cron.

The loop only decides *when* to run; what is due is decided by the database and the clock, so a
restart loses no timer and running the sweep twice does nothing twice.

`STEPS` is the whole sweep, in order, in one place: the deadlines first (they only touch our own
database), then pushes (an escalation must not wait for a municipality), then staff
housekeeping, then the municipalities' webhooks (the step most at the mercy of a peer).

In `serve` the push and webhooks steps each run in a loop of their own (`start_workers`): even
with every call bounded (`server.outbound`) and a time budget per run, a slow peer must never make
the next minute's deadlines late, and a slow municipality must never delay an escalation push.
`purge` (cron) runs every step in one go.
"""
from __future__ import annotations

import logging
import threading

from . import auditlog, expiry, staff, traces, webhooks
from . import db as db_mod
from .deadlines import Deadlines
from .push import kick as push_run
from .push import officers as officer_push


def _push(database, now, cfg) -> dict:
    return push_run.sweep_job(database, now, cfg)


def _deadlines(database, now, cfg) -> dict:
    return expiry.sweep(database, now, Deadlines.from_config(cfg))


def _staff(database, now, cfg) -> dict:
    return staff.housekeeping(database, now, cfg)


def _school_log(database, now, cfg) -> dict:
    """Nameless traces past their days, and signal lines of the log past the receipts' time."""
    result = traces.purge(database, now)
    result["signal_log_purged"] = auditlog.purge_signal_events(
        database, now, Deadlines.from_config(cfg).receipt_purge)
    return result


def _webhooks(database, now, cfg) -> dict:
    return webhooks.deliver_due(database, now, cfg)


#: (name, step): each step is a callable (db, now, cfg) -> counts without personal data.
STEPS = (("deadlines", _deadlines), ("push", _push), ("officer_push", officer_push.sweep_job),
         ("staff", _staff), ("school_log", _school_log), ("webhooks", _webhooks))
#: Steps that wait on someone else's server and therefore each get their own loop in `serve`.
PEER_STEPS = ("push", "officer_push", "webhooks")

log = logging.getLogger("hwc.jobs")


def run_once(cfg, clock, steps=STEPS) -> dict:
    """Apply every step now; returns counts per kind (no personal data)."""
    database = db_mod.connect(cfg.data_dir)
    try:
        now = clock.now()
        result = {}
        # Each step on its own: one failing step (a broken webhook peer, a bad holiday) must
        # not keep the others from running.
        for name, step in steps:
            try:
                result.update(step(database, now, cfg) or {})
            except Exception as exc:  # the type only: a message could carry data
                if database.conn.in_transaction:
                    database.conn.execute("ROLLBACK")
                log.error("sweep step %s failed: %s", name, type(exc).__name__)
                result[f"failed:{name}"] = 1
        return result
    finally:
        database.close()


class SweepLoop(threading.Thread):
    """Runs `run_once` (with `steps`) every `cfg.sweep_interval` seconds until stopped."""

    def __init__(self, cfg, clock, steps=STEPS, name: str = "hwc-sweep"):
        super().__init__(name=name, daemon=True)
        self.cfg, self.clock, self.steps = cfg, clock, steps
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                result = run_once(self.cfg, self.clock, self.steps)
                if any(result.values()):
                    log.info("sweep: %s", ", ".join(f"{k}={v}" for k, v in result.items() if v))
            except Exception as exc:  # keep the loop alive; never log the message
                log.error("sweep failed: %s", type(exc).__name__)
            self.stopped.wait(self.cfg.sweep_interval)

    def stop(self) -> None:
        self.stopped.set()


def start_workers(cfg, clock) -> list[SweepLoop]:
    """The background loops of `serve`: the sweep (deadlines, staff) and, apart from it, one loop
    per step that waits on a peer (pushes, webhooks), so a push service or municipality that
    answers slowly never makes a deadline late, and a slow municipality never delays a push."""
    own = tuple(s for s in STEPS if s[0] not in PEER_STEPS)
    loops = [SweepLoop(cfg, clock, own, "hwc-sweep")]
    loops += [SweepLoop(cfg, clock, (s,), f"hwc-{s[0]}") for s in STEPS if s[0] in PEER_STEPS]
    for loop in loops:
        loop.start()
    return loops
