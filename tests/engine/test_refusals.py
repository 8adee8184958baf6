"""Refusal messages by id (engine/core/refusals.py): every id has its English and its Arabic, the two say the same
placeholders, and every refusal the code makes names an id that the catalogs hold."""

from __future__ import annotations

import ast
import pickle
import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from engine.bpmn import parser, scripts
from engine.core import refusals
from engine.core.errors import Conflict, DomainError, Invalid, NotFound

ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDER = re.compile(r"%\(\w+\)[sr]")
# The domain errors by the names code raises them with (engine/core/errors.py and the engine's own subclasses),
# storage's failed backup (storage/backup.py) and a node's set-up refused (storage/nodes.py,
# storage/replication.py), which name ids of the same catalogs.
ERRORS = {"DomainError", "NotFound", "Unauthorized", "Forbidden", "Conflict", "Invalid", "TooLarge", "Corrupted",
          "RateLimited", "ScriptOverLimit", "PackageRefused", "Throttled", "TooManyLogins", "TooManyAttempts",
          "BackupFailed", "NodeRefused", "ReplicationRefused"}
# What makes a refusal's words besides the errors, with the place of the message id among its arguments:
# engine/core/refusals.py's own, the small per-field helpers of engine/people/identity.py and
# engine/cases/citizen_correction.py, the multipart reader's (api/multipart.py) and the command line's
# (cli/refusals.py ``tell(settings, id, ...)``).
SAYERS = {"say": 0, "Text": 0, "problem": 1, "_citizen_problem": 1, "_field_problem": 2, "_refusal": 0, "tell": 1}
# Where refusals must name an id: the engine and the packages below it.
BELOW_THE_FACES = ("engine", "forms", "storage")
# The faces refuse by id too; a page may also refuse with a sentence marked ``N_("…")`` (a call, not a literal,
# here), whose Arabic is in the pages' catalog (tests/admin_ui/test_catalogs.py checks it).
FACES = ("api", "admin_ui", "cli")


def _entries(language: str) -> dict[str, str]:
    with refusals.po_path(language).open("rb") as handle:
        return {str(m.id): str(m.string) for m in read_po(handle) if m.id}


def test_every_refusal_has_english_and_arabic_with_the_same_placeholders() -> None:
    english, arabic = _entries("en"), _entries("ar")
    assert sorted(english.keys() ^ arabic.keys()) == [], "an id is in one catalog only"
    assert sorted(k for k, v in english.items() if not v.strip()) == [], "ids without English"
    assert sorted(k for k, v in arabic.items() if not v.strip()) == [], "ids without Arabic"
    for message_id in english:
        assert refusals.ID.match(message_id), message_id
        assert sorted(PLACEHOLDER.findall(english[message_id])) == sorted(PLACEHOLDER.findall(arabic[message_id])), \
            message_id


def test_a_missing_arabic_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The check above is not vacuous: a catalog whose Arabic lacks one id fails it.
    for language in refusals.LANGUAGES:
        target = tmp_path / language / "LC_MESSAGES" / "refusals.po"
        target.parent.mkdir(parents=True)
        text = refusals.po_path(language).read_text("utf-8")
        if language == "ar":
            text = text.replace('msgstr "الطلب %(case_id)s غير موجود"', 'msgstr ""')
        target.write_text(text, "utf-8")
    monkeypatch.setattr(refusals, "LOCALE_DIR", tmp_path)
    with pytest.raises(AssertionError, match="ids without Arabic"):
        test_every_refusal_has_english_and_arabic_with_the_same_placeholders()


def _called(node: ast.Call) -> str | None:
    func = node.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None


def _constants(tree: ast.Module) -> dict[str, str]:
    """The module's ``NAME = "text"`` constants: refusals raised by name (``raise Conflict(LOST_RACE)``)."""
    return {target.id: node.value.value for node in tree.body if isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
            for target in node.targets if isinstance(target, ast.Name)}


def _branches(node: ast.expr) -> list[ast.expr]:
    """``"a.b" if c else "a.c"`` is two ids."""
    return [*_branches(node.body), *_branches(node.orelse)] if isinstance(node, ast.IfExp) else [node]


