"""The test history wired into real `qaagent run-all` and `qaagent merge` runs.

Every run records itself in the profile's store (SQLite by default, a real
PostgreSQL server in the PostgreSQL tests); `--no-history` and
`history.enabled: false` record nothing. Whatever the store's fault — locked,
corrupt, read-only, unreachable, wrong credentials, a newer schema — the run
says it in one warning line, and its exit code, bundle and merged JUnit are
those of a run without history. The DSN's password is nowhere in what a run
writes or prints.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pg_server
import pytest
from conftest import ProjectFactory, free_port, run_qaagent
from helpers import manifest_of
from history_support import locked
from test_history_faults import read_only

from qaagent.evidence.read import iter_records
from qaagent.history import schema

TESTS = """
def test_one():
    pass

def test_two():
    pass

def test_broken():
    assert 1 == 2
"""
PROFILE = "tests:\n  unit: {path: tests}\n"
pytestmark = pytest.mark.slow  # each test is one or more real runs
PASSWORD = "s3cr:et/Pa55 w0rd"  # noqa: S105 - a test password, with characters a DSN must encode


def project(qa_project: ProjectFactory, profile: str = PROFILE, tests: str = TESTS) -> Path:
    return qa_project({"tests/test_things.py": tests, ".qaagent.yaml": profile})


def exported(root: Path, *store: str) -> list[dict[str, Any]]:
    """The runs of the store (`qaagent history export --json`), oldest first."""
    done = run_qaagent("history", "export", "--json", *(("--store", *store) if store else ()), cwd=root)
    assert done.returncode == 0, done.stdout + done.stderr
    projects = json.loads(done.stdout)["projects"]
    return [run for p in projects for run in p["runs"]]


def history_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("qaagent:") and "history:" in line]


def bundles(root: Path) -> list[Path]:
    return sorted((root / ".qaagent" / "evidence").iterdir())


def assert_complete_run(root: Path, done: subprocess.CompletedProcess[str]) -> None:
    """Exit 1 (test_broken), a verified bundle with all three results, the merged JUnit."""
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    bundle = bundles(root)[-1]
    manifest = manifest_of(bundle)
    assert manifest["status"] == "failure"
    assert manifest["totals"]["total"] == 3
    assert len(list(iter_records(bundle))) == 3
    assert run_qaagent("verify", str(bundle), cwd=root).returncode == 0
    assert (root / "qaagent-junit.xml").is_file()


def assert_one_warning(done: subprocess.CompletedProcess[str], *words: str) -> str:
    lines = history_lines(done.stdout + done.stderr)
    assert len(lines) == 1, lines
    assert lines[0].startswith("qaagent: warning: history: cannot "), lines
    for word in words:
        assert word in lines[0], lines
    return lines[0]


# -- recording -------------------------------------------------------------------------------------


def test_every_run_is_recorded_in_the_default_store(qa_project: ProjectFactory) -> None:
    root = project(qa_project)
    first = run_qaagent("run-all", cwd=root)
    assert_complete_run(root, first)
    assert history_lines(first.stdout) == [
        f"qaagent: history: 3 result(s) recorded in {root / '.qaagent' / 'history.sqlite'}"
    ]
    run_qaagent("run-all", cwd=root, env={"GITHUB_RUN_ID": "4242", "GITHUB_RUN_ATTEMPT": "2"})
    runs = exported(root, str(root / ".qaagent" / "history.sqlite"))
    assert [r["run_id"] for r in runs] == [b.name for b in bundles(root)]
    assert all(r["kind"] == "run" and r["status"] == "failure" for r in runs)
    # every stored field of a run is exported, the CI run and the end too
    assert (runs[1]["ci_run_id"], runs[1]["ci_run_attempt"]) == ("4242", "2")
    finished = [json.loads((b / "manifest.json").read_text())["finished"] for b in bundles(root)]
    assert [r["finished_at"] for r in runs] == [datetime.fromisoformat(f).timestamp() for f in finished]
    assert sorted((res["name"], res["status"]) for res in runs[0]["results"]) == [
        ("test_broken", "failed"),
        ("test_one", "passed"),
        ("test_two", "passed"),
    ]


def test_no_history_and_a_disabled_profile_record_nothing(qa_project: ProjectFactory) -> None:
    root = project(qa_project)
    done = run_qaagent("run-all", "--no-history", cwd=root)
    assert_complete_run(root, done)
    assert history_lines(done.stdout) == []
    assert not (root / ".qaagent" / "history.sqlite").exists()

    (root / ".qaagent.yaml").write_text(PROFILE + "history: {enabled: false}\n", encoding="utf-8")
    done = run_qaagent("run-all", cwd=root)
    assert_complete_run(root, done)
    assert not (root / ".qaagent" / "history.sqlite").exists()


def test_a_bad_history_section_is_a_profile_error(qa_project: ProjectFactory) -> None:
    root = project(qa_project, PROFILE + "history: {window: 0, colour: red}\n")
    done = run_qaagent("run-all", cwd=root)
    assert done.returncode == 2
    assert "history.window" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (root / ".qaagent").exists()


def test_shards_and_their_merge_are_recorded_once(qa_project: ProjectFactory, tmp_path: Path) -> None:
    files = {f"tests/test_{n}.py": f"def test_{n}():\n    pass\n" for n in "abcd"}
    root = qa_project({**files, ".qaagent.yaml": PROFILE})
    for index in (1, 2):
        done = run_qaagent("run-all", "--shard", f"{index}/2", cwd=root)
        assert done.returncode == 0, done.stdout + done.stderr
    shard_bundles = [str(b) for b in bundles(root)]
    merged = run_qaagent("merge", *shard_bundles, "--evidence-dir", str(tmp_path / "merged"), cwd=root)
    assert merged.returncode == 0, merged.stdout + merged.stderr
    assert "qaagent: history: 4 result(s) recorded" in merged.stdout
    runs = exported(root, str(root / ".qaagent" / "history.sqlite"))
    assert sorted((r["kind"], r["superseded"]) for r in runs) == [
        ("merge", False),
        ("shard", True),
        ("shard", True),
    ]
    counted = [res["name"] for r in runs if not r["superseded"] for res in r["results"]]
    assert sorted(counted) == ["test_a", "test_b", "test_c", "test_d"]


# -- faults: one warning, the same verdict and bundle -----------------------------------------------


def test_a_locked_store_is_one_warning(qa_project: ProjectFactory) -> None:
    root = project(qa_project)
    assert run_qaagent("run-all", cwd=root).returncode == 1  # the store exists, with one run
    store = root / ".qaagent" / "history.sqlite"
    with locked(store):
        done = run_qaagent("run-all", cwd=root)
    assert_complete_run(root, done)
    assert_one_warning(done, "record this run", "locked", str(store))
    assert len(exported(root, str(store))) == 1  # the locked run was not half-recorded


def test_a_corrupt_store_is_one_warning_and_left_alone(qa_project: ProjectFactory) -> None:
    root = project(qa_project)
    store = root / ".qaagent" / "history.sqlite"
    store.parent.mkdir(parents=True)
    garbage = os.urandom(8192)
    store.write_bytes(garbage)
    done = run_qaagent("run-all", cwd=root)
    assert_complete_run(root, done)
    assert_one_warning(done, "open the history store", "file is not a database")
    assert store.read_bytes() == garbage


def test_a_read_only_store_is_one_warning(qa_project: ProjectFactory, tmp_path: Path) -> None:
    folder = tmp_path / "store"
    folder.mkdir()
    root = project(qa_project, PROFILE + f"history: {{store: {json.dumps(str(folder / 'h.sqlite'))}}}\n")
    assert run_qaagent("run-all", cwd=root).returncode == 1
    with read_only(folder):
        done = run_qaagent("run-all", cwd=root)
    assert_complete_run(root, done)
    line = assert_one_warning(done)
    assert "readonly" in line or "unable to open" in line, line


def test_a_store_of_a_newer_schema_is_one_warning_and_unchanged(qa_project: ProjectFactory) -> None:
    root = project(qa_project)
    assert run_qaagent("run-all", cwd=root).returncode == 1
    store = root / ".qaagent" / "history.sqlite"
    with sqlite3.connect(store) as conn:
        conn.execute("UPDATE qa_schema_version SET version = ?", (schema.SCHEMA_VERSION + 1,))
    conn.close()
    before = store.read_bytes()
    done = run_qaagent("run-all", cwd=root)
    assert_complete_run(root, done)
    assert_one_warning(done, f"schema version {schema.SCHEMA_VERSION + 1}", "not changed")
    assert store.read_bytes() == before


def test_an_unreachable_postgresql_server_is_one_warning_without_the_password(
    qa_project: ProjectFactory, pg_cluster: pg_server.Cluster
) -> None:
    # The real cluster's DSN, pointed at a port where nothing listens.
    dsn = pg_cluster.dsn("postgres", password=quote(PASSWORD, safe="")).replace(
        f":{pg_cluster.port}/", f":{free_port()}/"
    )
    root = project(qa_project, PROFILE + f"history: {{store: {json.dumps(dsn)}}}\n")
    done = run_qaagent("run-all", cwd=root)
    assert_complete_run(root, done)
    assert_one_warning(done, "open the history store", "connection failed", "qa:***@127.0.0.1")
    assert_no_password(root, done)


def test_wrong_postgresql_credentials_are_one_warning_without_the_password(
    qa_project: ProjectFactory, pg_cluster: pg_server.Cluster
) -> None:
    root = project(qa_project, PROFILE + f"history: {{store: {json.dumps(pg_cluster.bare_dsn())}}}\n")
    done = run_qaagent("run-all", cwd=root, env={"QAAGENT_HISTORY_PASSWORD": PASSWORD})
    assert_complete_run(root, done)
    assert_one_warning(done, "open the history store", "password authentication failed")
    assert_no_password(root, done)


# -- PostgreSQL: the password --------------------------------------------------------------------

LEAKY = """
import os

