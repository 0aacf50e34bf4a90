"""The two stores behind one small interface: SQLite (standard library) and PostgreSQL (psycopg 3).

Queries are written once, with ``?`` placeholders, and run on either
backend; the backends differ only in how they connect, lock, bulk-insert and
look up tables:

- **SQLite**: WAL journal (readers never wait for the writer), a busy timeout
  (a writer waits that long for another before giving up), ``BEGIN IMMEDIATE``
  for the one writer transaction per recorded run (writers queue instead of
  deadlocking), ``executemany`` for bulk rows.
- **PostgreSQL**: a connect timeout (a server that never answers), a
  statement timeout (a server that is slow or a lock that is held), one
  transaction per recorded run holding a transaction-scoped advisory lock per
  project (so two shards and a merge writing at once are serialised, and a
  merge and its shards can never miss each other), ``COPY`` for bulk rows.
"""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from itertools import islice
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from qaagent.history.dsn import mask, split_password
from qaagent.history.faults import HistoryError, NoStoreError

if TYPE_CHECKING:
    from array import array

#: how long a SQLite writer waits for another writer before giving up (seconds)
SQLITE_BUSY_TIMEOUT = 15.0
#: how long to wait for a PostgreSQL server to accept the connection (seconds; libpq's minimum is 2)
PG_CONNECT_TIMEOUT = 5
#: longest a PostgreSQL statement (or the wait for the project's write lock) may take (seconds)
PG_STATEMENT_TIMEOUT = 30.0

Row = tuple[Any, ...]


