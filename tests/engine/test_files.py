"""A file's type is decided by its first bytes; a file name is cleaned, not trusted."""

from __future__ import annotations

import pytest

from engine.core.files import KNOWN_TYPES, clean_filename, describe, detect, mismatch
from tests.support.documents import JPEG, PDF, PNG, TIFF

PDF_TYPE, PNG_TYPE = KNOWN_TYPES["application/pdf"], KNOWN_TYPES["image/png"]


@pytest.mark.parametrize("head, mime", [
    (PDF, "application/pdf"), (JPEG, "image/jpeg"), (PNG, "image/png"), (TIFF, "image/tiff"),
    (b"MM\x00*\x00\x00\x00\x08", "image/tiff"), (b"GIF89a\x01\x00", "image/gif"),
    (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "image/webp"),
])
def test_types_are_told_by_magic_bytes(head: bytes, mime: str) -> None:
    found = detect(head)
    assert found is not None and found.mime == mime


@pytest.mark.parametrize("head, words", [
    (b"PK\x03\x04rest", "ZIP"), (b"MZ\x90\x00", "program"), (b"<html><body>", "text"), (b"hello world", "unknown"),
    (b" %PDF-1.4", "unknown"),  # the magic must open the file
])
def test_other_files_are_described_but_not_detected(head: bytes, words: str) -> None:
    assert detect(head) is None
    assert words in describe(head)


@pytest.mark.parametrize("filename, declared", [
    ("scan.pdf", "application/pdf"), ("scan", None), ("scan.PDF", "application/octet-stream"), ("scan.dat", ""),
    ("C:\\Users\\clerk\\scan.pdf", "application/x-pdf"), ("scan.pdf", "application/pdf; charset=binary"),
])
def test_a_name_or_declared_type_that_agrees_or_says_nothing_passes(filename: str, declared: str | None) -> None:
    assert mismatch(PDF_TYPE, filename, declared) is None


@pytest.mark.parametrize("filename, declared, problem", [
    ("scan.png", None, "the file is named as PNG (.png), but its content is PDF"),
    ("scan.pdf", "image/png", "the file was sent as image/png, but its content is PDF"),
    ("scan.pdf", "image/jpg", "the file was sent as image/jpeg, but its content is PDF"),
])
def test_a_name_or_declared_type_that_contradicts_the_content_is_named(filename: str, declared: str | None,
                                                                      problem: str) -> None:
    assert mismatch(PDF_TYPE, filename, declared) == problem


@pytest.mark.parametrize("raw, clean", [
    ("عقد الملكية.pdf", "عقد الملكية.pdf"),
    ("صورة البطاقة - الوجه.jpg", "صورة البطاقة - الوجه.jpg"),
    ("../../etc/passwd.pdf", "passwd.pdf"),
    ("..\\..\\windows\\system32\\scan.pdf", "scan.pdf"),
    ("/absolute/path/deed.pdf", "deed.pdf"),
    ("..", "document.pdf"),
    ("", "document.pdf"),
    (None, "document.pdf"),
    ("   .hidden.pdf", "hidden.pdf"),
    ("in\x00voice\r\n.pdf", "invoice.pdf"),
    ("report\u202egpj.pdf", "reportgpj.pdf"),  # a right-to-left override that would disguise the extension
    ('a<b>c:"d"|e?f*.pdf', "a_b_c__d__e_f_.pdf"),
    ("many    spaces\t here.pdf", "many spaces here.pdf"),
    ("\u0627\u0644\u0639\u0642\u0651\u062f.pdf", "\u0627\u0644\u0639\u0642\u0651\u062f.pdf"),  # shadda kept
])
def test_file_names_are_cleaned_and_arabic_kept(raw: str | None, clean: str) -> None:
    assert clean_filename(raw, max_chars=150, fallback_extension=".pdf") == clean


def test_long_names_are_cut_keeping_the_extension() -> None:
    cleaned = clean_filename("ملف" * 100 + ".pdf", max_chars=40, fallback_extension=".pdf")
    assert len(cleaned) == 40
    assert cleaned.endswith(".pdf")
    assert cleaned.startswith("ملف")


def test_png_content_is_png() -> None:
    assert mismatch(PNG_TYPE, "plan.png", "image/png") is None
