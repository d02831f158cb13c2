import pytest

from server import config


def test_defaults():
    cfg = config.load({}, env={})
    assert (cfg.unopened_expiry_days, cfg.note_unread_expiry_days, cfg.case_autoclose_days,
            cfg.receipt_purge_days, cfg.handover_minutes) == (7, 3, 14, 30, 30)
    assert cfg.rp_id == "localhost" and cfg.origin == "http://localhost:8000"


@pytest.mark.parametrize("env, message", [
    ({"HWC_BASE_URL": "http://school.example.nl"}, "https"),
    ({"HWC_BASE_URL": "https://school.example.nl/app"}, "origin only"),
    ({"HWC_BASE_URL": "ftp://x"}, "absolute"),
    ({"HWC_RECEIPT_PURGE_DAYS": "365"}, "between"),
    ({"HWC_HANDOVER_MINUTES": "abc"}, "whole number"),
])
def test_invalid_settings_refused(env, message):
    with pytest.raises(config.ConfigError, match=message):
        config.load({}, env=env)


def test_https_origin():
    cfg = config.load({}, env={"HWC_BASE_URL": "https://hwc.school.example.nl"})
    assert cfg.rp_id == "hwc.school.example.nl" and cfg.secure_transport and not cfg.is_local


def test_tests_cannot_reach_outside_this_machine():
    import socket
    with pytest.raises(OSError):
        socket.create_connection(("192.0.2.1", 443), timeout=1)
    with pytest.raises(OSError):
        socket.getaddrinfo("fcm.googleapis.com", 443)
