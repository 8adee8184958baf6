"""QR codes for receipts, drawn on the server as inline SVG (segno, pure Python): no script, no image request."""

from __future__ import annotations

import segno


def svg(text: str) -> str:
    """An SVG QR code for ``text`` (a link), with a title for screen readers and a quiet zone around it."""
    code = segno.make(text, error="m")
    return str(code.svg_inline(scale=4, border=2, title=text, dark="#000", light="#fff"))
