"""The one door for the files a suite left (`runners.result_door.match_files`), on real files.

Every hostile entry a glob can match — a link out of the project, a link to /dev/zero,
a FIFO nobody writes, a folder, a link to nothing, a name with a line break, a sparse
1 GiB file — is classified (kept / refused with a reason / left out) without being
opened; in a suite's own report folder what cannot be read goes to the reader, which
makes it the suite's error. The real runs check what a user sees: one warning per
reason, the manifest's `ignored_files`, a run that ends (no hang on a FIFO).
"""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path

import pytest
from conftest import ProjectFactory, run_qaagent
from helpers import manifest_of, records_of

from qaagent.errors import UsageError
from qaagent.files import FileTooLargeError, NotRegularFileError, copy_regular
from qaagent.formats.source import MAX_FILE_BYTES
from qaagent.paths import OUTSIDE, UNSAFE_NAME, confine, refusal
from qaagent.runners.result_door import NOT_REGULAR, keep_copies, match_files, refused_note

JUNIT = '<testsuite name="s" tests="1"><testcase classname="{name}" name="t"/></testsuite>\n'


def hostile_folder(project: Path, outside: Path) -> Path:
    """`project/reports` holding one good report and one of each hostile kind."""
    reports = project / "reports"
    reports.mkdir(parents=True)
    (reports / "good.xml").write_text(JUNIT.format(name="good"), encoding="utf-8")
    (outside / "secret.xml").write_text(JUNIT.format(name="secret"), encoding="utf-8")
    (reports / "out.xml").symlink_to(outside / "secret.xml")
    (reports / "zero.xml").symlink_to("/dev/zero")
    os.mkfifo(reports / "pipe.xml")  # nobody writes: opening it blocking would hang
    (reports / "folder.xml").mkdir()
    (reports / "dangling.xml").symlink_to(project / "nowhere.xml")
    (reports / "inside.xml").symlink_to(reports / "good.xml")  # a link that stays inside is fine
    with (reports / "huge.xml").open("wb") as handle:
        handle.truncate(MAX_FILE_BYTES + 1)  # sparse: nothing is written
    return reports


def test_a_glob_match_is_kept_refused_with_the_reason_or_left_out(tmp_path: Path) -> None:
    project, outside = tmp_path / "project", tmp_path / "elsewhere"
    outside.mkdir()
    reports = hostile_folder(project, outside)
    listening = socket.socket(socket.AF_UNIX)
    listening.bind(str(reports / "s.xml"))  # a socket stands in for a device: neither is a file
    found = match_files(["reports/*.xml"], cwd=project, repo_root=project)
    listening.close()
    assert [p.name for p in found.files] == [
        "good.xml",
        "huge.xml",
        "inside.xml",
    ]  # huge: the reader refuses it
    reasons = {item.path.name: item.reason for item in found.ignored}
    assert reasons == {
        "out.xml": f"{OUTSIDE}: it resolves to {outside.resolve() / 'secret.xml'}, outside {project.resolve()}",
        "zero.xml": f"{OUTSIDE}: it resolves to /dev/zero, outside {project.resolve()}",
        "pipe.xml": f"{NOT_REGULAR}: a FIFO",
        "s.xml": f"{NOT_REGULAR}: a socket",
    }  # folder.xml and dangling.xml are no files: left out
    assert refused_note(found.ignored) == f" (2 {OUTSIDE}, 2 {NOT_REGULAR}: not read)"
    assert (reports / "pipe.xml").is_fifo()


def test_excludes_absolute_globs_and_unsafe_names(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "r" / "old").mkdir(parents=True)
    for rel in ("r/a.xml", "r/old/b.xml", "r/line\nbreak.xml"):
        (project / rel).write_text(JUNIT.format(name="x"), encoding="utf-8")
    found = match_files(["r/**/*.xml", "!r/old/*", "/etc/host*"], cwd=project, repo_root=project)
    assert found.files == [project / "r" / "a.xml"]
    reasons = {str(item.path): item.reason for item in found.ignored}
    assert reasons[str(project / "r" / "line\nbreak.xml")].startswith(f"{UNSAFE_NAME}: it contains a control")
    assert reasons["/etc/hostname"].startswith(f"{OUTSIDE}: it resolves to /etc/hostname")
    assert not any("old" in path for path in reasons)


