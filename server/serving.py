"""The limits `serve` gives waitress, the server at the edge of this process.

`serve` is meant to sit behind a TLS reverse proxy (docs/deploy.md), which buffers requests and
times out slow clients. These limits make the server itself hard to starve when it is reached
without one (a mistake, or an attacker on the same network):

* Bodies are refused on their declared size (413) *before* they are read. waitress has one
  global limit, so it is the largest body any route takes (a CSV upload of up to 1 MiB, plus
  room for the multipart framing); smaller per-route limits stay in the app (the API: 8 KiB,
  `web/api.py`).
* A body is kept in memory, never spilled to a temporary file: a request body can hold a
  child's name, and a temp file would leave it on disk.
* Many open connections: waitress stops accepting at `connection_limit`, so the limit is high
  (with poll(), which has no 1024-descriptor ceiling as select() has) and idle connections are
  closed after `channel_timeout`. waitress has no deadline for a request that keeps trickling
  in; that is the proxy's job (its header and body timeouts), which is why the proxy is needed.
"""
from __future__ import annotations

import logging
import time

#: Worker threads (waitress's own default). Under CPython's GIL one thread runs Python at a time;
#: a thread more only helps while the others wait (a commit's syncs, the writer's turn), and every
#: thread more hands the GIL round more often — each SQL statement gives it up and waits for it
#: again. Under bench/load.py, 8 threads spent about a third of the server's CPU in the kernel
#: switching threads; 4 leave one to serve pages while one commits and one waits its turn
#: (docs/performance.md, Load).
THREADS = 4
#: The largest request body any route accepts: a 1 MiB CSV upload plus its multipart framing.
MAX_BODY_BYTES = 1024 * 1024 + 64 * 1024
#: Request line and headers together; a browser with our cookies sends a few KiB.
MAX_HEADER_BYTES = 32 * 1024
#: Seconds an idle connection is kept open (longer than the proxy's upstream keep-alive).
CHANNEL_TIMEOUT = 60
#: Seconds between looks for idle connections.
CLEANUP_INTERVAL = 10
#: Most connections at once; below the descriptor limit, leaving room for files and sockets.
MAX_CONNECTIONS = 1000


def connection_limit(fd_limit: int | None = None) -> int:
    """`MAX_CONNECTIONS`, or less when the process may open fewer files (each connection is one
    descriptor; the databases, logs and outgoing calls need some too)."""
    if fd_limit is None:
        try:
            import resource
            fd_limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        except (ImportError, OSError, ValueError):
            fd_limit = 1024
    if fd_limit < 0:  # RLIM_INFINITY
        return MAX_CONNECTIONS
    return max(50, min(MAX_CONNECTIONS, fd_limit - 100))


def waitress_limits(fd_limit: int | None = None) -> dict:
    """The keyword arguments for `waitress.serve` that bound what one client can hold."""
    return {
        "max_request_body_size": MAX_BODY_BYTES,
        "inbuf_overflow": MAX_BODY_BYTES,
        "max_request_header_size": MAX_HEADER_BYTES,
        "connection_limit": connection_limit(fd_limit),
        "asyncore_use_poll": True,
        "channel_timeout": CHANNEL_TIMEOUT,
        "cleanup_interval": CLEANUP_INTERVAL,
    }


#: Seconds between two lines about requests that waited for a worker thread.
QUEUE_REPORT_EVERY = 60.0


class QueueDepthLog:
    """Stands in for waitress's `waitress.queue` logger: one line a minute instead of one per
    request.

    waitress logs "Task queue depth is N" for every request that finds all worker threads busy —
    under load that is every request, written while waitress holds its task lock in the thread
    that accepts and reads all connections (~5% of the server's time under bench/load.py, at the
    moment it can least spare it). An operator needs to know that requests queue and how deep,
    not each time: this counts them and logs a summary at most once per `QUEUE_REPORT_EVERY`
    seconds (the first one at once). A line is written when a request queues, so the tail of a
    burst is counted in the next line, which says how long it covers. `monotonic` is injectable
    for tests.
    """

    def __init__(self, logger: logging.Logger | None = None, monotonic=time.monotonic,
                 every: float = QUEUE_REPORT_EVERY):
        self.logger = logger or logging.getLogger("waitress.queue")
        self.monotonic = monotonic
        self.every = every
        self.waited = 0
        self.deepest = 0
        self.since = monotonic()
        self.next_report = self.since

    def warning(self, _msg: str, depth: int, *_args) -> None:
        """Called by waitress (under its task lock) with the queue depth."""
        self.waited += 1
        self.deepest = max(self.deepest, depth)
        now = self.monotonic()
        if now < self.next_report:
            return
        self.logger.warning("%d request(s) waited for a worker thread in the last %.0f s "
                            "(deepest queue %d)", self.waited, now - self.since, self.deepest)
        self.waited = self.deepest = 0
        self.since, self.next_report = now, now + self.every


def serve(app, **kw) -> None:
    """`waitress.serve`, with the queue-depth warnings summarised (`QueueDepthLog`)."""
    import waitress

    server = waitress.create_server(app, **kw)
    server.task_dispatcher.queue_logger = QueueDepthLog()
    server.print_listen("Serving on http://{}:{}")
    server.run()
