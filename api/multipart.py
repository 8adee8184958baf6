"""A multipart/form-data body read part by part as it arrives: nothing is spooled to memory or disk.

Starlette's form parser (and ``UploadFile``) writes every file to a temporary file before the endpoint runs.
Here the endpoint runs in a worker thread and pulls the body from the event loop a chunk at a time
(``anyio.from_thread``), feeding python-multipart's push parser; each part's bytes are handed on as they are
parsed, so one upload holds about one network chunk in memory, whatever the file's size.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar

import anyio.from_thread
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request

from engine.core.errors import Invalid
from engine.core.refusals import problem
from forms.digits import only_ascii_digits

_MAX_HEADER_BYTES = 16 * 1024
_END = ("end", b"")

T = TypeVar("T")


def _refusal(message_id: str, kind: str = "multipart", **params: Any) -> Invalid:
    return Invalid(message_id, [problem("body", message_id, loc=["body"], kind=kind, **params)], **params)


def boundary_of(content_type: str | None) -> bytes:
    ctype, options = parse_options_header(content_type or "")
    if ctype != b"multipart/form-data" or not options.get(b"boundary"):
        raise _refusal("multipart.not_multipart")
    return options[b"boundary"]


def body_chunks(request: Request) -> Iterator[bytes]:
    """The request body, chunk by chunk, for code running in a worker thread of the request's event loop."""
    stream: AsyncIterator[bytes] = request.stream()

    async def next_chunk() -> bytes | None:
        try:
            return await stream.__anext__()
        except StopAsyncIteration:
            return None
        except ClientDisconnect as exc:  # nobody will read the answer; this only ends the upload cleanly
            raise _refusal("multipart.client_gone", "truncated") from exc

    while (chunk := anyio.from_thread.run(next_chunk)) is not None:
        if chunk:
            yield chunk


async def read_streamed(request: Request, handle: Callable[[StreamingForm, int | None], T]) -> T:
    """Run ``handle(form, size_hint)`` in a worker thread over the request's streamed multipart body.

    The boundary is checked on the event loop (a body that is not multipart is refused before any thread starts);
    ``size_hint`` is the declared Content-Length when it is plain ASCII digits, else None.
    """
    boundary = boundary_of(request.headers.get("content-type"))
    length = request.headers.get("content-length", "")
    size_hint = int(length) if only_ascii_digits(length) else None

    def run() -> T:
        return handle(StreamingForm(body_chunks(request), boundary), size_hint)

    return await run_in_threadpool(run)


def _text(raw: bytes | None) -> str | None:
    if raw is None:
        return None
    try:
        return raw.decode("utf-8")  # what browsers and HTTP clients send, Arabic names included
    except UnicodeDecodeError:
        return raw.decode("latin-1")


class Part:
    """One part of the form: its field name, file name and declared type, and its bytes via ``read``."""

    def __init__(self, form: StreamingForm, headers: dict[str, bytes]) -> None:
        disposition, options = parse_options_header(headers.get("content-disposition", b""))
        if disposition != b"form-data" or b"name" not in options:
            raise _refusal("multipart.part_needs_name")
        self.name = _text(options[b"name"]) or ""
        self.filename = _text(options.get(b"filename"))
        self.content_type = _text(headers.get("content-type"))
        self.finished = False
        self._form = form
        self._leftover = b""

    def read(self, size: int = -1, /) -> bytes:
        if self._leftover:
            data, self._leftover = self._leftover, b""
        elif self.finished:
            return b""
        else:
            kind, data = self._form.next_event()
            if kind == "part_end":
                self.finished = True
                return b""
            if kind != "data":
                raise _refusal("multipart.not_well_formed")
        if 0 < size < len(data):
            data, self._leftover = data[:size], data[size:]
        return data


class StreamingForm:
    def __init__(self, chunks: Iterator[bytes], boundary: bytes) -> None:
        self._chunks = chunks
        self._events: deque[tuple[str, Any]] = deque()
        self._field = bytearray()
        self._value = bytearray()
        self._headers: dict[str, bytes] = {}
        self._header_bytes = 0
        self._parser = MultipartParser(boundary, callbacks={
            "on_part_begin": self._begin, "on_part_data": self._data, "on_part_end": self._part_end,
            "on_header_field": self._header_field, "on_header_value": self._header_value,
            "on_header_end": self._header_end, "on_headers_finished": self._headers_done, "on_end": self._end})

    def __iter__(self) -> Iterator[Part]:
        part: Part | None = None
        while True:
            if part is not None:
                while part.read(1 << 20):  # the caller left a part unread: skip the rest of it
                    pass
            kind, value = self.next_event()
            if kind == "end":
                return
            if kind != "headers":
                raise _refusal("multipart.not_well_formed")
            part = Part(self, value)
            yield part

    def next_event(self) -> tuple[str, Any]:
        while not self._events:
            chunk = next(self._chunks, None)
            if chunk is None:
                raise _refusal("multipart.cut_off", "truncated")
            try:
                self._parser.write(chunk)
            except MultipartParseError as exc:
                raise _refusal("multipart.not_well_formed_because", error=str(exc)) from exc
        return self._events.popleft()

    # python-multipart's callbacks: they only queue what was parsed, for ``next_event`` to hand out.
    def _begin(self) -> None:
        self._headers, self._header_bytes = {}, 0

    def _data(self, data: bytes, start: int, end: int) -> None:
        if end > start:
            self._events.append(("data", data[start:end]))

    def _part_end(self) -> None:
        self._events.append(("part_end", b""))

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._grow(end - start)
        self._field += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._grow(end - start)
        self._value += data[start:end]

    def _grow(self, size: int) -> None:
        self._header_bytes += size
        if self._header_bytes > _MAX_HEADER_BYTES:
            raise _refusal("multipart.headers_too_large", limit=_MAX_HEADER_BYTES)

    def _header_end(self) -> None:
        self._headers[bytes(self._field).decode("latin-1").strip().lower()] = bytes(self._value).strip()
        self._field.clear()
        self._value.clear()

    def _headers_done(self) -> None:
        self._events.append(("headers", self._headers))

    def _end(self) -> None:
        self._events.append(_END)
