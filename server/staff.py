"""Staff, roles, away, invites and passkey rows — plain data functions.

No Flask here: routes in `web/auth.py`, `web/admin.py` and `web/me.py` parse input and call these, so the rules
(who may be invited, the last receiver cannot vanish, an invite works once) are testable alone.
Every change writes an audit event (who, what, when) in the same transaction; audit details hold
staff ids and setting names, never child data and never staff names.

Deactivating a person or revoking a passkey deletes that person's server-side sessions in the
same transaction, so they are logged out everywhere at once.
"""
from __future__ import annotations

import hmac
import os
from datetime import datetime, timedelta

from .audit import audit
from .clock import iso, parse
from .db import write
from .tokens import digest, new_token

ROLES = ("director", "receiver", "backup", "teacher")
ROLE_LABELS = {"director": "directeur", "receiver": "ontvanger", "backup": "achterwacht",
               "teacher": "leerkracht / mentor", "operator": "beheerder",
               "officer": "leerplichtambtenaar"}
INVITE_TTL = timedelta(hours=72)
#: Everyone with a passkey: school staff and the region's operators and officers (ADR 0010).
PEOPLE_ROLES = ROLES + ("operator", "officer")


class StaffError(ValueError):
    """A request the rules refuse; the message is Dutch and safe to show to the director."""


# --- helpers ----------------------------------------------------------------------------------

def _clean_name(name: str) -> str:
    name = " ".join((name or "").split())
    if not 1 <= len(name) <= 100:
        raise StaffError("Vul een naam in van 1 tot 100 tekens.")
    return name


def _clean_group(group: str) -> str:
    group = " ".join((group or "").split())
    if len(group) > 40:
        raise StaffError("Groep of klas mag hoogstens 40 tekens zijn.")
    return group


def _clean_roles(roles) -> list[str]:
    roles = sorted({r for r in roles if r})
    bad = [r for r in roles if r not in ROLES]
    if bad or not roles:
        raise StaffError("Kies minstens één geldige rol.")
    return roles


# --- staff ------------------------------------------------------------------------------------

def roles_of(db, staff_id: int) -> set[str]:
    return {r["role"] for r in db.query("SELECT role FROM staff_roles WHERE staff_id = ?", (staff_id,))}


def get(db, staff_id: int, school_id: int | None = None) -> dict | None:
    """One staff member with their roles (one statement: every logged-in request asks), only
    if they belong to `school_id` when given (cross-school guard)."""
    sql, args = ("SELECT *, (SELECT group_concat(role, ',') FROM staff_roles r WHERE"
                 " r.staff_id = staff.id) AS role_list FROM staff WHERE id = ?"), [staff_id]
    if school_id is not None:
        sql += " AND school_id = ?"
        args.append(school_id)
    row = (list(db.query(sql, args)) or [None])[0]
    if row is not None:
        row["roles"] = set(filter(None, (row.pop("role_list") or "").split(",")))
    return row


def teachers(db, school_id: int) -> list[dict]:
    """The active teachers (and mentors) of a school, as the receiver picks one."""
    return list(db.query(
        "SELECT s.id, s.display_name, s.group_name FROM staff s"
        " JOIN staff_roles r ON r.staff_id = s.id AND r.role = 'teacher'"
        " WHERE s.school_id = ? AND s.active = 1 ORDER BY s.group_name, s.display_name",
        (school_id,)))


def display_name(db, staff_id: int | None) -> str | None:
    """A person's name for a sentence like 'al geopend door …', or None if unknown."""
    if staff_id is None:
        return None
    rows = list(db.query("SELECT display_name FROM staff WHERE id = ?", (staff_id,)))
    return rows[0]["display_name"] if rows else None


def by_user_handle(db, handle: bytes) -> dict | None:
    rows = list(db.query("SELECT id FROM staff WHERE user_handle = ?", (handle,)))
    return get(db, rows[0]["id"]) if rows else None


