"""The signing certificate: the installation's own by default (the same after a restart), or one an authority
issued (SHUBBAK_DOCUMENT_CERTIFICATE_FILE / SHUBBAK_DOCUMENT_KEY_FILE), whose documents the installation's
self-issued certificate does not vouch for and the other way round."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from engine.core.settings import Settings
from engine.outputs import certificate, pdf, seal

PAGE = pdf.Page(language="ar", number="D2026-CERT-TEST-0001", title="ترخيص بناء", center="مركز", department="إدارة",
                issued_on="5 ديسمبر 2026", issued_on_hijri="", tracking_number="1234-5678-9012",
                verify_url="https://shubbak.example/verify/D2026-CERT-TEST-0001")


def _authority(folder: Path) -> tuple[Path, Path]:
    """A root authority and a document-signing certificate it issued (RSA, as real ones mostly are)."""
    now = dt.datetime.now(dt.UTC)
    root_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test Root Authority")])
    root = (x509.CertificateBuilder().subject_name(root_name).issuer_name(root_name)
            .public_key(root_key.public_key()).serial_number(1).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .sign(root_key, hashes.SHA256()))
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    leaf = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Service center documents")]))
            .issuer_name(root_name).public_key(key.public_key()).serial_number(2)
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .sign(root_key, hashes.SHA256()))
    chain = folder / "chain.pem"
    chain.write_bytes(leaf.public_bytes(serialization.Encoding.PEM) + root.public_bytes(serialization.Encoding.PEM))
    key_file = folder / "key.pem"
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return chain, key_file


def test_the_self_issued_certificate_is_the_same_after_a_restart(tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path)
    first = certificate.certificate_pem(settings)
    certificate._installation.cache_clear()
    assert certificate.certificate_pem(Settings(var_dir=tmp_path)) == first
    assert certificate.certificate_pem(Settings(var_dir=tmp_path / "elsewhere")) != first


def test_a_configured_certificate_signs_and_only_it_vouches(tmp_path: Path) -> None:
    chain, key_file = _authority(tmp_path)
    configured = Settings(var_dir=tmp_path, document_certificate_file=chain, document_key_file=key_file)
    own = Settings(var_dir=tmp_path)
    raw = pdf.render(PAGE, "<p>نص</p>")
    signed = seal.sign(raw, configured, reason="test", location="test")
    assert seal.check(signed, configured).ok
    assert not seal.check(signed, own).trusted  # the installation's own certificate did not sign it
    assert not seal.check(seal.sign(raw, own, reason="t", location="t"), configured).trusted
    assert "BEGIN CERTIFICATE" in certificate.certificate_pem(configured)
