"""Sign a document's PDF (pyHanko, a PAdES signature any PDF reader shows), mark a printed copy, and check one
offline (the last signature of the file counts: a printed copy's covers the mark too)."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from asn1crypto.x509 import Certificate
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.metadata.model import VENDOR
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import signers
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko.sign.validation.errors import SignatureValidationError
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

from engine.core.settings import Settings
from engine.outputs import certificate
from engine.outputs.pdf import NUMBER_KEYWORD

FIELD = "Shubbak"
T = TypeVar("T")


def sign(pdf: bytes, settings: Settings, *, reason: str, location: str, field: str = FIELD) -> bytes:
    """``pdf`` with a signature of the installation in the new field ``field`` (an incremental update)."""
    signing = certificate.for_settings(settings)
    out = io.BytesIO()
    meta = signers.PdfSignatureMetadata(field_name=field, reason=reason, location=location)
    writer = _agreeing_producer(IncrementalPdfFileWriter(io.BytesIO(pdf)))
    _run(lambda: signers.async_sign_pdf(writer, meta, signer=signing.signer, output=out))
    return out.getvalue()


def _agreeing_producer(writer: IncrementalPdfFileWriter) -> IncrementalPdfFileWriter:
    """``writer`` with the document information's producer set to pyHanko's own name, as the update will write
    it in the XMP metadata. pyHanko rewrites the XMP's ``pdf:Producer`` to its name alone but appends its name to
    the information's (``WeasyPrint 70.0; pyHanko 0.38.0``), unless that already holds it: the two would then
    differ, which PDF/A forbids (ISO 19005-3, 6.6.2.3.1). The rendered file's own bytes are kept as they were:
    this is part of the signature's incremental update."""
    info_ref = writer.trailer.raw_get("/Info")
    if isinstance(info_ref, generic.IndirectObject):
        info = info_ref.get_object()
        if isinstance(info, generic.DictionaryObject) and info.get("/Producer") != VENDOR:
            info["/Producer"] = generic.TextStringObject(VENDOR)
            writer.mark_update(info_ref)
    return writer


def overlay(pdf: bytes, mark: bytes) -> bytes:
    """``pdf`` with the first page of ``mark`` drawn over each of its pages, as an incremental update: the
    bytes of ``pdf`` (its signature with them) stay as they were, the mark is added after them. A printed copy
    is the issued document so marked, then signed again (engine/outputs/manage.py ``print_copy``)."""
    writer = _agreeing_producer(IncrementalPdfFileWriter(io.BytesIO(pdf)))
    drawing = writer.import_page_as_xobject(PdfFileReader(io.BytesIO(mark)), page_ix=0)
    name = generic.NameObject("/ShubbakPrintMark")
    for index in range(int(writer.root["/Pages"]["/Count"])):
        # The page's own content may leave its coordinates changed (WeasyPrint flips them): it is wrapped in
        # q ... Q, so the mark is drawn in the page's default space, where it was laid out.
        writer.add_stream_to_page(index, writer.add_object(generic.StreamObject(stream_data=b"q\n")), prepend=True)
        stream = writer.add_object(generic.StreamObject(stream_data=b"\nQ q " + name.encode() + b" Do Q\n"))
        writer.add_stream_to_page(index, stream, resources=generic.DictionaryObject(
            {generic.NameObject("/XObject"): generic.DictionaryObject({name: drawing})}))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _run(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run pyHanko's coroutine to its end from synchronous code: here when no event loop runs in this thread
    (the worker, the command line, the API's thread pool), else in a thread of its own (pyHanko's synchronous
    calls would refuse to start a loop inside a running one)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make())
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(make())).result()


@dataclass(frozen=True)
class Checked:
    """What a PDF's own signature says, without the database: ``number`` is the one its metadata names."""

    signed: bool
    intact: bool  # the signed bytes are unchanged
    trusted: bool  # signed by this installation's certificate
    whole_file: bool  # nothing was added after the signature
    number: str | None

    @property
    def ok(self) -> bool:
        return self.signed and self.intact and self.trusted and self.whole_file


def check(pdf: bytes, settings: Settings, roots: list[Certificate] | None = None) -> Checked:
    """Check the PDF's signature against this installation's certificate (or ``roots``, the certificates a
    verifier elsewhere was given); any unreadable file is not ok."""
    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
        number = _number(reader)
        found = reader.embedded_signatures
        if not found:
            return Checked(False, False, False, False, number)
        context = ValidationContext(trust_roots=roots or list(certificate.trusted_roots(settings)),
                                    allow_fetching=False)
        embedded = found[-1]
        status = _run(lambda: async_validate_pdf_signature(embedded, context))
    except (PdfError, SignatureValidationError, ValueError, KeyError, TypeError, IndexError, OSError):
        return Checked(False, False, False, False, None)
    return Checked(True, bool(status.intact and status.valid), bool(status.trusted),
                   status.coverage == SignatureCoverageLevel.ENTIRE_FILE, number)


def _number(reader: PdfFileReader) -> str | None:
    info = reader.trailer_view.get("/Info")
    if info is None:
        return None
    keywords = str(info.get_object().get("/Keywords") or "")
    for word in keywords.split():
        if word.startswith(NUMBER_KEYWORD):
            return word[len(NUMBER_KEYWORD):] or None
    return None