def test_the_own_report_folder_hands_what_cannot_be_read_to_the_reader(tmp_path: Path) -> None:
    project, outside = tmp_path / "project", tmp_path / "elsewhere"
    outside.mkdir()
    reports = hostile_folder(project, outside)
    (reports / ".hidden.xml").write_text(JUNIT.format(name="hidden"), encoding="utf-8")
    found = match_files(["*.xml"], cwd=reports, repo_root=project, own=True)
    # the link out, the FIFO, the folder and the huge file become the suite's error (the reader
    # says why); the links to nothing and to a device are set aside by the bundle, not followed
    assert [p.name for p in found.files] == [
        ".hidden.xml",
        "folder.xml",
        "good.xml",
        "huge.xml",
        "inside.xml",
        "out.xml",
        "pipe.xml",
    ]
    assert found.ignored == []


def test_only_what_qaagent_writes_in_the_evidence_folder_is_left_out(tmp_path: Path) -> None:
    # `--evidence-dir reports --files 'reports/*.xml'`: the user's reports beside the run
    # bundles are read; the bundles (a run folder, a folder holding a manifest) and the shared
    # durations file are qaagent's own output
    project = tmp_path / "project"
    reports = project / "reports"
    for name in ("20261201_170000Z", "20261201_170000Z_shard-1of2-2", "renamed", "user"):
        (reports / name).mkdir(parents=True)
    (reports / "renamed" / "manifest.json").write_text("{}", encoding="utf-8")
    for rel in (
        "a.xml",
        "user/b.xml",
        "20261201_170000Z/junit.xml",
        "20261201_170000Z_shard-1of2-2/suites/s/r.xml",
        "renamed/junit.xml",
        "qaagent-durations.json",
    ):
        (reports / rel).parent.mkdir(parents=True, exist_ok=True)
        (reports / rel).write_text(JUNIT.format(name="x"), encoding="utf-8")
    merged = project / "qaagent-junit.xml"
    merged.write_text(JUNIT.format(name="merged"), encoding="utf-8")
    found = match_files(
        ["reports/**/*.xml", "reports/*.json", "*.xml"],
        cwd=project,
        repo_root=project,
        leave_out=(merged, reports),
    )
    assert [p.relative_to(project).as_posix() for p in found.files] == ["reports/a.xml", "reports/user/b.xml"]
    reasons = {item.path.relative_to(project).as_posix(): item.reason for item in found.ignored}
    assert sorted(reasons) == [
        "qaagent-junit.xml",
        "reports/20261201_170000Z/junit.xml",
        "reports/20261201_170000Z_shard-1of2-2/suites/s/r.xml",
        "reports/qaagent-durations.json",
        "reports/renamed/junit.xml",
    ]
    assert all(reason.startswith("qaagent's own output") for reason in reasons.values())
    assert "run bundle" in reasons["reports/renamed/junit.xml"]


def test_a_match_swapped_for_a_fifo_or_dev_zero_is_never_copied(tmp_path: Path) -> None:
    # what the door kept may be swapped before it is copied into the bundle: the copy checks
    # the open descriptor, so a FIFO cannot hang it and /dev/zero cannot fill the disk
    (tmp_path / "good.xml").write_text(JUNIT.format(name="good"), encoding="utf-8")
    os.mkfifo(tmp_path / "pipe.xml")
    (tmp_path / "zero.xml").symlink_to("/dev/zero")
    sources = [tmp_path / name for name in ("good.xml", "pipe.xml", "zero.xml")]
    copies = keep_copies(sources, tmp_path / "bundle")
    assert copies == [
        tmp_path / "bundle" / "001-good.xml",
        sources[1],
        sources[2],
    ]  # the reader refuses those
    assert sorted(p.name for p in (tmp_path / "bundle").iterdir()) == ["001-good.xml"]
    with pytest.raises(NotRegularFileError):
        copy_regular(tmp_path / "zero.xml", tmp_path / "z")
    (tmp_path / "ten.xml").write_bytes(b"0123456789")
    with pytest.raises(FileTooLargeError):
        copy_regular(tmp_path / "ten.xml", tmp_path / "t", 5)
    assert not (tmp_path / "z").exists()
    assert not (tmp_path / "t").exists()


