"""A run whose reports cannot all be written: the manifest says which are missing, exit 3 in one line.

A real `qaagent run-all` under a file-size limit (`RLIMIT_FSIZE`; Python ignores
SIGXFSZ, so a write past it is `EFBIG`, as a full disk is `ENOSPC`): the merged
JUnit and its `--junit` copy are too large to write, the small files (logs, records,
summary, manifest) are not. The suite's JUnit is hard-linked in, so the child
writes nothing large either.
"""

from __future__ import annotations

import copy
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from conftest import qaagent_environment
from github_server import GitHubServer
from helpers import api_environment, latest_bundle, manifest_of, parse_outputs, post_step

#: bytes any one file may have in the limited run
LIMIT = 256 * 1024
#: cases in the suite's JUnit
CASES = 1500


def big_junit(cases: int) -> str:
    """A JUnit file of `cases` passing cases, each with captured output (incompressible enough to matter)."""
    rows = [
        f'<testcase classname="tests.test_big" name="test_{i}" time="0.001">'
        f"<system-out>output of case {i} {'x' * 400}</system-out></testcase>"
        for i in range(cases)
    ]
    return f'<testsuite name="big" tests="{cases}">' + "".join(rows) + "</testsuite>\n"


def limit_file_size() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, LIMIT))


