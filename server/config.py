"""Settings: defaults, then environment (HWC_*), then explicit overrides; validated at start.

A setting out of its sane range stops the app with one clear line instead of quietly weakening a
privacy guarantee (a 'deadline' of 400 days is a retention policy nobody agreed to).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from urllib.parse import urlsplit

#: The checkout the app runs from: templates/, static/ and manifest.json live here.
PROJECT_ROOT = Path(__file__).resolve().parent.parent


#: A push-service host name as the allow-list (`push.subscriptions`) holds it: lower-case ASCII
#: labels ending in a letter label, optionally `*.` first. No IP address, no trailing dot.
PUSH_HOST_PATTERN = re.compile(r"(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")


class ConfigError(ValueError):
    """A setting is missing or outside its allowed range."""


#: name: (default, minimum, maximum), in the units the name says. The one home of every deadline
#: default: `Config` and `deadlines.Deadlines` take theirs from here.
DEADLINE_BOUNDS = {
    "unopened_expiry_days": (7, 1, 14),
    "note_unread_expiry_days": (3, 1, 7),
    "case_autoclose_days": (14, 1, 30),
    "receipt_purge_days": (30, 1, 90),
    "handover_minutes": (30, 5, 120),
}


@dataclass(frozen=True)
class Config:
    data_dir: Path = Path("instance")
    base_url: str = "http://localhost:8000"
    unopened_expiry_days: int = DEADLINE_BOUNDS["unopened_expiry_days"][0]
    note_unread_expiry_days: int = DEADLINE_BOUNDS["note_unread_expiry_days"][0]
    case_autoclose_days: int = DEADLINE_BOUNDS["case_autoclose_days"][0]
    receipt_purge_days: int = DEADLINE_BOUNDS["receipt_purge_days"][0]
    handover_minutes: int = DEADLINE_BOUNDS["handover_minutes"][0]
    #: Flask-Limiter rate string per municipality token.
    api_rate_limit: str = "60/minute;20/second"
    #: Seconds between sweeps in `serve`.
    sweep_interval: int = 60
    #: Push-service hosts allowed besides the built-in list (`push.subscriptions`), e.g. a
    #: browser vendor's new service; `*.example.com` admits every name under it.
    push_hosts: tuple = ()
    testing: bool = False
    extra: dict = field(default_factory=dict)

    @property
    def rp_id(self) -> str:
        return urlsplit(self.base_url).hostname or ""

    @property
    def origin(self) -> str:
        parts = urlsplit(self.base_url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def is_local(self) -> bool:
        return self.rp_id in ("localhost",)

    @property
    def secure_transport(self) -> bool:
        return urlsplit(self.base_url).scheme == "https"


_ENV = {
    "data_dir": "HWC_DATA_DIR",
    "base_url": "HWC_BASE_URL",
    "api_rate_limit": "HWC_API_RATE_LIMIT",
    "unopened_expiry_days": "HWC_UNOPENED_EXPIRY_DAYS",
    "note_unread_expiry_days": "HWC_NOTE_UNREAD_EXPIRY_DAYS",
    "case_autoclose_days": "HWC_CASE_AUTOCLOSE_DAYS",
    "receipt_purge_days": "HWC_RECEIPT_PURGE_DAYS",
    "handover_minutes": "HWC_HANDOVER_MINUTES",
    "push_hosts": "HWC_PUSH_HOSTS",
}


def load(overrides: dict | None = None, env: dict | None = None) -> Config:
    """Build and validate a Config from defaults, environment and overrides (in that order)."""
    env = os.environ if env is None else env
    values: dict = {}
    types = {f.name: f.type for f in fields(Config)}
    for name, var in _ENV.items():
        if var in env and env[var] != "":
            values[name] = env[var]
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    unknown = set(values) - set(types)
    if unknown:
        raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    for name in DEADLINE_BOUNDS:
        if name in values:
            try:
                values[name] = int(values[name])
            except (TypeError, ValueError):
                raise ConfigError(f"{name} must be a whole number") from None
    if "sweep_interval" in values:
        values["sweep_interval"] = int(values["sweep_interval"])
    if "data_dir" in values:
        values["data_dir"] = Path(values["data_dir"])
    if isinstance(values.get("push_hosts"), str):
        values["push_hosts"] = values["push_hosts"].replace(",", " ").split()
    if "push_hosts" in values:
        values["push_hosts"] = tuple(str(h).strip().lower() for h in values["push_hosts"])
    cfg = replace(Config(), **values)
    validate(cfg)
    return cfg


def validate(cfg: Config) -> None:
    for name, (_default, lo, hi) in DEADLINE_BOUNDS.items():
        value = getattr(cfg, name)
        if not lo <= value <= hi:
            raise ConfigError(f"{name} must be between {lo} and {hi}, not {value}")
    parts = urlsplit(cfg.base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError("HWC_BASE_URL must be an absolute http(s) URL")
    if parts.scheme == "http" and parts.hostname != "localhost":
        raise ConfigError("HWC_BASE_URL must use https (plain http is only allowed for localhost)")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ConfigError("HWC_BASE_URL must be an origin only, like https://hwc.school.nl")
    if cfg.sweep_interval < 1:
        raise ConfigError("sweep_interval must be at least 1 second")
    for host in cfg.push_hosts:
        if not PUSH_HOST_PATTERN.fullmatch(host):
            raise ConfigError(f"HWC_PUSH_HOSTS: {host!r} is not a host name like "
                              "push.example.com or *.push.example.com")