def test_one_check_for_typed_and_matched_paths(tmp_path: Path) -> None:
    root = tmp_path.resolve()
    (root / "link").symlink_to("/etc")
    for text in ("../x", "link/hostname", "/etc/hostname"):
        with pytest.raises(UsageError, match="outside the project"):
            confine(text, base=root, root=root, what="v", where="the project")
        assert (refusal(root / text, root=root) or "").startswith(OUTSIDE)
    with pytest.raises(UsageError, match="control character"):
        confine("a\nb", base=root, root=root, what="v")
    assert (refusal(root / "a\nb", root=root) or "").startswith(UNSAFE_NAME)
    assert refusal(root / "inside.xml", root=root) is None
    assert confine("inside.xml", base=root, root=root, what="v") == root / "inside.xml"


@pytest.mark.slow
def test_a_report_suite_refuses_every_hostile_match_and_still_ends(
    qa_project: ProjectFactory, tmp_path: Path
) -> None:
    root = qa_project({".qaagent.yaml": "tests:\n  r: {runner: report, files: 'reports/*.xml'}\n"})
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    hostile_folder(root, outside)
    result = run_qaagent("run-all", cwd=root, timeout=60)
    assert result.returncode == 1, result.stdout + result.stderr  # the huge file is the suite's error
    assert "Traceback" not in result.stderr
    assert f"[r] warning: 2 of 6 file(s) matching `files: reports/*.xml` not read: {OUTSIDE}" in result.stdout
    assert (
        f"[r] warning: 1 of 6 file(s) matching `files: reports/*.xml` not read: {NOT_REGULAR}"
        in result.stdout
    )
    assert "reports/pipe.xml (no regular file: a FIFO)" in result.stdout
    records = records_of(root)
    assert {r["classname"] for r in records if r["status"] == "passed"} == {"good"}  # good.xml, inside.xml
    assert not any(r["classname"] == "secret" for r in records)
    (error,) = [r["message"] for r in records if r["status"] == "error"]
    assert f"is {MAX_FILE_BYTES + 1} bytes, more than the {MAX_FILE_BYTES} byte limit" in error
    (attempt,) = manifest_of(root)["suites"][0]["attempts"]
    assert attempt["ignored_count"] == 3
    assert {i["path"] for i in attempt["ignored_files"]} == {
        "reports/out.xml",
        "reports/zero.xml",
        "reports/pipe.xml",
    }


@pytest.mark.slow
def test_a_command_suite_whose_only_matches_are_refused_is_an_error_that_says_so(
    qa_project: ProjectFactory,
) -> None:
    write = "import os; os.makedirs('out', exist_ok=True); os.mkfifo('out/r.xml'); os.symlink('/dev/zero', 'out/z.xml')"
    suite = {"runner": "command", "command": [sys.executable, "-c", write], "files": "out/*.xml"}
    root = qa_project({".qaagent.yaml": "tests:\n  c: " + json.dumps(suite) + "\n"})
    result = run_qaagent("run-all", cwd=root, timeout=60)
    assert result.returncode == 1, result.stdout + result.stderr
    expected = f"no result file written by this attempt matches `files: out/*.xml` (1 {NOT_REGULAR}, 1 {OUTSIDE}: not read)"
    assert manifest_of(root)["suites"][0]["error"] == expected
    assert (root / "out" / "r.xml").is_fifo()


@pytest.mark.slow
def test_artifact_globs_take_excludes_and_refuse_a_fifo(qa_project: ProjectFactory) -> None:
    root = qa_project(
        {
            ".qaagent.yaml": (
                'tests:\n  s:\n    runner: command\n    command: ["sh", "-c", "exit 1"]\n'
                '    artifacts: ["shots/*", "!shots/*.tmp"]\n'
            ),
            "shots/kept.txt": "kept\n",
            "shots/scratch.tmp": "left\n",
        }
    )
    os.mkfifo(root / "shots" / "pipe")
    result = run_qaagent("run-all", "--quiet", cwd=root, timeout=60)
    assert result.returncode == 1, result.stdout + result.stderr
    output = result.stdout + result.stderr
    assert "`artifacts` matched shots/pipe (no regular file: a FIFO): refused, not kept" in output
    listed = {entry["path"] for entry in manifest_of(root)["files"]}
    assert any(path.endswith("artifacts/shots/kept.txt") for path in listed), listed
    assert not any(path.endswith(("scratch.tmp", "pipe")) for path in listed), listed


