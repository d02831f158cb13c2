"""Issue 11 item 9: `serve` without a proxy in front is not starved by slow clients, and a huge
body is refused on its declared size before a byte of it is read.

A real `serve` subprocess on loopback; the number of connections and every wait are bounded.
"""
from __future__ import annotations

import http.client
import socket
import time

import pytest

from server import serving
from server.datadir import init_data_dir

from .test_crash_safety import Server, free_port

SLOW_CONNECTIONS = 160  # the review used 110; waitress's default limit is 100


def fake_waitress(monkeypatch) -> dict:
    """Stand in for `waitress.create_server`: records its keyword arguments (and the server it
    made, under "server") and serves nothing."""
    import types

    import waitress
    seen = {}

    def create_server(app, **kw):
        seen.update(kw)
        seen["server"] = types.SimpleNamespace(
            task_dispatcher=types.SimpleNamespace(), print_listen=lambda *_: None,
            run=lambda: None)
        return seen["server"]

    monkeypatch.setattr(waitress, "create_server", create_server)
    return seen


def test_serve_gives_waitress_the_limits(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from server.cli import main
    seen = fake_waitress(monkeypatch)
    runner = CliRunner()
    data = str(tmp_path / "d")
    assert runner.invoke(main, ["--data-dir", data, "init"]).exit_code == 0
    assert runner.invoke(main, ["--data-dir", data, "serve", "--port", "8123"]).exit_code == 0
    assert seen["max_request_body_size"] == serving.MAX_BODY_BYTES >= 1024 * 1024
    assert seen["inbuf_overflow"] >= seen["max_request_body_size"]  # a body never hits disk
    assert seen["connection_limit"] > 100 and seen["asyncore_use_poll"] is True
    assert seen["channel_timeout"] <= 60 and seen["cleanup_interval"] <= 30
    assert isinstance(seen["server"].task_dispatcher.queue_logger, serving.QueueDepthLog)


def test_queue_warnings_become_one_line_a_minute(caplog):
    """waitress warns for every request that finds all workers busy; the summary logs the first
    at once, then at most one line per minute with how many waited and how deep the queue got."""
    now = [100.0]
    log = serving.QueueDepthLog(monotonic=lambda: now[0])
    with caplog.at_level("WARNING", logger="waitress.queue"):
        log.warning("Task queue depth is %d", 1)
        for depth in (2, 5, 3):
            now[0] += 10
            log.warning("Task queue depth is %d", depth)
        assert len(caplog.records) == 1
        now[0] += 31  # 61 s after the first line
        log.warning("Task queue depth is %d", 1)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert lines[0].startswith("1 request(s) waited") and "deepest queue 1" in lines[0]
    assert lines[1].startswith("4 request(s) waited") and "deepest queue 5" in lines[1]
    assert "in the last 61 s" in lines[1]  # the span it covers, not a fixed minute


def test_the_connection_limit_stays_below_the_descriptor_limit():
    assert serving.connection_limit(20000) == serving.MAX_CONNECTIONS
    assert serving.connection_limit(1024) == 924
    assert serving.connection_limit(120) == 50
    assert serving.connection_limit(-1) == serving.MAX_CONNECTIONS


@pytest.fixture
def server(tmp_path):
    data_dir = tmp_path / "data"
    init_data_dir(data_dir)
    srv = Server(data_dir, free_port(), tmp_path / "server.log")
    srv.start()
    yield srv
    srv.stop()


def _get(port: int, path: str, timeout: float = 5) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    finally:
        conn.close()


def test_slow_clients_do_not_starve_healthz_or_the_api(server):
    held = []
    try:
        for i in range(SLOW_CONNECTIONS):
            s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            if i % 2:  # slow headers: the request never ends
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: a")
            else:  # slow body: 4000 bytes announced, one sent
                s.sendall(b"POST /api/v1/signals HTTP/1.1\r\nHost: localhost\r\n"
                          b"Content-Type: application/json\r\nContent-Length: 4000\r\n\r\n{")
            held.append(s)
        started = time.monotonic()
        assert _get(server.port, "/healthz") == 200
        assert _get(server.port, "/api/v1/signals/REF-1") == 401  # the API answers too
        assert time.monotonic() - started < 10
    finally:
        for s in held:
            s.close()


@pytest.mark.parametrize("path", ["/api/v1/signals", "/auth/login/options"])
def test_a_huge_declared_body_is_refused_before_it_is_read(server, path):
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
        s.sendall(f"POST {path} HTTP/1.1\r\nHost: localhost\r\n"
                  f"Content-Type: application/json\r\nContent-Length: {200 * 1024 * 1024}\r\n"
                  f"\r\n".encode())
        answer = s.recv(4096)  # no body byte was sent: the answer cannot have waited for it
    assert answer.startswith(b"HTTP/1.1 413"), answer[:40]
    assert _get(server.port, "/healthz") == 200


def test_the_proxy_configs_cap_buffer_and_time_out():
    """deploy.md's Caddy and nginx examples cap bodies at serve's own limit, buffer them in
    memory before passing them on, and time out slow clients."""
    import re
    from pathlib import Path
    text = (Path(__file__).resolve().parent.parent / "docs" / "deploy.md").read_text("utf-8")
    caddy = re.search(r"```caddy\n(.*?)```", text, re.S).group(1)
    nginx = re.search(r"```nginx\n(.*?)```", text, re.S).group(1)
    kib = serving.MAX_BODY_BYTES // 1024
    assert serving.MAX_BODY_BYTES == kib * 1024
    assert re.search(rf"max_size\s+{kib}KiB", caddy)
    assert re.search(rf"request_buffers\s+{kib}KiB", caddy)
    assert re.search(r"read_header\s+\d+s", caddy) and re.search(r"read_body\s+\d+s", caddy)
    assert re.search(rf"client_max_body_size\s+{kib}k;", nginx)
    assert re.search(rf"client_body_buffer_size\s+{kib}k;", nginx)  # no temp file
    assert re.search(r"proxy_request_buffering\s+on;", nginx)
    assert re.search(r"client_header_timeout\s+\d+s;", nginx)
    assert re.search(r"client_body_timeout\s+\d+s;", nginx)
    assert "must sit behind this proxy" in text
