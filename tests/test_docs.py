"""The documents a school relies on must say what the code does.

docs/privacy.md holds the deadlines in a machine-readable table (setting name, default, allowed
range) and the intake limits (dotted constant name, value); both are compared with the code.
docs/security.md and docs/deploy.md point at tests by `tests/<file>.py::<test>`; each must exist.
Each check is also run on a deliberately wrong copy, to prove it can fail.
"""
from __future__ import annotations

import ast
import importlib
import re
from datetime import timedelta
from pathlib import Path

import pytest

from server.config import DEADLINE_BOUNDS, Config
from server.deadlines import Deadlines

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def tables(text: str) -> list[list[dict[str, str]]]:
    """Every Markdown table as a list of rows keyed by the (lower-case) header cells."""
    out, lines = [], text.splitlines()
    i = 0
    while i < len(lines) - 1:
        if lines[i].lstrip().startswith("|") and re.match(r"^\s*\|[\s:|-]+\|\s*$", lines[i + 1]):
            header = [c.strip().lower() for c in lines[i].strip().strip("|").split("|")]
            rows, i = [], i + 2
            while i < len(lines) and lines[i].lstrip().startswith("|"):
                cells = [c.strip() for c in lines[i].strip().strip("|").split("|")]
                rows.append(dict(zip(header, cells)))
                i += 1
            out.append(rows)
        else:
            i += 1
    return out


def deadline_problems(text: str) -> list[str]:
    """Compare the deadline table of privacy.md with DEADLINE_BOUNDS, Config and Deadlines."""
    found: dict[str, dict] = {}
    for table in tables(text):
        for row in table:
            m = re.fullmatch(r"`([a-z_]+)`", row.get("instelling", ""))
            if m:
                if m.group(1) in found:
                    return [f"{m.group(1)} appears twice"]
                found[m.group(1)] = row
    problems = []
    if set(found) != set(DEADLINE_BOUNDS):
        problems.append(f"settings in the doc {sorted(found)} != code {sorted(DEADLINE_BOUNDS)}")
    code_deadlines = Deadlines()
    for name, row in found.items():
        if name not in DEADLINE_BOUNDS:
            continue
        default, lo, hi = DEADLINE_BOUNDS[name]
        unit = "dag" if name.endswith("_days") else "minu"
        value = re.fullmatch(r"(\d+) (\w+)", row.get("standaard", ""))
        bounds = re.fullmatch(r"(\d+)\s*[–-]\s*(\d+) (\w+)", row.get("toegestaan", ""))
        if not value or int(value.group(1)) != default or unit not in value.group(2):
            problems.append(f"{name}: doc says {row.get('standaard')!r}, code default {default}")
        if not bounds or (int(bounds.group(1)), int(bounds.group(2))) != (lo, hi) \
                or unit not in bounds.group(3):
            problems.append(f"{name}: doc allows {row.get('toegestaan')!r}, code {lo}-{hi}")
        if getattr(Config(), name) != default:
            problems.append(f"{name}: Config default differs from DEADLINE_BOUNDS")
        attr = name.removesuffix("_days").removesuffix("_minutes")
        per = timedelta(days=1) if name.endswith("_days") else timedelta(minutes=1)
        if getattr(code_deadlines, attr) != default * per:
            problems.append(f"{name}: deadlines.Deadlines default differs")
    return problems


def constant_problems(text: str) -> list[str]:
    problems, seen = [], 0
    for table in tables(text):
        for row in table:
            m = re.fullmatch(r"`(server\.[a-z_.]+)\.([A-Z_]+)`", row.get("constante", ""))
            if not m:
                continue
            seen += 1
            actual = getattr(importlib.import_module(m.group(1)), m.group(2))
            if str(actual) != row.get("waarde"):
                problems.append(f"{m.group(1)}.{m.group(2)}: doc {row.get('waarde')}, code {actual}")
    if seen < 4:
        problems.append("the table of intake limits is missing")
    return problems


def test_privacy_deadlines_match_the_code():
    text = (DOCS / "privacy.md").read_text(encoding="utf-8")
    assert deadline_problems(text) == []


def test_privacy_intake_limits_match_the_code():
    text = (DOCS / "privacy.md").read_text(encoding="utf-8")
    assert constant_problems(text) == []


@pytest.mark.parametrize("wrong, right", [
    ("| `unopened_expiry_days` | 7 dagen |", "| `unopened_expiry_days` | 8 dagen |"),
    ("| 5–120 minuten |", "| 5–90 minuten |"),
    ("| `receipt_purge_days` |", "| `receipt_purge_dayz` |"),
])
def test_the_deadline_check_can_fail(wrong, right):
    text = (DOCS / "privacy.md").read_text(encoding="utf-8")
    assert wrong in text
    assert deadline_problems(text.replace(wrong, right))


def test_the_limits_check_can_fail():
    text = (DOCS / "privacy.md").read_text(encoding="utf-8")
    assert constant_problems(text.replace("| `server.intake.MAX_AGE` | 21 |",
                                          "| `server.intake.MAX_AGE` | 18 |"))


