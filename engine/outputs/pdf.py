"""The page around an analyst's template, and the PDF: WeasyPrint (Pango and HarfBuzz shape the Arabic and lay
it out right to left), PDF/A-3b, with the fonts the system has (Noto Naskh Arabic, Amiri: installed by
``.ci/run`` and the README's set-up).

Shubbak draws what every document must carry, whatever its template says: the issuing center, the document's
title and number, the issue date in both calendars, the case's tracking number, and on every page the QR code
of its verification page. The template fills the body (engine/catalog/output_templates.py).
"""

from __future__ import annotations

import base64
import html
import json
import warnings
from dataclasses import dataclass
from typing import Any

import segno

#: The keyword the PDF's metadata carries the document's number under, for an offline check to name it.
NUMBER_KEYWORD = "shubbak-document:"

_STYLE = """
@page { size: A4; margin: 22mm 18mm 30mm 18mm;
        @bottom-left { content: element(qr); }
        @bottom-right { content: counter(page) " / " counter(pages); font-size: 9pt; } }
html { font-family: "Noto Naskh Arabic", "Amiri", "Noto Sans", serif; font-size: 12.5pt; line-height: 1.6; }
html[lang="en"] { font-family: "Noto Serif", "Noto Naskh Arabic", "Amiri", serif; }
body { margin: 0; }
header.center { border-bottom: 2px solid #1b4d3e; padding-bottom: 4mm; margin-bottom: 6mm; }
header.center .name { font-size: 15pt; font-weight: bold; color: #1b4d3e; }
h1.title { font-size: 19pt; text-align: center; margin: 4mm 0 6mm 0; }
table.facts { border-collapse: collapse; width: 100%; margin-bottom: 6mm; font-size: 11pt; }
table.facts td { border: 1px solid #999; padding: 1.5mm 3mm; }
table.facts td.label { background: #eef3f1; width: 35%; }
.ltr { direction: ltr; }
div.qr { position: running(qr); font-size: 7.5pt; }
div.qr img { width: 24mm; height: 24mm; display: block; }
"""


@dataclass(frozen=True)
class Page:
    """What Shubbak prints on every document, in the document's language."""

    language: str  # "ar" or "en"
    number: str
    title: str
    center: str
    department: str
    issued_on: str  # Gregorian, in words
    issued_on_hijri: str
    tracking_number: str
    verify_url: str


_LABELS = {
    "ar": {"number": "رقم المستند", "issued": "تاريخ الإصدار", "tracking": "رقم الطلب",
           "department": "الجهة المصدرة", "verify": "للتحقق من صحة المستند امسح الرمز أو افتح"},
    "en": {"number": "Document number", "issued": "Issued on", "tracking": "Request number",
           "department": "Issued by", "verify": "To verify this document, scan the code or open"},
}


def qr_data_uri(text: str) -> str:
    svg = segno.make(text, error="m").svg_inline(scale=4, border=2, dark="#000", light="#fff")
    return "data:image/svg+xml;base64," + base64.b64encode(str(svg).encode("utf-8")).decode("ascii")


def document_html(page: Page, body: str) -> str:
    """The whole HTML of a document: Shubbak's frame around the template's ``body`` (already escaped)."""
    e = html.escape
    words = _LABELS[page.language]
    direction = "rtl" if page.language == "ar" else "ltr"
    dates = e(page.issued_on) + (f" — {e(page.issued_on_hijri)}" if page.issued_on_hijri else "")
    return f"""<!doctype html>
<html lang="{page.language}" dir="{direction}"><head><meta charset="utf-8">
<title>{e(page.title)} {e(page.number)}</title>
<meta name="keywords" content="{NUMBER_KEYWORD}{e(page.number)}">
<meta name="generator" content="Shubbak">
<style>{_STYLE}</style></head>
<body>
<div class="qr"><img src="{qr_data_uri(page.verify_url)}" alt="QR">{e(words["verify"])}
<span class="ltr">{e(page.verify_url)}</span></div>
<header class="center"><div class="name">{e(page.center)}</div><div>{e(page.department)}</div></header>
<h1 class="title">{e(page.title)}</h1>
<table class="facts">
<tr><td class="label">{e(words["number"])}</td><td><span class="ltr">{e(page.number)}</span></td></tr>
<tr><td class="label">{e(words["issued"])}</td><td>{dates}</td></tr>
<tr><td class="label">{e(words["tracking"])}</td><td><span class="ltr">{e(page.tracking_number)}</span></td></tr>
<tr><td class="label">{e(words["department"])}</td><td>{e(page.department)}</td></tr>
</table>
<main>{body}</main>
</body></html>"""