def test_the_readers_last_look_refuses_what_leads_out_of_the_project(tmp_path: Path) -> None:
    from qaagent.paths import link_out  # noqa: PLC0415

    root, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    root.mkdir()
    elsewhere.mkdir()
    (root / "r.xml").write_text("<testsuite/>", encoding="utf-8")
    (elsewhere / "secret").write_text("x", encoding="utf-8")
    (root / "out.xml").symlink_to(elsewhere / "secret")  # planted after the glob was judged
    (root / "in.xml").symlink_to(root / "r.xml")
    (elsewhere / "given.xml").write_text("<testsuite/>", encoding="utf-8")
    (elsewhere / "link.xml").symlink_to(elsewhere / "secret")
    assert link_out(root / "r.xml", root=root) is None
    assert link_out(root / "in.xml", root=root) is None  # a link that stays inside
    assert link_out(root / "out.xml", root=root) == (elsewhere / "secret").resolve()
    assert link_out(root / "sub" / ".." / "out.xml", root=root) == (elsewhere / "secret").resolve()
    # a file outside the project the user named (--junit /tmp/x.xml) is not judged; a link is
    assert link_out(elsewhere / "given.xml", root=root) is None
    assert link_out(elsewhere / "link.xml", root=root) == (elsewhere / "secret").resolve()


REPORT = b'<testsuite tests="1"><testcase classname="c" name="t"/></testsuite>'
WRITE_UNDECODABLE = (
    "import os; d = os.fsencode(os.environ['QAAGENT_JUNIT_DIR']); os.makedirs(d, exist_ok=True); "
    f"open(os.path.join(d, b'junit-\\xff.xml'), 'wb').write({REPORT!r})"
)


def test_a_name_that_is_not_utf8_is_refused_when_matched_and_escaped_when_recorded(tmp_path: Path) -> None:
    root = tmp_path.resolve()
    bad = root / os.fsdecode(b"r\xff.xml")
    assert (refusal(bad, root=root) or "").startswith(f"{UNSAFE_NAME}: its name is not valid UTF-8")
    with pytest.raises(UsageError, match="is not valid UTF-8"):
        confine(os.fsdecode(b"r\xff.xml"), base=root, root=root, what="v")
    assert refusal(root / "ré.xml", root=root) is None  # UTF-8 beyond ASCII is a name like any


@pytest.mark.slow
@pytest.mark.parametrize("where", ["own", "matched"])
def test_a_result_file_named_in_bytes_that_are_not_utf8_ends_the_run_normally(
    qa_project: ProjectFactory, where: str
) -> None:
    """The session's review: the manifest (UTF-8) could not be written, exit 3 "internal error"."""
    if where == "own":  # in the bundle's report folder: kept, renamed to an escaped name
        suite = {"runner": "command", "command": [sys.executable, "-c", WRITE_UNDECODABLE]}
    else:  # matched in the project: refused, listed with an escaped name
        suite = {"runner": "report", "files": "reports/*.xml"}
    root = qa_project(
        {".qaagent.yaml": "tests:\n  s: " + json.dumps(suite) + "\n", "reports/ok.xml": REPORT.decode()}
    )
    (root / "reports" / os.fsdecode(b"r\xff.xml")).write_bytes(REPORT)
    result = run_qaagent("run-all", "--no-history", cwd=root, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "internal error" not in result.stderr
    bundle = max((root / ".qaagent" / "evidence").iterdir())
    assert run_qaagent("verify", str(bundle), cwd=root).returncode == 0
    text = (bundle / "manifest.json").read_text(encoding="utf-8")
    assert "r\\\\xff.xml" in text or "junit-\\\\xff.xml" in text
