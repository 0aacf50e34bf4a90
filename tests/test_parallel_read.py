"""A suite's result files read by two processes (`qaagent.formats.parallel`): the same store, the same reports.

The worker is a real process (`python -I -c …`, `formats.parallel.main`). Its part is read
through the same reader, so the store it hands back holds the cases, the problems and the
files not read completely exactly as one process reading every file would; a worker that
fails, or answers nonsense, changes nothing (its files are read here).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import qaagent_environment
from helpers import latest_bundle, manifest_of, records_text
from test_reports_pinned import MAX_OUTPUT, SECRET, T0, _case

from qaagent.attempts import Attempt
from qaagent.evidence.diagnostics import categorize
from qaagent.evidence.records import RecordWriter
from qaagent.files import StreamedFile
from qaagent.formats import parallel
from qaagent.formats.read import iter_result_files
from qaagent.junit.write import MergedJUnit
from qaagent.redact import Redactor
from qaagent.results import CaseStore, SuiteResult, TestCase
from qaagent.run_result import RunResult
from qaagent.stream import CaseText, CaseWriter, stream_run

ROOT = Path(tempfile.gettempdir())  # the worker starts there: a folder that exists


def write_files(
    folder: Path, *, per_file: int = 30, files: int = 6, broken: tuple[int, ...] = ()
) -> list[Path]:
    """`files` pytest-style JUnit files of the pinned run's varied cases; those in `broken` cut short."""
    paths = []
    for number in range(files):
        cases = "".join(_case(number * per_file + k) for k in range(per_file))
        text = (
            f'<?xml version="1.0"?>\n<testsuites><testsuite name="pytest">{cases}</testsuite></testsuites>\n'
        )
        if number in broken:
            text = text[: len(text) * 2 // 3]  # truncated inside a case: the cases before it stay
        path = folder / f"junit-{number}.xml"
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths


def into(
    store: CaseStore,
    paths: list[Path],
    problems: list[str],
    unread: list[Path],
    origins: dict[Path, Path],
    *,
    adjust: Callable[[TestCase], TestCase] | None = None,
) -> None:
    """`parallel.read_into` of `paths` as suite `unit`."""
    parallel.read_into(
        store,
        paths,
        format=None,
        suite="unit",
        base_dir=ROOT,
        repo_root=ROOT,
        problems=problems,
        zero_based_lines=None,
        unread=unread,
        origins=origins,
        adjust=adjust,
    )


def read(paths: list[Path], *, worker: bool) -> tuple[CaseStore, list[str], list[Path]]:
    """The files read into a store, by `read_into` (with a worker) or by one process."""
    store, problems, unread = CaseStore(), list[str](), list[Path]()
    OPEN.append(store)
    origins = {paths[-1]: paths[-1].with_name("copied-from.xml")}  # a reason names the file copied
    if worker:
        into(store, paths, problems, unread, origins)
    else:
        cases = iter_result_files(
            paths,
            format=None,
            suite="unit",
            base_dir=ROOT,
            repo_root=ROOT,
            problems=problems,
            unread=unread,
            origins=origins,
        )
        store.extend(cases)
    return store, problems, unread


#: the stores `read` made: closed after each test (their spill files)
OPEN: list[CaseStore] = []


@pytest.fixture(autouse=True)
def _close_stores() -> Iterator[None]:
    yield
    while OPEN:
        OPEN.pop().close()


@pytest.fixture
def always(monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker whatever the size of the files."""
    monkeypatch.setenv(parallel.SWITCH, "1")


def test_no_worker_below_the_threshold_for_one_file_or_when_switched_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(parallel.SWITCH, raising=False)
    mib = 1024 * 1024
    assert parallel.split_at([4 * mib] * 3) == 3  # 12 MiB: one process
    assert parallel.split_at([40 * mib]) == 1  # one file cannot be split
    assert parallel.split_at([]) == 0
    assert parallel.split_at([5 * mib] * 10) == 5  # 50 MiB: the last five (25 of the 24 MiB asked for)
    monkeypatch.setenv(parallel.SWITCH, "0")
    assert parallel.split_at([5 * mib] * 10) == 10
    monkeypatch.setenv(parallel.SWITCH, "1")
    assert parallel.split_at([1, 1, 1]) == 1


@pytest.mark.usefixtures("always")
def test_two_processes_read_the_same_store_as_one(tmp_path: Path) -> None:
    paths = write_files(tmp_path, broken=(1, 5))  # one broken file in each process's part
    ours, our_problems, our_unread = read(paths, worker=True)
    alone, problems, unread = read(paths, worker=False)
    assert list(ours) == list(alone)
    assert len(list(ours)) > 100
    assert ours.counts == alone.counts
    assert list(ours.problems) == list(alone.problems)
    assert our_problems == problems
    assert len(problems) == 2
    assert "copied-from.xml" in our_problems[1]  # named as the user's file, by the worker
    assert our_unread == unread == [paths[1], paths[5]]

    def rows(store: CaseStore) -> list[tuple[object, ...]]:  # the chunks differ, the columns must not
        return [row for chunk in store.column_chunks(["name", "status"]) for row in zip(*chunk, strict=True)]

    assert rows(ours) == rows(alone)


@pytest.mark.usefixtures("always")
def test_the_problems_kept_in_memory_are_the_first_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(CaseStore, "PROBLEMS_IN_MEMORY", 7)
    monkeypatch.setattr(CaseStore, "SPILL_AT", 16)
    paths = write_files(tmp_path)
    ours, _, _ = read(paths, worker=True)
    alone, _, _ = read(paths, worker=False)
    assert ours._problems == alone._problems
    assert list(ours.problems) == list(alone.problems)
    assert list(ours) == list(alone)


@pytest.mark.usefixtures("always")
def test_the_reports_from_two_processes_are_byte_identical(tmp_path: Path) -> None:
    paths = write_files(tmp_path)
    written = []
    for worker in (True, False):
        store, _, _ = read(paths, worker=worker)
        folder = tmp_path / f"out-{worker}"
        folder.mkdir()
        run = RunResult(
            "p",
            "id",
            [SuiteResult("unit", "pytest", store, [Attempt(1, ("x",), 1, False, T0, 1.0)])],
            T0,
            T0 + 1,
        )
        text = CaseText(Redactor([SECRET]).redact, MAX_OUTPUT, categorize)
        writers: list[CaseWriter] = [
            MergedJUnit(StreamedFile(folder / "junit.xml"), text),
            RecordWriter(StreamedFile(folder / "tests.jsonl"), T0),
        ]
        assert stream_run(run, text, writers, {}) == []
        written.append([(folder / name).read_bytes() for name in ("junit.xml", "tests.jsonl")])
    assert written[0] == written[1]
    assert SECRET.encode() not in written[0][0]


def fake_python(tmp_path: Path, script: str) -> str:
    path = tmp_path / "fake-python"
    path.write_text(f"#!/bin/sh\n{script}\n", encoding="utf-8")
    path.chmod(0o755)
    return str(path)


@pytest.mark.usefixtures("always")
@pytest.mark.parametrize(
    "script",
    [
        "exit 3",  # failed
        "kill -9 $$",  # killed
        "echo '{}'",  # nonsense
        """echo '{"store": {"starts": [-5], "kept": null, "counts": {}, "problems": 0}, "problems": [], "unread": []}'""",
        """echo '{"store": {"starts": [], "kept": null, "counts": {}, "problems": 0}, "problems": [1], "unread": []}'""",
        # offsets of the right type but not of its chunks (the review's: the reports' pass failed)
        """echo '{"store": {"starts": [999999999], "kept": null, "counts": {}, "problems": 0}, "problems": [], "unread": []}'""",
        """echo '{"store": {"starts": [0, 0], "kept": null, "counts": {}, "problems": 0}, "problems": [], "unread": []}'""",
        "kill -STOP $$",  # stopped (a frozen cgroup, a stuck disk): killed after its time, here 1 s
    ],
)
def test_a_worker_that_fails_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, script: str
) -> None:
    paths = write_files(tmp_path, broken=(4,))
    alone = read(paths, worker=False)
    monkeypatch.setattr(sys, "executable", fake_python(tmp_path, script))
    monkeypatch.setattr(parallel, "_WAIT_FLOOR", 1.0)
    monkeypatch.setattr(parallel, "_SLOWEST_READ", 1 << 40)
    store, problems, unread = read(paths, worker=True)
    assert (list(store), problems, unread) == (list(alone[0]), alone[1], alone[2])


@pytest.mark.usefixtures("always")
def test_no_worker_when_it_cannot_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = write_files(tmp_path)
    alone = read(paths, worker=False)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "missing-python"))
    assert list(read(paths, worker=True)[0]) == list(alone[0])
    monkeypatch.setattr(sys, "executable", "")
    assert list(read(paths, worker=True)[0]) == list(alone[0])


@pytest.mark.usefixtures("always")
def test_an_exception_here_stops_the_worker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = write_files(tmp_path)
    started: list[parallel._Worker] = []
    real_start = parallel._Worker.start

    def start(request: dict[str, object], cwd: Path) -> parallel._Worker | None:
        worker = real_start(request, cwd)
        assert worker is not None
        started.append(worker)
        return worker

    def boom(cases: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(parallel._Worker, "start", start)
    store = CaseStore()
    monkeypatch.setattr(store, "extend", boom)
    with pytest.raises(KeyboardInterrupt):
        into(store, paths, [], [], {})
    (worker,) = started
    assert worker.proc.returncode is not None
    assert worker.spill.closed


def test_export_and_adopt_keep_the_order(tmp_path: Path) -> None:
    first = [TestCase("s", "c", f"t{k}", "failed" if k % 3 else "passed") for k in range(5)]
    second = [TestCase("s", "c", f"u{k}", "error" if k % 2 else "skipped") for k in range(4_100)]
    with tempfile.TemporaryFile() as other_file:
        other = CaseStore(second, spill=other_file)
        exported = json.loads(json.dumps(other.export()))
        mine = CaseStore(first)
        duplicate = os.fdopen(os.dup(other_file.fileno()), "r+b")
        mine.adopt(duplicate, exported)
        mine.append(TestCase("s", "c", "last", "passed"))
        assert [c.name for c in mine] == [c.name for c in [*first, *second]] + ["last"]
        assert mine.counts.total == 4_106
        assert list(mine.problems) == [c for c in [*first, *second] if c.is_problem]
        mine.close()
        assert duplicate.closed


@pytest.mark.slow
def test_run_all_writes_the_same_reports_with_the_worker(tmp_path: Path) -> None:
    """Whole `qaagent run-all` processes, the worker off and on: the same bundle but for the run's times."""
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    write_files(inputs, per_file=40, files=5, broken=(3,))
    project = tmp_path / "project"
    project.mkdir()
    feed = ["sh", "-c", 'exec cp -- "$0"/junit-*.xml "$QAAGENT_JUNIT_DIR"/', str(inputs)]
    (project / ".qaagent.yaml").write_text(
        f"project: {{name: two}}\ntests:\n  feed: {{runner: command, command: {json.dumps(feed)}}}\n",
        encoding="utf-8",
    )
    seen = []
    for switch in ("0", "1"):
        shutil.rmtree(project / ".qaagent", ignore_errors=True)
        done = subprocess.run(
            [sys.executable, "-m", "qaagent", "run-all", "--no-history"],
            cwd=project,
            env=qaagent_environment({parallel.SWITCH: switch, "QAAGENT_SECRETS": SECRET}),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 1, done.stdout + done.stderr
        bundle = latest_bundle(project)
        junit = re.sub(r' (time|timestamp)="[^"]*"', "", (bundle / "junit.xml").read_text(encoding="utf-8"))
        manifest = manifest_of(bundle)
        found = (
            junit,
            records_text(bundle),
            str(manifest["totals"]["total"]),
            manifest["suites"][0]["error"],
        )
        seen.append(tuple(text.replace(bundle.name, "RUN") for text in found))  # the run's id: its second
    assert seen[0] == seen[1]
    assert int(seen[0][2]) > 150
    assert "junit-3.xml" in seen[0][3]
    assert SECRET not in seen[0][0]


@pytest.mark.usefixtures("always")
def test_cases_a_runner_adjusts_are_read_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`Runner.finish_case` may look at the attempt's files (Playwright's attachments): no worker then."""

    def no_worker(request: object, cwd: Path) -> None:
        raise AssertionError(request)

    monkeypatch.setattr(parallel._Worker, "start", no_worker)
    paths = write_files(tmp_path, files=3)
    store = CaseStore()
    OPEN.append(store)
    into(store, paths, [], [], {}, adjust=lambda case: dataclasses.replace(case, artifacts=("x.png",)))
    assert len(store) == 90
    assert {case.artifacts for case in store} == {("x.png",)}


@pytest.mark.usefixtures("always")
def test_the_worker_is_this_qaagent_not_a_folder_of_the_project(tmp_path: Path) -> None:
    """The worker starts in the project, which may hold a `qaagent/` of its own (qaagent's own repository)."""
    project = tmp_path / "project"
    (project / "qaagent" / "formats").mkdir(parents=True)
    marker = tmp_path / "imported"
    for init in (project / "qaagent" / "__init__.py", project / "qaagent" / "formats" / "__init__.py"):
        init.write_text(f"open({str(marker)!r}, 'w').close()\n", encoding="utf-8")
    paths = write_files(tmp_path)
    store = CaseStore()
    OPEN.append(store)
    started: list[parallel._Worker] = []
    real_finish = parallel._Worker.finish

    def finish(self: parallel._Worker, budget: float) -> object:
        started.append(self)
        answer = real_finish(self, budget)
        assert answer is not None  # it answered: it read its files
        return answer

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(parallel._Worker, "finish", finish)
        parallel.read_into(
            store, paths, format=None, suite="unit", base_dir=project, repo_root=project,
            problems=[], zero_based_lines=None, unread=[], origins={},
        )  # fmt: skip
    assert started
    assert len(store) == 180
    assert not marker.exists()
