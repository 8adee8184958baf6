"""A test's own server on a loopback port (the SMS gateway, the SMTP server), served from a thread for as long
as its ``with`` block runs."""

from __future__ import annotations

import socketserver
import threading
from typing import Any, Self


class Served:
    server: socketserver.TCPServer
    port: int

    def serve(self, server: socketserver.TCPServer) -> None:
        """Take ``server`` (bound, not yet serving): its port is known at once, it answers once entered."""
        server.daemon_threads = True  # type: ignore[attr-defined]  # both servers mix threads in
        self.server = server
        self.port = int(server.server_address[1])
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
