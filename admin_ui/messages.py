"""Keep the message catalogs in step with the code: ``python -m admin_ui.messages`` extracts every message
of the pages (``_()``, ``gettext()``, ``N_()`` in Python and templates, here and in ``forms/``, which draws the
pages' form fields) and merges it into ``locale/*/messages.po``, keeping the translations already there. Arabic
needs a translation for each; English uses the ``msgid``. The engine's refusals have their own catalogs
(engine/refusals.py).
"""

from __future__ import annotations

from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

from admin_ui.i18n import po_path
from engine.users import LANGUAGES

PACKAGE = Path(__file__).parent
FORMS = PACKAGE.parent / "forms"
METHODS = [("**.py", "python"), ("templates/**.html", "jinja2")]
KEYWORDS = {"_": None, "gettext": None, "N_": None}


def extract() -> Catalog:
    """Every message the pages can show, with where it is used."""
    template = Catalog(project="Shubbak", fuzzy=False)
    for folder, prefix in ((PACKAGE, ""), (FORMS, "../forms/")):
        for filename, lineno, message, _comments, _context in extract_from_dir(
                folder, METHODS, keywords=KEYWORDS, comment_tags=(), strip_comment_tags=True):
            if isinstance(message, str) and message:
                template.add(message, locations=[(prefix + filename, lineno)])
    return template


def update() -> dict[str, int]:
    """Merge the extracted messages into each language's ``.po``; returns how many lack a translation."""
    template = extract()
    missing = {}
    for language in LANGUAGES:
        path = po_path(language)
        if path.exists():
            with path.open("rb") as handle:
                catalog = read_po(handle, locale=language)
        else:
            catalog = Catalog(locale=language, project="Shubbak")
        catalog.update(template, no_fuzzy_matching=True)
        catalog.fuzzy = False  # the header: the catalog is in use, not a draft
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as handle:
            write_po(handle, catalog, width=120, omit_header=False, ignore_obsolete=True, sort_output=False,
                     include_previous=False)
        missing[language] = sum(1 for m in catalog if m.id and not m.string)
    return missing


if __name__ == "__main__":
    for lang, count in update().items():
        print(f"{lang}: {count} message(s) without a translation")
