"""The fingerprint a retry must match: a multipart body's boundary does not count, everything else does."""

from __future__ import annotations

import hashlib

import pytest

from api.idempotency import Fingerprint

HEAD = b"POST /api/cases/1/documents?\n"


def _form(boundary: str, content: bytes, filename: str = "id.pdf") -> bytes:
    b = boundary.encode()
    return (b"--" + b + b'\r\nContent-Disposition: form-data; name="kind"\r\n\r\nnational_id_copy\r\n'
            + b"--" + b + f'\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'.encode()
            + b"Content-Type: application/pdf\r\n\r\n" + content + b"\r\n--" + b + b"--\r\n")


def _digest(content_type: str, body: bytes, chunk: int) -> str:
    print_ = Fingerprint(HEAD, content_type.encode())
    for at in range(0, len(body), chunk):
        print_.update(body[at:at + chunk])
    return print_.hexdigest()


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 16, 33, 10_000])  # a delimiter split across chunks at every place
def test_the_same_parts_under_another_boundary_give_the_same_fingerprint(chunk: int) -> None:
    content = b"%PDF-1.4 scanned bytes --not-a-boundary\r\n--ab"  # no "--abc": clients pick one not in the parts
    a = _digest("multipart/form-data; boundary=abc", _form("abc", content), chunk)
    b = _digest('multipart/form-data; boundary="7f3e9a0c1b2d4e5f"', _form("7f3e9a0c1b2d4e5f", content), chunk)
    c = _digest("Multipart/Form-Data; charset=utf-8; boundary=----WebKitFormBoundaryX1y2",
                _form("----WebKitFormBoundaryX1y2", content), 10_000)
    assert a == b == c


@pytest.mark.parametrize(("content", "filename"), [(b"%PDF-1.4 other bytes", "id.pdf"), (b"%PDF-1.4 scanned", "x.pdf"),
                                                    (b"%PDF-1.4 scanned" + b"\x00", "id.pdf")])
def test_other_parts_give_another_fingerprint(content: bytes, filename: str) -> None:
    base = _digest("multipart/form-data; boundary=abc", _form("abc", b"%PDF-1.4 scanned"), 5)
    assert _digest("multipart/form-data; boundary=abc", _form("abc", content, filename), 5) != base
    assert _digest("multipart/form-data; boundary=zz", _form("zz", content, filename), 5) != base


def test_a_body_that_is_not_multipart_is_hashed_as_sent() -> None:
    body = b'{"service_code": "x", "note": "--abc"}'
    expected = hashlib.sha256(HEAD + body).hexdigest()
    assert _digest("application/json", body, 3) == expected
    assert _digest("", body, 100) == expected
    # A JSON body whose content type names a boundary is not multipart: nothing in it is replaced.
    assert _digest("application/json; boundary=abc", body, 3) == expected


def test_a_copy_taken_midway_goes_on_alone() -> None:
    body = _form("abc", b"payload")
    whole = Fingerprint(HEAD, b"multipart/form-data; boundary=abc")
    whole.update(body[:20])
    twin = whole.copy()
    whole.update(body[20:])
    twin.update(body[20:])
    assert twin.hexdigest() == whole.hexdigest() == _digest("multipart/form-data; boundary=abc", body, 4)


def _parts(boundary: str, body: bytes) -> list[tuple[bytes, bytes]]:
    """What the server's multipart parser reads from ``body``: each part's headers and bytes."""
    from python_multipart.multipart import MultipartParser  # Starlette's parser

    parts: list[tuple[bytes, bytes]] = []
    current: dict[str, bytes] = {}

    def part_begin() -> None:
        current.update(head=b"", data=b"")

    def header_field(data: bytes, start: int, end: int) -> None:
        current["head"] += data[start:end] + b":"

    def header_value(data: bytes, start: int, end: int) -> None:
        current["head"] += data[start:end] + b"\n"

    def part_data(data: bytes, start: int, end: int) -> None:
        current["data"] += data[start:end]

    def part_end() -> None:
        parts.append((current["head"], current["data"]))

    parser = MultipartParser(boundary.encode(), {"on_part_begin": part_begin, "on_header_field": header_field,
                                                 "on_header_value": header_value, "on_part_data": part_data,
                                                 "on_part_end": part_end})
    parser.write(body)
    parser.finalize()
    return parts


# Two uploads the server reads as different files (another file's bytes), each under a boundary of its own, that
# the fingerprint must tell apart: the retry of one must not be answered with the other's recorded answer.
_TOLD_APART = {
    # the boundary's text inside a file, not at the start of a line: the parser reads it as the file's bytes
    "boundary text inside a file": (("a", _form("a", b"%PDF x--a y")), ("b", _form("b", b"%PDF x--b y"))),
    # at the start of a line, but not followed by a line's end or "--": still the file's bytes
    "boundary line that does not end": (("abc", _form("abc", b"%PDF\r\n--abcdef")),
                                        ("xyz", _form("xyz", b"%PDF\r\n--xyzdef"))),
    # a file holding the very bytes the fingerprint puts where a delimiter was
    "the fixed delimiter's bytes in a file": (
        ("abc", _form("abc", b"%PDF-1.4 \x00") + _form("abc", b"2")),
        ("xyz", _form("xyz", b"%PDF-1.4 \x00").replace(b"\r\n--xyz--\r\n", b"\r\n--\x00--\r\n")
         + _form("xyz", b"2"))),
}


@pytest.mark.parametrize("case", sorted(_TOLD_APART))
@pytest.mark.parametrize("chunk", [1, 5, 10_000])
def test_uploads_the_server_reads_differently_never_share_a_fingerprint(case: str, chunk: int) -> None:
    (first_boundary, first), (second_boundary, second) = _TOLD_APART[case]
    assert _parts(first_boundary, first) != _parts(second_boundary, second)  # the server reads two uploads
    assert (_digest(f"multipart/form-data; boundary={first_boundary}", first, chunk)
            != _digest(f"multipart/form-data; boundary={second_boundary}", second, chunk))


@pytest.mark.parametrize("chunk", [1, 10_000])
def test_the_boundary_is_the_one_the_server_reads_whatever_else_the_content_type_says(chunk: int) -> None:
    # A parameter's quoted value may hold "; boundary=...": the server reads the body with the boundary parameter
    # itself ("real" here), so the text named in the quotes is a file's bytes, and two files differ by it.
    first = _form("real", b"%PDF\r\n--fake1\r\n")
    second = _form("real", b"%PDF\r\n--fake2\r\n")
    assert _parts("real", first) != _parts("real", second)
    assert (_digest('multipart/form-data; boundary=real; x="; boundary=fake1"', first, chunk)
            != _digest('multipart/form-data; boundary=real; x="; boundary=fake2"', second, chunk))
    # and the same upload under another boundary, however the header is written, is still the same request
    assert (_digest('multipart/form-data; boundary=real; x="; boundary=fake1"', first, chunk)
            == _digest('MULTIPART/FORM-DATA; BOUNDARY="other"', _form("other", b"%PDF\r\n--fake1\r\n"), chunk))
