"""Fixtures and builders for the history tests (no test here).

`store_url` is parametrised over both backends: a SQLite file in the test's
folder, and a fresh database in one throw-away PostgreSQL cluster per session
(`pg_server`; skipped with the reason on a laptop without PostgreSQL, failed
when `CI=true`). Test modules import the fixtures they use from here.
"""

from __future__ import annotations

import contextlib
import itertools
import subprocess
import sys
import textwrap
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pg_server
import pytest
from conftest import skip_unless_ready

from qaagent.history.model import ResultRecord, RunRecord, RunRef
from qaagent.history.store import Scope, Store, open_store

T0 = 1_714_564_800.0  # 2024-05-01T12:00:00Z
SCOPE = Scope("shop", "o/r")
_counter = itertools.count(1)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[pg_server.Cluster]:
    """One throw-away PostgreSQL cluster for the whole session."""
    skip_unless_ready(pg_server.problems())
    with pg_server.running() as cluster:
        yield cluster


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A store of each backend: a SQLite path, or the DSN of a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "history.sqlite")
    cluster: pg_server.Cluster = request.getfixturevalue("pg_cluster")
    return cluster.dsn(cluster.new_database())


@pytest.fixture
def store(store_url: str, tmp_path: Path) -> Iterator[Store]:
    """An open, migrated store of each backend."""
    opened = open_store(store_url, base_dir=tmp_path)
    try:
        yield opened
    finally:
        opened.close()


def iso(epoch: float) -> str:
    """The manifest's form of a time."""
    from qaagent.evidence.manifest import iso_utc  # noqa: PLC0415

    text = iso_utc(epoch)
    assert text is not None
    return text


def run(
    number: int | None = None,
    *,
    branch: str = "main",
    commit: str | None = None,
    at: float | None = None,
    shard: str = "",
    status: str = "success",
    merged_from: Sequence[RunRecord] = (),
    suites: dict[str, float] | None = None,
    **extra: Any,
) -> RunRecord:
    """A run of project `shop` in `o/r`, numbered (start time = T0 + number minutes)."""
    number = next(_counter) + 1000 if number is None else number
    started = T0 + 60 * number if at is None else at
    return RunRecord(
        run_id=f"20240501_{number:06d}Z" + (f"_shard-{shard.replace('/', 'of')}" if shard else ""),
        project=SCOPE.project,
        repository=SCOPE.repository,
        started=iso(started),
        started_at=started,
        finished_at=started + 30,
        commit=commit if commit is not None else f"c{number:04d}",
        branch=branch,
        shard=shard,
        status=status,
        merged_from=tuple(RunRef(r.run_id, r.started) for r in merged_from),
        suite_durations=suites if suites is not None else {},
        **extra,
    )


def result(
    name: str,
    status: str = "passed",
    *,
    suite: str = "unit",
    classname: str = "tests.test_mod",
    duration: float = 0.1,
    file: str | None = "tests/test_mod.py",
    attempts: int = 1,
    flaky: bool = False,
) -> ResultRecord:
    """One result."""
    return ResultRecord(suite, classname, name, status, duration, file, attempts, flaky)  # type: ignore[arg-type]


def passing(count: int, **extra: Any) -> list[ResultRecord]:
    """`count` passing tests test_0000…"""
    return [result(f"test_{i:04d}", **extra) for i in range(count)]


@contextlib.contextmanager
def locked(path: Path, seconds: float = 90) -> Iterator[None]:
    """A child process holds the SQLite file's write lock (BEGIN EXCLUSIVE) meanwhile."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sqlite3, time
                conn = sqlite3.connect({str(path)!r}, isolation_level=None)
                conn.execute("BEGIN EXCLUSIVE")
                print("locked", flush=True)
                time.sleep({seconds})
                """
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        yield
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
