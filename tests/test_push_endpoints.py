"""Issue 11 item 4: a push subscription cannot point the server at itself or the internal network.

The endpoint must name a real push service (an allow-list the operator can extend), and the
address a name resolves to is checked again when the server connects (DNS rebinding).
"""
from __future__ import annotations

import dataclasses
import socket

import pytest

from server import config as config_mod
from server import outbound
from server.push import deliver as push_deliver
from server.push import plan as push_plan
from server.push import subscriptions as push_subscriptions

from .auth_helpers import enrolled
from .push_helpers import Device, PushService

#: Each of these reaches loopback or the internal network through the resolver that connects.
BYPASSES = ["https://127.1/", "https://0x7f.1/", "https://0177.0.0.1/", "https://10.1/",
            "https://localhost./", "https://2130706433/", "https://[::1]/",
            "https://[::ffff:127.0.0.1]/", "https://127.0.0.1/", "https://localhost/",
            "https://169.254.169.254/latest/", "https://fcm.googleapis.com./fcm/send/x",
            "https://fcm.googleapis.com.attacker.example/x", "https://evilpush.apple.com/x",
            "https://fcm.googleapis.com:8443/x", "https://\uff46cm.googleapis.com/x",
            "https://fcm.googleapis.com%2e/x", "https://intranet/x"]


def subscription(endpoint):
    return Device(endpoint).subscription()


def test_the_bypass_strings_really_are_loopback_to_the_resolver():
    """Why the filter must not trust a string compare: the C resolver reads these as 127.0.0.1."""
    for host in ("127.1", "0x7f.1", "0177.0.0.1", "2130706433"):
        assert socket.inet_aton(host) == socket.inet_aton("127.0.0.1")


#: Testing mode (`allow_local`) admits this machine in its canonical spelling only.
CANONICAL_LOCAL = ("https://[::1]/", "https://127.0.0.1/", "https://localhost/")


@pytest.mark.parametrize("endpoint, allow_local", [(e, False) for e in BYPASSES] + [
    (e, True) for e in BYPASSES if e not in CANONICAL_LOCAL])
def test_bypass_endpoints_are_refused_and_change_nothing(db, clock, staff, endpoint, allow_local):
    me = staff()
    with pytest.raises(push_subscriptions.SubscriptionError):
        push_subscriptions.subscribe(db, me, subscription(endpoint), "", clock.now(),
                                     allow_local=allow_local)
    assert db.conn.execute("SELECT count(*) FROM push_subscriptions").fetchone()[0] == 0


@pytest.mark.parametrize("endpoint", [
    "https://fcm.googleapis.com/fcm/send/abc123",
    "https://updates.push.services.mozilla.com/wpush/v2/abc",
    "https://web.push.apple.com/QGx0abc",
    "https://wns2-par02p.notify.windows.com/w/?token=abc",
    "https://FCM.googleapis.com:443/fcm/send/abc"])
def test_the_browsers_push_services_are_accepted(endpoint):
    assert push_subscriptions.parse_subscription(subscription(endpoint))[0] == endpoint


def test_an_operator_extends_the_allow_list_through_config(db, clock, staff):
    cfg = config_mod.load({}, env={"HWC_PUSH_HOSTS": "push.example.net, *.push.example.org"})
    assert cfg.push_hosts == ("push.example.net", "*.push.example.org")
    good = ["https://push.example.net/a", "https://eu.push.example.org/b"]
    for endpoint in good:
        assert push_subscriptions.parse_subscription(
            subscription(endpoint), extra_hosts=cfg.push_hosts)[0] == endpoint
    for endpoint in good + ["https://push.example.org/c", "https://x.push.example.net/d"]:
        if endpoint in good:
            with pytest.raises(push_subscriptions.SubscriptionError):  # not without the setting
                push_subscriptions.parse_subscription(subscription(endpoint))
        else:
            with pytest.raises(push_subscriptions.SubscriptionError):
                push_subscriptions.parse_subscription(subscription(endpoint),
                                                      extra_hosts=cfg.push_hosts)
    for bad in ("127.0.0.1", "push.example.net.", "*", "*.net", "push_example.net", "0x7f.1"):
        with pytest.raises(config_mod.ConfigError, match="HWC_PUSH_HOSTS"):
            config_mod.load({}, env={"HWC_PUSH_HOSTS": bad})


