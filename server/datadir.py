"""Creating the data directory: the two database files, the secret key and the VAPID pair.

Idempotent (safe at every start) and private: the directory is 0700 and every file 0600, created
under a umask of 077 so no file is ever readable by others, not even for a moment.
"""
from __future__ import annotations

import os
from pathlib import Path

from .db import KEYS_DB, MAIN_DB, connect, migrate
from .push.vapid import ensure_vapid_keys


def init_data_dir(data_dir: Path | str) -> dict:
    """Create the data directory idempotently; return which files were created."""
    data_dir = Path(data_dir)
    old_umask = os.umask(0o077)
    created = {}
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(data_dir, 0o700)
        secret = data_dir / "secret_key"
        if not secret.exists():
            secret.write_bytes(os.urandom(32).hex().encode())
            created["secret_key"] = True
        created.update(ensure_vapid_keys(data_dir))
        for name in (MAIN_DB, KEYS_DB):
            if not (data_dir / name).exists():
                created[name] = True
        db = connect(data_dir)
        try:
            migrate(db)
        finally:
            db.close()
        for path in data_dir.iterdir():
            if path.is_file():
                os.chmod(path, 0o600)
    finally:
        os.umask(old_umask)
    return created