class Backend(ABC):
    """A connection to one store."""

    #: "sqlite" or "postgresql": which column types and statements to use
    dialect: str
    #: the store as it may be printed (no password)
    display: str
    #: texts to scrub from every message (the password)
    secrets: tuple[str, ...] = ()

    @abstractmethod
    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Run one statement and return its rows."""

    @abstractmethod
    def insert_many(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        """Insert many rows into `table` (inside the current transaction)."""

    def insert_in_order(
        self,
        table: str,
        columns: Sequence[str],
        rows: Callable[[], Iterable[Sequence[Any]]],
        *,
        key: str,
        batch: int,
    ) -> None:
        """Insert the rows `rows()` gives (any order; no `key` twice), filling `table` in `key` order.

        `rows` is called again when a way of inserting cannot finish (SQLite without its
        temporary storage). Here (PostgreSQL): `batch` rows at a time, each batch sorted by `key`.
        """
        at = list(columns).index(key)
        given = iter(rows())
        while part := sorted(islice(given, batch), key=itemgetter(at)):
            self.insert_many(table, columns, part)

    def insert_blobs(
        self,
        table: str,
        columns: Sequence[str],
        values: Sequence[Any],
        blobs: Mapping[str, array[int] | bytes],
    ) -> None:
        """Insert one row: `values` of `columns`, and each of `blobs` (column → a buffer of its bytes)."""
        self.insert_many(table, [*columns, *blobs], [(*values, *map(bytes, blobs.values()))])

    @abstractmethod
    def has_table(self, name: str) -> bool:
        """Whether the table exists."""

    @abstractmethod
    @contextmanager
    def writing(self, lock: str) -> Iterator[None]:
        """One writer transaction; writers of the same `lock` never overlap."""

    @abstractmethod
    @contextmanager
    def reading(self) -> Iterator[None]:
        """One read transaction (a consistent snapshot)."""

    def compact(self) -> None:  # noqa: B027 - a no-op unless the backend needs it
        """Give the space of deleted rows back (outside a transaction)."""

    @contextmanager
    def filling(self) -> Iterator[None]:
        """While many rows are inserted in the current transaction: hold a bounded part of them in memory."""
        yield

    @abstractmethod
    def close(self) -> None:
        """Close the connection (never raises)."""


def _lock_number(lock: str) -> int:
    return int.from_bytes(hashlib.blake2b(lock.encode(), digest_size=8).digest(), "big", signed=True)


#: SQLite's page cache (KiB): 64 MiB, so that the results index stays in memory for the lookups
_CACHE = "PRAGMA cache_size=-65536"
#: SQLite's page cache while a table is filled (`SqliteBackend.filling`): 4 MiB
_FILL_CACHE = "PRAGMA cache_size=-4096"
#: bytes of a blob written at a time (`SqliteBackend.insert_blobs`)
_BLOB_PIECE = 1 << 18


class SqliteBackend(Backend):
    """A SQLite file."""

    dialect = "sqlite"

    def __init__(self, path: Path, *, create: bool = True, busy_timeout: float | None = None) -> None:
        self.display = str(path)
        if path.is_dir():
            raise HistoryError(f"{path} is a folder, not a history file")
        if not create and not path.is_file():
            raise NoStoreError(f"no history store at {path}")
        path.parent.mkdir(parents=True, exist_ok=True)
        #: SQLite could not use its temporary storage on this connection (`insert_in_order`)
        self._no_temporary_storage = False
        self._conn = sqlite3.connect(
            str(path),
            timeout=SQLITE_BUSY_TIMEOUT if busy_timeout is None else busy_timeout,
            isolation_level=None,
            check_same_thread=False,
        )
        try:
            # On a read-only file this fails: reading still works, and a write will say why it cannot.
            with contextlib.suppress(sqlite3.OperationalError):
                self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute(_CACHE)  # 64 MiB: the results index stays in memory
            self._conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # a corrupt file fails here
        except BaseException:
            self._conn.close()
            raise

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Run one statement and return its rows."""
        return self._conn.execute(sql, tuple(params)).fetchall()

    def insert_many(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        """Insert many rows into `table`."""
        marks = ", ".join("?" for _ in columns)
        self._conn.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)  # noqa: S608 - our own names

    def insert_in_order(
        self,
        table: str,
        columns: Sequence[str],
        rows: Callable[[], Iterable[Sequence[Any]]],
        *,
        key: str,
        batch: int,
    ) -> None:
        """Insert the rows `rows()` gives (any order; no `key` twice), filling `table` in `key` order.

        Here SQLite sorts them: the rows go into a temporary table (its own file, SQLite's
        temporary directory, dropped at the end), then one ``INSERT … SELECT … ORDER BY``
        fills `table` in key order — SQLite's sorter spills to temporary files beyond its
        cache, so neither the rows nor their order are held in memory, and the table's
        B-tree is filled in order rather than page by page at random.

        Where SQLite has no temporary storage (no writable `SQLITE_TMPDIR`, `TMPDIR`,
        ``/var/tmp``, ``/tmp`` or current folder: "unable to open database file"), the
        statement that needed it fails alone and the run's transaction stays open: then the
        rows are asked for again and inserted `batch` at a time, each batch sorted (as on
        PostgreSQL; slower, no temporary file). A failure that ended the transaction is raised.
        """
        if self._no_temporary_storage:
            super().insert_in_order(table, columns, rows, key=key, batch=batch)
            return
        names = ", ".join(columns)
        try:
            self._conn.execute("DROP TABLE IF EXISTS temp.qa_filling")  # one a failed drop left
            self._conn.execute(f"CREATE TEMP TABLE qa_filling ({names})")
            try:
                self.insert_many("temp.qa_filling", columns, rows())
                self._conn.execute(
                    f"INSERT INTO {table} ({names}) SELECT {names} FROM temp.qa_filling ORDER BY {key}"  # noqa: S608 - our own names
                )
            finally:
                with contextlib.suppress(sqlite3.Error):  # never hides the error that got here
                    self._conn.execute("DROP TABLE temp.qa_filling")
        except sqlite3.OperationalError:
            if not self._conn.in_transaction:  # SQLite rolled the whole transaction back: nothing to add to
                raise
            # The connection's temporary database is unusable from here on: the next transaction
            # starts with a fresh one in memory (`writing`), and the temporary table is not tried again.
            self._no_temporary_storage = True
            super().insert_in_order(table, columns, rows, key=key, batch=batch)

    def insert_blobs(
        self,
        table: str,
        columns: Sequence[str],
        values: Sequence[Any],
        blobs: Mapping[str, array[int] | bytes],
    ) -> None:
        """Insert one row, its blobs written in pieces (SQLite's incremental blob I/O), never copied whole.

        The row goes in with zero-filled blobs of the right sizes (`table` has a rowid),
        then each blob is written `_BLOB_PIECE` bytes at a time from its buffer: no
        `bytes` copy of it, and no second copy bound into the statement.
        """
        views = [memoryview(b).cast("B") for b in blobs.values()]
        names = ", ".join([*columns, *blobs])
        marks = ", ".join(["?"] * len(columns) + ["zeroblob(?)"] * len(views))
        cursor = self._conn.execute(
            f"INSERT INTO {table} ({names}) VALUES ({marks})",  # noqa: S608 - our own names
            (*values, *(v.nbytes for v in views)),
        )
        row = cursor.lastrowid
        assert row is not None  # noqa: S101 - an INSERT sets it
        for column, view in zip(blobs, views, strict=True):
            with self._conn.blobopen(table, column, row) as blob:
                for at in range(0, len(view), _BLOB_PIECE):
                    blob.write(view[at : at + _BLOB_PIECE])

    @contextmanager
    def filling(self) -> Iterator[None]:
        """A small page cache meanwhile: dirty pages beyond it spill to the WAL, not held until the commit.

        Only in WAL mode. A store the open could not switch to WAL (another connection held it
        then) keeps its rollback journal, where each spill needs the file's exclusive lock: with
        a reader holding a read transaction every spill would wait out the busy timeout again,
        a record that hangs instead of failing once. There the cache stays as it is.
        """
        (mode,) = self._conn.execute("PRAGMA journal_mode").fetchone()
        if str(mode).lower() != "wal":
            yield
            return
        self._conn.execute(_FILL_CACHE)
        try:
            yield
        finally:
            self._conn.execute(_CACHE)

    def has_table(self, name: str) -> bool:
        """Whether the table exists."""
        return bool(self.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)))

    @contextmanager
    def writing(self, lock: str) -> Iterator[None]:  # noqa: ARG002 - SQLite locks the whole file
        """One writer transaction: BEGIN IMMEDIATE waits (busy timeout) for the other writer."""
        if self._no_temporary_storage:  # a new temporary database (changing temp_store drops the old one)
            self._conn.execute("PRAGMA temp_store=MEMORY")
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        try:
            self._conn.execute("COMMIT")
        except BaseException:  # a COMMIT that failed (the file locked) leaves the transaction open
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("ROLLBACK")
            raise

    @contextmanager
    def reading(self) -> Iterator[None]:
        """One read transaction."""
        if self._no_temporary_storage:  # as in `writing`
            self._conn.execute("PRAGMA temp_store=MEMORY")
        self._conn.execute("BEGIN")
        try:
            yield
        finally:
            self._conn.execute("COMMIT")

    def compact(self) -> None:
        """Give the space of deleted rows back."""
        self._conn.execute("VACUUM")

    def close(self) -> None:
        """Close the connection (never raises)."""
        with contextlib.suppress(sqlite3.Error):
            self._conn.close()


