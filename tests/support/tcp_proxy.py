"""A loopback TCP proxy a test can cut: 127.0.0.1:port forwards to a target port on 127.0.0.1 (PostgreSQL's),
until ``cut()`` closes every connection through it (both sides, as a broken line does) and refuses new ones
(the listening socket is closed: a connect is refused at once); ``restore()`` listens again on the same port.
While ``lose_post_answers`` is set, a connection whose last request was an HTTP POST is closed as soon as the
target's answer comes back, so the client never reads it though the target did the work (``lost_posts`` counts
them); other requests are answered.
Threads only, loopback only; every thread stops with ``close()``."""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Any, Self

_METHODS = {b"GET", b"HEAD", b"POST", b"PUT", b"PATCH", b"DELETE", b"OPTIONS"}


class CuttableProxy:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.cuts = 0
        self._listener: socket.socket | None = None
        self._pairs: set[tuple[socket.socket, socket.socket]] = set()
        self._lock = threading.Lock()
        self._closed = False
        self.lose_post_answers = threading.Event()
        self.lost_posts = 0
        self._last_request: dict[socket.socket, bytes] = {}  # client socket -> the start of what it sent last

    def __enter__(self) -> Self:
        self._listen()
        return self

    def __exit__(self, *_exc: Any) -> None:
        self.close()

    def url(self, database_url: str) -> str:
        """``database_url`` (a SQLAlchemy URL of the target server) through this proxy."""
        from sqlalchemy.engine import make_url

        return make_url(database_url).set(host="127.0.0.1", port=self.port).render_as_string(hide_password=False)

    def _listen(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        listener.settimeout(0.2)
        self.port = int(listener.getsockname()[1])
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True, name="proxy-accept").start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _address = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # the listener was closed: cut or closed
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            for sock in (client, upstream):
                sock.settimeout(None)
            pair = (client, upstream)
            with self._lock:
                if self._listener is not listener:  # cut while this one was connecting
                    _close(*pair)
                    continue
                self._pairs.add(pair)
            threading.Thread(target=self._pump, args=(client, upstream, pair), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, pair), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, pair: tuple[socket.socket, socket.socket]) -> None:
        client = pair[0]
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if source is client:
                    if data.split(b" ", 1)[0] in _METHODS:  # a request's first line, not the rest of a body
                        with self._lock:
                            self._last_request[client] = data[:8]
                elif self.lose_post_answers.is_set():
                    with self._lock:
                        lost = self._last_request.get(client, b"").startswith(b"POST ")
                        self.lost_posts += lost
                    if lost:  # the target answered; the client will never read it
                        break
                sink.sendall(data)
        except OSError:
            pass
        with self._lock:
            self._pairs.discard(pair)
            self._last_request.pop(client, None)
        _close(*pair)

    def cut(self) -> None:
        """The line breaks: every connection through the proxy is closed on both sides, new ones are refused."""
        with self._lock:
            listener, self._listener = self._listener, None
            pairs, self._pairs = self._pairs, set()
            self.cuts += 1
        if listener is not None:
            listener.close()
        for pair in pairs:
            _close(*pair)

    def restore(self) -> None:
        """The line is back: the proxy listens again on the same port."""
        if self._listener is None and not self._closed:
            self._listen()

    @property
    def connections(self) -> int:
        with self._lock:
            return len(self._pairs)

    def close(self) -> None:
        self._closed = True
        self.cut()


def _close(*sockets: socket.socket) -> None:
    for sock in sockets:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            sock.close()