def list_staff(db, school_id: int) -> list[dict]:
    rows = list(db.query("SELECT * FROM staff WHERE school_id = ? ORDER BY active DESC, "
                         "display_name COLLATE NOCASE", (school_id,)))
    for row in rows:
        row["roles"] = roles_of(db, row["id"])
        row["passkey_count"] = db.conn.execute(
            "SELECT count(*) FROM passkeys WHERE staff_id = ? AND revoked_at IS NULL",
            (row["id"],)).fetchone()[0]
    return rows


def _count_active_with_role(db, school_id: int, role: str, excluding: int | None = None) -> int:
    sql = ("SELECT count(*) FROM staff s JOIN staff_roles r ON r.staff_id = s.id "
           "WHERE s.school_id = ? AND s.active = 1 AND r.role = ?")
    args = [school_id, role]
    if excluding is not None:
        sql += " AND s.id != ?"
        args.append(excluding)
    return db.conn.execute(sql, args).fetchone()[0]


def warnings(db, school_id: int) -> list[str]:
    """What the director should fix: no receiver is a hard gap, no backup a soft one."""
    out = []
    if _count_active_with_role(db, school_id, "receiver") == 0:
        out.append("Er is nog geen ontvanger. Zonder ontvanger leest niemand de signalen.")
    if _count_active_with_role(db, school_id, "backup") == 0:
        out.append("Er is geen achterwacht. Als de ontvanger afwezig is, krijgt niemand bericht.")
    if not db.conn.execute(
            "SELECT 1 FROM staff s JOIN staff_roles r ON r.staff_id = s.id AND r.role = 'director'"
            " JOIN push_subscriptions p ON p.staff_id = s.id WHERE s.school_id = ? AND s.active = 1"
            " LIMIT 1", (school_id,)).fetchone():
        # The last step of the escalation (an unopened signal an hour after school start) is a
        # push to the directors: without a device it reaches nobody.
        out.append("Geen directeur heeft meldingen aan. Is een signaal een uur na de begintijd "
                   "nog niet geopend, dan krijgt een directeur daar alleen bericht van met "
                   "meldingen aan: zet ze aan onder Mijn instellingen.")
    return out


def _guard_last(db, school_id: int, staff_id: int, losing: set[str]) -> None:
    """Refuse a change that leaves the school without an active director or receiver."""
    for role, message in (("director", "Er moet minstens één actieve directeur blijven."),
                          ("receiver", "Er moet minstens één ontvanger blijven. "
                                       "Wijs eerst iemand anders aan als ontvanger.")):
        if role in losing and _count_active_with_role(db, school_id, role) > 0 \
                and _count_active_with_role(db, school_id, role, excluding=staff_id) == 0:
            raise StaffError(message)


def set_roles(db, now, *, school_id: int, staff_id: int, roles, actor: str) -> set[str]:
    roles = set(_clean_roles(roles))
    with write(db):
        person = get(db, staff_id, school_id)
        if person is None:
            raise LookupError(staff_id)
        if person["active"]:
            _guard_last(db, school_id, staff_id, person["roles"] - roles)
        db.conn.execute("DELETE FROM staff_roles WHERE staff_id = ?", (staff_id,))
        for role in sorted(roles):
            db.conn.execute("INSERT INTO staff_roles (staff_id, role) VALUES (?, ?)", (staff_id, role))
        audit(db, now, school_id, actor, "staff.roles", f"staff:{staff_id} roles={','.join(sorted(roles))}")
    return roles


def update_details(db, now, *, school_id: int, staff_id: int, display_name: str, group_name: str,
                   actor: str) -> None:
    display_name, group_name = _clean_name(display_name), _clean_group(group_name)
    with write(db):
        cur = db.conn.execute("UPDATE staff SET display_name = ?, group_name = ? "
                              "WHERE id = ? AND school_id = ?",
                              (display_name, group_name, staff_id, school_id))
        if cur.rowcount != 1:
            raise LookupError(staff_id)
        audit(db, now, school_id, actor, "staff.details", f"staff:{staff_id}")


