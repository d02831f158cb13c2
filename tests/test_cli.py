"""The command line: one clear line and a non-zero exit on errors; init is idempotent and private."""
from __future__ import annotations

import stat

import pytest
from click.testing import CliRunner

from server import db as db_mod
from server import municipalities
from server.cli import main


@pytest.fixture
def run(tmp_path):
    runner = CliRunner()
    data = tmp_path / "inst"

    def _run(*args):
        return runner.invoke(main, ["--data-dir", str(data), *args], catch_exceptions=False)
    _run.data = data
    return _run


def test_init_is_idempotent_and_owner_only(run):
    first = run("init")
    assert first.exit_code == 0 and "hwc.db" in first.output
    secret = (run.data / "secret_key").read_bytes()
    second = run("init")
    assert second.exit_code == 0 and "nothing new" in second.output
    assert (run.data / "secret_key").read_bytes() == secret
    assert stat.S_IMODE(run.data.stat().st_mode) == 0o700
    for name in ("hwc.db", "keys.db", "secret_key", "vapid_private.pem"):
        assert stat.S_IMODE((run.data / name).stat().st_mode) == 0o600, name


def test_pragmas_are_enforced_on_every_connection(run):
    run("init")
    database = db_mod.connect(run.data)
    conn = database.conn
    for schema in ("main", "keys"):
        assert conn.execute(f"PRAGMA {schema}.secure_delete").fetchone()[0] == 1
        assert conn.execute(f"PRAGMA {schema}.journal_mode").fetchone()[0] == "delete"
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    conn.execute("PRAGMA main.secure_delete=OFF")
    with pytest.raises(db_mod.StorageError):
        db_mod.check_pragmas(conn)
    database.close()


def test_migrations_run_once(run):
    run("init")
    database = db_mod.connect(run.data)
    applied = db_mod.migrate(database)
    assert applied == [name for name, _ in db_mod.MIGRATIONS]
    assert db_mod.migrate(database) == applied
    database.close()


def test_school_and_municipality_commands(run):
    run("init")
    assert "12AB added" in run("school", "add", "--brin", "12ab", "--name", "OBS De Kastanje").output
    dup = run("school", "add", "--brin", "12AB", "--name", "Nog een")
    assert dup.exit_code == 1 and "already exists" in dup.output
    bad = run("school", "add", "--brin", "1", "--name", "X")
    assert bad.exit_code == 1 and bad.output.count("\n") == 1
    assert "12AB  PO  OBS De Kastanje" in run("school", "list").output
    out = run("municipality", "add", "--name", "Gemeente Testdorp", "--school", "12AB").output
    token = out.strip().splitlines()[-1]
    database = db_mod.connect(run.data)
    assert municipalities.authenticate(database, token)["name"] == "Gemeente Testdorp"
    stored = database.conn.execute("SELECT token_hash FROM municipalities").fetchone()[0]
    assert token not in stored and len(stored) == 64
    assert run("municipality", "revoke", "--name", "Gemeente Testdorp").exit_code == 0
    assert municipalities.authenticate(database, token) is None
    database.close()
    unknown = run("municipality", "add", "--name", "G2", "--school", "99ZZ")
    assert unknown.exit_code == 1 and "unknown school" in unknown.output


def test_commands_need_init_first(run):
    res = run("school", "list")
    assert res.exit_code == 1 and "hwc-inbox init" in res.output


def test_purge_runs_the_sweep(run):
    run("init")
    res = run("purge")
    assert res.exit_code == 0 and "expired_unopened=0" in res.output


def test_bad_config_is_one_clear_line(run, monkeypatch):
    run("init")
    monkeypatch.setenv("HWC_UNOPENED_EXPIRY_DAYS", "400")
    res = run("purge")
    assert res.exit_code == 1 and "between 1 and 14" in res.output


def test_serve_trusts_only_the_named_proxy(run, monkeypatch):
    """Review I4: behind a TLS proxy the client address comes from X-Forwarded-For (one hop)."""
    from .test_serve_edges import fake_waitress
    seen = fake_waitress(monkeypatch)
    run("init")
    assert run("serve", "--port", "8123", "--trusted-proxy", "127.0.0.1").exit_code == 0
    assert seen["trusted_proxy"] == "127.0.0.1" and seen["trusted_proxy_count"] == 1
    assert "x-forwarded-for" in seen["trusted_proxy_headers"]
    assert seen["clear_untrusted_proxy_headers"] is True
    seen.clear()
    run("serve", "--port", "8123")
    assert "trusted_proxy" not in seen and seen["clear_untrusted_proxy_headers"] is True


def test_serve_runs_the_configured_number_of_threads(run, monkeypatch):
    from server import serving

    from .test_serve_edges import fake_waitress
    seen = fake_waitress(monkeypatch)
    run("init")
    assert run("serve", "--port", "8123").exit_code == 0
    assert seen["threads"] == serving.THREADS
    assert run("serve", "--port", "8123", "--threads", "8").exit_code == 0
    assert seen["threads"] == 8
    assert run("serve", "--port", "8123", "--threads", "0").exit_code != 0
