"""The development secret: made at random on first start, kept under ``var_dir``, never a known constant.

Production must set ``SHUBBAK_SECRET_KEY`` (the settings refuse to start without one). Without it, an
installation for development makes 48 random bytes, writes them to ``var_dir/secret-key`` readable by its owner
only (0600), and reads the same file on every later start, so tokens and cookies survive a restart. Anybody
who can read that file can sign tokens: it is as sensitive as the database.
"""

from __future__ import annotations

import os
import secrets
import threading
from functools import lru_cache
from pathlib import Path

SECRET_FILE = "secret-key"  # noqa: S105 - a file name, not a secret
_lock = threading.Lock()


def development_secret(var_dir: Path) -> str:
    return _read_or_make(var_dir.resolve())


@lru_cache(maxsize=16)
def _read_or_make(var_dir: Path) -> str:
    path = var_dir / SECRET_FILE
    with _lock:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            # Written whole to a file of its own, then linked into place: a process starting at the same
            # moment either wins the link or reads the winner's complete file, never half of one.
            draft = path.with_name(f".{SECRET_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
            fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_urlsafe(48) + "\n")
            try:
                os.link(draft, path)
            except FileExistsError:
                pass
            finally:
                draft.unlink()
        text = path.read_text().strip()
    if len(text) < 32:
        raise RuntimeError(f"{path} holds no usable secret: delete it to make a new one")
    return text
