"""Nothing gets in: hostile bundles, profile values and files at the doors (issue 12's reproductions).

Each test runs real qaagent processes on real files (FIFOs, links, /dev/zero) and
expects one line and exit 2 where the input is bad, and a normal run where only
what a suite left behind is odd.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ProjectFactory, run_qaagent
from helpers import latest_bundle, manifest_of

from qaagent.plan import build_plan
from qaagent.profile_load import load_profile

PASSING_JUNIT = '<testsuite name="x" tests="1"><testcase classname="a" name="b"/></testsuite>'


def _passing_project(qa_project: ProjectFactory, script: str = "") -> Path:
    command = [
        "sh",
        "-c",
        f'mkdir -p "$QAAGENT_JUNIT_DIR" && echo \'{PASSING_JUNIT}\' > "$QAAGENT_JUNIT_DIR/ok.xml"{script}',
    ]
    return qa_project(
        {".qaagent.yaml": f"tests:\n  s: {{runner: command, command: {json.dumps(command)}}}\n"}
    )


def _one_line_exit_2(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
@pytest.mark.parametrize("run_id", ["RELATIVE", "ABSOLUTE"])
def test_merge_refuses_a_run_id_that_leaves_the_evidence_dir(
    qa_project: ProjectFactory, tmp_path: Path, run_id: str
) -> None:
    root = _passing_project(qa_project)
    assert run_qaagent("run-all", "--quiet", cwd=root).returncode == 0
    bundle = latest_bundle(root)
    target = tmp_path / "x" / ".config" / "git"
    # relative: from <root>/ev/merged/<run>/shards/ five levels up is tmp_path
    run_id = str(target) if run_id == "ABSOLUTE" else "../../../../../x/.config/git"
    (bundle / "config").write_text("[core]\n\tfsmonitor = touch /tmp/pwned\n", encoding="utf-8")
    manifest = manifest_of(bundle)
    manifest["run_id"] = run_id
    size = (bundle / "config").stat().st_size
    manifest["files"].append({"path": "config", "sha256": _sha(bundle / "config"), "size": size})
    (bundle / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")

    verified = run_qaagent("verify", str(bundle), cwd=root)
    assert verified.returncode != 0, verified.stdout
    assert "run_id" in verified.stdout + verified.stderr

    result = run_qaagent("merge", str(bundle), "--evidence-dir", "ev/merged", "--junit", "m.xml", cwd=root)
    assert "run_id" in _one_line_exit_2(result)
    assert not target.exists()
    assert not (root / "ev").exists()


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ('"ev\\n/home/runner/.docker/config.json\\n"', "evidence_dir"),
        ("/tmp/outside-evidence", "evidence_dir"),
        ("/tmp/outside.xml", "junit"),
        ("../../outside.xml", "junit"),
    ],
)
def test_profile_report_paths_stay_inside_the_project(
    qa_project: ProjectFactory, value: str, field: str
) -> None:
    root = qa_project(
        {
            ".qaagent.yaml": f'reports:\n  {field}: {value}\ntests:\n  s: {{runner: command, command: ["true"]}}\n'
        }
    )
    line = _one_line_exit_2(run_qaagent("run-all", "--quiet", cwd=root, timeout=60))
    assert f"reports.{field}" in line
    assert not Path("/tmp/outside.xml").exists() or field != "junit"
    assert not (root / ".qaagent").exists()


@pytest.mark.parametrize("field", ["working_directory", "path"])
def test_suite_paths_from_the_profile_stay_inside_the_project(qa_project: ProjectFactory, field: str) -> None:
    root = qa_project(
        {
            ".qaagent.yaml": f"tests:\n  s: {{runner: pytest, {field}: ../../..}}\n",
            "test_a.py": "def test_a(): pass\n",
        }
    )
    line = _one_line_exit_2(run_qaagent("run-all", "--quiet", cwd=root, timeout=60))
    assert f"tests.s.{field}" in line


@pytest.mark.parametrize("where", ["../..", "ABSOLUTE", "LINK"])
def test_the_apps_working_directory_stays_inside_the_project(
    qa_project: ProjectFactory, tmp_path: Path, where: str
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    value = {"../..": "../..", "ABSOLUTE": str(outside), "LINK": "out"}[where]
    # where the app would run: two levels above the project (tmp_path/project), or the linked folder
    marker = (tmp_path.parent if where == "../.." else outside) / "started-here"
    app = {
        "base_url": "http://127.0.0.1:9",
        "start_command": ["sh", "-c", "touch started-here; sleep 30"],
        "startup_timeout": 5,
        "working_directory": value,
    }
    root = qa_project(
        {
            ".qaagent.yaml": f'app: {json.dumps(app)}\ntests:\n  s: {{runner: command, command: ["true"]}}\n',
        }
    )
    (root / "out").symlink_to(outside)
    line = _one_line_exit_2(run_qaagent("run-all", "--quiet", cwd=root, timeout=60))
    assert "app.working_directory" in line
    assert "outside the project" in line
    assert not marker.exists(), "the app was started outside the project"
    assert not (root / ".qaagent").exists()


def test_the_app_starts_in_its_working_directory_inside_the_project(qa_project: ProjectFactory) -> None:
    # the confined folder is the one the app runs in (not the profile's folder)
    root = qa_project(
        {
            ".qaagent.yaml": "app: {start_command: [python, -m, http.server], working_directory: srv}\n"
            'tests:\n  s: {runner: command, command: ["true"]}\n',
            "srv/index.html": "ok",
        }
    )
    plan = build_plan(load_profile(root / ".qaagent.yaml"), repo_root=root)
    assert plan.app_directory == (root / "srv").resolve()


@pytest.mark.slow
def test_links_fifos_and_devices_in_a_junit_folder_do_not_fail_a_passing_run(
    qa_project: ProjectFactory,
) -> None:
    script = (
        ' && cd "$QAAGENT_JUNIT_DIR" && ln -s /nonexistent dangling.xml && ln -s /tmp folder'
        " && ln -s /dev/zero zero.log && mkfifo pipe.log && ln -s /etc/hostname host.txt"
    )
    root = _passing_project(qa_project, script)
    result = run_qaagent("run-all", "--quiet", cwd=root, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    bundle = latest_bundle(root)
    manifest = manifest_of(bundle)
    assert manifest["status"] == "success"
    not_kept = {entry["path"].rsplit("/", 1)[-1]: entry["why"] for entry in manifest["not_kept"]}
    assert not_kept["dangling.xml"] == "not kept (symlink to /nonexistent)"
    assert not_kept["folder"] == "not kept (symlink to /tmp)"
    assert not_kept["zero.log"] == "not kept (symlink to /dev/zero)"
    assert not_kept["host.txt"] == "not kept (symlink to /etc/hostname)"
    assert not_kept["pipe.log"] == "not kept (FIFO)"  # (a FIFO named as a report is the suite's error)
    listed = {entry["path"] for entry in manifest["files"]}
    assert not any(name.endswith(("dangling.xml", "zero.log", "pipe.log", "host.txt")) for name in listed)
    assert run_qaagent("verify", str(bundle), cwd=root).returncode == 0


@pytest.mark.slow
def test_keep_never_prunes_the_bundle_of_a_run_still_going(qa_project: ProjectFactory) -> None:
    root = _passing_project(qa_project)
    evidence = root / ".qaagent" / "evidence"
    host = socket.gethostname()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        for run_id, pid in (("20200101_000000Z", alive.pid), ("20200101_000001Z", 2**22 + 1)):
            (evidence / run_id).mkdir(parents=True)
            manifest = {
                "schema_version": 1,
                "run_id": run_id,
                "status": "running",
                "started": "2020-01-01T00:00:00Z",
                "host": {"hostname": host},
                "process": {"pid": pid, "host": host},
                "files": [],
            }
            (evidence / run_id / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
        result = run_qaagent("run-all", "--quiet", "--keep", "1", cwd=root, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr
        assert (evidence / "20200101_000000Z").is_dir()  # its process is alive
        assert not (evidence / "20200101_000001Z").exists()  # its process is gone
        mine = manifest_of(latest_bundle(root))
        assert mine["process"] == {"pid": mine["process"]["pid"], "host": host}
    finally:
        alive.kill()
        alive.wait()


@pytest.mark.parametrize("kind", ["fifo", "zero", "link-to-zero"])
def test_a_profile_that_is_no_regular_file_is_refused(tmp_path: Path, kind: str) -> None:
    profile = tmp_path / "profile.yaml"
    if kind == "fifo":
        os.mkfifo(profile)
        name = str(profile)
    elif kind == "zero":
        name = "/dev/zero"
    else:
        profile.symlink_to("/dev/zero")
        name = str(profile)
    line = _one_line_exit_2(run_qaagent("validate", "--profile", name, cwd=tmp_path, timeout=30))
    assert "no regular file" in line


def test_verify_refuses_a_manifest_that_is_a_fifo(tmp_path: Path) -> None:
    bundle = tmp_path / "20250101_000000Z"
    bundle.mkdir()
    os.mkfifo(bundle / "manifest.json")
    result = run_qaagent("verify", str(bundle), cwd=tmp_path, timeout=30)
    assert result.returncode == 1, result.stdout + result.stderr  # a problem named, as verify does
    assert "no regular file" in result.stdout + result.stderr


@pytest.mark.slow
def test_artifact_globs_never_copy_what_points_outside_the_project(qa_project: ProjectFactory) -> None:
    root = qa_project(
        {
            ".qaagent.yaml": (
                'tests:\n  s:\n    runner: command\n    command: ["sh", "-c", "exit 1"]\n'
                '    artifacts: ["shots/*", "/etc/hostname", "../../*/etc/os-release"]\n'
            ),
            "shots/fine.txt": "kept\n",
        }
    )
    (root / "shots" / "screen.png").symlink_to("/etc/hostname")
    result = run_qaagent("run-all", "--quiet", cwd=root, timeout=60)
    assert result.returncode == 1, result.stdout + result.stderr
    output = result.stdout + result.stderr
    assert "shots/screen.png" in output
    assert "/etc/hostname" in output
    assert "refused, not kept" in output
    listed = {entry["path"] for entry in manifest_of(latest_bundle(root))["files"]}
    assert any(path.endswith("artifacts/shots/fine.txt") for path in listed), listed
    assert not any(path.endswith(("screen.png", "hostname", "os-release")) for path in listed), listed


@pytest.mark.slow
def test_a_log_that_cannot_be_written_ends_in_exit_3_not_a_hang(qa_project: ProjectFactory) -> None:
    # 4 MiB of output against a 1 MiB file-size limit (ulimit -f, in KiB) on qaagent's own writes:
    # the reader must keep draining, the suite ends on its own, the manifest says what was lost.
    printer = "import sys\nfor _ in range(4096):\n    sys.stdout.write('x' * 1023 + '\\n')\n"
    root = qa_project(
        {
            "printer.py": printer,
            ".qaagent.yaml": (
                f"tests:\n  loud: {{runner: command, command: {json.dumps([sys.executable, 'printer.py'])},"
                " timeout: 120}\n"
            ),
        }
    )
    argv = [sys.executable, "-m", "qaagent", "run-all", "--quiet"]
    script = "ulimit -f 1024 && exec " + " ".join(argv)
    from conftest import qaagent_environment  # noqa: PLC0415 - the environment run_qaagent uses

    result = subprocess.run(
        ["bash", "-c", script],
        cwd=root,
        env=qaagent_environment(),
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert result.returncode == 3, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    manifest = manifest_of(latest_bundle(root))
    assert manifest["status"] != "running"
    (attempt,) = manifest["suites"][0]["attempts"]
    assert "File too large" in attempt["log_error"], attempt
    assert attempt["duration"] < 60  # finished on its own: the pipe was drained


#: a Playwright stand-in: a JUnit file where the wrapper config says, then its record of the
#: resolved config (`playwright-config.json`, in the suite-writable attempt folder) replaced
_FAKE_PLAYWRIGHT = """#!/bin/sh
A=$(dirname "$(dirname "$PLAYWRIGHT_JUNIT_OUTPUT_FILE")")
echo '<testsuite name="x" tests="1"><testcase classname="a.spec.ts" name="t"/></testsuite>' > "$PLAYWRIGHT_JUNIT_OUTPUT_FILE"
rm -f "$A/playwright-config.json"
if [ "$MODE" = fifo ]; then mkfifo "$A/playwright-config.json"; else ln -s /dev/zero "$A/playwright-config.json"; fi
"""
#: a behave stand-in: one failing scenario, its rerun file (`--outfile`) replaced
_FAKE_BEHAVE = """#!/bin/sh
for a in "$@"; do case "$a" in --junit-directory=*) J=${a#--junit-directory=};; --outfile=*) R=${a#--outfile=};; esac; done
echo '<testsuite name="a.f" tests="1"><testcase classname="a.f" name="s"><failure message="x"/></testcase></testsuite>' > "$J/TESTS-a.xml"
rm -f "$R"
if [ "$MODE" = fifo ]; then mkfifo "$R"; else ln -s /dev/zero "$R"; fi
exit 1
"""


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["fifo", "zero"])
@pytest.mark.parametrize("runner", ["playwright", "behave"])
def test_a_runner_file_the_suite_replaced_by_a_fifo_or_dev_zero_is_refused(
    qa_project: ProjectFactory, runner: str, mode: str
) -> None:
    # session 23 (issue 12, seventh review): the Playwright runner's `playwright-config.json`
    # and behave's rerun file live in the suite-writable attempt folder and were read with a
    # plain read_text: a FIFO hung qaagent for good (SIGTERM ignored), /dev/zero filled memory
    fake = _FAKE_PLAYWRIGHT if runner == "playwright" else _FAKE_BEHAVE
    suite = (
        "e2e: {runner: playwright, path: ., command: [./fake.sh]}"
        if runner == "playwright"
        else "bdd: {runner: behave, path: features, command: [./fake.sh], retry_count: 1}"
    )
    root = qa_project(
        {
            "fake.sh": fake,
            "playwright.config.js": "export default {};\n",
            "features/a.feature": "Feature: f\n  Scenario: s\n    Given x\n",
            ".qaagent.yaml": f"tests:\n  {suite}\n",
        }
    )
    (root / "fake.sh").chmod(0o755)
    done = run_qaagent("run-all", cwd=root, env={"MODE": mode}, timeout=60)
    assert "Traceback" not in done.stdout + done.stderr
    assert done.returncode == (0 if runner == "playwright" else 1), done.stdout + done.stderr
    assert "MemoryError" not in done.stdout + done.stderr
    assert manifest_of(latest_bundle(root))["status"] in ("success", "failure")


@pytest.mark.slow
def test_the_list_of_unread_files_is_never_appended_through_a_link_the_suite_left(
    qa_project: ProjectFactory, tmp_path: Path
) -> None:
    # session 23 (issue 12, seventh review): qaagent appended its "not read" lines to the
    # attempt's output.log by name, following a link the suite had put there: a write outside
    victim = tmp_path / "victim.txt"
    victim.write_text("untouched\n", encoding="utf-8")
    script = (
        "mkdir -p out && "
        'echo \'<testsuite name="s" tests="1"><testcase classname="c" name="t"/></testsuite>\' > out/ok.xml && '
        "ln -sf /etc/hostname out/bad.xml && "
        f'A=$(dirname "$QAAGENT_JUNIT_DIR") && rm -f "$A/output.log" && ln -s {victim} "$A/output.log"'
    )
    command = json.dumps(["sh", "-c", script])
    root = qa_project(
        {".qaagent.yaml": f"tests:\n  s: {{runner: command, command: {command}, files: 'out/*.xml'}}\n"}
    )
    done = run_qaagent("run-all", cwd=root)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert victim.read_text(encoding="utf-8") == "untouched\n"
    assert "warning: cannot add the list of files to the suite's log" in done.stdout, done.stdout
    not_kept = {e["path"]: e["why"] for e in manifest_of(latest_bundle(root))["not_kept"]}
    assert any(path.endswith("output.log") for path in not_kept), not_kept  # the link: set aside


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["fifo", "link"])
def test_a_log_the_suite_replaced_gets_no_timeout_line_through_it(
    qa_project: ProjectFactory, tmp_path: Path, kind: str
) -> None:
    # session 23 (issue 12, eighth review): the "[qaagent: timed out …]" line was appended to
    # output.log by name: a FIFO the suite put there hung qaagent for ever (SIGTERM ignored),
    # a link wrote outside the bundle. Every append goes through files.open_append now.
    victim = tmp_path / "victim.txt"
    victim.write_text("untouched\n", encoding="utf-8")
    replace = f'ln -s {victim} "$A/output.log"' if kind == "link" else 'mkfifo "$A/output.log"'
    script = f'A=$(dirname "$QAAGENT_JUNIT_DIR") && rm -f "$A/output.log" && {replace} && exec sleep 30'
    command = json.dumps(["sh", "-c", script])
    root = qa_project(
        {".qaagent.yaml": f"tests:\n  s: {{runner: command, command: {command}, timeout: 1}}\n"}
    )
    done = run_qaagent("run-all", cwd=root, timeout=60)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "Traceback" not in output
    assert "timed out after 1 s" in output, output
    assert victim.read_text(encoding="utf-8") == "untouched\n"
    manifest = manifest_of(latest_bundle(root))
    assert manifest["suites"][0]["name"] == "s"
