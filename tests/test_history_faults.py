"""Faults of the history store: each is one `HistoryUnavailable` warning, never an exception.

A locked, corrupt or read-only SQLite file; a PostgreSQL server that is not
there, never answers, is too slow, or refuses the credentials; a store of a
newer schema; a missing driver; a bug in what is recorded. Real processes
hold the locks, a real server answers (or a real socket does not), and no
message, repr or log line carries the password.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pg_server
import pytest
from conftest import ROOT, free_port, skip_unless_ready
from history_support import SCOPE, locked, passing, result, run
from test_corpus_github import silent_server as _silent_server  # noqa: F401 - the fixture (accepts, never answers)

from qaagent.history import schema
from qaagent.history.api import History
from qaagent.history.faults import HistoryUnavailable
from qaagent.history.model import ResultRecord
from qaagent.history.rates import Quarantine
from qaagent.history.record import Recorded
from qaagent.history.settings import HistorySettings
from qaagent.history.store import Store, open_store


def sqlite_history(path: Path, busy_timeout: float | None = None) -> History:
    opened = History.open(HistorySettings(store=str(path)), base_dir=path.parent, busy_timeout=busy_timeout)
    assert isinstance(opened, History), opened
    return opened


def seeded(path: Path) -> None:
    history = sqlite_history(path)
    assert isinstance(history.record(run(1), passing(5)), Recorded)
    history.close()


# -- SQLite ----------------------------------------------------------------------------------------


def test_a_locked_sqlite_file_is_one_warning(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite"
    seeded(path)
    with locked(path, seconds=30):
        history = sqlite_history(path, busy_timeout=0.5)
        started = time.monotonic()
        outcome = history.record(run(2), passing(5))
        assert time.monotonic() - started < 10
        assert isinstance(outcome, HistoryUnavailable)
        assert outcome.message == f"history: cannot record this run: database is locked ({path})"
        # reading still works while another process writes (WAL)
        durations = history.durations(SCOPE, branch="main")
        assert not isinstance(durations, HistoryUnavailable)
        history.close()
    history = sqlite_history(path)
    assert isinstance(history.record(run(2), passing(5)), Recorded)  # nothing was left half-written
    history.close()


def test_a_corrupt_sqlite_file_is_one_warning(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(os.urandom(8192))
    opened = History.open(HistorySettings(store=str(garbage)), base_dir=tmp_path)
    assert isinstance(opened, HistoryUnavailable)
    assert opened.message == f"history: cannot open the history store: file is not a database ({garbage})"
    assert garbage.read_bytes()[:16] != b"SQLite format 3\x00"  # left as it was

    damaged = tmp_path / "damaged.sqlite"
    seeded(damaged)
    for _ in range(3):
        record = sqlite_history(damaged)
        record.record(run(10 + _), passing(2000))
        record.close()
    data = bytearray(damaged.read_bytes())
    data[4096 * 2 : 4096 * 6] = os.urandom(4096 * 4)  # pages in the middle, header intact
    damaged.write_bytes(bytes(data))
    outcomes: list[object] = []
    opened = History.open(HistorySettings(store=str(damaged)), base_dir=tmp_path)
    outcomes.append(opened)
    if isinstance(opened, History):
        outcomes.append(opened.durations(SCOPE, branch="main"))
        outcomes.append(opened.record(run(20), passing(10)))
        opened.close()
    problems = [o for o in outcomes if isinstance(o, HistoryUnavailable)]
    assert problems, outcomes
    assert all("malformed" in p.reason or "not a database" in p.reason for p in problems), problems


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """Make a folder and its files unwritable — for root too (the immutable attribute)."""
    files = [folder, *folder.iterdir()]
    if os.geteuid() == 0:
        if shutil.which("chattr") is None:
            skip_unless_ready(["chattr (e2fsprogs) is needed to make a file read-only for root"])
        subprocess.run(["chattr", "+i", *map(str, files)], check=True)
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", *map(str, files)], check=True)
    else:
        modes = {p: p.stat().st_mode for p in files}
        for path in files:
            path.chmod(0o555 if path.is_dir() else 0o444)
        try:
            yield
        finally:
            for path, mode in modes.items():
                path.chmod(mode)


def test_a_read_only_store_is_one_warning(tmp_path: Path) -> None:
    folder = tmp_path / "store"
    folder.mkdir()
    path = folder / "history.sqlite"
    seeded(path)
    with read_only(folder):
        with pytest.raises(OSError):  # noqa: PT011 - the sanity check: this really is read-only
            (folder / "probe").write_text("x")
        opened = History.open(HistorySettings(store=str(path)), base_dir=tmp_path)
        if isinstance(opened, History):
            outcome = opened.record(run(2), passing(5))
            opened.close()
        else:
            outcome = opened
    assert isinstance(outcome, HistoryUnavailable)
    assert "readonly" in outcome.reason or "unable to open" in outcome.reason, outcome


def test_a_store_in_a_folder_that_cannot_be_made_is_one_warning(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    opened = History.open(HistorySettings(store=str(tmp_path / "file" / "h.sqlite")), base_dir=tmp_path)
    assert isinstance(opened, HistoryUnavailable)
    assert "File exists" in opened.reason or "Not a directory" in opened.reason


# -- schema versions ---------------------------------------------------------------------------------


def test_a_store_of_a_newer_schema_is_refused_and_left_alone(store_url: str, tmp_path: Path) -> None:
    store = open_store(store_url, base_dir=tmp_path)
    store.backend.query("UPDATE qa_schema_version SET version = ?", (schema.SCHEMA_VERSION + 7,))
    tables_before = _tables(store)
    store.close()
    before = Path(store_url).read_bytes() if not store_url.startswith("postgresql") else b""
    opened = History.open(HistorySettings(store=store_url), base_dir=tmp_path)
    assert isinstance(opened, HistoryUnavailable)
    assert opened.cause == "newer-schema"
    assert f"has schema version {schema.SCHEMA_VERSION + 7}, newer than this qaagent's" in opened.message
    assert "not used, not changed" in opened.message
    if before:
        assert Path(store_url).read_bytes() == before
    check = _raw(store_url, tmp_path)
    assert check.version() == schema.SCHEMA_VERSION + 7
    assert _tables(check) == tables_before
    check.close()


def _raw(store_url: str, tmp_path: Path) -> Store:
    from qaagent.history.backends import PostgresBackend, SqliteBackend  # noqa: PLC0415
    from qaagent.history.dsn import password_for  # noqa: PLC0415

    if store_url.startswith("postgresql"):
        return Store(PostgresBackend(store_url, password=password_for(store_url, {})))
    return Store(SqliteBackend(Path(store_url), create=False))


def _tables(store: Store) -> list[str]:
    backend = store.backend
    if backend.dialect == "sqlite":
        rows = backend.query("SELECT name FROM sqlite_master WHERE type IN ('table', 'index') ORDER BY name")
    else:
        rows = backend.query("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")
    return [str(r[0]) for r in rows]


def test_migrations_run_forward_once_and_are_recorded(
    store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(store_url, base_dir=tmp_path)
    assert store.version() == schema.SCHEMA_VERSION
    rows = store.backend.query("SELECT version, written_by FROM qa_schema_version")
    assert [tuple(r) for r in rows] == [
        (schema.SCHEMA_VERSION, f"qaagent {__import__('qaagent').__version__}")
    ]
    from qaagent.history.record import record  # noqa: PLC0415

    record(store, run(1), passing(3))
    store.close()
    store = open_store(store_url, base_dir=tmp_path)  # reopening changes nothing
    assert store.version() == schema.SCHEMA_VERSION
    store.close()
    upgraded = {**schema.MIGRATIONS, schema.SCHEMA_VERSION + 1: ["ALTER TABLE qa_runs ADD COLUMN note TEXT"]}
    monkeypatch.setattr(schema, "MIGRATIONS", upgraded)
    store = open_store(store_url, base_dir=tmp_path)
    assert store.version() == schema.SCHEMA_VERSION + 1
    assert (
        store.backend.query("SELECT run_id, note FROM qa_runs")[0][1] is None
    )  # the column is there, data kept
    store.close()
    monkeypatch.setattr(
        schema, "MIGRATIONS", {k: v for k, v in upgraded.items() if k <= schema.SCHEMA_VERSION}
    )
    refused = History.open(HistorySettings(store=store_url), base_dir=tmp_path)
    assert isinstance(refused, HistoryUnavailable)
    assert refused.cause == "newer-schema"


# -- PostgreSQL --------------------------------------------------------------------------------------

PASSWORD = "Pa55-w0rd:with@odd/chars"  # noqa: S105 - a test password
#: the password as a DSN carries it (percent-encoded)
ENCODED = quote(PASSWORD, safe="")


def assert_no_secret(*texts: object) -> None:
    for text in texts:
        for form in (PASSWORD, ENCODED, "Pa55", "w0rd", "odd/chars"):
            assert form not in str(text), text


def test_an_unreachable_server_is_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    port = free_port()
    dsn = f"postgresql://qa:{ENCODED}@127.0.0.1:{port}/qa"
    settings = HistorySettings(store=dsn)
    started = time.monotonic()
    opened = History.open(settings, base_dir=Path.cwd())
    assert time.monotonic() - started < 10
    assert isinstance(opened, HistoryUnavailable)
    assert opened.message.startswith("history: cannot open the history store: connection failed")
    assert "refused" in opened.message
    assert f"postgresql://qa:***@127.0.0.1:{port}/qa" in opened.message
    assert_no_secret(opened, repr(opened), settings, repr(settings), caplog.text)


@pytest.fixture
def silent_port(request: pytest.FixtureRequest) -> int:
    """A port that accepts connections and never answers (the GitHub corpus's silent server)."""
    url: str = request.getfixturevalue("_silent_server")
    return int(url.rsplit(":", 1)[1])


def test_a_server_that_never_answers_times_out(silent_port: int) -> None:
    dsn = f"postgresql://qa@127.0.0.1:{silent_port}/qa?connect_timeout=2"
    started = time.monotonic()
    opened = History.open(
        HistorySettings(store=dsn), base_dir=Path.cwd(), environ={"QAAGENT_HISTORY_PASSWORD": PASSWORD}
    )
    took = time.monotonic() - started
    assert isinstance(opened, HistoryUnavailable)
    assert "timeout expired" in opened.message
    assert 1.5 < took < 15
    assert_no_secret(opened)


def test_wrong_credentials_are_one_warning_without_the_password(
    pg_cluster: pg_server.Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = pg_cluster.dsn("postgres", password=ENCODED)
    opened = History.open(HistorySettings(store=wrong), base_dir=Path.cwd())
    assert isinstance(opened, HistoryUnavailable)
    assert 'password authentication failed for user "qa"' in opened.message
    # the environment's password wins over the DSN's, and is never shown either
    also = History.open(
        HistorySettings(store=pg_cluster.bare_dsn("postgres")),
        base_dir=Path.cwd(),
        environ={"QAAGENT_HISTORY_PASSWORD": PASSWORD},
    )
    assert isinstance(also, HistoryUnavailable)
    assert "password authentication failed" in also.message
    assert_no_secret(opened, also, caplog.text)
    right = History.open(
        HistorySettings(store=pg_cluster.bare_dsn(pg_cluster.new_database())),
        base_dir=Path.cwd(),
        environ={"QAAGENT_HISTORY_PASSWORD": pg_cluster.password},
    )
    assert isinstance(right, History)
    assert pg_cluster.password not in right.store.display
    right.close()


def test_a_role_without_write_permission_is_one_warning(
    pg_cluster: pg_server.Cluster, tmp_path: Path
) -> None:
    database = pg_cluster.new_database()
    seeded_store = open_store(pg_cluster.dsn(database), base_dir=tmp_path)
    seeded_store.close()
    pg_cluster.sql("GRANT SELECT ON ALL TABLES IN SCHEMA public TO reader", database)
    reader = History.open(
        HistorySettings(store=f"postgresql://reader:reader-pw@127.0.0.1:{pg_cluster.port}/{database}"),
        base_dir=tmp_path,
    )
    assert isinstance(reader, History)
    assert not isinstance(reader.durations(SCOPE, branch="main"), HistoryUnavailable)  # reading is allowed
    outcome = reader.record(run(1), passing(3))
    reader.close()
    assert isinstance(outcome, HistoryUnavailable)
    assert "permission denied" in outcome.reason
    assert "reader-pw" not in outcome.message


def test_a_slow_statement_hits_the_statement_timeout(pg_cluster: pg_server.Cluster, tmp_path: Path) -> None:
    import psycopg  # noqa: PLC0415

    database = pg_cluster.new_database()
    dsn = pg_cluster.dsn(database)
    open_store(dsn, base_dir=tmp_path).close()
    with psycopg.connect(dsn) as blocker:  # a transaction holding the table: every writer must wait
        blocker.execute("LOCK TABLE qa_runs IN ACCESS EXCLUSIVE MODE")
        history = History.open(HistorySettings(store=dsn), base_dir=tmp_path, statement_timeout=1.0)
        if isinstance(history, History):
            started = time.monotonic()
            outcome = history.record(run(1), passing(3))
            took = time.monotonic() - started
            history.close()
        else:
            outcome, took = history, 0.0
        blocker.rollback()
    assert isinstance(outcome, HistoryUnavailable)
    assert "canceling statement due to statement timeout" in outcome.reason
    assert took < 10
    assert_no_secret(outcome)


def test_without_psycopg_a_postgresql_store_is_one_warning(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import sys
        sys.modules["psycopg"] = None  # as if the `postgres` extra were not installed
        from pathlib import Path
        from qaagent.history.api import History
        from qaagent.history.settings import HistorySettings
        print(History.open(HistorySettings(store="postgresql://qa:pw@127.0.0.1:1/qa"), base_dir=Path(".")))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert done.stdout.strip() == (
        "history: cannot open the history store: a PostgreSQL history store needs psycopg, qaagent's "
        "postgres extra: pip install --require-hashes -r requirements-postgres.txt of your qaagent release "
        "(postgresql://qa:***@127.0.0.1:1/qa)"
    )


# -- our own bugs --------------------------------------------------------------------------------------


def test_a_failure_while_recording_changes_nothing(store_url: str, tmp_path: Path) -> None:
    history = History.open(HistorySettings(store=store_url), base_dir=tmp_path)
    assert isinstance(history, History)
    history.record(run(1), passing(3))

    def broken() -> Iterator[ResultRecord]:
        yield result("fine")
        msg = "a result that cannot be read"
        raise TypeError(msg)

    outcome = history.record(run(2), broken())
    assert isinstance(outcome, HistoryUnavailable)
    assert outcome.reason.startswith("internal error: TypeError: a result that cannot be read")
    found = history.durations(SCOPE, branch="main")
    assert not isinstance(found, HistoryUnavailable)
    assert "1 run(s)" in found.source
    history.close()


def quarantine_of(settings: HistorySettings, tmp_path: Path) -> Quarantine:
    opened = History.open(
        settings.model_copy(update={"store": str(tmp_path / "h.sqlite")}), base_dir=tmp_path
    )
    assert isinstance(opened, History), opened
    found = opened.quarantine(SCOPE, branch="main")
    opened.close()
    assert not isinstance(found, HistoryUnavailable), found
    return found


def test_the_quarantine_list_and_off_modes(tmp_path: Path) -> None:
    listing = tmp_path / "quarantine.txt"
    listing.write_text(
        '# flaky on CI\nunit::tests.test_mod::test_a\n"unit::tests.test_mod::two\\nlines"\nnot an id\n\n'
    )
    settings = HistorySettings(quarantine="list", quarantine_file=str(listing))
    found = quarantine_of(settings, tmp_path)
    from qaagent.history.model import TestId  # noqa: PLC0415

    assert TestId.of("unit", "tests.test_mod", "test_a") in found
    assert TestId.of("unit", "tests.test_mod", "two\nlines") in found
    assert len(found) == 2
    assert found.notes == (f"quarantine list {listing}: line 4 is not suite::classname::name ids",)
    missing = quarantine_of(HistorySettings(quarantine="list"), tmp_path)
    assert len(missing) == 0
    assert missing.notes == (
        f"quarantine list {tmp_path / '.qaagent/quarantine.txt'} not found: nothing is quarantined",
    )
    assert len(quarantine_of(HistorySettings(quarantine="off"), tmp_path)) == 0


def test_a_bad_byte_in_the_quarantine_list_drops_only_its_line(tmp_path: Path) -> None:
    from qaagent.history.model import TestId  # noqa: PLC0415

    listing = tmp_path / "quarantine.txt"
    listing.write_bytes(b"\xff\xfe garbage\nunit::tests.test_mod::test_a\nnot an id\nalso bad\n")
    found = quarantine_of(HistorySettings(quarantine="list", quarantine_file=str(listing)), tmp_path)
    assert TestId.of("unit", "tests.test_mod", "test_a") in found
    assert len(found) == 1
    assert found.notes == (
        f"quarantine list {listing}: line 1 is not UTF-8 (left out)",
        f"quarantine list {listing}: 2 lines (3, 4) are not suite::classname::name ids",
    )


@pytest.mark.parametrize("kind", ["fifo", "zero"])
def test_a_quarantine_list_that_is_a_fifo_or_dev_zero_is_refused_unread(tmp_path: Path, kind: str) -> None:
    # session 23 (issue 12): a FIFO blocked the read for good; a link to /dev/zero (a repository
    # can hold one) passed the size check (0 bytes) and was read until memory ran out
    listing = tmp_path / "quarantine.txt"
    if kind == "fifo":
        os.mkfifo(listing)
    else:
        listing.symlink_to("/dev/zero")
    found = quarantine_of(HistorySettings(quarantine="list", quarantine_file=str(listing)), tmp_path)
    assert len(found) == 0
    [note] = found.notes
    assert note.startswith(f"quarantine list {listing} cannot be read"), note
    assert "nothing is quarantined" in note
