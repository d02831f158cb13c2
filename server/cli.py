"""The `hwc-inbox` command: set up, run, and administer a server from the shell.

Errors are one clear line and a non-zero exit (click.ClickException), never a traceback.
"""
from __future__ import annotations

import json
import logging
import tempfile
from datetime import date
from pathlib import Path

import click

from . import config as config_mod
from . import db as db_mod
from . import jobs, municipalities, region, schools, serving, webhooks
from . import staff as staff_mod
from .clock import SystemClock
from .datadir import init_data_dir


class Context:
    def __init__(self, data_dir: str | None):
        self.data_dir = data_dir

    def config(self, **overrides):
        try:
            return config_mod.load({"data_dir": self.data_dir, **overrides})
        except config_mod.ConfigError as exc:
            raise click.ClickException(str(exc)) from None

    def db(self):
        cfg = self.config()
        if not (cfg.data_dir / db_mod.MAIN_DB).exists():
            raise click.ClickException(
                f"no data directory at {cfg.data_dir} — run `hwc-inbox init` first")
        database = db_mod.connect(cfg.data_dir)
        db_mod.migrate(database)
        return database


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--data-dir", envvar="HWC_DATA_DIR", default=None,
              help="Data directory (default ./instance, or HWC_DATA_DIR).")
@click.pass_context
def main(ctx, data_dir):
    """HwC Inbox: Handle with Care signals for schools — view once, then gone."""
    ctx.obj = Context(data_dir)


@main.command()
@click.pass_obj
def init(obj: Context):
    """Create the data directory (idempotent): databases, secret key, VAPID keys."""
    cfg = obj.config()
    created = init_data_dir(cfg.data_dir)
    what = ", ".join(sorted(created)) if created else "nothing new"
    click.echo(f"Data directory {cfg.data_dir} ready ({what}).")


# --- schools ----------------------------------------------------------------------------------

@main.group()
def school():
    """Add and list schools."""


@school.command("add")
@click.option("--brin", required=True, help="BRIN code, e.g. 12AB.")
@click.option("--name", required=True)
@click.option("--type", "type_", type=click.Choice(["po", "vo"]), default="po", show_default=True)
@click.pass_obj
def school_add(obj: Context, brin, name, type_):
    database = obj.db()
    try:
        row = schools.add(database, SystemClock().now(), brin=brin, name=name, type=type_)
    except schools.SchoolError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"School {row['brin']} added: {row['name']} ({row['type'].upper()}).")


@school.command("list")
@click.pass_obj
def school_list(obj: Context):
    for row in schools.all_schools(obj.db()):
        click.echo(f"{row['brin']}  {row['type'].upper()}  {row['name']}")


# --- municipalities ---------------------------------------------------------------------------

@main.group()
def municipality():
    """Add and revoke municipality API tokens."""


@municipality.command("add")
@click.option("--name", required=True)
@click.option("--school", "brins", multiple=True, required=True, help="BRIN; repeat for more.")
@click.option("--webhook", default=None, metavar="URL",
              help="https URL to POST every receipt change to (signed; secret shown once).")
@click.pass_obj
def municipality_add(obj: Context, name, brins, webhook):
    database = obj.db()
    if webhook is not None:
        try:
            webhooks.validate_url(webhook)
        except webhooks.WebhookError as exc:
            raise click.ClickException(str(exc)) from None
    try:
        row, token = municipalities.add(database, SystemClock().now(), name=name, brins=list(brins))
        secret = municipalities.set_webhook(database, row["name"], webhook) if webhook else None
    except municipalities.MunicipalityError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Municipality {row['name']} may send to: {', '.join(sorted(b.upper() for b in brins))}")
    click.echo("API token (shown once, store it safely):")
    click.echo(token)
    if secret:
        _echo_secret(secret)


def _echo_secret(secret: str) -> None:
    click.echo("Webhook signing secret (shown once; the receiver needs it to check signatures):")
    click.echo(secret)


@municipality.command("webhook")
@click.option("--name", required=True)
@click.option("--url", default=None, help="New https URL; always makes a new secret.")
@click.option("--remove", is_flag=True, help="Stop pushing receipts.")
@click.pass_obj
def municipality_webhook(obj: Context, name, url, remove):
    """Register, change (and rotate the secret of) or remove a receipt webhook."""
    if bool(url) == bool(remove):
        raise click.ClickException("give either --url or --remove")
    try:
        if remove:
            dropped = municipalities.remove_webhook(obj.db(), name)
            click.echo(f"Webhook of {name} removed ({dropped} undelivered event(s) dropped; "
                       "the API still shows every receipt).")
            return
        secret = municipalities.set_webhook(obj.db(), name, url)
    except municipalities.MunicipalityError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Webhook of {name} set; receipt changes are POSTed there.")
    _echo_secret(secret)


