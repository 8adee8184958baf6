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