def end_sessions(db, staff_id: int, *, keep_id_hash: str | None = None) -> int:
    """Log a person out everywhere (optionally keeping the session making the request)."""
    cur = db.conn.execute("DELETE FROM web_sessions WHERE staff_id = ? AND id_hash IS NOT ?",
                          (staff_id, keep_id_hash))
    return cur.rowcount


def deactivate(db, now, *, school_id: int, staff_id: int, actor: str, actor_id: int | None = None) -> None:
    if actor_id == staff_id:
        raise StaffError("Je kunt jezelf niet uitschakelen.")
    with write(db):
        person = get(db, staff_id, school_id)
        if person is None:
            raise LookupError(staff_id)
        if not person["active"]:
            return
        _guard_last(db, school_id, staff_id, person["roles"])
        db.conn.execute("UPDATE staff SET active = 0 WHERE id = ?", (staff_id,))
        end_sessions(db, staff_id)
        # An open re-invite for this person must not bring them back silently.
        db.conn.execute("UPDATE invites SET withdrawn_at = ? WHERE staff_id = ? AND used_at IS NULL "
                        "AND withdrawn_at IS NULL", (iso(now), staff_id))
        audit(db, now, school_id, actor, "staff.deactivated", f"staff:{staff_id}")


def delete(db, now, *, school_id: int, staff_id: int, actor: str) -> None:
    """Remove a person who was switched off: their roles, passkeys, sessions, invites and push
    devices go with them (ON DELETE CASCADE); signals they touched forget them (SET NULL). What
    remains is the audit trail, which names staff by id only."""
    with write(db):
        person = get(db, staff_id, school_id)
        if person is None:
            raise LookupError(staff_id)
        if person["active"]:
            raise StaffError("Schakel deze persoon eerst uit; daarna kun je de gegevens wissen.")
        # The invite that brought them in still holds their name.
        db.conn.execute("DELETE FROM invites WHERE staff_id = ? OR user_handle = ?",
                        (staff_id, person["user_handle"]))
        db.conn.execute("DELETE FROM staff WHERE id = ? AND school_id = ?", (staff_id, school_id))
        audit(db, now, school_id, actor, "staff.deleted", f"staff:{staff_id}")


#: How long housekeeping keeps what is only needed for a while (no child data in any of it).
AUDIT_RETENTION = timedelta(days=365)
INVITE_RETENTION = timedelta(days=30)


def housekeeping(db, now, cfg=None) -> dict:
    """Sweep step: forget audit events after a year, and invites 30 days after they were used,
    withdrawn or expired (their hashes are of no use to anyone after that)."""
    cutoff = iso(now - INVITE_RETENTION)
    with write(db):
        audit_gone = db.conn.execute("DELETE FROM audit_events WHERE at < ?",
                                     (iso(now - AUDIT_RETENTION),)).rowcount
        invites_gone = db.conn.execute(
            "DELETE FROM invites WHERE COALESCE(used_at, withdrawn_at, expires_at) < ?",
            (cutoff,)).rowcount
    return {"audit_events_purged": audit_gone, "invites_purged": invites_gone}


def reactivate(db, now, *, school_id: int, staff_id: int, actor: str) -> None:
    with write(db):
        cur = db.conn.execute("UPDATE staff SET active = 1 WHERE id = ? AND school_id = ?",
                              (staff_id, school_id))
        if cur.rowcount != 1:
            raise LookupError(staff_id)
        audit(db, now, school_id, actor, "staff.reactivated", f"staff:{staff_id}")


# --- invites ----------------------------------------------------------------------------------