def _refusal_sites(roots: tuple[str, ...]) -> list[tuple[str, int, str, ast.expr]]:
    """(file, line, what is called, its first argument) of every call that makes a refusal's words."""
    out = []
    for root in roots:
        for path in sorted((ROOT / root).rglob("*.py")):
            tree = ast.parse(path.read_text("utf-8"))
            constants = _constants(tree)
            for node in ast.walk(tree):
                called = _called(node) if isinstance(node, ast.Call) else None
                at = 0 if called in ERRORS else SAYERS.get(called or "")
                if isinstance(node, ast.Call) and at is not None and len(node.args) > at:
                    for first in _branches(node.args[at]):
                        if isinstance(first, ast.Name) and first.id in constants:
                            first = ast.Constant(constants[first.id])
                        elif isinstance(first, ast.Attribute) and first.attr.isupper():  # another module's constant
                            continue
                        out.append((str(path.relative_to(ROOT)), node.lineno, str(_called(node)), first))
    return out


def _unknown_ids() -> list[str]:
    return [f"{file}:{line} {value.value}" for file, line, _called, value in
            _refusal_sites((*BELOW_THE_FACES, "api", "admin_ui", "cli"))
            if isinstance(value, ast.Constant) and isinstance(value.value, str) and refusals.is_id(value.value)
            and not refusals.known(value.value)]


def _sentences(roots: tuple[str, ...] = BELOW_THE_FACES) -> list[str]:
    """Refusals made of a sentence (a literal that is not an id, or an f-string) in ``roots``."""
    return [f"{file}:{line} {called}({ast.unparse(value)[:60]})" for file, line, called, value in
            _refusal_sites(roots) if isinstance(value, ast.JoinedStr)
            or (isinstance(value, ast.Constant) and isinstance(value.value, str) and not refusals.is_id(value.value))]


def test_every_id_the_code_names_is_in_the_catalogs() -> None:
    assert _unknown_ids() == []


def test_the_engine_refuses_by_id_not_by_sentence() -> None:
    # A sentence would have no Arabic: the engine names an id, and the catalogs hold its words.
    assert _sentences() == []


def test_the_faces_refuse_by_id_or_by_a_sentence_of_the_pages_catalog() -> None:
    # The API's JSON would carry only the general Arabic ("تعذّر تنفيذ الطلب: <English>") for a sentence.
    assert _sentences(FACES) == []


def _problem_sentences(roots: tuple[str, ...]) -> list[str]:
    """Problems of a refusal written as a sentence: a dict literal whose ``msg`` or ``message`` is a literal or
    an f-string, with no ``msg_ar``/``message_ar`` beside it (it would reach the reader in English only)."""
    out = []
    for root in roots:
        for path in sorted((ROOT / root).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text("utf-8"))):
                if not isinstance(node, ast.Dict):
                    continue
                keys = {k.value: v for k, v in zip(node.keys, node.values, strict=True)
                        if isinstance(k, ast.Constant) and isinstance(k.value, str)}
                for english in ("msg", "message"):
                    value = keys.get(english)
                    if f"{english}_ar" not in keys and (isinstance(value, ast.JoinedStr) or (
                            isinstance(value, ast.Constant) and isinstance(value.value, str))):
                        out.append(f"{path.relative_to(ROOT)}:{node.lineno} {ast.unparse(value)[:60]}")
    return out


def test_each_problem_of_a_refusal_names_an_id_too() -> None:
    # A field's problem is said with refusals.problem(field, id, ...) (msg and msg_ar) or say(id), not a sentence.
    assert _problem_sentences((*BELOW_THE_FACES, *FACES)) == []


def test_ids_chosen_at_run_time_are_in_the_catalogs() -> None:
    chosen = [*scripts._REFUSED_NODES.values(), *(message_id for _p, message_id, _g in parser._REWORDED)]
    chosen += [f"migration.{what}{inner}" for what in ("done_gone", "done_changed", "waiting_gone")
               for inner in ("", "_in")]
    chosen += ["ownership.who.this_step", "ownership.who.opening_a_case"]
    assert [message_id for message_id in chosen if not refusals.known(message_id)] == []


def test_a_refusal_speaks_both_languages() -> None:
    refused = NotFound("case.not_found", case_id=7)
    assert refused.message == "case 7 does not exist" and str(refused) == "case 7 does not exist"
    assert refused.message_id == "case.not_found"
    assert refused.text("ar") == "الطلب 7 غير موجود" and refused.text("en") == "case 7 does not exist"
    invalid = Invalid("form.has_errors", [{"field": "x", "msg": "required"}])
    assert invalid.details == [{"field": "x", "msg": "required"}] and invalid.text("ar") == "في النموذج أخطاء"


