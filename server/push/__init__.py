"""Web Push, one module per concern.

* `vapid` - the server's key pair and `sub` claim (created with the data directory).
* `subscriptions` - a person's devices: validate, store, list, remove.
* `plan` - who is pushed when: one `push_jobs` row per person and event once it is due
  (`escalation.py` decides the moments). The UNIQUE (signal, staff, event) key makes every event
  happen at most once.
* `deliver` - claims due jobs per person (a lease, so the sweep and a kick never send one job
  twice), sends one push per device, removes devices the push service says are gone and retries
  the rest with backoff.
* `kick` - runs plan + deliver from the minute sweep (`jobs.STEPS`) and right after a new signal.

Pushes never carry personal data, a school name or a signal id. Nothing here can lose or delay a
signal: the signal is stored before any push is planned.
"""
