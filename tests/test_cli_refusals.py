"""The command line says its refusals by message id, in the operator's language (cli/refusals.py,
SHUBBAK_CLI_LANGUAGE): Arabic, English or both, the id shown; and no command prints a refusal another way."""

from __future__ import annotations

import ast
import re
import shutil
from pathlib import Path

import pytest

from cli import refusals as cli_refusals
from cli.main import main
from engine.core.errors import Conflict, Invalid
from engine.core.refusals import say
from engine.core.settings import Settings
from harness.postgres import free_port
from harness.settings import TEST_PROCESSES
from storage.backup import BackupFailed

ROOT = Path(__file__).resolve().parents[1]
ARABIC = re.compile(r"[\u0600-\u06ff]")


def _refused_package(root: Path) -> Path:
    """test_permit with a script the deploy checks refuse (a ``while`` loop) on its element ``compute_fee``."""
    folder = root / "test_permit"
    shutil.copytree(TEST_PROCESSES / "test_permit", folder)
    diagram = folder / "test_permit.bpmn"
    text = diagram.read_text("utf-8")
    assert "fee = round_money(area * 2.5)" in text
    diagram.write_text(text.replace("fee = round_money(area * 2.5)", "while True: pass"), "utf-8")
    return root


@pytest.fixture
def cli(sqlite_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setattr("cli.main.get_settings", lambda: sqlite_settings)
    return sqlite_settings


def _speak(monkeypatch: pytest.MonkeyPatch, settings: Settings, language: str) -> None:
    monkeypatch.setattr("cli.main.get_settings", lambda: settings.model_copy(update={"cli_language": language}))


def test_the_default_speaks_arabic_first_and_english_beside_it() -> None:
    assert Settings().cli_language == "both"
    assert cli_refusals.languages(Settings()) == ("ar", "en")


def test_a_deploy_refusal_in_arabic_with_its_id(
    cli: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _speak(monkeypatch, cli, "ar")
    root = _refused_package(tmp_path / "packages")
    assert main(["processes", "deploy", str(root)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0] == f"مرفوض [deploy.cannot_be_deployed] {root / 'test_permit'}: لا يمكن نشر المخطط"
    assert err[1].startswith("  - [deploy.script_refused] test_permit.bpmn compute_fee: حلقات 'while' غير مسموح بها")
    assert err[2].startswith("      ما العمل: ")  # the catalog's fix, in Arabic too
    assert len(err) == 3 and not any("REFUSED" in line or "loops are not allowed" in line for line in err)


def test_a_deploy_refusal_in_english_when_chosen(
    cli: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _speak(monkeypatch, cli, "en")
    root = _refused_package(tmp_path / "packages")
    assert main(["processes", "test", str(root)]) == 1
    err = capsys.readouterr().err
    assert err.splitlines()[:2] == [
        f"REFUSED [deploy.cannot_be_deployed] {root / 'test_permit'}: the diagram cannot be deployed",
        "  - [deploy.script_refused] test_permit.bpmn compute_fee: script: 'while' loops are not allowed in scripts "
        "(loop with 'for' over a list or a range) (line 1)",
    ]
    assert "what to do: " in err and not ARABIC.search(err)


def test_both_languages_arabic_line_then_english_line(
    cli: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _refused_package(tmp_path / "packages")
    assert main(["processes", "deploy", str(root)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert [line.split(" [")[0] for line in err if not line.startswith(" ")] == ["مرفوض", "REFUSED"]
    details = [line for line in err if line.startswith("  - ")]
    assert len(details) == 2 and ARABIC.search(details[0]) and not ARABIC.search(details[1])


def test_a_domain_error_of_any_command_and_the_command_lines_own(
    cli: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _speak(monkeypatch, cli, "ar")
    assert main(["processes", "migrate", "nothing_here", "--to", "2"]) == 1  # caught by main's dispatcher
    err = capsys.readouterr().err
    assert err.startswith("خطأ [service.") and ARABIC.search(err.split(":", 1)[1]) and "error" not in err
    assert main(["worker"]) == 2  # no broker: the command line's own refusal, by id
    assert capsys.readouterr().err == (
        "خطأ [cli.no_broker]: رُفض تشغيل العامل (worker): اضبط SHUBBAK_BROKER_URL "
        "(redis://...)؛ فمن غير وسيط يرسل خادم الواجهة البرمجية الرسائل ويُقدّم "
        "المؤقتات بنفسه\n"
    )
    _speak(monkeypatch, cli, "en")
    assert main(["beat"]) == 2
    assert capsys.readouterr().err.startswith(
        "error [cli.no_broker]: refusing to start the beat: set SHUBBAK_BROKER_URL"
    )


@pytest.mark.parametrize(
    ("argv", "changes", "status", "said"),
    [
        (["serve", "--demo"], {"environment": "production"}, 2, "خطأ [cli.no_demo_in_production]: رُفض إنشاء"),
        (["tick"], {"database_transaction_pooling": True}, 2, "خطأ [cli.tick_needs_direct_connection]: shubbak tick"),
        (["users", "passwd", "someone"], {}, 1, "خطأ [cli.passwords_differ]: كلمتا المرور مختلفتان"),
        (["backup", "folder"], {}, 1, "خطأ [backup.tool_missing]: لم يُعثر على pg_dump"),
    ],
)
def test_the_command_lines_own_refusals_in_arabic(
    cli: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    changes: dict[str, object],
    status: int,
    said: str,
) -> None:
    monkeypatch.setattr("cli.main.get_settings", lambda: cli.model_copy(update={"cli_language": "ar", **changes}))
    answers = iter(["one password", "another one"])
    monkeypatch.setattr("getpass.getpass", lambda _prompt="": next(answers))

    def no_pg_dump(**_kwargs: object) -> None:
        raise BackupFailed("backup.tool_missing", tool="pg_dump")

    monkeypatch.setattr("engine.operations.backup.take", no_pg_dump)
    assert main(argv) == status
    err = capsys.readouterr().err
    assert err.startswith(said) and err.count("\n") == 1, err


def test_what_the_function_says_of_each_kind(cli: Settings) -> None:
    both = cli
    # A failed backup names its id below the engine; its words are the catalogs'.
    assert cli_refusals.lines(both, BackupFailed("backup.tool_missing", tool="pg_dump")) == [
        "خطأ [backup.tool_missing]: لم يُعثر على pg_dump: ثبّت عميل PostgreSQL بإصدار الخادم نفسه، أو اضبط "
        "SHUBBAK_POSTGRES_BIN_DIR على مجلده",
        "error [backup.tool_missing]: pg_dump was not found: install the PostgreSQL client of the server's version, or "
        "set SHUBBAK_POSTGRES_BIN_DIR to its folder",
    ]
    # A field's problem keeps the Arabic it came with; words from outside the catalogs get the general sentence.
    invalid = Invalid("form.has_errors", [{"field": "password", "msg": "too short", "msg_ar": "قصيرة جدًا"}])
    assert cli_refusals.lines(both, invalid, label="refused")[2:] == [
        "  - [request.problem] password: قصيرة جدًا",
        "  - [request.problem] password: too short",
    ]
    assert cli_refusals.lines(both, Conflict("a sentence from outside")) == [
        "خطأ [request.refused]: تعذّر تنفيذ الطلب: a sentence from outside",
        "error [request.refused]: a sentence from outside",
    ]


# Where a print to stderr is not a refusal, and why.
NOT_REFUSALS = {"cli/audit.py:cmd_new_key": "the new key's public half, kept off stdout (which holds the secret one)"}
REFUSALS = {"DomainError", "Invalid", "PackageRefused", "BackupFailed", "NotFound", "Conflict", "Forbidden"}


def _bypasses(root: Path) -> list[str]:
    """Prints to stderr in cli/ outside cli/refusals.py, and handlers of a refusal that do not call ``tell``."""
    found: list[tuple[str, int, str]] = []
    for path in sorted((root / "cli").rglob("*.py")):
        if path.name == "refusals.py" and path.parent == root / "cli":
            continue
        tree = ast.parse(path.read_text("utf-8"))
        where = {
            id(node): f"{path.relative_to(root)}:{function.name}"
            for function in ast.walk(tree)
            if isinstance(function, ast.FunctionDef)
            for node in ast.walk(function)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                text = ast.unparse(node)
                to_stderr = "stderr" in text and (
                    any(k.arg == "file" for k in node.keywords) or text.startswith("sys.stderr.")
                )
                if to_stderr and where.get(id(node), str(path.relative_to(root))) not in NOT_REFUSALS:
                    found.append((str(path.relative_to(root)), node.lineno, text[:60]))
            if isinstance(node, ast.ExceptHandler) and node.type is not None:
                caught = {
                    n.id if isinstance(n, ast.Name) else n.attr
                    for n in ast.walk(node.type)
                    if isinstance(n, ast.Name | ast.Attribute)
                }
                said = any(
                    isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "tell"
                    for stmt in node.body
                    for n in ast.walk(stmt)
                )
                if caught & REFUSALS and not said:
                    found.append((str(path.relative_to(root)), node.lineno, f"except {ast.unparse(node.type)}"))
    return [f"{file}:{line} {what}" for file, line, what in sorted(found)]


def test_no_command_prints_a_refusal_around_the_one_function() -> None:
    assert _bypasses(ROOT) == []
    for place in NOT_REFUSALS:  # an exception that no longer exists is removed from the list
        file, function = place.split(":")
        assert f"def {function}(" in (ROOT / file).read_text("utf-8"), place


def test_the_check_finds_a_bypass(tmp_path: Path) -> None:
    (tmp_path / "cli").mkdir()
    (tmp_path / "cli" / "refusals.py").write_text('print("x", file=sys.stderr)\n', "utf-8")  # the one place
    (tmp_path / "cli" / "bad.py").write_text(
        "def cmd(settings):\n"
        "    try:\n"
        "        go()\n"
        "    except Invalid as exc:\n"
        '        print(f"error: {exc.message}", file=sys.stderr)\n'
        "    except BackupFailed as exc:\n"
        "        tell(settings, exc)\n"
        '    sys.stderr.write("refusing\\n")\n',
        "utf-8",
    )
    assert _bypasses(tmp_path) == [
        "cli/bad.py:4 except Invalid",
        "cli/bad.py:5 print(f'error: {exc.message}', file=sys.stderr)",
        "cli/bad.py:8 sys.stderr.write('refusing\\n')",
    ]


def test_settings_that_are_not_valid_are_named_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from engine.core.settings import get_settings

    get_settings.cache_clear()  # read from the environment below, not what an earlier test left
    monkeypatch.setattr("cli.main.get_settings", get_settings)
    monkeypatch.setenv("SHUBBAK_SCRIPT_SECONDS", "٢ ثانية")  # Arabic digits and a word: not a number
    monkeypatch.setenv("SHUBBAK_ENVIRONMENT", "staging")  # not one of the three
    monkeypatch.setenv("SHUBBAK_CLI_LANGUAGE", "ar")
    assert main(["migrate"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("خطأ [cli.bad_settings]: ") and "2" in err[0], err
    named = {line.split(": ", 1)[0].rsplit(" ", 1)[-1] for line in err[1:]}
    assert named == {"SHUBBAK_SCRIPT_SECONDS", "SHUBBAK_ENVIRONMENT"}, err
    assert all(ARABIC.search(line) for line in err) and "Traceback" not in "\n".join(err)
    # The language itself not valid: both languages, and it is one of the problems named.
    monkeypatch.setenv("SHUBBAK_CLI_LANGUAGE", "fr")
    assert main(["migrate"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("خطأ [cli.bad_settings]") and err[1].startswith("error [cli.bad_settings]")
    assert any("SHUBBAK_CLI_LANGUAGE" in line for line in err)


def test_a_file_that_cannot_be_read_is_named(
    cli: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _speak(monkeypatch, cli, "en")
    missing = tmp_path / "no such document.pdf"
    assert main(["documents", "verify", str(missing)]) == 1
    assert main(["documents", "verify", str(tmp_path)]) == 1  # a folder, not a file
    err = capsys.readouterr().err.splitlines()
    assert err[0] == f"error [cli.file_unreadable]: cannot read {missing}: No such file or directory", err
    assert err[1].startswith(f"error [cli.file_unreadable]: cannot read {tmp_path}: "), err
    assert len(err) == 2


def test_a_database_that_cannot_be_used_is_named_without_its_password(
    cli: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"postgresql+psycopg://shubbak:hunter2-secret@127.0.0.1:{free_port()}/postgres"  # nothing listens there
    monkeypatch.setattr("cli.main.get_settings",
                        lambda: cli.model_copy(update={"cli_language": "both", "database_url": url}))
    assert main(["migrate"]) == 1
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert lines[0].startswith("خطأ [cli.database_unreachable]: ") and lines[1].startswith(
        "error [cli.database_unreachable]: the database at postgresql+psycopg://***@127.0.0.1:"), err
    assert "hunter2" not in err and "Traceback" not in err


def test_a_progress_lines_reason_in_the_operators_language(cli: Settings) -> None:
    reason = say("cli.document_not_valid")
    both, english = cli.model_copy(update={"cli_language": "both"}), cli.model_copy(update={"cli_language": "en"})
    assert cli_refusals.status(both, "NOT VALID", reason).splitlines() == [
        "NOT VALID: عُدِّل الملف بعد توقيعه، أو لم توقّعه هذه المنظومة، أو لم يصدر",
        "           the file was changed after signing, is not signed by this installation, or is not issued"]
    assert cli_refusals.status(english, "NOT VALID", reason) == (
        "NOT VALID: the file was changed after signing, is not signed by this installation, or is not issued")
    assert cli_refusals.status(both, "       ok x") == "       ok x"  # passed: no reason
    assert cli_refusals.status(both, "FAILED", "a library's English") == "FAILED: a library's English"  # once