def create_invite(db, now, *, school_id: int, display_name: str = "", group_name: str = "",
                  roles=(), actor: str, staff_id: int | None = None) -> tuple[dict, str]:
    """Make a one-time enrolment link token (returned once; only its SHA-256 is stored).

    With `staff_id` it is a re-invite: the new passkey is added to that existing person (lost
    phone) and name and roles stay as they are.
    """
    if staff_id is not None:
        person = get(db, staff_id, school_id)
        if person is None:
            raise LookupError(staff_id)
        if not person["active"]:
            raise StaffError("Deze persoon is uitgeschakeld. Schakel eerst weer in.")
        display_name, group_name, handle = person["display_name"], person["group_name"], person["user_handle"]
        roles = sorted(person["roles"])
    else:
        display_name, group_name = _clean_name(display_name), _clean_group(group_name)
        roles = _clean_roles(roles)
        handle = os.urandom(32)
    token = new_token()
    with write(db):
        if not db.conn.execute("SELECT 1 FROM schools WHERE id = ?", (school_id,)).fetchone():
            raise LookupError(school_id)
        invite_id = db["invites"].insert({
            "school_id": school_id, "token_hash": digest(token), "user_handle": handle,
            "staff_id": staff_id, "display_name": display_name, "group_name": group_name,
            "roles": ",".join(roles), "created_by": actor, "created_at": iso(now),
            "expires_at": iso(now + INVITE_TTL)}).last_pk
        audit(db, now, school_id, actor, "invite.created",
              f"invite:{invite_id} roles={','.join(roles)}" + (f" staff:{staff_id}" if staff_id else ""))
    return get_invite(db, invite_id), token


def get_invite(db, invite_id: int, school_id: int | None = None) -> dict | None:
    sql, args = "SELECT * FROM invites WHERE id = ?", [invite_id]
    if school_id is not None:
        sql += " AND school_id = ?"
        args.append(school_id)
    rows = list(db.query(sql, args))
    return rows[0] if rows else None


def invite_status(invite: dict | None, now: datetime) -> str:
    """'valid', 'used', 'withdrawn', 'expired' or 'unknown' — for a calm page, not an error."""
    if invite is None:
        return "unknown"
    if invite["used_at"]:
        return "used"
    if invite["withdrawn_at"]:
        return "withdrawn"
    if parse(invite["expires_at"]) <= now:
        return "expired"
    return "valid"


def find_invite(db, token: str) -> dict | None:
    if not token or len(token) > 100:
        return None
    rows = list(db.query("SELECT * FROM invites WHERE token_hash = ?", (digest(token),)))
    if rows and hmac.compare_digest(rows[0]["token_hash"], digest(token)):
        return rows[0]
    return None


def pending_invites(db, school_id: int, now: datetime) -> list[dict]:
    return list(db.query("SELECT * FROM invites WHERE school_id = ? AND used_at IS NULL AND "
                         "withdrawn_at IS NULL AND expires_at > ? ORDER BY id", (school_id, iso(now))))


def withdraw_invite(db, now, *, school_id: int, invite_id: int, actor: str) -> None:
    with write(db):
        cur = db.conn.execute("UPDATE invites SET withdrawn_at = ? WHERE id = ? AND school_id = ? "
                              "AND used_at IS NULL AND withdrawn_at IS NULL",
                              (iso(now), invite_id, school_id))
        if cur.rowcount != 1:
            raise LookupError(invite_id)
        audit(db, now, school_id, actor, "invite.withdrawn", f"invite:{invite_id}")


