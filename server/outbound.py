"""Every HTTP call this server makes to someone else (push services, municipality webhooks).

Two promises, for every call, whatever the peer does:

* **A total deadline.** `timeout` bounds the whole call - name lookup, connect, TLS handshake,
  sending, and reading the answer. A socket timeout alone is per read: a peer that trickles one
  byte every few seconds would hold the caller (the sweep that expires signals and escalates
  them) for minutes. Here every read and write gets only the time that is *left*, so a trickle
  ends at the deadline.
* **An address policy, checked on the address we actually connect to.** The host name is
  resolved here and every resolved address is checked before connecting, so a name that
  resolves to loopback or the internal network (DNS rebinding) is refused at connect time,
  whatever it looked like when it was stored. There is no proxy (environment proxies are
  ignored: a proxy would connect in our place and defeat the check) and no redirect is followed.

Nothing here logs, and error messages never carry the URL (a push endpoint is a secret).
"""
from __future__ import annotations

import http.client
import io
import ipaddress
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from email.message import Message
from urllib.parse import urlsplit

#: The most of an answer's body we ever read; callers need the status, not the body.
MAX_ANSWER_BYTES = 4096


class OutboundError(OSError):
    """The call could not be made or finished; the message names no host or URL."""


class DeadlineExceeded(OutboundError, TimeoutError):
    pass


class AddressRefused(OutboundError):
    """The host resolved only to addresses the policy forbids (loopback, private, ...)."""


@dataclass(frozen=True)
class Answer:
    status: int
    reason: str
    headers: Message
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def is_public(ip: str) -> bool:
    """True for a globally routable unicast address. IPv4 inside IPv6 (mapped, 6to4, Teredo) is
    judged by the IPv4 address it carries."""
    try:
        addr = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address):
        embedded = addr.ipv4_mapped or addr.sixtofour or (addr.teredo or (None, None))[1]
        if embedded is not None:
            return is_public(str(embedded))
    return bool(addr.is_global and not (addr.is_multicast or addr.is_reserved
                                        or addr.is_link_local or addr.is_loopback
                                        or addr.is_unspecified or addr.is_private))


def _is_loopback(ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def _allowed(ip: str, *, private_ok: bool, loopback_ok: bool) -> bool:
    return private_ok or is_public(ip) or (loopback_ok and _is_loopback(ip))


class _Deadline:
    def __init__(self, seconds: float):
        self.end = time.monotonic() + max(0.0, float(seconds))

    def left(self) -> float:
        """Seconds left; raises once there are none (a socket timeout of 0 would not block)."""
        remaining = self.end - time.monotonic()
        if remaining <= 0:
            raise DeadlineExceeded("the call took longer than its deadline")
        return remaining


def _resolve(host: str, port: int, deadline: _Deadline) -> list:
    """getaddrinfo under the deadline: the lookup runs in a helper thread, because the resolver
    has no timeout of its own we can set. A slow lookup is abandoned (its thread ends when the
    resolver gives up) and the call fails at the deadline."""
    box: dict = {}

    def lookup():
        try:
            box["ok"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            box["error"] = exc

    worker = threading.Thread(target=lookup, name="hwc-outbound-dns", daemon=True)
    worker.start()
    worker.join(deadline.left())
    if worker.is_alive():
        raise DeadlineExceeded("the name lookup took longer than the deadline")
    if "error" in box:
        raise OutboundError("the host name could not be resolved")
    return box["ok"]


class _Reader(io.RawIOBase):
    """The answer's bytes; before every read the socket may wait only for the time left."""

    def __init__(self, sock, deadline: _Deadline):
        self.sock, self.deadline = sock, deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        self.sock.settimeout(self.deadline.left())
        return self.sock.recv_into(buffer)


class _BoundedSocket:
    """What `http.client` sees as its socket: writes and reads bounded by the deadline."""

    def __init__(self, sock, deadline: _Deadline):
        self.sock, self.deadline = sock, deadline

    def sendall(self, data) -> None:
        view = memoryview(data)
        while view:
            self.sock.settimeout(self.deadline.left())
            sent = self.sock.send(view)
            view = view[sent:]

    def makefile(self, mode="rb", *args, **kwargs):
        return io.BufferedReader(_Reader(self.sock, self.deadline))

    def close(self) -> None:
        self.sock.close()


class _Connection(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, *, tls: bool, deadline: _Deadline,
                 private_ok: bool, loopback_ok: bool):
        super().__init__(host, port)
        self.tls, self.deadline = tls, deadline
        self.private_ok, self.loopback_ok = private_ok, loopback_ok

    def connect(self) -> None:
        infos = _resolve(self.host, self.port, self.deadline)
        allowed = [i for i in infos if _allowed(i[4][0], private_ok=self.private_ok,
                                                 loopback_ok=self.loopback_ok)]
        if not allowed:
            raise AddressRefused("the host resolves to an address this server may not call")
        last: Exception | None = None
        for family, kind, proto, _name, address in allowed:
            sock = socket.socket(family, kind, proto)
            try:
                sock.settimeout(self.deadline.left())
                sock.connect(address)
                break
            except OSError as exc:
                sock.close()
                last = exc
                if isinstance(exc, DeadlineExceeded):
                    raise
        else:
            raise OutboundError("could not connect") from last
        try:
            if self.tls:
                context = ssl.create_default_context()
                sock = context.wrap_socket(sock, server_hostname=self.host,
                                           do_handshake_on_connect=False)
                # An SSL call's socket timeout is a deadline for that whole call.
                sock.settimeout(self.deadline.left())
                sock.do_handshake()
        except BaseException:
            sock.close()
            raise
        self.sock = _BoundedSocket(sock, self.deadline)


def post(url: str, body: bytes, headers: dict, *, timeout: float, private_ok: bool = False,
         loopback_ok: bool = False, max_answer: int = MAX_ANSWER_BYTES) -> Answer:
    """POST once and return the answer (at most `max_answer` bytes of its body).

    Raises `OutboundError` (an OSError) when the call cannot be made, is refused by the address
    policy or runs past `timeout` seconds in all; `http.client.HTTPException` for an answer that
    is not HTTP. `private_ok` admits any address (an operator-configured webhook may live on the
    municipality's internal network); `loopback_ok` admits this machine only (tests).
    """
    deadline = _Deadline(timeout)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OutboundError("not an http(s) URL")
    tls = parts.scheme == "https"
    conn = _Connection(parts.hostname, parts.port or (443 if tls else 80), tls=tls,
                       deadline=deadline, private_ok=private_ok, loopback_ok=loopback_ok)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read(max_answer)
        return Answer(response.status, response.reason, response.headers, data)
    except TimeoutError as exc:  # a read or write given only the time left ran out of it
        if isinstance(exc, DeadlineExceeded):
            raise
        raise DeadlineExceeded("the call took longer than its deadline") from None
    finally:
        conn.close()
