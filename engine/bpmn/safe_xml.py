"""Parsing of untrusted BPMN and DMN files.

Diagrams are uploaded by analysts, so their bytes are untrusted. XML carries two classic attacks, both
through the DOCTYPE: external entities (``SYSTEM "file:///etc/passwd"`` reads server files or makes
network requests) and entity expansion bombs ("billion laughs", quadratic blowup) that turn a few
kilobytes into gigabytes. BPMN and DMN never need a DOCTYPE, so any document that has one is refused.

Three layers, so that no single mistake opens the door:

1. a byte-level scan of the prolog (everything before the root element) refuses a DOCTYPE before any
   XML parser sees the document: a 10 MB bomb costs one linear scan, never an expansion;
2. lxml then parses with entities unresolved, no network, no DTD loading and libxml2's size limits;
3. the parsed document's ``docinfo`` is checked again for any DTD.

Only UTF-8, UTF-16 and a few ASCII-compatible single-byte encodings are accepted: the prolog scan must
read the bytes the way libxml2 will, and every modeling tool writes UTF-8 anyway.
"""

from __future__ import annotations

import codecs
import re

from lxml import etree

from engine.refusals import say

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
DMN_NAMESPACES = frozenset(
    {
        "http://www.omg.org/spec/DMN/20151101/dmn.xsd",
        "http://www.omg.org/spec/DMN/20180521/MODEL/",
        "https://www.omg.org/spec/DMN/20191111/MODEL/",
        "https://www.omg.org/spec/DMN/20230324/MODEL/",
    }
)

# Encodings in which "<!DOCTYPE" has the same bytes as in ASCII, so a latin-1 view of the prolog is exact.
_ASCII_COMPATIBLE = frozenset(
    {"utf-8", "utf8", "us-ascii", "ascii", "iso-8859-1", "latin-1", "latin1", "iso-8859-15", "windows-1252"}
)
_UTF16 = frozenset({"utf-16", "utf-16le", "utf-16be", "utf16"})
_ENCODING_DECL = re.compile(r"""^<\?xml[^>]*?\sencoding\s*=\s*["']([^"']*)["']""")
_LXML_POSITION = re.compile(r",\s*line \d+, column \d+$")


class XmlRefused(Exception):
    """An uploaded file that will not be parsed, with the reason in words an analyst can act on.

    ``message`` is a complete sentence without the file name (a Text: engine/refusals.py); ``filename``
    (when known) says which upload it was; ``line`` is the 1-based line of the problem when there is one.
    """

    def __init__(self, message: str, *, filename: str | None = None, line: int | None = None) -> None:
        super().__init__(f"{filename}: {message}" if filename else message)
        self.filename = filename
        self.message = message
        self.line = line


