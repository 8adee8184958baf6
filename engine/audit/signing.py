"""The installation's signing key (Ed25519): it signs the ledger's seals and the case files auditors export.

The private key comes from ``SHUBBAK_SIGNING_KEY`` (the 32-byte seed in base64); the settings refuse to start
in production without one. In development and tests a key is generated once and kept in ``var_dir``, so its
public half stays the same across restarts. The public half is what verifiers trust: it is published
(`shubbak audit public-key`, ``GET /api/audit/public-key``), and whoever checks an export or a seal must
compare the key it names with the published one, since anyone can sign anything with a key of their own.
"""

from __future__ import annotations

import base64
import os
import threading
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from engine.core.settings import Settings

DEV_KEY_FILE = "dev-signing-key"
_lock = threading.Lock()
_keys: dict[str, Ed25519PrivateKey] = {}


def new_seed() -> str:
    """A fresh private key seed for ``SHUBBAK_SIGNING_KEY``."""
    return base64.b64encode(os.urandom(32)).decode("ascii")


def private_key(seed: str) -> Ed25519PrivateKey:
    """The key of a base64 seed (as in ``SHUBBAK_SIGNING_KEY``)."""
    with _lock:
        key = _keys.get(seed)
        if key is None:
            key = _keys[seed] = Ed25519PrivateKey.from_private_bytes(base64.b64decode(seed))
    return key


def installation_key(settings: Settings) -> Ed25519PrivateKey:
    seed = settings.signing_key.strip() if settings.signing_key is not None else _dev_seed(settings.var_dir)
    return private_key(seed)


def _dev_seed(var_dir: Path) -> str:
    """The development key kept under ``var_dir`` (never in production: the settings require a real key)."""
    path = var_dir / DEV_KEY_FILE
    with _lock:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(new_seed() + "\n")
        return path.read_text().strip()


def public_hex(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


def installation_public_key(settings: Settings) -> str:
    return public_hex(installation_key(settings))


def trusted_keys(settings: Settings) -> set[str]:
    """The installation's public key and the retired ones still trusted."""
    return {installation_public_key(settings), *(k.strip().lower() for k in settings.trusted_public_keys)}


def sign(key: Ed25519PrivateKey, data: bytes) -> str:
    return key.sign(data).hex()


def verify(public_key: str, data: bytes, signature: str) -> bool:
    """Whether ``signature`` (hex) is ``public_key``'s (hex) over ``data``; False for anything malformed."""
    try:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key)).verify(bytes.fromhex(signature), data)
    except (ValueError, InvalidSignature):
        return False
    return True
