"""A download nobody reads (the client left before the response started) still closes its file."""

from __future__ import annotations

import gc
import io
import warnings
from pathlib import Path

from storage.documents.filesystem import FilesystemStore


def test_unread_download_closes_its_file_when_dropped(tmp_path: Path) -> None:
    store = FilesystemStore(str(tmp_path), chunk_bytes=4)
    store.prepare()
    store.put("cases/doc_1", io.BytesIO(b"%PDF-1.4 hello"), content_type="application/pdf")
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        download = store.open("cases/doc_1")
        assert download.size == 14
        del download  # never iterated, never closed
        gc.collect()
        opened = store.open("cases/doc_1")
        assert b"".join(opened) == b"%PDF-1.4 hello"
        opened.close()
        opened.close()  # closing twice is harmless
