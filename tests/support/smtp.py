"""A tiny SMTP server on loopback for the tests: it speaks just enough SMTP for smtplib and keeps each mail."""

from __future__ import annotations

import socketserver
from email import message_from_bytes
from email.message import Message

from tests.support.served import Served


class SmtpServer(Served):
    def __init__(self, refuse_rcpt: int | None = None) -> None:
        self.mails: list[Message] = []
        self.refuse_rcpt = refuse_rcpt  # an SMTP code to answer RCPT TO with (550: unknown mailbox)
        server = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                self._say("220 localhost test SMTP")
                while True:
                    line = self.rfile.readline()
                    if not line:
                        return
                    verb = line.decode(errors="replace").strip().split(" ", 1)[0].upper()
                    if verb in ("EHLO", "HELO"):
                        self._say("250 localhost")
                    elif verb == "RCPT" and server.refuse_rcpt:
                        self._say(f"{server.refuse_rcpt} no such mailbox")
                    elif verb in ("MAIL", "RCPT", "RSET", "NOOP"):
                        self._say("250 OK")
                    elif verb == "DATA":
                        self._say("354 go ahead")
                        data = b""
                        while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                            data += chunk[1:] if chunk.startswith(b"..") else chunk
                        server.mails.append(message_from_bytes(data))
                        self._say("250 queued")
                    elif verb == "QUIT":
                        self._say("221 bye")
                        return
                    else:
                        self._say("502 not implemented")

            def _say(self, text: str) -> None:
                self.wfile.write(text.encode() + b"\r\n")

        self.serve(socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler))