def test_the_subscribe_route_refuses_a_bypass(app, db, clock, school):
    device = enrolled(app, db, clock, school["id"], ("receiver",), "Ilse Bedacht")
    resp = device.client.post("/push/subscribe",
                              json={"subscription": subscription("https://127.1/push")},
                              headers={"X-CSRFToken": device.csrf()})
    assert resp.status_code == 422 and "pushdienst" in resp.get_json()["error"]
    assert db.conn.execute("SELECT count(*) FROM push_subscriptions").fetchone()[0] == 0


@pytest.mark.parametrize("ip, public", [
    ("142.250.1.1", True), ("2a00:1450:4001::1", True), ("127.0.0.1", False), ("10.0.0.1", False),
    ("192.168.1.1", False), ("172.16.0.1", False), ("169.254.169.254", False),
    ("100.64.0.1", False), ("0.0.0.0", False), ("224.0.0.1", False), ("240.0.0.1", False),
    ("::1", False), ("fd00::1", False), ("fe80::1", False), ("::ffff:127.0.0.1", False),
    ("::ffff:10.0.0.1", False), ("2002:7f00:1::", False), ("::", False), ("ff02::1", False)])
def test_which_addresses_are_public(ip, public):
    assert outbound.is_public(ip) is public


@pytest.fixture
def rebinding(monkeypatch):
    """Make every push-service name resolve to a local stand-in on loopback (DNS rebinding)."""
    with PushService() as service:
        port = int(service.origin.rsplit(":", 1)[1])
        real = socket.getaddrinfo

        def getaddrinfo(host, _port, *args, **kwargs):
            if host.endswith(("googleapis.com", "mozilla.com", "apple.com")):
                return real("127.0.0.1", port, *args, **kwargs)
            return real(host, _port, *args, **kwargs)

        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
        yield service


def test_a_push_service_name_that_resolves_to_loopback_is_refused_at_connect_time(rebinding):
    url = "http://fcm.googleapis.com/fcm/send/x"  # http: the stand-in speaks no TLS
    with pytest.raises(outbound.AddressRefused):
        outbound.post(url, b"", {}, timeout=5)
    assert rebinding.received == []
    # The same call with loopback allowed does reach the stand-in: the refusal above was the
    # address check, not a failing connection.
    assert outbound.post(url, b"", {}, timeout=5, loopback_ok=True).status == 201
    assert len(rebinding.received) == 1


def test_delivery_to_a_rebound_endpoint_reaches_nothing(app, db, clock, staff, receive, rebinding):
    me = staff("Ilse Bedacht", ["receiver"])
    push_subscriptions.subscribe(db, me, subscription("https://fcm.googleapis.com/fcm/send/x"),
                                 "", clock.now())
    receive()
    push_plan.plan(db, clock.now())
    cfg = dataclasses.replace(app.config["HWC"], testing=False)
    result = push_deliver.deliver_due(db, clock.now(), cfg)
    assert result["push_retry"] == 1 and result["push_sent"] == 0
    assert rebinding.received == []


def test_a_stored_endpoint_outside_the_allow_list_is_never_called(app, db, clock, staff, receive):
    """A device stored before this check (or a host the operator removed) is dropped, not
    called."""
    me = staff("Ilse Bedacht", ["receiver"])
    with PushService() as service:
        device = Device(f"{service.origin}/push/me").subscription()
        push_subscriptions.subscribe(db, me, device, "", clock.now(), allow_local=True)
        receive()
        push_plan.plan(db, clock.now())
        cfg = dataclasses.replace(app.config["HWC"], testing=False)
        result = push_deliver.deliver_due(db, clock.now(), cfg)
        assert result["push_devices_removed"] == 1 and service.received == []
