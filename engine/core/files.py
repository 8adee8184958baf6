"""What an uploaded file is, judged by its first bytes, and a file name that is safe to keep and show.

A file's name and the type its sender declares are claims; its first bytes ("magic numbers") are what the
file is. Shubbak decides by the bytes, and refuses a file whose name or declared type says something else:
a PNG renamed to ``.pdf`` is a mistake (or worse) the clerk should see at once.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import PurePosixPath


@dataclass(frozen=True)
class FileType:
    mime: str
    label: str
    magic: tuple[bytes, ...]
    extensions: tuple[str, ...]

    def matches(self, head: bytes) -> bool:
        if self.mime == "image/webp":  # RIFF....WEBP: the size sits between the two markers
            return head[:4] == b"RIFF" and head[8:12] == b"WEBP"
        return any(head.startswith(m) for m in self.magic)


KNOWN_TYPES: dict[str, FileType] = {t.mime: t for t in (
    FileType("application/pdf", "PDF", (b"%PDF-",), (".pdf",)),
    FileType("image/jpeg", "JPEG", (b"\xff\xd8\xff",), (".jpg", ".jpeg", ".jpe", ".jfif")),
    FileType("image/png", "PNG", (b"\x89PNG\r\n\x1a\n",), (".png",)),
    FileType("image/tiff", "TIFF", (b"II*\x00", b"MM\x00*"), (".tif", ".tiff")),
    FileType("image/gif", "GIF", (b"GIF87a", b"GIF89a"), (".gif",)),
    FileType("image/webp", "WebP", (), (".webp",)),
)}
# Enough leading bytes to tell every known type apart.
SNIFF_BYTES = 16
# Declared types that say nothing about the content (clients send them for any file).
_GENERIC = frozenset({"", "application/octet-stream", "binary/octet-stream", "application/x-www-form-urlencoded"})
_ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "application/x-pdf": "application/pdf",
            "image/x-png": "image/png", "image/tif": "image/tiff", "image/x-tiff": "image/tiff"}


def detect(head: bytes) -> FileType | None:
    """The known type whose magic bytes ``head`` starts with, or None."""
    return next((t for t in KNOWN_TYPES.values() if t.matches(head)), None)


def describe(head: bytes) -> str:
    """A few words on what an unaccepted file looks like, for the refusal message."""
    found = detect(head)
    if found is not None:
        return f"a {found.label} file"
    if head.startswith(b"PK\x03\x04"):
        return "a ZIP archive (or an Office document)"
    if head.startswith((b"MZ", b"\x7fELF")):
        return "a program"
    if head.lstrip().startswith((b"<", b"{")):
        return "text (HTML, XML or JSON)"
    return "an unknown kind of file"


def mismatch(detected: FileType, filename: str | None, declared: str | None) -> str | None:
    """Why the name or declared type contradicts the content, or None when they agree (or say nothing)."""
    claimed = (declared or "").split(";", 1)[0].strip().lower()
    claimed = _ALIASES.get(claimed, claimed)
    if claimed not in _GENERIC and claimed != detected.mime:
        return f"the file was sent as {claimed}, but its content is {detected.label}"
    suffix = PurePosixPath((filename or "").replace("\\", "/")).suffix.lower()
    by_name = next((t for t in KNOWN_TYPES.values() if suffix in t.extensions), None)
    if by_name is not None and by_name is not detected:
        return f"the file is named as {by_name.label} ({suffix}), but its content is {detected.label}"
    return None


# Bidirectional overrides, embeddings and isolates can make "gpj.exe" display as "exe.jpg"; they go.
# Marks (LRM, RLM, ALM) and joiners stay: Arabic and mixed-direction names use them.
_BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")
_UNSAFE = re.compile(r'[<>:"/\\|?*]')


def clean_filename(raw: str | None, *, max_chars: int, fallback_extension: str) -> str:
    """Keep what the clerk would recognise (Arabic included); drop folders, control characters and tricks."""
    name = unicodedata.normalize("NFC", raw or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]  # a client may send a whole path: keep its last part
    name = _BIDI_CONTROLS.sub("", name)
    name = "".join(ch for ch in name if unicodedata.category(ch) != "Cc")
    name = _UNSAFE.sub("_", name)
    name = " ".join(name.split()).strip(" .")  # no leading dots (hidden files, "..") or trailing dots
    if not name:
        name = "document" + fallback_extension
    if len(name) > max_chars:
        stem, dot, ext = name.rpartition(".")
        if dot and 0 < len(ext) <= 10 and stem:
            name = stem[: max_chars - len(ext) - 1].rstrip(" .") + "." + ext
        else:
            name = name[:max_chars].rstrip(" .")
    return name
