"""A throw-away PostgreSQL cluster on 127.0.0.1 for tests and benchmarks (no test here).

Debian's `postgresql` package (installed by `.ci/run`) puts initdb and pg_ctl
under ``/usr/lib/postgresql/<version>/bin``. PostgreSQL refuses to run as
root, so as root the cluster runs as the ``postgres`` user the package
creates. The cluster lives in a fresh temporary folder, listens on a free
port of 127.0.0.1 only (and a Unix socket in that folder), requires a
password (scram-sha-256) over TCP, and is stopped and deleted by `stop`.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PG_ROOT = Path("/usr/lib/postgresql")


def pg_bin() -> Path | None:
    """The newest installed PostgreSQL's bin folder, if any."""
    if not PG_ROOT.is_dir():
        return None
    found = sorted(
        (p for p in PG_ROOT.iterdir() if (p / "bin" / "initdb").is_file() and p.name.split(".")[0].isdigit()),
        key=lambda p: int(p.name.split(".")[0]),
    )
    return found[-1] / "bin" if found else None


def problems() -> list[str]:
    """Why a cluster cannot be started here (empty: it can)."""
    found: list[str] = []
    if pg_bin() is None:
        found.append(f"PostgreSQL is not installed (no {PG_ROOT}/*/bin/initdb): apt-get install postgresql")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            found.append("running as root and there is no `postgres` user to run PostgreSQL as")
    try:
        import psycopg  # noqa: F401, PLC0415
    except ImportError:
        found.append("psycopg is not installed: pip install 'psycopg[binary]' (requirements-dev.txt)")
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Cluster:
    """A running cluster; `dsn(db)` names a database as the `qa` role (password in the DSN)."""

    folder: Path
    port: int
    password: str
    bin: Path
    user: str | None  #: the OS user the server runs as (None: this user)

    def dsn(self, database: str = "postgres", *, password: str | None = None, user: str = "qa") -> str:
        """A postgresql:// DSN for `database` (the password embedded)."""
        secret = self.password if password is None else password
        return f"postgresql://{user}:{secret}@127.0.0.1:{self.port}/{database}"

    def bare_dsn(self, database: str = "postgres", user: str = "qa") -> str:
        """A DSN without a password (give it through QAAGENT_HISTORY_PASSWORD)."""
        return f"postgresql://{user}@127.0.0.1:{self.port}/{database}"

    def sql(self, statement: str, database: str = "postgres") -> None:
        """Run one statement as the superuser (over the Unix socket)."""
        import psycopg  # noqa: PLC0415

        with psycopg.connect(
            host=str(self.folder / "run"), port=self.port, user="postgres", dbname=database, autocommit=True
        ) as conn:
            conn.execute(statement)

    def new_database(self) -> str:
        """A fresh, empty database owned by `qa`; its name."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        self.sql(f"CREATE DATABASE {name} OWNER qa")
        return name

    def stop(self) -> None:
        """Stop the server at once and delete its folder."""
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.folder / "data"),
            "-m",
            "immediate",
            "-w",
            "stop",
            check=False,
        )
        shutil.rmtree(self.folder, ignore_errors=True)

    def _run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return _as(self.user, list(argv), check=check, cwd=self.folder)


def _as(user: str | None, argv: list[str], *, check: bool, cwd: Path) -> subprocess.CompletedProcess[str]:
    prefix = ["runuser", "-u", user, "--"] if user else []
    done = subprocess.run(
        [*prefix, *argv],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    if check and done.returncode != 0:
        msg = f"{' '.join(argv[:2])} failed ({done.returncode}): {(done.stderr or done.stdout)[-2000:]}"
        raise RuntimeError(msg)
    return done


def start() -> Cluster:
    """initdb + pg_ctl start in a new temporary folder; the `qa` role with a random password."""
    binary = pg_bin()
    if binary is None:
        msg = "PostgreSQL is not installed"
        raise RuntimeError(msg)
    user = "postgres" if os.geteuid() == 0 else None
    folder = Path(tempfile.mkdtemp(prefix="qaagent-pg-"))
    (folder / "run").mkdir()
    if user is not None:
        entry = pwd.getpwnam(user)
        for path in (folder, folder / "run"):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    port = _free_port()
    password = "pw-" + secrets.token_hex(12)
    cluster = Cluster(folder, port, password, binary, user)
    try:
        cluster._run(
            str(binary / "initdb"), "-D", str(folder / "data"), "-U", "postgres", "--auth-local=trust",
            "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync",
        )  # fmt: skip
        cluster._run(
            str(binary / "pg_ctl"), "-D", str(folder / "data"), "-l", str(folder / "server.log"), "-w", "-t", "60",
            "-o", f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={folder / 'run'}"
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=60",
            "start",
        )  # fmt: skip
        cluster.sql(f"CREATE ROLE qa LOGIN CREATEDB PASSWORD '{password}'")
        cluster.sql("CREATE ROLE reader LOGIN PASSWORD 'reader-pw'")
    except BaseException:
        with contextlib.suppress(Exception):
            cluster.stop()
        raise
    return cluster


@contextlib.contextmanager
def running() -> Iterator[Cluster]:
    """A cluster for the duration of the block."""
    cluster = start()
    try:
        yield cluster
    finally:
        cluster.stop()
