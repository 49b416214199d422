"""Nothing the package prints, logs, raises, reports or stores shows a storage's password, and no
study name leads a file outside its study folder."""

from __future__ import annotations

import json
import logging
import subprocess
from pathlib import Path

import optuna
import pytest
from sqlalchemy.engine import make_url

from crystallize_opt.cli import main
from crystallize_opt.storage import display_storage

from . import servers

#: The password put into storage URLs (the test server trusts local connections, so any works).
PASSWORD = "S3cretPw1xyz"


def cli(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        servers.cli_command(*map(str, args)),
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
        env=servers.process_env(),
    )


def outside(root: Path, folder: Path) -> set[Path]:
    """Every path under ``root`` but outside ``folder``."""
    return {path for path in root.rglob("*") if path != folder and folder not in path.parents}


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "postgresql+psycopg://user:S3cretPw1xyz@db.example:5432/x",
            "postgresql+psycopg://user:***@db.example:5432/x",
        ),
        ("mysql+pymysql://root:p%40ss@127.0.0.1/test", "mysql+pymysql://root:***@127.0.0.1/test"),
        ("redis://:S3cretPw1xyz@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
        ("postgresql://db.example/x?password=S3cretPw1xyz", "postgresql://db.example/x?password=***"),
        ("sqlite:////tmp/study.db", "sqlite:////tmp/study.db"),
        ("journal:///study.log", "journal:///study.log"),
        ("postgresql+psycopg://user@db.example/x", "postgresql+psycopg://user@db.example/x"),
    ],
)
def test_display_storage_hides_the_password_and_keeps_the_rest(url: str, shown: str) -> None:
    assert display_storage(url) == shown


def test_a_storage_that_cannot_be_opened_is_named_without_its_password(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"postgresql+psycopg://postgres:{PASSWORD}@127.0.0.1:1/nowhere"  # nothing listens on port 1
    with caplog.at_level(logging.DEBUG, logger="crystallize_opt"):
        assert main(["studies", "--storage", url]) == 2
    captured = capsys.readouterr()
    assert "postgresql+psycopg://postgres:***@127.0.0.1:1/nowhere" in captured.err, captured.err
    assert PASSWORD not in captured.out + captured.err and PASSWORD not in caplog.text


@pytest.mark.slow  # every command in its own process, --workers 2 among them
def test_no_command_shows_the_database_password(tmp_path: Path) -> None:
    base = servers.server_url("postgres")
    parsed = make_url(base)
    secret = parsed.password or PASSWORD  # a server that checks passwords: its real one
    url = parsed.set(password=secret).render_as_string(hide_password=False)
    folder = servers.write_study(tmp_path / "tiny", trials=3)
    # The unreachable server is reported after outage_timeout (1 s) rather than the 15 s a run
    # gives a server that does not answer at its start: the same error, without the wait.
    impatient = servers.write_study(tmp_path / "impatient", trials=3, extra_yaml="  outage_timeout: 1\n")
    name = servers.unique_name("secret")
    reports = [tmp_path / "optimize-report.html", tmp_path / "report.html"]
    ok_calls: list[tuple[str | Path, ...]] = [
        ("optimize", folder, "--storage", url, "--study", name, "-q", "--report", reports[0]),
        ("worker", folder, "--storage", url, "--study", name, "--trials", "4", "-q"),
        (
            "optimize",
            folder,
            "--storage",
            url,
            "--study",
            name,
            "--trials",
            "6",
            "--workers",
            "2",
            "-q",
            "--no-report",
        ),
        ("best", "--storage", url, "--study", name),
        ("trials", "--storage", url, "--study", name),
        ("studies", "--storage", url),
        ("report", "--storage", url, "--study", name, "-o", reports[1]),
    ]
    error_calls: list[tuple[str | Path, ...]] = [
        ("best", "--storage", url, "--study", "no-such-study"),
        (
            "studies",
            "--storage",
            parsed.set(password=secret, database="crystallize_no_such_db").render_as_string(False),
        ),
        (
            "optimize",
            impatient,
            "--storage",
            parsed.set(password=secret, port=1).render_as_string(False),
            "-q",
        ),
        ("trials", "--storage", url.replace("+psycopg", "+nodriver", 1), "--study", name),
    ]
    try:
        written = []
        for call in ok_calls:
            result = cli("--debug", *call, cwd=tmp_path)  # --debug: every log record, down to DEBUG
            assert result.returncode == 0, (call[0], result.stderr[-2000:])
            written.append(result.stdout + result.stderr)
        for call in error_calls:
            plain = cli(*call, cwd=tmp_path)
            assert plain.returncode == 2, (call[0], plain.stderr[-2000:])
            assert ":***@" in plain.stderr, plain.stderr  # the storage is named, its password hidden
            debug = cli("--debug", *call, cwd=tmp_path)  # the traceback, with every chained error
            written += [plain.stdout + plain.stderr, debug.stdout + debug.stderr]
        shown = parsed.set(password=secret).render_as_string(hide_password=True)  # password: ***
        assert any(f"in {shown}" in text for text in written[:3]), "the summary names the storage"
        with servers.opened(base) as storage:
            study = optuna.load_study(study_name=name, storage=storage)
            stored = {
                "study": [study.user_attrs, storage.get_study_system_attrs(study._study_id)],
                "trials": [[t.user_attrs, t.system_attrs] for t in study.get_trials(deepcopy=False)],
            }
        written += [report.read_text() for report in reports]
        written.append(json.dumps(stored, default=str))
        leaks = [text for text in written if secret in text]
        assert not leaks, leaks[0][:3000]
    finally:
        servers.delete_study(base, name)


# -- study names used in file names -----------------------------------------------------------------


@pytest.mark.parametrize("where", ["option", "config"])
def test_a_study_name_never_puts_the_report_outside_the_folder(tmp_path: Path, where: str) -> None:
    name = "../../elsewhere/x"
    extra = f"  study_name: {name!r}\n" if where == "config" else ""
    folder = servers.write_study(tmp_path / "a" / "b" / "tiny", trials=2, extra_yaml=extra)
    option = ("--study", name) if where == "option" else ()
    before = outside(tmp_path, folder)
    result = cli("optimize", folder, *option, "-q", cwd=folder)
    assert result.returncode == 0, result.stderr
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("report: ")]
    report = Path(line.removeprefix("report: "))
    assert report.parent == folder and report.is_file()
    again = cli("report", folder, *option, cwd=folder)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == f"report: {report}"
    assert outside(tmp_path, folder) == before, "nothing written outside the study folder"
    chosen = tmp_path / "mine" / "r.html"  # an explicit path stays the user's choice
    explicit = cli("report", folder, *option, "-o", chosen, cwd=folder)
    assert explicit.returncode == 0 and chosen.is_file(), explicit.stderr


def test_a_study_name_without_a_folder_writes_the_report_in_the_working_directory(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store' / 'study.db'}"
    servers.tiny_experiment().optimize(servers.optimizer_for(url, "../x"), num_trials=2)
    work = tmp_path / "work" / "here"
    work.mkdir(parents=True)
    result = cli("report", "--storage", url, "--study", "../x", cwd=work)
    assert result.returncode == 0, result.stderr
    assert [path.name for path in work.iterdir()] == ["_x-report.html"]
    assert not (tmp_path / "work" / "x-report.html").exists()