def redeem_invite(db, now, *, invite_id: int, credential_id: bytes, public_key: bytes,
                  sign_count: int, passkey_name: str = "") -> dict:
    """Use an invite exactly once: make (or extend) the person and store their first passkey.

    The guarded UPDATE makes two simultaneous enrolments with one link give one person.
    """
    with write(db):
        cur = db.conn.execute("UPDATE invites SET used_at = ? WHERE id = ? AND used_at IS NULL AND "
                              "withdrawn_at IS NULL AND expires_at > ?",
                              (iso(now), invite_id, iso(now)))
        if cur.rowcount != 1:
            raise StaffError("Deze uitnodiging is niet meer geldig.")
        invite = get_invite(db, invite_id)
        if invite["staff_id"] is not None:
            staff_id = invite["staff_id"]
            if not db.conn.execute("SELECT active FROM staff WHERE id = ?", (staff_id,)).fetchone()[0]:
                raise StaffError("Deze uitnodiging is niet meer geldig.")
        else:
            staff_id = db["staff"].insert({
                "school_id": invite["school_id"], "municipality_id": invite.get("municipality_id"),
                "display_name": invite["display_name"],
                "group_name": invite["group_name"], "user_handle": invite["user_handle"],
                "active": 1, "created_at": iso(now)}).last_pk
            for role in filter(None, invite["roles"].split(",")):
                db.conn.execute("INSERT INTO staff_roles (staff_id, role) VALUES (?, ?)", (staff_id, role))
        passkey_id = _insert_passkey(db, now, staff_id, credential_id, public_key, sign_count, passkey_name)
        audit(db, now, invite["school_id"], f"staff:{staff_id}", "invite.used",
              f"invite:{invite_id} staff:{staff_id} passkey:{passkey_id}")
    return get(db, staff_id)


# --- passkeys ---------------------------------------------------------------------------------

def _clean_passkey_name(name: str, now: datetime) -> str:
    name = " ".join((name or "").split())[:60]
    return name or f"Passkey van {now.date().isoformat()}"


def _insert_passkey(db, now, staff_id, credential_id, public_key, sign_count, name) -> int:
    if db.conn.execute("SELECT 1 FROM passkeys WHERE credential_id = ?", (credential_id,)).fetchone():
        raise StaffError("Deze passkey is al in gebruik.")
    return db["passkeys"].insert({
        "staff_id": staff_id, "credential_id": credential_id, "public_key": public_key,
        "sign_count": sign_count, "name": _clean_passkey_name(name, now),
        "created_at": iso(now)}).last_pk


def add_passkey(db, now, *, staff_id: int, credential_id: bytes, public_key: bytes,
                sign_count: int, name: str = "") -> int:
    with write(db):
        person = get(db, staff_id)
        if person is None or not person["active"]:
            raise StaffError("Dit account is niet actief.")
        pid = _insert_passkey(db, now, staff_id, credential_id, public_key, sign_count, name)
        audit(db, now, person["school_id"], f"staff:{staff_id}", "passkey.added",
              f"staff:{staff_id} passkey:{pid}")
    return pid


def passkeys_of(db, staff_id: int, include_revoked: bool = False) -> list[dict]:
    sql = "SELECT * FROM passkeys WHERE staff_id = ?"
    if not include_revoked:
        sql += " AND revoked_at IS NULL"
    return list(db.query(sql + " ORDER BY id", (staff_id,)))


def passkey_by_credential_id(db, credential_id: bytes) -> dict | None:
    """A usable passkey (not revoked, owner active) with its owner's handle, or None."""
    rows = list(db.query(
        "SELECT p.*, s.user_handle, s.school_id, s.active FROM passkeys p "
        "JOIN staff s ON s.id = p.staff_id WHERE p.credential_id = ?", (credential_id,)))
    if not rows or rows[0]["revoked_at"] or not rows[0]["active"]:
        return None
    return rows[0]


def record_use(db, now, passkey_id: int, old_count: int, new_count: int) -> bool:
    """Store the new sign count, guarded by the old one, so two parallel logins can't both pass."""
    with write(db):
        cur = db.conn.execute("UPDATE passkeys SET sign_count = ?, last_used_at = ? WHERE id = ? "
                              "AND sign_count = ? AND revoked_at IS NULL",
                              (new_count, iso(now), passkey_id, old_count))
        return cur.rowcount == 1


def rename_passkey(db, now, *, staff_id: int, passkey_id: int, name: str) -> None:
    with write(db):
        cur = db.conn.execute("UPDATE passkeys SET name = ? WHERE id = ? AND staff_id = ? "
                              "AND revoked_at IS NULL",
                              (_clean_passkey_name(name, now), passkey_id, staff_id))
        if cur.rowcount != 1:
            raise LookupError(passkey_id)


