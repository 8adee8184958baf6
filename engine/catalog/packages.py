"""Read service packages from a folder tree such as ``processes/``.

A package is a folder holding one or more ``.bpmn`` files, its ``.dmn`` tables, an optional
``service.toml``, its forms in ``forms/*.json``, its output templates in ``outputs/*.html`` and its test
cases in ``paths.json`` (run before a deploy is accepted: engine/catalog/analyst_tests.py). Other files
(notes, drafts) are not deployed.
"""

from __future__ import annotations

from pathlib import Path

from engine.core.errors import Invalid
from engine.core.refusals import say


def find_packages(root: Path) -> list[Path]:
    """Folders under ``root`` (itself included) that hold a ``.bpmn`` file, in name order."""
    if not root.is_dir():
        raise Invalid("deploy.not_folder", [{"file": str(root), "element_id": None,
                                                   "message": say("deploy.not_a_folder")}], root=root)
    return sorted({p.parent for p in root.rglob("*.bpmn") if "tests" not in p.parts[len(root.parts):]})


def read_package(folder: Path) -> dict[str, bytes]:
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
