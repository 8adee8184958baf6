"""A loopback TCP proxy a test can cut: 127.0.0.1:port forwards to a target port on 127.0.0.1 (PostgreSQL's),
until ``cut()`` closes every connection through it (both sides, as a broken line does) and refuses new ones
(the listening socket is closed: a connect is refused at once); ``restore()`` listens again on the same port.
Threads only, loopback only; every thread stops with ``close()``."""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Any, Self


class CuttableProxy:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.cuts = 0
        self._listener: socket.socket | None = None
        self._pairs: set[tuple[socket.socket, socket.socket]] = set()
        self._lock = threading.Lock()
        self._closed = False

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
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        with self._lock:
            self._pairs.discard(pair)
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