@municipality.command("revoke")
@click.option("--name", required=True)
@click.pass_obj
def municipality_revoke(obj: Context, name):
    try:
        municipalities.revoke(obj.db(), SystemClock().now(), name)
    except municipalities.MunicipalityError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Token of {name} revoked.")


# --- people -----------------------------------------------------------------------------------

@main.command()
@click.option("--school", "brin", default=None, help="BRIN of the school (school staff).")
@click.option("--municipality", default=None, help="Name of the municipality (officer).")
@click.option("--role", "roles", multiple=True, required=True,
              type=click.Choice(list(staff_mod.ROLES) + list(region.REGION_ROLES)),
              help="Role; repeat for more. 'operator' and 'officer' stand alone.")
@click.option("--name", required=True, help="Display name of the person.")
@click.option("--group", default="", help="Group or class, e.g. 'groep 5'.")
@click.option("--base-url", envvar="HWC_BASE_URL", default=None,
              help="Public origin (HWC_BASE_URL) the link points to.")
@click.option("--no-qr", is_flag=True, help="Print only the link.")
@click.pass_obj
def invite(obj: Context, brin, municipality, roles, name, group, base_url, no_qr):
    """Print a one-time enrolment link (72 h) and its QR code: the first director of a school
    (--school), the first operator (--role operator) or a leerplicht officer (--municipality)."""
    import io

    import segno

    cfg = obj.config(base_url=base_url)
    database = obj.db()
    regional = set(roles) & set(region.REGION_ROLES)
    if regional:
        if len(set(roles)) != 1 or brin:
            raise click.ClickException("--role operator/officer stands alone, without --school")
        where = _region_invite_scope(database, roles[0], municipality)
        try:
            invite_row, token = region.create_invite(
                database, SystemClock().now(), role=roles[0], display_name=name, actor="cli",
                municipality_id=where["id"] if where else None)
        except staff_mod.StaffError as exc:
            raise click.ClickException(str(exc)) from None
        target = f"municipality {where['name']}" if where else "this instance"
    else:
        if not brin or municipality:
            raise click.ClickException("school roles need --school BRIN (and no --municipality)")
        row = schools.by_brin(database, brin.strip().upper())
        if row is None:
            raise click.ClickException(f"no school with BRIN {brin.strip().upper()}")
        try:
            invite_row, token = staff_mod.create_invite(
                database, SystemClock().now(), school_id=row["id"], display_name=name,
                group_name=group, roles=roles, actor="cli")
        except staff_mod.StaffError as exc:
            raise click.ClickException(str(exc)) from None
        target = row["brin"]
    link = staff_mod.invite_link(cfg.base_url, token)
    click.echo(f"Invite for {invite_row['display_name']} ({', '.join(sorted(set(roles)))}) at "
               f"{target}, valid until {invite_row['expires_at']}, works once:")
    click.echo(link)
    if not no_qr:
        out = io.StringIO()
        segno.make(link, error="m").terminal(out=out, compact=True)
        click.echo(out.getvalue())


def _region_invite_scope(database, role: str, municipality: str | None) -> dict | None:
    if role == "operator":
        if municipality:
            raise click.ClickException("an operator belongs to no municipality")
        return None
    if not municipality:
        raise click.ClickException("an officer needs --municipality NAME")
    found = [m for m in municipalities.all_municipalities(database)
             if m["name"].casefold() == municipality.strip().casefold()]
    if not found:
        raise click.ClickException(f"no municipality named {municipality.strip()!r}")
    return found[0]


def _demo_director_invite(database, cfg, now):
    """Demo: a director (also receiver) invite for the demo school, printed at start."""
    row = schools.by_brin(database, DEMO_BRIN)
    _inv, token = staff_mod.create_invite(database, now, school_id=row["id"],
                                          display_name="Demo Directeur",
                                          roles=["director", "receiver"], actor="cli")
    return [f"Director invite (works once, 72 h): {staff_mod.invite_link(cfg.base_url, token)}"]


# --- the municipality's side -----------------------------------------------------------------