def test_prints_the_environment():
    print("password:", os.environ.get("QAAGENT_HISTORY_PASSWORD"))
    assert "QAAGENT_HISTORY_PASSWORD" not in os.environ  # qaagent keeps it from the suites
    print("profile:", open(".qaagent.yaml").read())
"""


def assert_no_password(root: Path, done: subprocess.CompletedProcess[str], password: str = PASSWORD) -> None:
    forms = {password, quote(password, safe="")}
    text = done.stdout + done.stderr
    assert not [f for f in forms if f in text], text
    written = [p for p in (root / ".qaagent" / "evidence").rglob("*") if p.is_file()]
    written.append(root / "qaagent-junit.xml")
    leaks = [(p.name, f) for p in written for f in forms if f.encode() in p.read_bytes()]
    assert leaks == []


def test_a_run_records_into_postgresql_and_the_password_shows_nowhere(
    qa_project: ProjectFactory, pg_cluster: pg_server.Cluster
) -> None:
    database = pg_cluster.new_database()
    in_dsn = pg_cluster.dsn(database)  # the password inside the DSN
    root = project(qa_project, PROFILE + f"history: {{store: {json.dumps(in_dsn)}}}\n")
    done = run_qaagent("run-all", cwd=root)
    assert_complete_run(root, done)
    assert history_lines(done.stdout) == [
        f"qaagent: history: 3 result(s) recorded in postgresql://qa:***@127.0.0.1:{pg_cluster.port}/{database}"
    ]
    assert_no_password(root, done, pg_cluster.password)
    # The password from the environment instead, and a test that prints the profile and its env.
    (root / "tests" / "test_leaky.py").write_text(LEAKY, encoding="utf-8")
    (root / ".qaagent.yaml").write_text(
        PROFILE + f"history: {{store: {json.dumps(pg_cluster.bare_dsn(database))}}}\n", encoding="utf-8"
    )
    done = run_qaagent("run-all", cwd=root, env={"QAAGENT_HISTORY_PASSWORD": pg_cluster.password})
    assert done.returncode == 1, done.stdout  # test_broken only: the leaky test passes
    assert "qaagent: history: 4 result(s) recorded" in done.stdout
    records = {r.name: r.status for r in iter_records(bundles(root)[-1])}
    assert records["test_prints_the_environment"] == "passed"
    assert_no_password(root, done, pg_cluster.password)
    assert len(exported(root, in_dsn)) == 2


# -- scheduling from history ---------------------------------------------------------------------


def sleeper(name: str, seconds: float) -> str:
    return f"import time\n\ndef test_{name}():\n    time.sleep({seconds})\n"


def test_start_order_and_shards_come_from_history_then_bundles_then_counts(
    qa_project: ProjectFactory, tmp_path: Path
) -> None:
    profile = (
        "run: {parallel: true, suite_order: [quick, slow]}\n"
        "tests:\n  quick: {runner: pytest, path: quick}\n  slow: {runner: pytest, path: slow}\n"
    )
    root = qa_project(
        {
            # more tests in quick: the listed counts (the first run's estimate) start it first
            "quick/test_q.py": sleeper("q", 0.01),
            "quick/test_q2.py": sleeper("q2", 0.01),
            "quick/test_q3.py": sleeper("q3", 0.01),
            "slow/test_s1.py": sleeper("s1", 1.5),
            "slow/test_s2.py": sleeper("s2", 0.01),
            ".qaagent.yaml": profile,
        }
    )
    first = run_qaagent("run-all", cwd=root)
    assert first.returncode == 0, first.stdout
    assert (
        "start order: quick, slow — longest first by listed test counts (no recorded durations)"
        in first.stdout
    )
    second = run_qaagent("run-all", cwd=root)
    assert "qaagent: start order: slow, quick — longest first by durations from history " in second.stdout
    store = str(root / ".qaagent" / "history.sqlite")
    assert f"from history {store} (p50 of 1 run(s)" in second.stdout  # the first run

    planned = run_qaagent("plan", "--shards", "2", cwd=root)
    assert planned.returncode == 0, planned.stderr
    assert f"durations from history {store}" in planned.stdout.splitlines()[0]
    shards = json.loads(run_qaagent("plan", "--shards", "2", "--json", cwd=root).stdout)
    assert shards["durations"]["source"].startswith(f"history {store}")
    assert shards["durations"]["known"] == shards["durations"]["units"] == 5  # every file recorded
    # Without history: the newest bundle; with --durations-from: that file, whatever history says.
    planned = run_qaagent("plan", "--shards", "2", "--no-history", cwd=root)
    assert "durations from evidence bundle " in planned.stdout.splitlines()[0]
    recorded = json.loads(run_qaagent("durations", cwd=root).stdout)  # for matrix jobs to share
    assert recorded["source"].startswith(f"history {store}")
    assert set(recorded["suites"]["slow"]["files"]) == {"slow/test_s1.py", "slow/test_s2.py"}
    durations = tmp_path / "d.json"
    assert run_qaagent("durations", "--no-history", "-o", str(durations), cwd=root).returncode == 0
    planned = run_qaagent("plan", "--shards", "2", "--durations-from", str(durations), cwd=root)
    assert "durations from evidence bundle " in planned.stdout.splitlines()[0]
    assert "history" not in planned.stdout.splitlines()[0]
    # No history and no bundles: counts.
    for bundle in bundles(root):
        for path in sorted(bundle.rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
        bundle.rmdir()
    planned = run_qaagent("plan", "--shards", "2", "--no-history", cwd=root)
    assert "equal shares (no recorded durations)" in planned.stdout.splitlines()[0]


def test_a_history_naming_tests_that_no_longer_exist_does_not_break_scheduling(
    qa_project: ProjectFactory,
) -> None:
    files = {f"tests/test_{n}.py": sleeper(n, 0.3 if n == "a" else 0.01) for n in "abcd"}
    root = qa_project({**files, ".qaagent.yaml": PROFILE})
    assert run_qaagent("run-all", cwd=root).returncode == 0
    (root / "tests" / "test_a.py").unlink()  # the longest recorded file is gone
    (root / "tests" / "test_b.py").write_text(sleeper("renamed", 0.01), encoding="utf-8")  # a test renamed
    (root / "tests" / "test_e.py").write_text(sleeper("e", 0.01), encoding="utf-8")  # a new file
    ran: list[str] = []
    for index in (1, 2):
        done = run_qaagent("run-all", "--shard", f"{index}/2", cwd=root)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "estimated" in done.stdout, done.stdout  # a split by recorded durations, not counts
        ran += [record.name for record in iter_records(bundles(root)[-1])]
    assert sorted(ran) == ["test_c", "test_d", "test_e", "test_renamed"]


# -- the comparison with the base branch (console only, so far) ----------------------------------


def test_a_pull_request_run_says_how_its_failures_stand_against_the_base_branch(
    qa_project: ProjectFactory,
) -> None:
    base_tests = TESTS.replace("def test_two():\n    pass", "def test_two():\n    assert False")
    root = project(qa_project, tests=base_tests)  # main: test_two and test_broken fail
    on_main = run_qaagent("run-all", cwd=root, env={"GITHUB_REF": "refs/heads/main", "GITHUB_SHA": "a" * 40})
    assert on_main.returncode == 1
    assert "against" not in on_main.stdout  # main itself has no base branch
    pr_tests = TESTS.replace("def test_one():\n    pass", "def test_one():\n    assert False")
    (root / "tests" / "test_things.py").write_text(pr_tests, encoding="utf-8")  # one broken, one fixed
    pr_env = {"GITHUB_REF": "refs/pull/7/merge", "GITHUB_HEAD_REF": "feature", "GITHUB_BASE_REF": "main"}
    on_pr = run_qaagent("run-all", cwd=root, env=pr_env)
    assert on_pr.returncode == 1  # the verdict is the tests', whatever the comparison says
    base_run = bundles(root)[0].name
    lines = history_lines(on_pr.stdout)
    assert lines[:3] == [
        (
            f"qaagent: history: against main (run {base_run}, commit {'a' * 12}): 1 new failure(s), "
            "1 still failing, 0 flaky, 0 quarantined, 1 fixed"
        ),
        "qaagent: history:   new: unit::tests.test_things::test_one",
        "qaagent: history:   still failing: unit::tests.test_things::test_broken",
    ]
    assert lines[3].startswith("qaagent: history: 3 result(s) recorded")
    runs = exported(root, str(root / ".qaagent" / "history.sqlite"))
    assert [(r["branch"], r["base_branch"], r["pr_number"]) for r in runs] == [
        ("main", "", None),
        ("feature", "main", 7),
    ]
    # --base-branch names another branch; one with no recorded run says so.
    other = run_qaagent("run-all", "--base-branch", "release/2", cwd=root, env=pr_env)
    assert "qaagent: history: no recorded run of release/2 to compare with" in other.stdout
    # … and is recorded as the run's base branch, as the comparison used it
    assert exported(root, str(root / ".qaagent" / "history.sqlite"))[-1]["base_branch"] == "release/2"


def test_a_history_output_that_cannot_be_written_is_exit_2(qa_project: ProjectFactory) -> None:
    root = project(qa_project)
    run_qaagent("run-all", cwd=root)
    (root / "taken").write_text("a file where a folder should be", encoding="utf-8")
    (root / "a-folder").mkdir()
    for command in (("report",), ("export", "--json")):
        blocked = run_qaagent("history", *command, "-o", "taken/h.out", cwd=root)
        assert blocked.returncode == 2, blocked.stdout + blocked.stderr
        assert blocked.stderr.strip().splitlines() == [
            "qaagent: error: -o taken/h.out: cannot be written (taken is not a folder)"
        ]
        folder = run_qaagent("history", *command, "-o", "a-folder", cwd=root)
        assert folder.returncode == 2, folder.stdout + folder.stderr
        assert "-o a-folder: cannot be written (it is a folder)" in folder.stderr
        assert "Traceback" not in blocked.stderr + folder.stderr
    # missing folders are made, as --junit's are
    made = run_qaagent("history", "report", "-o", "new/deeper/h.html", cwd=root)
    assert made.returncode == 0, made.stdout + made.stderr
    assert (root / "new" / "deeper" / "h.html").is_file()


def test_a_run_asks_git_once_for_the_history_and_the_manifest(
    qa_project: ProjectFactory, tmp_path: Path
) -> None:
    """In a checkout, a run asks git for its commit, ref and remote once (the history's run
    identity and the manifest used to ask three questions each): 4 git processes, not 7."""
    root = project(qa_project)
    git = ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "remote", "add", "origin", "https://me:tok@example.com/o/r.git"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "x"], check=True)
    sha = subprocess.run(
        [*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    wrapper = tmp_path / "bin"
    wrapper.mkdir()
    calls = tmp_path / "git-calls.txt"
    real = subprocess.run(
        ["sh", "-c", "command -v git"], capture_output=True, text=True, check=True
    ).stdout.strip()
    (wrapper / "git").write_text(f'#!/bin/sh\necho "$*" >> "{calls}"\nexec "{real}" "$@"\n', encoding="utf-8")
    (wrapper / "git").chmod(0o755)
    done = run_qaagent("run-all", cwd=root, env={"PATH": f"{wrapper}:{os.environ['PATH']}"})
    assert done.returncode == 1, done.stdout + done.stderr  # test_broken fails
    asked = calls.read_text(encoding="utf-8").splitlines()
    assert [a.rpartition(str(root))[2].strip() for a in asked] == [
        "rev-parse --show-toplevel",
        "rev-parse HEAD",
        "symbolic-ref -q HEAD",
        "config --get remote.origin.url",
    ], asked
    (bundle,) = bundles(root)
    assert manifest_of(bundle)["git"] == {
        "sha": sha,
        "ref": "refs/heads/main",
        "repository": "https://example.com/o/r.git",
    }
    (recorded,) = exported(root)
    assert (recorded["commit"], recorded["branch"]) == (sha, "main")
