"""The history store: opening (and migrating) it, its scopes, reading packed results, pruning.

`open_store` takes what the profile's ``history.store`` says — a SQLite path
(relative to the profile's folder) or a ``postgresql://`` DSN — and returns a
`Store` whose schema is current, or raises (callers go through
`faults.guard`). Recording lives in `record.py`, queries in `queries.py`,
`rates.py` and `compare.py`.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import qaagent
from qaagent.history import schema
from qaagent.history.backends import Backend, PostgresBackend, SqliteBackend
from qaagent.history.dsn import is_dsn, password_for
from qaagent.history.faults import NoStoreError
from qaagent.history.model import canonical
from qaagent.history.packed import Packed

#: rows per ``IN (…)`` list (SQLite allows 32,766 parameters)
CHUNK = 500


def effective(alias: str = "") -> str:
    """The SQL condition of a run that counts (in windows, base-branch lookups, trends).

    A run counts when no merge superseded it and it was not cancelled.
    """
    prefix = f"{alias}." if alias else ""
    return f"{prefix}superseded_by IS NULL AND {prefix}status <> 'cancelled'"


@dataclass(frozen=True, slots=True)
class Scope:
    """Whose history: a project (the profile's `project.name`) in a repository (owner/name or "")."""

    project: str
    repository: str = ""


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    """`items` in slices of at most `size`."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def marks(count: int) -> str:
    """``?, ?, ?`` for `count` parameters."""
    return ", ".join("?" * count)


class Store:
    """An open, migrated store."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    @property
    def display(self) -> str:
        """The store as it may be printed (no password)."""
        return self.backend.display

    def close(self) -> None:
        """Close the connection."""
        self.backend.close()

    # -- schema ------------------------------------------------------------------------------

    def version(self) -> int:
        """The store's schema version (0: empty)."""
        if not self.backend.has_table("qa_schema_version"):
            return 0
        rows = self.backend.query("SELECT max(version) FROM qa_schema_version")
        return int(rows[0][0] or 0) if rows else 0

    def migrate(self) -> None:
        """Bring the schema up to date; refuse (and leave alone) a store of a newer qaagent."""
        if not schema.pending(self.version(), where=self.display):
            return
        with self.backend.writing("qaagent-history-schema"):
            self.backend.query(schema.VERSION_TABLE)
            current = self.version()  # another process may have migrated meanwhile
            for version in schema.pending(current, where=self.display):
                for statement in schema.statements(self.backend.dialect, version):
                    self.backend.query(statement)
                self.backend.query("DELETE FROM qa_schema_version")
                self.backend.query(
                    "INSERT INTO qa_schema_version (version, written_by) VALUES (?, ?)",
                    (version, f"qaagent {qaagent.__version__}"),
                )

    # -- scopes --------------------------------------------------------------------------------

    def project_id(self, scope: Scope, *, create: bool = False) -> int | None:
        """The row id of `scope` (created when asked), or None when nothing was recorded for it."""
        project, repository = canonical(scope.project), canonical(scope.repository)
        sql = "SELECT id FROM qa_projects WHERE project = ? AND repository = ?"
        rows = self.backend.query(sql, (project, repository))
        if rows or not create:
            return int(rows[0][0]) if rows else None
        self.backend.query(
            "INSERT INTO qa_projects (project, repository) VALUES (?, ?) ON CONFLICT DO NOTHING",
            (project, repository),
        )
        return int(self.backend.query(sql, (project, repository))[0][0])

    def scopes(self) -> list[Scope]:
        """Every (project, repository) with recorded runs."""
        rows = self.backend.query("SELECT project, repository FROM qa_projects ORDER BY project, repository")
        return [Scope(str(p), str(r)) for p, r in rows]

    # -- reading results -------------------------------------------------------------------------

    def results(self, runs: Sequence[int], *, durations: bool = False) -> dict[int, Packed]:
        """The packed results of `runs` (durations only when asked: they are a third of the bytes)."""
        found: dict[int, Packed] = {}
        third = "durations" if durations else "''"
        for part in chunks(list(runs), 50):
            for run, keys, outcomes, times in self.backend.query(
                f"SELECT run, keys, outcomes, {third} FROM qa_results WHERE run IN ({marks(len(part))})",  # noqa: S608
                part,
            ):
                blob = bytes(times) if durations else bytes(4 * (len(keys) // 8))
                found[int(run)] = Packed.load(bytes(keys), bytes(outcomes), blob)
        return found

    def keys(self, runs: Sequence[int]) -> dict[int, array[int]]:
        """Which tests each of `runs` had (its sorted key array)."""
        found: dict[int, array[int]] = {}
        for part in chunks(list(runs), 50):
            for run, keys in self.backend.query(
                f"SELECT run, keys FROM qa_results WHERE run IN ({marks(len(part))})",  # noqa: S608
                part,
            ):
                found[int(run)] = Packed.load(
                    bytes(keys), b"\x00" * (len(keys) // 4), b"\x00" * (len(keys) // 2)
                ).keys
        return found

    # -- pruning -------------------------------------------------------------------------------

    def prune(self, before: float) -> tuple[int, int]:
        """Delete runs that started before `before` (epoch) and the tests no remaining run has."""
        with self.backend.writing("qaagent-history-prune"):
            old = [
                row[0] for row in self.backend.query("SELECT id FROM qa_runs WHERE started_at < ?", (before,))
            ]
            for part in chunks(old):
                where = f"IN ({marks(len(part))})"
                for table in ("qa_results", "qa_problems", "qa_run_units", "qa_run_parts"):
                    self.backend.query(f"DELETE FROM {table} WHERE run {where}", part)  # noqa: S608
                unlink = f"UPDATE qa_runs SET superseded_by = NULL WHERE superseded_by {where}"  # noqa: S608
                self.backend.query(unlink, part)
                self.backend.query(f"DELETE FROM qa_runs WHERE id {where}", part)  # noqa: S608
            removed = 0
            for (project,) in self.backend.query("SELECT id FROM qa_projects"):
                runs = [
                    r
                    for (r,) in self.backend.query("SELECT id FROM qa_runs WHERE project_id = ?", (project,))
                ]
                kept: set[int] = set()
                for packed in self.results(runs).values():
                    kept.update(packed.keys)
                stale = [
                    int(k)
                    for (k,) in self.backend.query(
                        "SELECT test FROM qa_tests WHERE project_id = ?", (project,)
                    )
                    if int(k) not in kept
                ]
                for part in chunks(stale):
                    self.backend.query(
                        f"DELETE FROM qa_tests WHERE project_id = ? AND test IN ({marks(len(part))})",  # noqa: S608
                        (project, *part),
                    )
                removed += len(stale)
                if not runs:
                    self.backend.query("DELETE FROM qa_projects WHERE id = ?", (project,))
        self.backend.compact()
        return len(old), removed


def open_store(
    store: str,
    *,
    base_dir: Path,
    create: bool = True,
    environ: dict[str, str] | None = None,
    busy_timeout: float | None = None,
    statement_timeout: float | None = None,
) -> Store:
    """Open (and migrate) the store named by a settings' `store`: a SQLite path or a DSN.

    `busy_timeout` (SQLite) and `statement_timeout` (PostgreSQL) replace the
    defaults (`backends.SQLITE_BUSY_TIMEOUT`, `backends.PG_STATEMENT_TIMEOUT`).
    Raises the driver's errors or `HistoryError`; callers use `faults.guard`.
    """
    backend: Backend
    if is_dsn(store):
        backend = PostgresBackend(
            store, password=password_for(store, environ), statement_timeout=statement_timeout
        )
    else:
        path = Path(store).expanduser()
        path = path if path.is_absolute() else base_dir / path
        backend = SqliteBackend(path, create=create, busy_timeout=busy_timeout)
    opened = Store(backend)
    try:
        _check_and_migrate(opened, create=create)
    except BaseException:
        backend.close()
        raise
    return opened


def _check_and_migrate(opened: Store, *, create: bool) -> None:
    if not create and opened.version() == 0:
        raise NoStoreError(f"{opened.display} holds no qaagent history")
    opened.migrate()