def test_privacy_has_no_notes_left_for_the_integrator():
    """Written while parts were being built; every section is now checked against the code."""
    text = (DOCS / "privacy.md").read_text(encoding="utf-8")
    assert "integrator" not in text and "to verify" not in text
    assert "to verify" not in (DOCS / "security.md").read_text(encoding="utf-8")


def _test_functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}


def referenced_tests(text: str) -> list[tuple[str, str | None]]:
    """`tests/x.py::name` references, and `::name` shorthand meaning the file named just before."""
    refs, last = [], None
    for m in re.finditer(r"(tests/(?:browser/)?test_[a-z0-9_]+\.py)?::([a-zA-Z0-9_]+)"
                         r"|(tests/(?:browser/)?test_[a-z0-9_]+\.py)", text):
        if m.group(3):
            last = m.group(3)
            refs.append((last, None))
        else:
            last = m.group(1) or last
            if last:
                refs.append((last, m.group(2)))
    return refs


@pytest.mark.parametrize("doc", ["privacy.md", "security.md", "deploy.md", "../ARCHITECTURE.md"])
def test_every_referenced_test_exists(doc):
    text = (DOCS / doc).read_text(encoding="utf-8")
    refs = referenced_tests(text)
    if doc in ("security.md", "../ARCHITECTURE.md"):
        assert len(refs) >= 20, "the table should point at real tests"
    missing = []
    for file, name in refs:
        path = ROOT / file
        if not path.exists():
            missing.append(file)
        elif name and name not in _test_functions(path):
            missing.append(f"{file}::{name}")
    assert missing == []


def test_deploy_backs_up_the_main_database_but_never_the_key_store():
    text = (DOCS / "deploy.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.S)
    backup_lines = [line for b in blocks for line in b.splitlines() if ".backup" in line]
    assert any("hwc.db" in line for line in backup_lines)
    assert not any("keys.db" in line for line in backup_lines)
    for setting in ("ProtectSystem=strict", "PrivateTmp=yes", "NoNewPrivileges=yes",
                    "HWC_BASE_URL", "hwc-inbox", "purge"):
        assert setting in text


def test_restore_without_the_key_store_accepts_new_signals(tmp_path):
    """deploy.md §5: back up hwc.db with the backup API, lose the server (and keys.db), restore
    hwc.db, start: new signals must be accepted again."""
    import sqlite3

    from server import create_app
    from server import db as db_mod
    from server import municipalities, schools
    from server.clock import FakeClock
    from server.web.base import limiter

    from .conftest import give_receiver

    live, backup = tmp_path / "live", tmp_path / "backup.db"
    clock = FakeClock("2026-11-23T06:00:00Z")
    create_app({"data_dir": live, "testing": True}, clock=clock, env={})
    database = db_mod.connect(live)
    school = schools.add(database, clock.now(), brin="12AB", name="OBS Hersteld")
    give_receiver(database, clock.now(), school["id"])
    _r, token = municipalities.add(database, clock.now(), name="Gemeente Terug", brins=["12AB"])
    database.close()
    src, dst = sqlite3.connect(live / "hwc.db"), sqlite3.connect(backup)
    src.backup(dst)
    src.close(), dst.close()

    restored = tmp_path / "restored"
    restored.mkdir(mode=0o700)
    (restored / "hwc.db").write_bytes(backup.read_bytes())
    app = create_app({"data_dir": restored, "testing": True}, clock=clock, env={})
    limiter.reset()
    resp = app.test_client().post(
        "/api/v1/signals", headers={"Authorization": f"Bearer {token}"},
        json={"school": "12AB", "reference": "AFTER-RESTORE",
              "child": {"name": "Nina Hersteld", "birth_date": "2016-06-06"}})
    assert resp.status_code == 201


def test_the_reference_reader_understands_shorthand():
    refs = referenced_tests("`tests/test_a.py::one`, `::two`, `tests/browser/test_b.py::three`")
    assert refs == [("tests/test_a.py", "one"), ("tests/test_a.py", "two"),
                    ("tests/browser/test_b.py", "three")]


def test_architecture_names_only_code_that_exists():
    """Every `module.name` and `server/…` path in ARCHITECTURE.md must exist: a newcomer reads it
    to find where a rule is enforced, so a renamed function must not leave it pointing nowhere."""
    import importlib

    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    missing = []
    for path in re.findall(r"`(server/[A-Za-z0-9_/]+\.py)", text):
        if not (ROOT / path).exists():
            missing.append(path)
    modules = {p.stem: p for p in (ROOT / "server").rglob("*.py") if p.stem != "__init__"}
    for prefix, module, name in re.findall(r"`((?:web|push)[/.])?([a-z_]+)[.:]([A-Za-z_]+)", text):
        if module not in modules or name in ("py", "md"):
            continue
        package = {"web/": "server.web.", "web.": "server.web.", "push/": "server.push.",
                   "push.": "server.push."}.get(prefix, "server.")
        try:
            mod = importlib.import_module(package + module)
        except ModuleNotFoundError:
            mod = importlib.import_module("server.push." + module) if module in (
                "plan", "deliver", "kick", "vapid", "subscriptions") else None
        if mod is None or not hasattr(mod, name):
            missing.append(f"{prefix or ''}{module}.{name}")
    assert missing == []