_URL_HELP = "The HwC Inbox server, e.g. https://hwc.school.nl (or HWC_URL)."
_TOKEN_HELP = "File holding the API token (else HWC_TOKEN). Never pass a token as an argument."


def _client(url, token_file, **kwargs):
    from . import client as client_mod

    try:
        return client_mod.Client(url, client_mod.read_token(token_file), **kwargs)
    except client_mod.ClientError as exc:
        raise click.ClickException(str(exc)) from None


@main.command()
@click.option("--url", required=True, envvar="HWC_URL", help=_URL_HELP)
@click.option("--token-file", type=click.Path(dir_okay=False), default=None, help=_TOKEN_HELP)
@click.option("--file", "file_", type=click.Path(dir_okay=False), default=None,
              help="CSV (school, reference, name, birth_date) or JSON list of signals.")
@click.option("--school", default=None, help="BRIN of the school (one signal from flags).")
@click.option("--reference", default=None, help="Your own reference for this signal.")
@click.option("--name", default=None, help="The child's name.")
@click.option("--birth-date", default=None, help="YYYY-MM-DD.")
@click.option("--retries", default=4, show_default=True, type=click.IntRange(0, 10),
              help="Retries per signal on no answer, 429 or 5xx (with backoff).")
@click.option("--verbose", is_flag=True, help="Also show names and birth dates in the output.")
def send(url, token_file, file_, school, reference, name, birth_date, retries, verbose):
    """Send signals; one line per signal; exit 1 if any was refused or failed.

    Everything is validated locally first. Resending the same file is safe: what arrived before
    is reported as 'already accepted'. Names are not printed unless --verbose.
    """
    from . import client as client_mod

    flags = (school, reference, name, birth_date)
    if file_ and any(v is not None for v in flags):
        raise click.ClickException("give either --file or the signal's flags, not both")
    if not file_ and all(v is None for v in flags):
        raise click.ClickException(
            "give --file, or --school, --reference, --name and --birth-date")
    api = _client(url, token_file, retries=retries)
    try:
        if file_:
            rows = client_mod.load_file(file_)
        else:
            rows = [client_mod.Row("", client_mod.signal_payload(school, reference, name,
                                                                 birth_date))]
    except client_mod.ClientError as exc:
        raise click.ClickException(str(exc)) from None
    if not rows:
        raise click.ClickException("the file holds no signals")
    outcomes = client_mod.send_many(api, rows)
    for outcome in outcomes:
        click.echo(outcome.line(verbose))
    click.echo(client_mod.summary(outcomes), err=True)
    if not all(o.ok for o in outcomes):
        raise SystemExit(1)


@main.command()
@click.option("--url", required=True, envvar="HWC_URL", help=_URL_HELP)
@click.option("--token-file", type=click.Path(dir_okay=False), default=None, help=_TOKEN_HELP)
@click.option("--since", default=None,
              help="YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ (default: the last 7 days).")
@click.option("--reference", "references", multiple=True,
              help="Show just this reference; repeat for more.")
def receipts(url, token_file, since, references):
    """Show the receipt status of recent signals (no personal data)."""
    from . import client as client_mod

    api = _client(url, token_file)
    try:
        if references:
            found = [api.receipt(r) or {"reference": r, "status": "unknown (none or purged)"}
                     for r in references]
            truncated = False
        else:
            answer = api.receipts(since)
            found, truncated = answer["receipts"], answer["truncated"]
    except client_mod.ClientError as exc:
        raise click.ClickException(str(exc)) from None
    columns = ("reference", "status", "received_at", "opened_at", "teacher_informed_at",
               "closed_at")
    table = [columns] + [tuple(r.get(c) or "-" for c in columns) for r in found]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(columns))]
    for row in table:
        click.echo("  ".join(str(v).ljust(w) for v, w in zip(row, widths)).rstrip())
    if not found:
        click.echo("(no receipts in this period)")
    if truncated:
        click.echo("(more than 1000 receipts: use a later --since)")


# --- running ----------------------------------------------------------------------------------

@main.command()
@click.pass_obj
def purge(obj: Context):
    """Apply every deadline once (for cron); prints what was done, no personal data."""
    obj.db().close()
    result = jobs.run_once(obj.config(), SystemClock())
    click.echo(", ".join(f"{k}={v}" for k, v in result.items()))