class PostgresBackend(Backend):
    """A PostgreSQL database (psycopg 3, the `postgres` extra)."""

    dialect = "postgresql"

    def __init__(
        self,
        dsn: str,
        *,
        password: str | None,
        connect_timeout: int = PG_CONNECT_TIMEOUT,
        statement_timeout: float | None = None,
    ) -> None:
        self.display = mask(dsn)
        try:
            bare, dsn_password = split_password(dsn)
        except ValueError:
            raise HistoryError(f"{self.display}: not a valid postgresql:// DSN") from None
        self.secrets = tuple(p for p in (password, dsn_password) if p)
        try:
            import psycopg  # noqa: PLC0415 - an optional extra, needed only for this backend
        except ImportError:
            msg = (
                "a PostgreSQL history store needs psycopg, qaagent's postgres extra: "
                "pip install --require-hashes -r requirements-postgres.txt of your qaagent release"
            )
            raise HistoryError(msg) from None
        options: dict[str, Any] = {"autocommit": True, "application_name": "qaagent"}
        if "connect_timeout" not in dict(parse_qsl(urlsplit(bare).query)):
            options["connect_timeout"] = connect_timeout
        if password:
            options["password"] = password
        self._psycopg = psycopg
        self._conn = psycopg.connect(bare, **options)
        try:
            limit = PG_STATEMENT_TIMEOUT if statement_timeout is None else statement_timeout
            self._conn.execute(f"SET statement_timeout = {int(limit * 1000)}")
        except BaseException:
            self._conn.close()
            raise

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s")

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Run one statement and return its rows."""
        with self._conn.cursor() as cursor:
            cursor.execute(self._sql(sql), tuple(params), binary=True)  # bytea arrives as bytes, not hex
            return cursor.fetchall() if cursor.description is not None else []

    def insert_many(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        """Insert many rows into `table`."""
        statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
        with self._conn.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)

    def has_table(self, name: str) -> bool:
        """Whether the table exists."""
        rows = self.query("SELECT to_regclass(?) IS NOT NULL", (name,))
        return bool(rows and rows[0][0])

    @contextmanager
    def writing(self, lock: str) -> Iterator[None]:
        """One writer transaction."""
        with self._conn.transaction():
            self.query("SELECT pg_advisory_xact_lock(?)", (_lock_number(lock),))
            yield

    @contextmanager
    def reading(self) -> Iterator[None]:
        """One read transaction."""
        with self._conn.transaction():
            self.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield

    def close(self) -> None:
        """Close the connection (never raises)."""
        with contextlib.suppress(self._psycopg.Error):
            self._conn.close()
