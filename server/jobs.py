"""Background work: the deadline sweep. One loop inside `serve`, one-shot `purge` for cron.

The loop only decides *when* to run; what is due is decided by the database and the clock, so a
restart loses no timer and running the sweep twice does nothing twice.
"""
from __future__ import annotations

import logging
import threading

from . import db as db_mod
from . import signals

log = logging.getLogger("hwc.jobs")

#: Extra jobs other modules add (push escalation, webhooks): callables (db, now, cfg).
EXTRA_JOBS: list = []


def run_once(cfg, clock) -> dict:
    """Apply every deadline now; returns counts per kind (no personal data)."""
    from . import push  # noqa: F401 - importing registers the push step, also for cron `purge`

    database = db_mod.connect(cfg.data_dir)
    try:
        now = clock.now()
        result = {}
        # Each step on its own: one failing step (a broken webhook peer, a bad holiday) must
        # not keep the others — deadlines, pushes — from running. Pushes go first.
        from . import staff
        steps = [("deadlines", lambda: signals.sweep(database, now,
                                                     signals.Deadlines.from_config(cfg))),
                 ("staff", lambda: staff.housekeeping(database, now, cfg))]
        steps += [(getattr(job, "__module__", "job"), lambda job=job: job(database, now, cfg))
                  for job in sorted(EXTRA_JOBS, key=lambda j: j.__module__ != "server.push")]
        for name, step in steps:
            try:
                result.update(step() or {})
            except Exception as exc:  # the type only: a message could carry data
                if database.conn.in_transaction:
                    database.conn.execute("ROLLBACK")
                log.error("sweep step %s failed: %s", name, type(exc).__name__)
                result[f"failed:{name}"] = 1
        return result
    finally:
        database.close()


class SweepLoop(threading.Thread):
    """Runs `run_once` every `cfg.sweep_interval` seconds until stopped."""

    def __init__(self, cfg, clock):
        super().__init__(name="hwc-sweep", daemon=True)
        self.cfg, self.clock = cfg, clock
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                result = run_once(self.cfg, self.clock)
                if any(result.values()):
                    log.info("sweep: %s", ", ".join(f"{k}={v}" for k, v in result.items() if v))
            except Exception as exc:  # keep the loop alive; never log the message
                log.error("sweep failed: %s", type(exc).__name__)
            self.stopped.wait(self.cfg.sweep_interval)

    def stop(self) -> None:
        self.stopped.set()