def _serve(cfg, host: str, port: int, threads: int = serving.THREADS,
           trusted_proxy: str | None = None) -> None:
    from . import create_app

    app = create_app({"data_dir": cfg.data_dir, "base_url": cfg.base_url})
    loops = jobs.start_workers(app.config["HWC"], app.extensions["hwc_clock"])
    proxy = {}
    if trusted_proxy:
        # Behind a TLS proxy the client address comes from X-Forwarded-For, so rate limits on
        # login count per person's address instead of one bucket for everyone.
        proxy = {"trusted_proxy": trusted_proxy, "trusted_proxy_count": 1,
                 "trusted_proxy_headers": {"x-forwarded-for", "x-forwarded-proto"}}
    try:
        serving.serve(app, host=host, port=port, threads=threads, ident="hwc-inbox",
                      clear_untrusted_proxy_headers=True, **serving.waitress_limits(), **proxy)
    finally:
        for loop in loops:
            loop.stop()


def _setup_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--base-url", envvar="HWC_BASE_URL", default=None,
              help="Public origin (HWC_BASE_URL); passkeys are bound to it.")
@click.option("--trusted-proxy", envvar="HWC_TRUSTED_PROXY", default=None,
              help="Address of the TLS reverse proxy whose X-Forwarded-For is believed.")
@click.option("--threads", envvar="HWC_THREADS", default=serving.THREADS, show_default=True,
              type=click.IntRange(1, 64), help="Worker threads (more only add GIL hand-offs).")
@click.pass_obj
def serve(obj: Context, host, port, base_url, trusted_proxy, threads):
    """Run the server (waitress) with the deadline sweep every minute."""
    cfg = obj.config(base_url=base_url or f"http://localhost:{port}")
    init_data_dir(cfg.data_dir)
    _setup_logging()
    click.echo(f"HwC Inbox on http://{host}:{port} (public address {cfg.base_url})")
    _serve(cfg, host, port, threads=threads, trusted_proxy=trusted_proxy)


DEMO_BRIN = "99ZZ"
DEMO_NAME = "Fenna Voorbeeld"  # invented


@main.command()
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--keep", is_flag=True, help="Keep the temporary data directory afterwards.")
def demo(port, keep):
    """Run the product on a throw-away data directory with a demo school and municipality."""
    data_dir = Path(tempfile.mkdtemp(prefix="hwc-demo-"))
    base_url = f"http://localhost:{port}"
    cfg = config_mod.load({"data_dir": data_dir, "base_url": base_url})
    init_data_dir(data_dir)
    database = db_mod.connect(data_dir)
    now = SystemClock().now()
    schools.add(database, now, brin=DEMO_BRIN, name="Demoschool De Vlinder", type="po")
    _row, token = municipalities.add(database, now, name="Demogemeente", brins=[DEMO_BRIN])
    extra = []
    for hook in DEMO_HOOKS:
        extra.extend(hook(database, cfg, now) or [])
    database.close()
    birth = date(now.year - 8, 3, 14).isoformat()
    body = json.dumps({"school": DEMO_BRIN, "reference": "DEMO-1",
                       "child": {"name": DEMO_NAME, "birth_date": birth}})
    click.echo(f"Demo data directory: {data_dir}  (deleted on exit unless --keep)")
    click.echo(f"Open {base_url}/ in a browser (use 'localhost', passkeys refuse 127.0.0.1).")
    for line in extra:
        click.echo(line)
    click.echo("Push a demo signal (invented child) from another terminal:")
    click.echo(f"  curl -sS -X POST {base_url}/api/v1/signals -H 'Authorization: Bearer {token}' "
               f"-H 'Content-Type: application/json' -d '{body}'")
    click.echo(f"Its receipt: curl -sS {base_url}/api/v1/signals/DEMO-1 -H 'Authorization: Bearer {token}'")
    click.echo("Or with the send tool (token from the environment, never an argument):")
    click.echo(f"  export HWC_TOKEN={token}")
    click.echo(f"  hwc-inbox send --url {base_url} --school {DEMO_BRIN} --reference DEMO-2 "
               f"--name 'Daan Voorbeeld' --birth-date {birth}")
    click.echo(f"  hwc-inbox receipts --url {base_url}")
    _setup_logging()
    try:
        _serve(cfg, "127.0.0.1", port)
    finally:
        if not keep:
            import shutil
            shutil.rmtree(data_dir, ignore_errors=True)


#: Other modules add demo setup steps here: callables (db, cfg, now) -> lines to print.
DEMO_HOOKS: list = []
DEMO_HOOKS.append(_demo_director_invite)


if __name__ == "__main__":  # pragma: no cover
    main()
