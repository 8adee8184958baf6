"""The key and certificate that sign the documents' PDFs.

By default the installation's own Ed25519 key (engine/audit/signing.py) signs, under a certificate it issues
itself: the same key, name and dates every time, so the certificate is the same bytes in every process and
after every restart, and a verifier who holds the published public key can check any document offline. An
installation whose documents must be trusted by PDF readers out of the box sets
``SHUBBAK_DOCUMENT_CERTIFICATE_FILE`` and ``SHUBBAK_DOCUMENT_KEY_FILE`` to a certificate a recognised
authority issued (docs/documents.md).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import NameOID
from pyhanko.sign import signers
from pyhanko_certvalidator.registry import SimpleCertificateStore

from engine.audit import signing
from engine.core.settings import Settings

_NOT_BEFORE = datetime(2020, 1, 1, tzinfo=UTC)
_NOT_AFTER = datetime(2070, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Signing:
    signer: signers.Signer
    certificate: asn1_x509.Certificate  # the signer's own
    roots: tuple[asn1_x509.Certificate, ...]  # what a verifier trusts


def self_issued(key: Ed25519PrivateKey) -> x509.Certificate:
    """The installation's certificate over its own key: deterministic (Ed25519 signatures are)."""
    public = signing.public_hex(key)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"Shubbak installation {public[:16]}"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Shubbak")])
    serial = int.from_bytes(hashlib.sha256(bytes.fromhex(public)).digest()[:8], "big") | 1
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(serial).not_valid_before(_NOT_BEFORE).not_valid_after(_NOT_AFTER)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .sign(key, None))


def _asn1(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def for_settings(settings: Settings) -> Signing:
    if settings.document_certificate_file is not None and settings.document_key_file is not None:
        return _from_files(str(settings.document_certificate_file), str(settings.document_key_file))
    return _installation(signing.installation_key(settings).private_bytes_raw().hex())


@lru_cache(maxsize=4)
def _installation(seed_hex: str) -> Signing:
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(seed_hex))
    cert = _asn1(self_issued(key))
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    signer = signers.SimpleSigner(signing_cert=cert, signing_key=asn1_keys.PrivateKeyInfo.load(der),
                                  cert_registry=SimpleCertificateStore.from_certs([cert]))
    return Signing(signer=signer, certificate=cert, roots=(cert,))


@lru_cache(maxsize=4)
def _from_files(cert_file: str, key_file: str) -> Signing:
    """The configured certificate (the first of the file; the rest is its chain) and its private key."""
    chain = load_pem(cert_file)
    if not chain:
        raise ValueError("SHUBBAK_DOCUMENT_CERTIFICATE_FILE holds no certificate")
    with open(key_file, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    signer = signers.SimpleSigner(signing_cert=chain[0], signing_key=asn1_keys.PrivateKeyInfo.load(der),
                                  cert_registry=SimpleCertificateStore.from_certs(chain))
    return Signing(signer=signer, certificate=chain[0], roots=(chain[-1],))


def trusted_roots(settings: Settings) -> tuple[asn1_x509.Certificate, ...]:
    """The certificates a verification of this installation's PDFs trusts: its own, and those of the retired
    installation keys still trusted (``SHUBBAK_TRUSTED_PUBLIC_KEYS`` names only public halves, so a retired
    key's documents are checked by their signer's key: engine/outputs/public.py)."""
    return for_settings(settings).roots


def certificate_pem(settings: Settings) -> str:
    """The signing certificate to publish beside the public key (``shubbak documents certificate``)."""
    return (b"-----BEGIN CERTIFICATE-----\n" + _b64_lines(for_settings(settings).certificate.dump())
            + b"-----END CERTIFICATE-----\n").decode("ascii")


def load_pem(path: str) -> list[asn1_x509.Certificate]:
    with open(path, "rb") as f:
        return [_asn1(c) for c in x509.load_pem_x509_certificates(f.read())]


def _b64_lines(der: bytes) -> bytes:
    text = base64.b64encode(der)
    return b"".join(text[i:i + 64] + b"\n" for i in range(0, len(text), 64))