@pytest.mark.slow
def test_reports_too_large_to_write_are_named_in_the_manifest(tmp_path: Path) -> None:
    source = tmp_path / "big.xml"
    # fewer than CaseStore.SPILL_AT cases: the run itself writes nothing large (its spill file is
    # a write too; a disk full while the suite runs is issue 12's output reader's part)
    source.write_text(big_junit(CASES), encoding="utf-8")
    assert source.stat().st_size > 2 * LIMIT
    project = tmp_path / "project"
    project.mkdir()
    feed = ["sh", "-c", 'exec ln -- "$0" "$QAAGENT_JUNIT_DIR"/big.xml', str(source)]
    (project / ".qaagent.yaml").write_text(
        f"project: {{name: full}}\ntests:\n  feed: {{runner: command, command: {json.dumps(feed)}}}\n",
        encoding="utf-8",
    )
    step_summary = tmp_path / "step-summary.md"
    with GitHubServer() as api:
        done = subprocess.run(
            [sys.executable, "-m", "qaagent", "run-all", "--check-name", "qa"],
            cwd=project,
            env=qaagent_environment({**api_environment(api), "GITHUB_STEP_SUMMARY": str(step_summary)}),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            preexec_fn=limit_file_size,
        )
    assert done.returncode == 3, done.stdout + done.stderr
    # issue 12, fifth review: the check run said `success` (the tests' verdict) beside this
    # exit 3; every qaagent failure concludes it `failure`, naming the error in one line
    [check_run] = api.check_runs.values()
    assert (check_run["status"], check_run.get("conclusion")) == ("completed", "failure"), api.check_runs
    # session 23: ... and said so first: the title, the summary and the job summary were the
    # tests' (`✅ qaagent: success`), the failure a line below the counts
    assert check_run["output"]["title"].startswith("qaagent failed (exit 3) · tests: 1500 passed")
    for text in (check_run["output"]["summary"], step_summary.read_text(encoding="utf-8")):
        assert text.startswith("## ❌ qaagent failed (exit 3) — full\n\ncould not write junit\\.xml"), text[
            :300
        ]
        assert "The tests' own verdict: ✅ success" in text
        assert "qaagent: success" not in text
    assert "Traceback" not in done.stdout + done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert "could not write junit.xml" in last
    assert "the evidence bundle's manifest lists them as missing" in last
    assert "cannot write junit.xml" in done.stdout  # the warning while writing
    bundle = latest_bundle(project)
    manifest = manifest_of(bundle)
    assert manifest["status"] == "success"
    assert manifest["totals"]["total"] == CASES
    missing = {m["path"]: m["reason"] for m in manifest["missing"]}
    assert "junit.xml" in missing
    assert missing["junit.xml"]  # why, in the OS's words
    listed = {f["path"] for f in manifest["files"]}
    assert "junit.xml" not in listed
    assert not (bundle / "junit.xml").exists()
    assert not [p for p in bundle.iterdir() if p.name.endswith(".tmp")]  # no half-written file left
    assert not (project / "qaagent-junit.xml").exists()
    # what could be written is complete and listed; verify names what is not
    assert {"tests.jsonl.gz", "summary.md"} <= listed
    check = subprocess.run(
        [sys.executable, "-m", "qaagent", "verify", str(bundle)],
        env=qaagent_environment(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert check.returncode != 0
    assert "not written: junit.xml" in check.stdout + check.stderr
    assert (bundle / "manifest.json").stat().st_size < LIMIT


@pytest.mark.slow
def test_a_cancelled_run_whose_log_could_not_be_written_says_cancelled_not_exit_3(tmp_path: Path) -> None:
    # session 23: the exit is 130 (a cancelled run), but the check run's summary was headed
    # "qaagent failed (exit 3)" for the log it could not write
    marker = tmp_path / "printed"
    printer = (
        "import pathlib, sys, time\n"
        "for _ in range(1024):\n    sys.stdout.write('x' * 1023 + '\\n')\n"
        f"sys.stdout.flush(); pathlib.Path({str(marker)!r}).touch(); time.sleep(60)\n"
    )
    project = tmp_path / "project"
    project.mkdir()
    (project / "printer.py").write_text(printer, encoding="utf-8")
    command = json.dumps([sys.executable, "printer.py"])
    (project / ".qaagent.yaml").write_text(f"tests:\n  loud: {{runner: command, command: {command}}}\n")
    with GitHubServer() as api:
        proc = subprocess.Popen(  # the limit in KiB (`ulimit -f`), on qaagent's own writes
            [
                "bash",
                "-c",
                f'ulimit -f {LIMIT // 1024} && exec "$0" -m qaagent run-all --quiet --check-name qa',
                sys.executable,
            ],
            cwd=project,
            env=qaagent_environment(api_environment(api)),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            deadline = time.monotonic() + 60
            while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            assert marker.exists(), "the suite did not print its output"
            print(f"printed after {60 - (deadline - time.monotonic()):.1f} s")
            time.sleep(0.5)  # the reader has met the limit on the last of the output
            proc.send_signal(signal.SIGTERM)
            out, _ = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        runs = copy.deepcopy(api.check_runs)
    assert proc.returncode == 130, out
    manifest = manifest_of(latest_bundle(project))
    (attempt,) = manifest["suites"][0]["attempts"]
    assert "File too large" in attempt["log_error"], attempt
    [check] = runs.values()
    assert (check["status"], check.get("conclusion")) == ("completed", "cancelled"), runs
    assert "qaagent failed" not in check["output"]["summary"] + check["output"]["title"], check["output"]
    assert check["output"]["summary"].startswith("## ⏹️ qaagent: cancelled"), check["output"]["summary"][:200]


#: the secret the suite's file holds (a token-named variable is a secret: `redact.Redactor.from_environ`)
SECRET = "sk-live-Zq8w7XpL0aa9dd2"  # noqa: S105 - a test value


def _project_writing(tmp_path: Path, script: str) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    feed = ["sh", "-c", script]
    (project / ".qaagent.yaml").write_text(
        f"project: {{name: full}}\ntests:\n  feed: {{runner: command, command: {json.dumps(feed)}}}\n",
        encoding="utf-8",
    )
    return project


def _run_with_secret(
    project: Path,
    *,
    prefix: Sequence[str] = (),
    preexec_fn: Callable[[], None] | None = None,
    api: GitHubServer | None = None,
    step_summary: Path | None = None,
    state: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """`qaagent run-all` in `project`, with `SECRET` in a token variable; with `api`, a check run `qa`."""
    feedback = ["--check-name", "qa"] if api is not None else []
    summary = {"GITHUB_STEP_SUMMARY": str(step_summary)} if step_summary is not None else {}
    if state is not None:
        summary["GITHUB_STATE"] = str(state)
    return subprocess.run(
        [*prefix, sys.executable, "-m", "qaagent", "run-all", *feedback],
        cwd=project,
        env=qaagent_environment({"MY_API_TOKEN": SECRET, **(api_environment(api) if api else {}), **summary}),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        preexec_fn=preexec_fn,
    )


@pytest.mark.slow
def test_a_file_with_no_room_for_its_redacted_copy_is_removed_and_named(tmp_path: Path) -> None:
    # the suite's file is larger than any file may grow: its redacted copy cannot be written
    # (as on a nearly full disk); the raw original must not stay in the bundle
    source = tmp_path / "trace.txt"
    source.write_text(f"Authorization: {SECRET}\n" + ("z" * 80 + "\n") * 8000)
    assert source.stat().st_size > 2 * LIMIT
    project = _project_writing(tmp_path, f'exec ln -- {source} "$QAAGENT_JUNIT_DIR"/trace.txt')
    done = _run_with_secret(project, preexec_fn=limit_file_size)
    assert "Traceback" not in done.stdout + done.stderr
    bundle = latest_bundle(project)
    holding = [p for p in bundle.rglob("*") if p.is_file() and SECRET.encode() in p.read_bytes()]
    assert holding == []
    assert not list(bundle.rglob("trace.txt"))
    manifest = manifest_of(bundle)
    why = {e["path"]: e["why"] for e in manifest["not_kept"]}
    [reason] = [w for p, w in why.items() if p.endswith("trace.txt")]
    assert reason == "not kept (could not be redacted: File too large (over the file-size limit))", reason
    assert manifest["status"] == "success", done.stdout + done.stderr
    # session 23 (issue 12 review): EFBIG here was exit 0 while EFBIG on qaagent's own reports is
    # exit 3; the issue names `ulimit -f` beside a full disk: one rule, the file named missing
    assert done.returncode == 3, done.stdout + done.stderr
    missing = {m["path"]: m["reason"] for m in manifest["missing"]}
    assert missing == {
        "suites/feed/attempt-1/junit/trace.txt": "could not be redacted: File too large (over the file-size limit)"
    }, manifest["missing"]
    last = done.stderr.strip().splitlines()[-1]
    assert "could not write suites/feed/attempt-1/junit/trace.txt" in last, last
    # one warning names the file (as missing), not a second one counting it as removed
    assert "qaagent: warning: removed" not in done.stdout, done.stdout


#: root may write into and unlink from any folder: when the tests run as root, the child runs
#: without the capabilities that allow that (util-linux's `setpriv`)
UNPRIVILEGED = (
    ["setpriv", "--bounding-set", "-dac_override,-dac_read_search,-fowner"] if os.geteuid() == 0 else []
)


def _unremovable_file_project(tmp_path: Path, text: str) -> Path:
    """A project whose suite leaves `sub/x.txt` holding `text` in a folder it made read-only (555)."""
    if UNPRIVILEGED and shutil.which("setpriv") is None:
        pytest.fail("setpriv (util-linux) is needed to run this test as root")
    return _project_writing(
        tmp_path,
        f'mkdir "$QAAGENT_JUNIT_DIR"/sub && echo "{text}" > "$QAAGENT_JUNIT_DIR"/sub/x.txt'
        ' && chmod 555 "$QAAGENT_JUNIT_DIR"/sub',
    )


@pytest.mark.slow
def test_a_file_that_can_be_neither_redacted_nor_removed_fails_the_run_naming_it(tmp_path: Path) -> None:
    # the suite leaves its file in a folder it made read-only: no redacted copy can be written
    # beside it, and it cannot be unlinked: the run must not end as if the bundle were clean
    project = _unremovable_file_project(tmp_path, f"key={SECRET}")
    step_summary = tmp_path / "step-summary.md"
    try:
        with GitHubServer() as api:
            done = _run_with_secret(project, prefix=UNPRIVILEGED, api=api, step_summary=step_summary)
            runs = api.check_runs
    finally:
        for sub in project.rglob("sub"):
            sub.chmod(0o755)
    assert done.returncode == 3, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert "could neither redact nor remove" in last
    assert "sub/x.txt (could not be redacted: Permission denied" in last
    assert SECRET not in done.stdout + done.stderr
    manifest = manifest_of(latest_bundle(project))
    assert manifest["status"] == "running"  # `verify`: incomplete
    # issue 12, fifth review: this exit 3 left the check run in_progress (publish was never
    # reached): it concludes `failure`, its summary the error's one line
    [check] = runs.values()
    assert (check["status"], check.get("conclusion")) == ("completed", "failure"), runs
    summary = check["output"]["summary"]
    assert summary.startswith("**qaagent failed (exit 3):** the evidence bundle "), summary
    assert "could neither redact nor remove" in summary
    assert "\n" not in summary
    assert check["output"]["title"] == "qaagent failed (exit 3)"
    # session 23: the job summary was empty; it is the same one line
    assert step_summary.read_text(encoding="utf-8") == summary + "\n"


#: seconds the API takes to answer the run's first check-run creation: after the run's 5 s at
#: the start and 5 s at the end (`feedback.END_START_WAIT`), before the request's 30 s deadline
HUNG_CREATION = 20.0


@pytest.mark.slow
def test_an_exit_3_with_a_hung_creation_leaves_its_failure_to_the_late_check_run(tmp_path: Path) -> None:
    # session 23: the failing run's end waits 5 s for the hung creation, concludes a check run
    # of its own `failure` and saves its id; the post step gives the late one that conclusion
    # (a file holding a secret: one without is not rewritten, so a read-only folder fails nothing)
    project = _unremovable_file_project(tmp_path, f"key={SECRET}")
    state = tmp_path / "state"
    state.touch()
    try:
        with GitHubServer() as api:
            api.create_delay = HUNG_CREATION
            done = _run_with_secret(project, prefix=UNPRIVILEGED, api=api, state=state)
            at_exit = copy.deepcopy(api.check_runs)
            deadline = time.monotonic() + HUNG_CREATION + 15
            while len(api.check_runs) < 2 and time.monotonic() < deadline:  # the hung creation lands
                time.sleep(0.05)
            saved = parse_outputs(state.read_text(encoding="utf-8"))
            post = post_step(api, project, saved)
            runs = copy.deepcopy(api.check_runs)
    finally:
        for sub in project.rglob("sub"):
            sub.chmod(0o755)
    assert done.returncode == 3, done.stdout + done.stderr
    warned = [line for line in done.stdout.splitlines() if line.startswith("::warning")]
    assert any("GitHub had not answered the check run's creation" in line for line in warned), done.stdout
    [published] = at_exit.values()
    assert (published["status"], published.get("conclusion")) == ("completed", "failure"), at_exit
    assert saved["check_run_id"] == str(published["id"])
    assert post.returncode == 0, post.stderr
    assert "completed it as the run's own (failure)" in post.stdout, post.stdout
    assert [(c["status"], c.get("conclusion")) for c in runs.values()] == [("completed", "failure")] * 2, runs
    assert len({c["output"]["summary"] for c in runs.values()}) == 1


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["000", "333"])
def test_files_in_a_folder_the_suite_made_unlistable_are_redacted(tmp_path: Path, mode: str) -> None:
    # issue 12, fifth review: `rglob` silently skipped a folder it could not list, so the
    # secret in the file inside stayed raw (exit 0, nothing in not_kept). qaagent owns the
    # folder: it makes it listable (u+rwx) and redacts what is inside.
    if UNPRIVILEGED and shutil.which("setpriv") is None:
        pytest.fail("setpriv (util-linux) is needed to run this test as root")
    project = _project_writing(
        tmp_path,
        f'mkdir "$QAAGENT_JUNIT_DIR"/sub && echo "key={SECRET}" > "$QAAGENT_JUNIT_DIR"/sub/x.txt'
        f' && chmod {mode} "$QAAGENT_JUNIT_DIR"/sub',
    )
    try:
        done = _run_with_secret(project, prefix=UNPRIVILEGED)
    finally:
        for sub in project.rglob("sub"):
            sub.chmod(0o755)
    assert done.returncode == 0, done.stdout + done.stderr
    bundle = latest_bundle(project)
    holding = [p for p in bundle.rglob("*") if p.is_file() and SECRET.encode() in p.read_bytes()]
    assert holding == []
    [kept] = bundle.rglob("x.txt")
    assert kept.read_text(encoding="utf-8") == "key=***\n"
    manifest = manifest_of(bundle)
    assert manifest["status"] == "success"
    assert any(f["path"].endswith("sub/x.txt") for f in manifest["files"]), manifest["files"]


def _in_a_small_tmpfs(project: Path, copy_to: Path, size: str) -> list[str]:
    """`sh -c` in a mount namespace of its own, `.qaagent` a tmpfs of `size`; the evidence copied out."""
    script = (
        f"mkdir -p .qaagent && mount -t tmpfs -o size={size} tmpfs .qaagent && "
        f'{sys.executable} -m qaagent run-all; rc=$?; cp -a .qaagent/evidence "$0"; exit $rc'
    )
    return ["unshare", "--map-root-user", "--mount", "sh", "-c", script, str(copy_to)]


def _can_mount_a_tmpfs(tmp_path: Path) -> bool:
    probe = subprocess.run(
        ["unshare", "--map-root-user", "--mount", "sh", "-c", f"mount -t tmpfs -o size=64k tmpfs {tmp_path}"],
        capture_output=True,
        check=False,
    )
    return probe.returncode == 0


@pytest.mark.slow
def test_a_full_disk_removes_the_file_names_it_missing_and_ends_with_exit_3(tmp_path: Path) -> None:
    # issue 12, sixth review: the ENOSPC branch had no test, and it named the same file in two
    # warnings. A real full disk: `.qaagent` is a tmpfs of 1.7 MB and the suite leaves a 1 MB
    # file with the secret, so its redacted copy finds no room.
    if shutil.which("unshare") is None or not _can_mount_a_tmpfs(tmp_path):
        if os.environ.get("CI") == "true":
            pytest.fail("test cannot run on CI: no mount namespace with a tmpfs (util-linux's unshare)")
        pytest.skip("no mount namespace with a tmpfs here (util-linux's unshare)")
    project = _project_writing(
        tmp_path,
        'printf "connecting with %s\\n" "$MY_API_TOKEN" > "$QAAGENT_JUNIT_DIR"/../notes.txt && '
        'head -c 1000000 /dev/zero | tr "\\0" x >> "$QAAGENT_JUNIT_DIR"/../notes.txt',
    )
    out = tmp_path / "evidence-copy"
    done = _run_with_secret(project, prefix=_in_a_small_tmpfs(project, out, "1700k"))
    assert "Traceback" not in done.stdout + done.stderr
    assert done.returncode == 3, done.stdout + done.stderr
    [bundle] = [p for p in out.iterdir() if p.is_dir()]
    holding = [p for p in bundle.rglob("*") if p.is_file() and SECRET.encode() in p.read_bytes()]
    assert holding == []
    manifest = manifest_of(bundle)
    missing = {m["path"]: m["reason"] for m in manifest["missing"]}
    assert missing == {
        "suites/feed/attempt-1/notes.txt": "could not be redacted: No space left on device (the disk is full)"
    }, manifest["missing"]
    # one warning names the file (as missing), not a second one counting it as removed
    named = [
        line
        for line in done.stdout.splitlines()
        if line.startswith("qaagent: warning:") and "notes.txt" in line
    ]
    removed = [line for line in done.stdout.splitlines() if "qaagent: warning: removed" in line]
    assert len(named) == 1, done.stdout
    assert removed == [], done.stdout