def _fetcher() -> Any:
    """What a document may load: ``data:`` URLs only (the QR code is one). An analyst's template is untrusted:
    WeasyPrint's default fetcher would read ``file:`` paths and ``http(s):`` addresses (a link with
    ``rel="attachment"`` embeds what it fetched in the PDF), so a template could carry the server's files or an
    internal address's answer out in a document. Refused fetches are left out of the page."""
    from weasyprint.urls import URLFetcher

    return URLFetcher(allowed_protocols={"data"})


#: The PDF/A-3 associated file every document carries: what its frame prints, for a machine to read.
FACTS_FILE = "shubbak-document.json"


def facts_json(page: Page) -> str:
    """The frame's facts as JSON (the number, title, issuer, dates, tracking number, verification link): what
    the page prints around the template, nothing else about the holder."""
    return json.dumps({"number": page.number, "title": page.title, "language": page.language,
                       "center": page.center, "department": page.department, "issued_on": page.issued_on,
                       "issued_on_hijri": page.issued_on_hijri, "tracking_number": page.tracking_number,
                       "verify_url": page.verify_url}, ensure_ascii=False, sort_keys=True)


def render(page: Page, body: str) -> bytes:
    """The PDF (PDF/A-3b) of a document, with its facts attached as an associated file (``AFRelationship
    /Data``, listed in the catalog's ``/AF``); WeasyPrint is imported here so that a process that never issues a
    document never loads it."""
    from weasyprint import HTML, Attachment

    facts = Attachment(string=facts_json(page), name=FACTS_FILE, relationship="Data",
                       description="Shubbak document facts")
    with warnings.catch_warnings():
        # WeasyPrint opens its sRGB profile for PDF/A and leaves the file to the collector (a ResourceWarning,
        # an error under the tests' filters): the file is read whole, nothing else is left open.
        warnings.simplefilter("ignore", ResourceWarning)
        pdf = HTML(string=document_html(page, body), url_fetcher=_fetcher()).write_pdf(
            pdf_variant="pdf/a-3b", attachments=[facts])
    assert pdf is not None
    return bytes(pdf)


_PRINT_STYLE = """
@page { size: A4; margin: 0; }
body { margin: 0; }
div.print { position: absolute; top: 9mm; left: 18mm; right: 18mm; text-align: center; font-size: 9.5pt;
            font-family: "Noto Naskh Arabic", "Amiri", "Noto Sans", serif; border: 0.6pt solid #1b4d3e;
            padding: 0.8mm 2mm; color: #1b4d3e; }
.ltr { direction: ltr; }
"""


def print_mark_html(number: str, copy: int) -> str:
    """The mark a printed copy carries above its frame, in both languages whatever the document's: the
    document's number and which print of it this is (1 for the first)."""
    e = html.escape
    return f"""<!doctype html>
<html lang="ar" dir="rtl"><head><meta charset="utf-8"><style>{_PRINT_STYLE}</style></head>
<body><div class="print" id="print">نسخة مطبوعة رقم {copy} من المستند <span class="ltr">{e(number)}</span> —
<span class="ltr">print {copy} of document {e(number)}</span></div></body></html>"""


def print_mark(number: str, copy: int) -> bytes:
    """A transparent A4 page with only the print mark, laid over each page of the printed copy
    (engine/outputs/seal.py ``overlay``)."""
    from weasyprint import HTML

    pdf = HTML(string=print_mark_html(number, copy), url_fetcher=_fetcher()).write_pdf()
    assert pdf is not None
    return bytes(pdf)