def revoke_passkey(db, now, *, staff_id: int, passkey_id: int, actor: str, school_id: int,
                   keep_session_hash: str | None = None, allow_last: bool = True) -> None:
    """Revoke a passkey and end the owner's sessions (all, or all but the caller's own)."""
    with write(db):
        if get(db, staff_id, school_id) is None:
            raise LookupError(staff_id)
        live = [p["id"] for p in passkeys_of(db, staff_id)]
        if passkey_id not in live:
            raise LookupError(passkey_id)
        if not allow_last and len(live) == 1:
            raise StaffError("Dit is je enige passkey. Voeg eerst een andere toe, "
                             "anders kun je niet meer inloggen.")
        db.conn.execute("UPDATE passkeys SET revoked_at = ? WHERE id = ?", (iso(now), passkey_id))
        end_sessions(db, staff_id, keep_id_hash=keep_session_hash)
        audit(db, now, school_id, actor, "passkey.revoked", f"staff:{staff_id} passkey:{passkey_id}")


# --- away, and who holds a role today -----------------------------------------------------------

#: The roles that open waiting signals (access.opener): pushed to, sealed to their phones
#: (devicekeys), and the ones that may mark themselves away ('afwezig tot ...').
OPENING_ROLES = ("receiver", "backup")
MAX_AWAY = timedelta(days=366)


class AwayError(StaffError):
    """A refused 'Afwezig tot'; the message is Dutch and safe to show."""


def set_away(db, at: datetime, staff_id: int, school_id: int, until: datetime | None) -> None:
    """Set or clear 'away until' and audit it (ids only), in one transaction.

    While a receiver is away, new signals are pushed to the backups instead, and a backup may open
    them (`access.opener`); so this is the one place the rule's bounds live.
    """
    if until is not None:
        if until <= at:
            raise AwayError("Kies een moment in de toekomst.")
        if until > at + MAX_AWAY:
            raise AwayError("Je kunt je hoogstens een jaar vooruit afwezig melden.")
    with write(db):
        cur = db.conn.execute("UPDATE staff SET away_until = ? WHERE id = ? AND school_id = ?",
                              (iso(until), staff_id, school_id))
        if cur.rowcount != 1:
            raise LookupError(staff_id)
        audit(db, at, school_id, f"staff:{staff_id}",
              "staff.away_set" if until is not None else "staff.away_cleared",
              f"staff:{staff_id}")


def away_until(db, staff_id: int, at: datetime) -> str | None:
    """The stored 'away until' if it is still in the future (a past one means present)."""
    rows = list(db.query("SELECT away_until FROM staff WHERE id = ?", (staff_id,)))
    stamp = rows[0]["away_until"] if rows else None
    return stamp if stamp and stamp > iso(at) else None


def with_role(db, school_id: int, role: str) -> list[dict]:
    """Active people of a school holding `role` (id and away_until), in a stable order."""
    return list(db.query(
        "SELECT st.id, st.away_until FROM staff st JOIN staff_roles r ON r.staff_id = st.id"
        " WHERE st.school_id = ? AND st.active = 1 AND r.role = ? ORDER BY st.id",
        (school_id, role)))


def present(rows: list[dict], at: datetime) -> list[dict]:
    """Those of `rows` (from `with_role`) who are not away at `at`."""
    stamp = iso(at)
    return [r for r in rows if not r["away_until"] or r["away_until"] <= stamp]


def receivers_all_away(db, school_id: int, at: datetime) -> bool:
    """True when no active receiver is present (all away, or none at all)."""
    return not present(with_role(db, school_id, "receiver"), at)


def invite_link(base_url: str, token: str) -> str:
    """The link a person opens to make their passkey (shown once; only its digest is stored)."""
    return f"{base_url.rstrip('/')}/auth/invite/{token}"
