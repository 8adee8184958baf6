"""``Idempotency-Key`` on the API's POSTs: a retried request gets the first answer (docs/deployment.md).

For a signed-in ``POST /api/...`` carrying the header, keyed by user and key:
- no answer recorded yet: the request runs; its command's transaction writes the key (engine/core/idempotency.py)
  and the answer, status and body, is recorded right after;
- recorded, same method, path and body: the recorded answer, with ``Idempotent-Replayed: true`` (a multipart
  body's boundary, drawn afresh by the client for every send, does not count: :class:`Fingerprint`);
- recorded for another request: 422;
- a second request while the first is still running: it waits for the first one's answer (up to
  ``SHUBBAK_IDEMPOTENCY_WAIT_SECONDS``) and gets it; if the first one committed but its process died before
  recording the answer, the case it wrote is answered as it is now (409 on routes that do not answer a case).
A citizen's token counts as its phone (their answers to returns, engine/citizen/returns.py, commit once).
A refused request (4xx) committed nothing and records nothing: its retry is judged afresh. Requests without
a token (the public pages' POSTs), with a token that no longer signs in (signed out, deactivated, password
changed), and the sign-in routes (``/api/auth/``: an answer there is a token, never to be kept) ignore the
header. A lost answer is rebuilt only for a caller who may still read the case (engine/people/policy.py).
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from fastapi.concurrency import run_in_threadpool
from sqlmodel import Session
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import multipart
from api.errors import body as refusal
from engine.cases import lifecycle as cases
from engine.citizen import signin
from engine.core import idempotency
from engine.core.errors import DomainError, Invalid
from engine.core.refusals import say
from engine.core.settings import Settings
from engine.people import policy
from engine.people.users import Actor, actor_from_token
from storage.db import session_for

HEADER = b"idempotency-key"
# The routes that answer the case they wrote (api/routes/cases.py, tasks.py), with their success status: the
# answer of last resort when the first request's own answer was lost.
_ANSWER_A_CASE = [(re.compile(r"^/api/cases/?$"), 201), (re.compile(r"^/api/cases/\d+/cancel/?$"), 200),
                  (re.compile(r"^/api/tasks/[^/]+/complete/?$"), 200)]
MAX_KEY_CHARS = 255
# Never keyed: their answers are tokens (or sign-outs), and repeating them is harmless.
_NOT_KEYED = ("/api/auth/",)


class Idempotency:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers: dict[bytes, bytes] = {}
        for name, value in (scope.get("headers") or []) if scope["type"] == "http" else []:
            headers.setdefault(name, value)  # the first of a repeated header, as the routes read it
        raw_key = headers.get(HEADER)
        if (raw_key is None or scope["method"] != "POST" or not scope["path"].startswith("/api/")
                or scope["path"].startswith(_NOT_KEYED)):
            await self.app(scope, receive, send)
            return
        key = raw_key.decode("latin-1")
        if not key or len(key) > MAX_KEY_CHARS or not key.isascii() or not key.isprintable():
            await _json(send, 422, refusal(say("idempotency.key_invalid", max=MAX_KEY_CHARS)))
            return
        actor = await run_in_threadpool(self._actor, headers)
        if actor is None:  # no token, a bad or ended one: the route answers it (401, or a public route)
            await self.app(scope, receive, send)
            return
        username = actor.username
        hasher = Fingerprint(f"POST {scope['path']}?{scope.get('query_string', b'').decode('latin-1')}\n".encode(),
                             headers.get(b"content-type", b""))
        found = await run_in_threadpool(self._find, username, key)
        if found is not None:
            await _drain(receive, hasher)
            await self._replay(scope, send, actor, key, hasher.hexdigest(), found)
            return

        async def hashing_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                hasher.update(message.get("body", b""))
            return message

        start: Message | None = None
        chunks: list[bytes] = []

        async def holding_send(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        pending = idempotency.Pending(username=username, key=key, fingerprint=lambda: hasher.copy().hexdigest())
        token = idempotency.begin(pending)
        try:
            await self.app(scope, hashing_receive, holding_send)
        except Exception:
            idempotency.end(token)
            # A commit that met the winner's key row may surface as an error: the winner's answer is ours.
            found = None if pending.committed or start is not None else await run_in_threadpool(
                self._find, username, key)
            if found is None:
                raise
            await self._replay(scope, send, actor, key, hasher.hexdigest(), found)
            return
        idempotency.end(token)
        assert start is not None
        status = int(start["status"])
        body = b"".join(chunks)
        if pending.committed:
            content_type = dict(start.get("headers") or []).get(b"content-type", b"").decode("latin-1") or None
            await run_in_threadpool(self._record, username, key, status, content_type, body)
        elif not 200 <= status < 300:
            # Refused: was it because another request with this key won the race? Then its answer is ours.
            found = await run_in_threadpool(self._find, username, key)
            if found is not None:
                await self._replay(scope, send, actor, key, hasher.hexdigest(), found)
                return
        await send(start)
        await send({"type": "http.response.body", "body": body})

    def _session(self) -> Session:
        return session_for(self.settings.database_url)

    def _actor(self, headers: dict[bytes, bytes]) -> Actor | None:
        """The signed-in actor, checked against the database as the routes check it (active, same session)."""
        value = headers.get(b"authorization", b"").decode("latin-1")
        scheme, _, token = value.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        with self._session() as session:
            try:
                return actor_from_token(session=session, token=token.strip(), settings=self.settings)
            except DomainError:
                pass
        try:  # a citizen's token (engine/citizen/signin.py): keyed by the phone (no username has ':' or '+')
            return Actor(f"citizen:{signin.phone_from_token(token.strip(), self.settings)}")
        except DomainError:
            return None

    def _find(self, username: str, key: str) -> idempotency.Answer | None:
        with self._session() as session:
            return idempotency.find(session, username=username, key=key, settings=self.settings)

    def _record(self, username: str, key: str, status: int, content_type: str | None, body: bytes) -> None:
        with self._session() as session:
            idempotency.record_answer(session, username=username, key=key, status=status,
                                      content_type=content_type, body=body)

    async def _replay(self, scope: Scope, send: Send, actor: Actor, key: str, fingerprint: str,
                      found: idempotency.Answer) -> None:
        username = actor.username
        if found.fingerprint != fingerprint:
            await _json(send, 422, refusal(say("idempotency.key_reused")))
            return
        if found.status is None:
            waited = await run_in_threadpool(self._wait, username, key)
            found = waited or found
        if found.status is not None:
            await send({"type": "http.response.start", "status": found.status, "headers": [
                (b"content-type", (found.content_type or "application/json").encode("latin-1")),
                (b"content-length", str(len(found.body or b"")).encode()), (b"idempotent-replayed", b"true")]})
            await send({"type": "http.response.body", "body": found.body or b""})
            return
        status = next((code for pattern, code in _ANSWER_A_CASE if pattern.match(scope["path"])), None)
        if found.case_id is not None and status is not None:
            body = await run_in_threadpool(self._case_now, found.case_id, actor)
            if body is not None:
                await _json(send, status, json.loads(body), replayed=True)
                return
        await _json(send, 409, refusal(say("idempotency.answer_lost")))

    def _wait(self, username: str, key: str) -> idempotency.Answer | None:
        with self._session() as session:
            return idempotency.wait_for_answer(session, username=username, key=key, settings=self.settings)

    def _case_now(self, case_id: int, actor: Actor) -> bytes | None:
        """The case as it is now, only for a caller who may still read it (else None: the 409 below)."""
        from api.views import case_view

        with self._session() as session:
            case = cases.load_case(session, case_id)
            if not policy.may_on_case(session, actor, "case.read", case, self.settings):
                return None
            return case_view(session, case, self.settings).model_dump_json().encode()


# What a delimiter is hashed as, and what a NUL byte of the parts is: a part's bytes can never be hashed as a
# delimiter (a file holding the fixed delimiter's own bytes is another upload than one with a delimiter there).
_FIXED_DELIMITER = b"\x00\x02"
_NUL, _NUL_HASHED = b"\x00", b"\x00\x01"
# A delimiter as the server's parser reads one: "--" and the boundary at the start of a line, then the line's end or
# "--" (the last one). The boundary's text anywhere else is a part's bytes, and counts as sent.
_LINE_START = b"\r\n"
_DELIMITER_ENDS = (b"\r\n", b"--")


class Fingerprint:
    """SHA-256 of a request as its retry must repeat it: the method, path and query, then the body.

    A multipart body (a scanned paper's upload) is delimited by a boundary that clients draw afresh for every send,
    so the same upload sent twice differs in it alone: each of its delimiters is hashed as one fixed delimiter. The
    parts themselves, their names, file names, types and bytes, count as sent, and only what the parser reads as a
    delimiter is one: two uploads the server reads differently never share a fingerprint. The body arrives in
    chunks, and a delimiter may straddle two: the last bytes that could begin one wait for the next chunk."""

    def __init__(self, head: bytes, content_type: bytes) -> None:
        self._hash = hashlib.sha256(head)
        try:  # the boundary the routes read the body with (api/multipart.py), not one of their own reading
            boundary = multipart.boundary_of(content_type.decode("latin-1"))
        except Invalid:
            boundary = b""  # not multipart: hashed as sent
        self._delimiter = _LINE_START + b"--" + boundary if boundary else b""
        self._held = _LINE_START if boundary else b""  # the body's first line starts a line, as the parser reads it

    def _parts(self, data: bytes) -> None:
        self._hash.update(data.replace(_NUL, _NUL_HASHED) if _NUL in data else data)

    def update(self, chunk: bytes) -> None:
        if not self._delimiter:
            self._hash.update(chunk)
            return
        data, start, size = self._held + chunk, 0, len(self._delimiter)
        search = 0
        while (at := data.find(self._delimiter, search)) >= 0 and at + size + 2 <= len(data):
            if data[at + size:at + size + 2] in _DELIMITER_ENDS:
                self._parts(data[start:at])
                self._hash.update(_FIXED_DELIMITER)
                start = search = at + size
            else:
                search = at + 1  # the boundary's text inside a part
        # A delimiter that begins in the last size + 1 bytes is not told apart yet: they wait for the next chunk.
        keep = max(start, len(data) - size - 1)
        self._parts(data[start:keep])
        self._held = data[keep:]

    def copy(self) -> Fingerprint:
        twin = Fingerprint.__new__(Fingerprint)
        twin._hash, twin._delimiter, twin._held = self._hash.copy(), self._delimiter, self._held
        return twin

    def hexdigest(self) -> str:
        final = self.copy()
        final._parts(final._held)
        return final._hash.hexdigest()


async def _drain(receive: Receive, hasher: Fingerprint) -> None:
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return
        hasher.update(message.get("body", b""))
        if not message.get("more_body", False):
            return


async def _json(send: Send, status: int, content: dict[str, Any], replayed: bool = False) -> None:
    body = json.dumps(content, ensure_ascii=False).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if replayed:
        headers.append((b"idempotent-replayed", b"true"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
