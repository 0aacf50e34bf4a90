"""The evidence bundle: layout, manifest, records, redaction, atomic writes, prune."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import subprocess
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from helpers import bundle_texts, manifest_of, records_text

from qaagent import files as atomic
from qaagent.attempts import Attempt, Rerun
from qaagent.errors import UsageError
from qaagent.evidence.bundle import Bundle, make_run_id
from qaagent.evidence.gitinfo import git_info, strip_credentials
from qaagent.evidence.manifest import ci_info, environment
from qaagent.evidence.prune import prune
from qaagent.evidence.verify import verify_bundle
from qaagent.files import StreamedFile
from qaagent.options import Shard
from qaagent.plan import find_repo_root
from qaagent.report.html import HtmlReport
from qaagent.results import CaseStore, SuiteResult, TestCase
from qaagent.run_result import RunResult

T0 = datetime(2024, 5, 1, 12, 30, 45, tzinfo=UTC).timestamp()
GITHUB_VARS = ("GITHUB_ACTIONS", "GITHUB_RUN_ID", "GITHUB_SHA", "GITHUB_REF", "GITHUB_REPOSITORY")


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in GITHUB_VARS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def start(evidence: Path, repo_root: Path, run_id: str = "20240501_123045Z", **kwargs: object) -> Bundle:
    options: dict[str, object] = {
        "project": "shop",
        "settings": {"parallel": True, "retry_count": 1, "suite_order": ["unit", "e2e"]},
        "profile_path": repo_root / ".qaagent.yaml",
        "profile_sha256": "ab" * 32,
        "repo_root": repo_root,
        "suites": ["unit", "e2e"],
    }
    options.update(kwargs)
    return Bundle.start(evidence, run_id, **options)  # type: ignore[arg-type]


def make_run(bundle: Bundle, message: str = "assert 1 == 2") -> RunResult:
    log = bundle.suite_dir("unit") / "attempt-1.log"
    log.write_text("collected 3 items\n", encoding="utf-8")
    junit = bundle.suite_dir("unit") / "junit-1.xml"
    junit.write_text("<testsuite/>", encoding="utf-8")
    unit_cases = [
        TestCase("unit", "t.a", "test_ok", "passed", 0.25, file="t/a.py", line=3),
        TestCase(
            "unit",
            "t.a",
            "test_bad",
            "failed",
            1.0,
            file="t/a.py",
            line=9,
            message=message,
            type="AssertionError",
        ),
        TestCase(
            "unit",
            "t.a",
            "test_flaky",
            "passed",
            0.5,
            attempts=2,
            flaky=True,
            reruns=(Rerun("failed", "ConnectionRefusedError"),),
            artifacts=("suites/unit/shot.png",),
        ),
    ]
    attempts = [
        Attempt(1, ("pytest", "t"), 1, False, T0 + 1, 2.0, log, (junit,)),
        Attempt(2, ("pytest", "t", "--lf"), 0, False, T0 + 3, 1.0, None, (), ("t/a.py::test_flaky",)),
    ]
    unit = SuiteResult("unit", "pytest", CaseStore(unit_cases), attempts, files=[log, junit])
    e2e_case = TestCase("e2e", "e2e", "suite error", "error", message="timed out after 60 s")
    e2e = SuiteResult(
        "e2e",
        "playwright",
        CaseStore([e2e_case]),
        [Attempt(1, ("npx", "playwright"), -9, True, T0 + 1, 60.0)],
        error="timed out after 60 s",
    )
    return RunResult("shop", bundle.run_id, [unit, e2e], T0, T0 + 61.5)


def test_make_run_id() -> None:
    now = datetime(2024, 5, 1, 14, 30, 45, tzinfo=timezone(timedelta(hours=2)))
    assert make_run_id(now) == "20240501_123045Z"
    assert make_run_id(now, Shard(1, 3)) == "20240501_123045Z_shard-1of3"
    assert make_run_id(datetime(2024, 5, 1, 12, 30, 45)) == "20240501_123045Z"  # noqa: DTZ001 - naive means UTC


def test_make_run_id_unique_in_evidence_dir(tmp_path: Path) -> None:
    now = datetime(2024, 5, 1, 12, 30, 45, tzinfo=UTC)
    (tmp_path / "20240501_123045Z").mkdir()
    (tmp_path / "20240501_123045Z-2").mkdir()
    assert make_run_id(now, evidence_dir=tmp_path) == "20240501_123045Z-3"


def test_start_writes_running_manifest(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    bundle = start(tmp_path / "ev", tmp_path)
    assert bundle.dir == tmp_path / "ev" / "20240501_123045Z"
    data = manifest_of(bundle.dir)
    assert data["status"] == "running"
    assert data["schema_version"] == 1
    assert data["tool"]["name"] == "qaagent"
    assert data["suites"] == [{"name": "unit", "status": "pending"}, {"name": "e2e", "status": "pending"}]
    assert data["profile"] == {"path": ".qaagent.yaml", "sha256": "ab" * 32}
    assert data["finished"] is None
    assert sorted(p.name for p in bundle.dir.iterdir()) == ["manifest.json"]  # no temp file left
    assert verify_bundle(bundle.dir) == [
        "incomplete: manifest.json says the run is still running (it did not finish)"
    ]
    # a second start with the same run id gets its own directory
    second = start(tmp_path / "ev", tmp_path)
    assert second.run_id == "20240501_123045Z-2"
    assert manifest_of(second.dir)["run_id"] == "20240501_123045Z-2"


def test_finish_writes_everything_and_verifies(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    bundle = start(tmp_path / "ev", tmp_path)
    run = make_run(bundle)
    junit = bundle.dir / "suites" / "unit" / "junit-1.xml"
    junit_digest, junit_size = hashlib.sha256(junit.read_bytes()).hexdigest(), junit.stat().st_size
    bundle.finish(
        run,
        summary_markdown="# shop\n1 failed",
        fail_on=["failed", "error"],
    )
    data = manifest_of(bundle.dir)
    assert data["status"] == "failure"
    assert data["started"] == "2024-05-01T12:30:45.000Z"
    assert data["finished"] == "2024-05-01T12:31:46.500Z"
    assert [s["name"] for s in data["suites"]] == ["unit", "e2e"]
    unit, e2e = data["suites"]
    assert unit["counts"] == {
        "total": 3, "passed": 2, "failed": 1, "errors": 0, "skipped": 0, "flaky": 1, "xfailed": 0, "xpassed": 0,
    }  # fmt: skip
    assert unit["files"] == ["suites/unit/attempt-1.log"]  # its JUnit was folded into junit.xml
    assert unit["attempts"][0]["log"] == "suites/unit/attempt-1.log"
    assert unit["attempts"][1]["selected"] == ["t/a.py::test_flaky"]
    assert unit["status"] == "failed"
    assert (e2e["timed_out"], e2e["returncode"], e2e["status"], e2e["error"]) == (
        True,
        -9,
        "error",
        "timed out after 60 s",
    )
    assert data["totals"]["total"] == 4
    assert data["totals"]["duration"] == 61.5
    assert data["totals"]["suite_time"] == 63.0
    assert data["diagnostics"]["timeout"] == 1
    assert data["diagnostics"]["flaky"] == 1
    assert data["diagnostics"]["assertion"] == 1
    listed = [f["path"] for f in data["files"]]
    assert listed == sorted(listed)
    # the suite's own JUnit was read completely: its cases are in junit.xml, its digest in the attempt
    assert listed == ["junit.xml", "suites/unit/attempt-1.log", "summary.md", "tests.jsonl.gz"]
    (read,) = data["suites"][0]["attempts"][0]["junit_read"]
    assert read == {"path": "suites/unit/junit-1.xml", "sha256": junit_digest, "size": junit_size}
    assert data["missing"] == []
    assert all(len(f["sha256"]) == 64 and f["size"] > 0 for f in data["files"])
    assert verify_bundle(bundle.dir) == []
    assert not [p for p in bundle.dir.rglob("*") if p.name.endswith(".tmp")]

    records = [json.loads(line) for line in records_text(bundle.dir).splitlines()]
    assert [r["id"] for r in records] == [f"TST-20240501-000{i}" for i in range(1, 5)]
    assert [(r["suite"], r["name"], r["status"], r["category"]) for r in records] == [
        ("unit", "test_ok", "passed", None),
        ("unit", "test_bad", "failed", "assertion"),
        ("unit", "test_flaky", "passed", "flaky"),
        ("e2e", "suite error", "error", "timeout"),
    ]
    assert records[1] | {"id": None} == {
        "id": None,
        "suite": "unit",
        "classname": "t.a",
        "name": "test_bad",
        "file": "t/a.py",
        "line": 9,
        "status": "failed",
        "attempts": 1,
        "flaky": False,
        "duration": 1.0,
        "message": "assert 1 == 2",
        "category": "assertion",
        "artifacts": [],
        "outcome": None,
    }
    assert records[2]["artifacts"] == ["suites/unit/shot.png"]
    assert (bundle.dir / "summary.md").read_text(encoding="utf-8") == "# shop\n1 failed"


def test_cancelled_and_flaky_fail_on(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    bundle = start(tmp_path / "ev", tmp_path)
    run = dataclasses.replace(make_run(bundle), cancelled=True, not_run=("e2e",))
    bundle.finish(run, summary_markdown="", fail_on=["failed"])
    data = manifest_of(bundle.dir)
    assert data["status"] == "cancelled"
    assert data["not_run"] == ["e2e"]


def test_message_truncated_in_records(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    bundle = start(tmp_path / "ev", tmp_path)
    bundle.finish(make_run(bundle, message="m" * 5000), summary_markdown="", fail_on=["failed"])
    record = json.loads(records_text(bundle.dir).splitlines()[1])
    assert record["message"] == "m" * 1000


def test_secrets_never_enter_the_bundle(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("FAKE_API_TOKEN", "s3cr3tvalue")
    clean_env.setenv("GITHUB_TOKEN", "ghs_abcdefghijkl")
    clean_env.setenv("CI", "true")
    secret = "s3cr3tvalue"  # noqa: S105 - a fake secret
    bundle = start(tmp_path / "ev", tmp_path, settings={"env": {"API": f"key={secret}"}})
    run = make_run(bundle, message=f"login with {secret} failed; Authorization: Bearer zzz-top")
    (bundle.suite_dir("unit") / "attempt-1.log").write_text(
        f"token={secret}\nAuthorization: Basic dXNlcjpwYXNz\n", encoding="utf-8"
    )
    extra = TestCase("unit", "c", f"test_{secret}", "failed", stdout=f"out {secret}", details=f"tb {secret}")
    run.suites[0].cases.append(extra)
    attempts = (Attempt(1, ("pytest", f"--token={secret}"), 1, False, T0, 1.0), *run.suites[0].attempts[1:])
    run = dataclasses.replace(
        run, suites=(dataclasses.replace(run.suites[0], attempts=attempts), *run.suites[1:])
    )
    page = HtmlReport(StreamedFile(bundle.dir / "report.html"), max_output=65536)
    bundle.finish(run, summary_markdown=f"summary {secret}", fail_on=["failed"], writers=[page])
    texts = bundle_texts(bundle.dir)
    assert {"junit.xml", "tests.jsonl.gz", "summary.md", "report.html", "suites/unit/attempt-1.log"} <= set(
        texts
    )
    assert b"test_***" in texts["report.html"]  # the page's data holds the (redacted) test names
    for path, content in texts.items():
        assert secret.encode() not in content, path
        assert b"ghs_abcdefghijkl" not in content, path
        assert b"zzz-top" not in content, path
        assert b"dXNlcjpwYXNz" not in content, path
    data = manifest_of(bundle.dir)
    assert data["environment"]["CI"] == "true"
    assert "GITHUB_TOKEN" not in data["environment"]
    assert "FAKE_API_TOKEN" not in json.dumps(data)
    assert data["settings"] == {"env": {"API": "key=***"}}
    assert "login with *** failed; Authorization: ***" in records_text(bundle.dir)
    assert verify_bundle(bundle.dir) == []


def test_environment_allowlist_and_ci(clean_env: pytest.MonkeyPatch) -> None:
    env = {
        "CI": "true",
        "GITHUB_ACTIONS": "true",
        "GITHUB_RUN_ID": "42",
        "GITHUB_RUN_ATTEMPT": "2",
        "GITHUB_JOB": "test",
        "GITHUB_WORKFLOW": "ci",
        "GITHUB_ACTOR": "octo",
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_TOKEN": "ghs_x",
        "AWS_SECRET_ACCESS_KEY": "y",
        "HOME": "/root",
    }
    recorded = environment(env)
    assert recorded["GITHUB_RUN_ID"] == "42"
    assert set(recorded) <= set(env) - {"GITHUB_TOKEN", "AWS_SECRET_ACCESS_KEY", "HOME"}
    assert ci_info(env) == {
        "provider": "github-actions",
        "run_id": "42",
        "run_attempt": "2",
        "job": "test",
        "workflow": "ci",
        "actor": "octo",
        "server_url": "https://github.com",
    }
    assert ci_info({"CI": "true"}) is None


def test_git_info_from_checkout_and_env(tmp_path: Path) -> None:
    env = {"GITHUB_SHA": "f" * 40, "GITHUB_REF": "refs/pull/1/merge", "GITHUB_REPOSITORY": "o/r"}
    assert git_info(tmp_path, env) == {"sha": "f" * 40, "ref": "refs/pull/1/merge", "repository": "o/r"}
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "x"], check=True)
    subprocess.run([*git, "remote", "add", "origin", "https://me:tok@example.com/o/r.git"], check=True)
    sha = subprocess.run(
        [*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert git_info(repo, {}) == {
        "sha": sha,
        "ref": "refs/heads/main",
        "repository": "https://example.com/o/r.git",
    }
    assert strip_credentials("git@github.com:o/r.git") == "git@github.com:o/r.git"


def test_suite_folders_cannot_escape(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    bundle = start(tmp_path / "ev", tmp_path)
    with pytest.raises(UsageError):
        bundle.suite_dir("../up")


def test_atomic_write_keeps_old_content_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "manifest.json"
    atomic.atomic_write_text(target, "old")

    def half_write() -> None:
        with atomic.atomic_open(target) as handle:
            handle.write("half")
            raise RuntimeError

    with pytest.raises(RuntimeError):
        half_write()
    assert target.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.json"]
    assert (target.stat().st_mode & 0o777) == 0o644


def test_manifest_replaced_atomically_while_read(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    """A reader polling the manifest during finish always sees complete JSON."""
    bundle = start(tmp_path / "ev", tmp_path)
    seen: list[str] = []
    run = make_run(bundle)
    original = os.replace

    def spying_replace(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
        if str(dst).endswith("manifest.json"):
            seen.append(json.loads(Path(dst).read_text(encoding="utf-8"))["status"])
        return original(src, dst, *args, **kwargs)

    clean_env.setattr(os, "replace", spying_replace)
    bundle.finish(run, summary_markdown="", fail_on=["failed"])
    assert seen == ["running"]  # the old complete manifest is there until the switch
    assert manifest_of(bundle.dir)["status"] == "failure"


def _killed(bundle: Bundle) -> Bundle:
    """A bundle left `running` by a process that is gone (a pid above Linux's PID_MAX_LIMIT)."""
    manifest = manifest_of(bundle.dir)
    manifest["process"]["pid"] = 2**22 + 1
    bundle.manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    return bundle


def test_prune_keeps_newest_and_current(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    evidence = tmp_path / "ev"
    ids = [f"2024050{d}_120000Z" for d in range(1, 6)]
    bundles = [_killed(start(evidence, tmp_path, run_id)) for run_id in ids]
    (evidence / "notes").mkdir()
    (evidence / "readme.txt").write_text("keep me", encoding="utf-8")
    removed = prune(evidence, 2, current=bundles[0].dir)
    assert sorted(p.name for p in removed) == ids[1:3]
    assert sorted(p.name for p in evidence.iterdir()) == [ids[0], ids[3], ids[4], "notes", "readme.txt"]
    assert prune(evidence, 5) == []
    with pytest.raises(UsageError):
        prune(evidence, -1)
    assert prune(tmp_path / "absent", 1) == []


def test_prune_orders_by_manifest_start(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    evidence = tmp_path / "ev"
    older = _killed(start(evidence, tmp_path, "20240509_000000Z"))
    time.sleep(0.01)
    newer = _killed(start(evidence, tmp_path, "20240501_000000Z"))
    assert prune(evidence, 1) == [older.dir]
    assert newer.dir.exists()


def test_git_children_do_not_get_the_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The git processes qaagent starts itself get the one child environment (no token)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    seen = tmp_path / "env.txt"
    fake = bin_dir / "git"
    fake.write_text(f"#!/bin/sh\nenv >> {seen}\nexit 1\n", encoding="utf-8")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    monkeypatch.setenv("QAAGENT_GITHUB_TOKEN", "ghs_secretsecretsecret")
    monkeypatch.setenv("INPUT_GITHUB-TOKEN", "ghs_secretsecretsecret")
    monkeypatch.delenv("GITHUB_WORKSPACE", raising=False)
    git_info(tmp_path, {})
    find_repo_root(tmp_path)
    text = seen.read_text(encoding="utf-8")
    assert text.count("PATH=") >= 2, "the fake git was not run"
    assert "ghs_secretsecretsecret" not in text


def test_the_cleaning_redacts_what_a_suite_left_and_leaves_an_empty_file_untouched(tmp_path: Path) -> None:
    from qaagent.evidence.cleaning import clean  # noqa: PLC0415
    from qaagent.redact import Redactor  # noqa: PLC0415

    folder = tmp_path / "suites" / "one" / "attempt-1"
    folder.mkdir(parents=True)
    empty, text = folder / ".started", folder / "left.txt"
    empty.touch()
    text.write_text("token s3cr3t-value here\n", encoding="utf-8")
    before = empty.stat()
    early, dropped = clean(
        tmp_path, tmp_path.resolve(), Redactor(["s3cr3t-value"]), kept=set(), unredacted=set(), keep=False
    )
    assert (early, dropped) == ([], [])
    assert "s3cr3t-value" not in text.read_text(encoding="utf-8")
    after = empty.stat()
    # not rewritten: the same inode (a redacted copy is renamed over the file), nothing in it
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (before.st_ino, 0, before.st_mtime_ns)
    assert sorted(p.name for p in folder.iterdir()) == [".started", "left.txt"]


@pytest.mark.parametrize("through_link", [False, True])
def test_unredactable_files_go_but_logs_stay_whether_or_not_the_folder_is_resolved(
    tmp_path: Path, through_link: bool
) -> None:
    from qaagent.evidence.cleaning import clean  # noqa: PLC0415
    from qaagent.redact import Redactor  # noqa: PLC0415

    real = tmp_path / "real"
    (real / "suites" / "one").mkdir(parents=True)
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 32
    (real / "suites" / "one" / "shot.png").write_bytes(png)
    (real / "suites" / "one" / "output.log").write_bytes(png)  # a log is spared whatever it holds
    bundle = real
    if through_link:
        (tmp_path / "link").symlink_to(real)
        bundle = tmp_path / "link"
    logs = {(real / "suites" / "one" / "output.log").resolve()}
    early, removed = clean(bundle, real.resolve(), Redactor(), kept=logs, unredacted=logs, keep=False)
    assert early == []
    assert [r["path"] for r in removed] == ["suites/one/shot.png"]
    assert sorted(p.name for p in (real / "suites" / "one").iterdir()) == ["output.log"]


def test_the_cleaning_rewrites_only_what_changes_or_has_other_names(tmp_path: Path) -> None:
    # session 26: a file the redaction leaves as it is is not rewritten (a copy and a rename per
    # file, at each suite's seal and again at the end) — unless it is a hard link to a file
    # outside the bundle, which the bundle must not share: that one gets a copy of its own
    from qaagent.evidence.cleaning import clean  # noqa: PLC0415
    from qaagent.redact import Redactor  # noqa: PLC0415

    folder = tmp_path / "bundle" / "suites" / "one"
    folder.mkdir(parents=True)
    plain, secret, header = folder / "plain.txt", folder / "secret.txt", folder / "header.txt"
    plain.write_text("nothing to hide\n", encoding="utf-8")
    secret.write_text("token s3cr3t-value here\n", encoding="utf-8")
    header.write_text("Authorization: Basic abc\n", encoding="utf-8")  # masked with no secret known
    outside = tmp_path / "outside.txt"
    outside.write_text("shared with the bundle\n", encoding="utf-8")
    linked = folder / "linked.txt"
    os.link(outside, linked)
    before = {p.name: p.stat().st_ino for p in (plain, secret, header, linked)}
    bundle = (tmp_path / "bundle").resolve()
    early, dropped = clean(
        bundle, bundle, Redactor(["s3cr3t-value"]), kept=set(), unredacted=set(), keep=False
    )
    assert (early, dropped) == ([], [])
    after = {p.name: p.stat().st_ino for p in (plain, secret, header, linked)}
    assert after["plain.txt"] == before["plain.txt"]  # unchanged: not rewritten
    assert after["secret.txt"] != before["secret.txt"]
    assert "s3cr3t-value" not in secret.read_text(encoding="utf-8")
    assert header.read_text(encoding="utf-8") == "Authorization: ***\n"
    assert after["linked.txt"] != before["linked.txt"]  # its own copy now
    assert (linked.stat().st_nlink, outside.stat().st_nlink) == (1, 1)
    assert linked.read_text(encoding="utf-8") == outside.read_text(encoding="utf-8")
    assert sorted(p.name for p in folder.iterdir()) == ["header.txt", "linked.txt", "plain.txt", "secret.txt"]


def test_the_seal_spares_its_logs_by_their_walked_names_and_never_follows_a_link_put_in_place(
    tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    # session 26: the seal no longer resolves every path (an lstat per component): the folder is
    # checked from the bundle's resolved path down, the logs named as the walk names them. A
    # log whose bytes look like an image stays (it is qaagent's own), the suite's image goes,
    # and a link the suite put in its folder's place is not followed into the files it points to
    from qaagent.redact import Redactor  # noqa: PLC0415

    clean_env.setenv("SEAL_TEST_TOKEN", "s3cr3t-seal-value")
    bundle = start(tmp_path / "evidence", tmp_path, redactor=Redactor(["s3cr3t-seal-value"]))
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 32
    folder = bundle.suite_dir("unit")
    (folder / "attempt-1").mkdir()
    log = folder / "attempt-1" / "output.log"
    log.write_bytes(png)
    (folder / "attempt-1" / "shot.png").write_bytes(png)
    (folder / "attempt-1" / "left.txt").write_text("s3cr3t-seal-value\n", encoding="utf-8")
    bundle.seal(folder, [log], [])
    assert sorted(p.name for p in (folder / "attempt-1").iterdir()) == ["left.txt", "output.log"]
    assert log.read_bytes() == png
    assert "s3cr3t-seal-value" not in (folder / "attempt-1" / "left.txt").read_text(encoding="utf-8")

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "raw.txt").write_text("s3cr3t-seal-value\n", encoding="utf-8")
    (outside / "pic.png").write_bytes(png)
    other = bundle.suite_dir("e2e")
    other.rmdir()
    other.symlink_to(outside, target_is_directory=True)
    bundle.seal(other, [], [])
    assert sorted(p.name for p in outside.iterdir()) == ["pic.png", "raw.txt"]
    assert (outside / "raw.txt").read_text(encoding="utf-8") == "s3cr3t-seal-value\n"
