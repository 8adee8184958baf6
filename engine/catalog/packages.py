"""Read service packages from a folder tree such as ``processes/``.

A package is a folder holding one or more ``.bpmn`` files, its ``.dmn`` tables, an optional
``service.toml``, its forms in ``forms/*.json``, its output templates in ``outputs/*.html`` and its test
cases in ``paths.json`` (run before a deploy is accepted: engine/catalog/analyst_tests.py). Other files
(notes, drafts) are not deployed.

Shared sub-processes: ``processes/_shared/<name>/`` holds a process ``<name>`` (its ``.bpmn`` and ``forms/``) that
services call with a call activity (``calledElement="<name>"``). A package calling a process it does not hold
takes the shared one's files along (the BPMN as ``shared__<name>.bpmn``, its forms by their names): they are part
of the calling version's content and hash, so the version is pinned to the shared process as it was at deploy,
and the version records that hash (``shared`` in its meta, engine/bpmn/compiler.py). A change to the shared
process reaches a service only by deploying the service again. ``_shared`` folders are not services.
"""

from __future__ import annotations

import re
from pathlib import Path

from engine.bpmn.compiler import SHARED_PREFIX
from engine.core.errors import Invalid
from engine.core.refusals import say

SHARED = "_shared"
_CALLED = re.compile(rb'calledElement="([^"]+)"')
_PROCESS = re.compile(rb'<(?:\w+:)?process\b[^>]*\bid="([^"]+)"')
_SHARED_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")  # a folder of processes/_shared/, never a path


def find_packages(root: Path) -> list[Path]:
    """Folders under ``root`` (itself included) that hold a ``.bpmn`` file, in name order."""
    if not root.is_dir():
        raise Invalid("deploy.not_folder", [{"file": str(root), "element_id": None,
                                                   "message": say("deploy.not_a_folder")}], root=root)
    return sorted({p.parent for p in root.rglob("*.bpmn")
                   if "tests" not in p.parts[len(root.parts):] and SHARED not in p.parts[len(root.parts):]})


def read_package(folder: Path) -> dict[str, bytes]:
    files = _read(folder)
    for called in _called_elsewhere(files):
        if not _SHARED_NAME.fullmatch(called):
            continue  # "../x" or "/etc": no folder is read; the compiler refuses the call, naming it
        shared = folder.parent / SHARED / called
        if not shared.is_dir():
            continue  # the compiler refuses the call, naming it
        for name, content in _read(shared).items():
            if name in ("service.toml", "paths.json") or name.endswith(".html"):
                continue  # the shared process's own tests and notes stay with it
            if name.endswith(".bpmn"):
                name = f"{SHARED_PREFIX}{called}.bpmn"
            if name in files:
                raise Invalid("deploy.two_files_named",
                              [{"file": name, "element_id": None, "message": say("deploy.names_unique")}],
                              name=name, folder=shared)
            files[name] = content
    return files


def _called_elsewhere(files: dict[str, bytes]) -> list[str]:
    """The processes the package's call activities call that none of its BPMN files holds."""
    bpmn = [content for name, content in files.items() if name.endswith(".bpmn")]
    held = {m.decode() for content in bpmn for m in _PROCESS.findall(content)}
    return sorted({m.decode() for content in bpmn for m in _CALLED.findall(content)} - held)


def _read(folder: Path) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    candidates = [*folder.glob("*.bpmn"), *folder.glob("*.dmn"), *folder.glob("service.toml"),
                  *folder.glob("paths.json"), *(folder / "forms").glob("*.json"),
                  *(folder / "outputs").glob("*.html")]
    for path in sorted(candidates):
        if path.name in files:
            raise Invalid("deploy.two_files_named",
                          [{"file": path.name, "element_id": None, "message": say("deploy.names_unique")}],
                          name=path.name, folder=folder)
        files[path.name] = path.read_bytes()
    return files