def test_a_face_may_still_refuse_with_its_own_sentence() -> None:
    refused = Conflict("These pages are for analysts.")
    assert refused.message_id is None and refused.text("ar") == "These pages are for analysts."


def test_a_sentence_inside_a_sentence_is_said_in_the_same_language() -> None:
    inner = refusals.say("script.big_power", limit="100,000", where=refusals.Words("scripts", "النصوص البرمجية"))
    outer = refusals.say("deploy.script_refused", kind=refusals.Words("script", "النص البرمجي"), reason=inner)
    assert outer == "script: a power whose result has more than 100,000 bits is not allowed in scripts"
    assert outer.ar == "قوة ثابتة (أُس) ناتجها أكبر من 100,000 بت غير مسموح بها في النصوص البرمجية (النص البرمجي)"
    assert refusals.fix(outer) == refusals.fix(inner) is not None  # the fix is the inner sentence's


def test_a_refusal_survives_pickling() -> None:
    said = refusals.say("queue.no_counter", number=3)
    again = pickle.loads(pickle.dumps(said))
    assert again == "counter 3 does not exist" and again.ar == "الشباك 3 غير موجود"
    assert isinstance(pickle.loads(pickle.dumps(DomainError("case.not_found", case_id=1))), DomainError)


def test_an_id_missing_from_the_catalogs_shows_itself_rather_than_failing() -> None:
    # The catalog test above refuses such code; if one slipped through, the reader sees the id, not a 500.
    assert refusals.say("no.such_refusal", x=1) == "no.such_refusal"
    assert refusals.say("case.not_found") == "case %(case_id)s does not exist"  # a missing parameter


def test_the_code_checks_find_a_wrong_id_and_a_sentence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for root in (*BELOW_THE_FACES, "api", "admin_ui", "cli"):
        (tmp_path / root).mkdir()
    (tmp_path / "engine" / "bad.py").write_text(
        'LOST = "case.lost_forever"\n'
        'def f(n):\n'
        '    if n:\n'
        '        raise NotFound("case.no_such_id")\n'
        '    if n > 1:\n'
        '        raise Conflict(LOST)\n'
        '    raise Invalid(f"case {n} is wrong", [])\n', "utf-8")
    monkeypatch.setitem(globals(), "ROOT", tmp_path)
    assert _unknown_ids() == ["engine/bad.py:4 case.no_such_id", "engine/bad.py:6 case.lost_forever"]
    assert _sentences() == ["engine/bad.py:7 Invalid(f'case {n} is wrong')"]
    (tmp_path / "api" / "bad.py").write_text(
        'def g(n):\n'
        '    if n:\n'
        '        raise Forbidden(N_("These pages are for analysts."))\n'
        '    raise Unauthorized("sign in first")\n', "utf-8")
    assert _sentences(FACES) == ["api/bad.py:4 Unauthorized('sign in first')"]
    (tmp_path / "engine" / "fields.py").write_text(
        'A = {"field": "x", "msg": "required"}\n'
        'B = {"field": "x", "msg": f"at most {n}"}\n'
        'C = {"field": "x", "msg": "ok", "msg_ar": "حسنًا"}\n'
        'D = {"field": "x", "msg": say("field.required")}\n', "utf-8")
    assert _problem_sentences(BELOW_THE_FACES) == ["engine/fields.py:1 'required'", "engine/fields.py:2 f'at most {n}'"]
    # The command line's own refusals (cli/refusals.py tell) and storage's failed backup are held to the same.
    (tmp_path / "cli" / "bad.py").write_text(
        'def h(settings):\n'
        '    tell(settings, "cli.no_such_refusal")\n'
        '    tell(settings, "refusing to go on")\n', "utf-8")
    (tmp_path / "storage" / "bad.py").write_text('def k(name):\n    raise BackupFailed(f"{name} failed")\n', "utf-8")
    assert _unknown_ids()[-1] == "cli/bad.py:2 cli.no_such_refusal"
    assert _sentences(FACES)[-1] == "cli/bad.py:3 tell('refusing to go on')"
    assert _sentences() == ["engine/bad.py:7 Invalid(f'case {n} is wrong')",
                            "storage/bad.py:2 BackupFailed(f'{name} failed')"]