def parse_untrusted_xml(data: bytes, *, filename: str | None = None, max_bytes: int) -> etree._Element:
    """Parse ``data`` as an untrusted XML document and return its root element.

    Raises :class:`XmlRefused` (and nothing else, whatever the bytes) when the document is empty, larger
    than ``max_bytes``, uses an unsupported encoding, has a DOCTYPE, or is not well-formed XML.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"parse_untrusted_xml needs bytes, not {type(data).__name__}")
    data = bytes(data)
    if len(data) > max_bytes:
        raise XmlRefused(
            say("xml.too_large", size=_size(len(data)), limit=_size(max_bytes)),
            filename=filename,
        )
    if not data.strip():
        raise XmlRefused(say("xml.empty"), filename=filename)
    prolog = _decoded_head(data, filename)
    _refuse_doctype_in_prolog(prolog, filename)
    try:
        root = etree.fromstring(data, _safe_parser())
    except etree.XMLSyntaxError as err:
        reason = _LXML_POSITION.sub("", str(err.msg or err)).strip().rstrip(".")
        line = err.lineno or None
        said = say("xml.not_well_formed_at", line=line, reason=reason) if line else \
            say("xml.not_well_formed", reason=reason)
        raise XmlRefused(said, filename=filename, line=line) from err
    except Exception as err:  # the contract is "only XmlRefused", whatever lxml does with odd bytes
        raise XmlRefused(
            say("xml.unreadable", error=type(err).__name__), filename=filename
        ) from err
    if root is None:
        raise XmlRefused(say("xml.no_element"), filename=filename)
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise _doctype_refusal(filename, None)
    return root


def is_bpmn(root: etree._Element) -> bool:
    """True when ``root`` is a BPMN 2.0 ``definitions`` element."""
    return _tag(root) == f"{{{BPMN_NS}}}definitions"


def is_dmn(root: etree._Element) -> bool:
    """True when ``root`` is a ``definitions`` element of any DMN version Shubbak reads (1.1 to 1.5)."""
    namespace, _, local = _tag(root).lstrip("{").partition("}")
    return local == "definitions" and namespace in DMN_NAMESPACES


def _tag(root: object) -> str:
    # Comments and processing instructions have a function as their tag; they are never definitions.
    tag = getattr(root, "tag", None)
    return tag if isinstance(tag, str) and tag.startswith("{") else ""


def _safe_parser() -> etree.XMLParser:
    # A new parser per call: lxml parsers are not thread-safe and keep an error log between uses.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=False,
    )


def _decoded_head(data: bytes, filename: str | None) -> str:
    """The document as text, decoded the way libxml2 will read it, for the prolog scan.

    Decoding never fails (bad bytes become U+FFFD); lxml reports them later with a line number.
    """
    if data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)) or data[:4] in (
        b"\x00\x00\x00<",
        b"<\x00\x00\x00",
    ):
        raise _encoding_refusal("UTF-32", filename)
    if data.startswith(b"\x4c\x6f\xa7\x94"):  # "<?xm" in EBCDIC, which the prolog scan cannot read
        raise _encoding_refusal("EBCDIC", filename)
    if data.startswith(codecs.BOM_UTF16_LE) or data.startswith(b"<\x00"):
        return _utf16(data, "utf-16-le", codecs.BOM_UTF16_LE, filename)
    if data.startswith(codecs.BOM_UTF16_BE) or data.startswith(b"\x00<"):
        return _utf16(data, "utf-16-be", codecs.BOM_UTF16_BE, filename)
    text = data.removeprefix(codecs.BOM_UTF8).decode("latin-1")
    declared = _declared_encoding(text)
    if declared is not None and declared not in _ASCII_COMPATIBLE:
        raise _encoding_refusal(declared, filename)
    return text


def _utf16(data: bytes, codec: str, bom: bytes, filename: str | None) -> str:
    text = data.removeprefix(bom).decode(codec, errors="replace")
    declared = _declared_encoding(text)
    if declared is not None and declared not in _UTF16:
        raise _encoding_refusal(declared, filename)
    return text


def _declared_encoding(text: str) -> str | None:
    match = _ENCODING_DECL.match(text[:1024].lstrip("\ufeff"))
    return match.group(1).strip().lower() if match else None


def _refuse_doctype_in_prolog(text: str, filename: str | None) -> None:
    """Walk the prolog (declaration, comments, processing instructions) up to the root element.

    Anything starting with ``<!`` other than a comment is a DOCTYPE (or garbage lxml will reject), so
    it is refused here, before a parser could act on it. The scan stops at the root element so that a
    script in a CDATA section that mentions "<!DOCTYPE html>" is not mistaken for one.
    """
    pos = 0
    length = len(text)
    while pos < length:
        char = text[pos]
        if char in " \t\r\n\ufeff":
            pos += 1
        elif text.startswith("<?", pos):
            end = text.find("?>", pos + 2)
            if end < 0:
                return  # unterminated: lxml reports it as not well-formed
            pos = end + 2
        elif text.startswith("<!--", pos):
            end = text.find("-->", pos + 4)
            if end < 0:
                return
            pos = end + 3
        elif text.startswith("<!", pos):
            raise _doctype_refusal(filename, text.count("\n", 0, pos) + 1)
        else:
            return  # the root element (or text lxml will reject)


def _doctype_refusal(filename: str | None, line: int | None) -> XmlRefused:
    return XmlRefused(
        say("xml.doctype"),
        filename=filename,
        line=line,
    )


def _encoding_refusal(encoding: str, filename: str | None) -> XmlRefused:
    return XmlRefused(
        say("xml.encoding", encoding=encoding),
        filename=filename,
        line=1,
    )


def _size(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.1f} MB"
    if n >= 1024:
        return f"{n / 1024:.1f} KB"
    return f"{n} bytes"
