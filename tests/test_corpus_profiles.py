"""The invalid-profile corpus: every file in tests/corpus/profiles/ through the real CLI.

Each one must end `qaagent run-all` with exit 2 and a single line naming the
file and the field or line at fault, with no traceback and nothing run. A few
files (`REAL_PROCESS`: a bomb, a FIFO, bad bytes) go through a real `qaagent`
process each, started together; the rest through `qaagent.cli.main` in this
process — the same argument parsing, profile loading and one error reporter,
without an interpreter start (about 0.6 s of CPU each) that proves nothing more
once the real process is proven on the hardest inputs.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import qaagent_environment

from qaagent import cli
from qaagent.errors import ProfileError
from qaagent.profile_load import MAX_PROFILE_BYTES, parse_profile

CORPUS = Path(__file__).parent / "corpus" / "profiles"

#: file → text the one-line message must contain (a field path, a line, or the file-level problem)
EXPECTED: dict[str, str] = {
    "alias-bomb-billion-laughs.yaml": "a: unknown key (not allowed here) (line 1)",
    "alias-bomb-in-env.yaml": "tests.unit.env.BOMB: Input should be a valid string (line 14)",
    "alias-bomb-in-suite-order.yaml": "run.suite_order.0: Input should be a valid string (line 3)",
    "alias-merge-key-flood.yaml": "more than 100 YAML aliases (line 103)",
    "app-ftp-url.yaml": "app.base_url: must be an http:// or https:// URL (line 4)",
    "bad-suite-name.yaml": "suite name 'a/b' must be letters",
    "bool-workers.yaml": "run.max_workers: expected a whole number from 1 to 256, got 'True' (line 2)",
    "control-character.yaml": "YAML error at line 3: the control character U+0007 is not allowed",
    "command-without-command.yaml": "suite 'lint' uses the command runner and needs `command:`",
    "deeply-nested-flow.yaml": "the profile is nested too deeply",
    "duplicate-nested-key.yaml": "duplicate key 'timeout' at line 4 (first at line 2)",
    "duplicate-suite-key.yaml": "duplicate key 'unit' at line 3 (first at line 2)",
    "duplicate-top-level-key.yaml": "duplicate key 'run' at line 5 (first at line 1)",
    "empty-command.yaml": "tests.lint: `command` must not be empty (line 2)",
    "empty-tests.yaml": "at least one suite is needed under `tests`",
    "empty.yaml": "the profile is empty",
    "enabled-maybe.yaml": "tests.unit.enabled: Input should be a valid boolean",
    "env-not-mapping.yaml": "tests.unit.env: Input should be a valid dictionary (line 2)",
    "fail-on-unknown.yaml": "run.fail_on: expected a list of failed, error, flaky, new-failures, got 'sometimes' (line 2)",
    "float-retries.yaml": "run.retry_count: expected a whole number from 0 to 20, got '1.5' (line 2)",
    "huge-timeout.yaml": "run.timeout: expected seconds > 0 and at most 604800, got '1e12' (line 2)",
    "list-not-mapping.yaml": "the profile must be a mapping (got list)",
    "multi-document.yaml": "YAML syntax error at line 3, column 1: but found another document",
    "negative-max-output.yaml": "reports.max_output: expected a whole number from 0 to 65536, got '-1' (line 2)",
    "negative-timeout.yaml": "run.timeout: expected seconds > 0 and at most 604800, got '-5' (line 2)",
    "negative-workers.yaml": "run.max_workers: expected a whole number from 1 to 256, got '-2' (line 2)",
    "no-runner.yaml": "suite 'smoke' needs `runner:`",
    "no-tests.yaml": "tests: required key is missing",
    "non-utf8-latin1.yaml": "the profile is not UTF-8 (bad byte at line 3)",
    "nul-byte.yaml": "the profile contains a NUL byte",
    "null-suite-name.yaml": "tests.None.[key]: Input should be a valid string (line 1)",
    "only-comment.yaml": "the profile is empty",
    "order-twice.yaml": "run.suite_order names a suite twice",
    "order-unknown-suite.yaml": "run.suite_order names unknown suite(s): nope",
    "path-and-output-dir.yaml": "tests.unit: give either `path` or its old name `output_dir`, not both (line 2)",
    "python-tag.yaml": "YAML syntax error at line 2, column 9: could not determine a constructor",
    "recursive-alias.yaml": "tests.unit.args.0: Input should be a valid string (line 2)",
    "scalar-not-mapping.yaml": "the profile must be a mapping (got str)",
    "syntax-bad-indent.yaml": "YAML syntax error at line 4, column 4",
    "syntax-unclosed-flow.yaml": "YAML syntax error at line 3, column 6",
    "tab-indent.yaml": "YAML syntax error at line 2, column 1: found character '\\t'",
    "tests-is-list.yaml": "tests: Input should be a valid dictionary (line 1)",
    "too-many-retries.yaml": "tests.unit.retry_count: expected a whole number from 0 to 20, got '99' (line 2)",
    "undefined-alias.yaml": "YAML syntax error at line 2, column 9: found undefined alias 'nope'",
    "unknown-key-typo.yaml": "run.paralel: unknown key (not allowed here) (line 2)",
    "unknown-runner.yaml": "tests.unit.runner: Input should be 'pytest', 'behave', 'playwright', 'command' or 'report'",
    "unknown-top-level-key.yaml": "report: unknown key (not allowed here) (line 3)",
    "unsplittable-command.yaml": "tests.lint.command: cannot split the command: No closing quotation (line 2)",
    "utf16-bom.yaml": "the profile is not UTF-8 (bad byte at line 1)",
    "wrong-type-workers.yaml": "run.max_workers: expected a whole number from 1 to 256, got 'many'",
    "zero-workers.yaml": "run.max_workers: expected a whole number from 1 to 256, got '0' (line 2)",
    # generated by `generated_inputs` (too big, or not a file, to commit)
    "generated-huge.yaml": f"bytes; at most {MAX_PROFILE_BYTES} are read",
    "generated-directory.yaml": "is a directory, not a profile file",
    "generated-fifo.yaml": "the profile is no regular file (a FIFO, device or socket)",
    # issue 12: profile paths stay inside the project, on one line
    "evidence-dir-line-break.yaml": "profile value reports.evidence_dir contains a control character",
    "junit-outside.yaml": "profile value reports.junit (/tmp/outside.xml) resolves to /tmp/outside.xml, outside",
    "working-directory-outside.yaml": "profile value tests.unit.working_directory (../../..) resolves to",
    "app-working-directory-outside.yaml": "profile value app.working_directory (../..) resolves to",
    "app-working-directory-absolute.yaml": "profile value app.working_directory (/etc) resolves to /etc, outside",
}

CASES = sorted(EXPECTED)
#: the cases run as a real `qaagent` process (the others through `cli.main` in this process)
REAL_PROCESS = frozenset({"alias-bomb-billion-laughs.yaml", "generated-fifo.yaml", "non-utf8-latin1.yaml"})


def generated_input(path: Path) -> None:
    """An input the repository does not store: a 2 MiB profile, or a directory named like one."""
    if path.name == "generated-directory.yaml":
        path.mkdir()
        return
    if path.name == "generated-fifo.yaml":
        os.mkfifo(path)  # read by nobody: a reader that opens it blocking hangs
        return
    with path.open("w", encoding="utf-8") as handle:
        handle.write("tests:\n  unit: {path: t}\n")
        handle.write("# padding\n" * (2 * MAX_PROFILE_BYTES // 10))


def _run_with_cpu_time(
    *args: str, cwd: Path, timeout: float
) -> tuple[subprocess.CompletedProcess[str], float]:
    """`qaagent ARGS` like `run_qaagent`, and the CPU seconds the process used.

    CPU time, not wall time: the corpus runs processes at once on a shared machine, so
    wall time says how busy the machine was; CPU time says whether the input made qaagent work.
    """
    with (
        subprocess.Popen(
            [sys.executable, "-m", "qaagent", *args],
            cwd=cwd,
            env=qaagent_environment(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        ) as proc,
        ThreadPoolExecutor(max_workers=2) as readers,
    ):
        assert proc.stdout is not None
        assert proc.stderr is not None
        out = readers.submit(proc.stdout.read)
        err = readers.submit(proc.stderr.read)
        deadline = time.monotonic() + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.02)
        proc.returncode = os.waitstatus_to_exitcode(status)  # tell Popen it was reaped
        stdout, stderr = out.result(), err.result()
    return subprocess.CompletedProcess(
        proc.args, proc.returncode, stdout, stderr
    ), usage.ru_utime + usage.ru_stime


@contextlib.contextmanager
def _descriptors_captured() -> Iterator[list[str]]:
    """Descriptors 1 and 2 sent to files for the block; the list gets what each received."""
    got: list[str] = []
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        saved = [os.dup(1), os.dup(2)]
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(out.fileno(), 1)
        os.dup2(err.fileno(), 2)
        try:
            yield got
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            for handle in (out, err):
                handle.seek(0)
                got.append(handle.read().decode(errors="replace"))


@pytest.fixture(scope="module")
def outcomes(
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, tuple[subprocess.CompletedProcess[str], float, Path]]:
    """Run `qaagent run-all --profile FILE` for every case at once, each in its own project folder."""
    base = tmp_path_factory.mktemp("profiles")

    def project_of(name: str) -> tuple[Path, Path]:
        """The case's own project folder, holding the profile file `name`."""
        project = base / name.removesuffix(".yaml")
        project.mkdir()
        keep = project / name
        if name.startswith("generated-"):
            generated_input(keep)
        else:
            shutil.copyfile(CORPUS / name, keep)
        return project, keep

    def one(name: str) -> tuple[subprocess.CompletedProcess[str], float, Path]:
        project, keep = project_of(name)
        return (*_run_with_cpu_time("run-all", "--profile", keep.name, cwd=project, timeout=60), project)

    def in_process(name: str) -> tuple[subprocess.CompletedProcess[str], float, Path]:
        project, keep = project_of(name)
        out, err = io.StringIO(), io.StringIO()
        argv = ["run-all", "--profile", keep.name]
        started = time.process_time()
        with (
            pytest.MonkeyPatch.context() as patch,
            _descriptors_captured() as descriptors,
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
        ):
            patch.chdir(project)
            # the environment a real process gets (no GITHUB_ACTIONS: no workflow-command line)
            wanted = qaagent_environment()
            for key in set(os.environ) - set(wanted):
                patch.delenv(key)
            for key, value in wanted.items():
                patch.setenv(key, value)
            code = cli.main(argv)
        seconds = time.process_time() - started
        # what reached the process's own descriptors 1 and 2 too (a child, `sys.__stderr__`)
        stdout, stderr = out.getvalue() + descriptors[0], err.getvalue() + descriptors[1]
        return subprocess.CompletedProcess(argv, code, stdout, stderr), seconds, project

    with ThreadPoolExecutor(max_workers=len(REAL_PROCESS)) as pool:
        real = {name: pool.submit(one, name) for name in sorted(REAL_PROCESS)}
        outcomes = {name: in_process(name) for name in CASES if name not in REAL_PROCESS}
        outcomes.update({name: future.result() for name, future in real.items()})
    return {name: outcomes[name] for name in CASES}


def test_every_corpus_file_has_an_expectation() -> None:
    stored = sorted(p.name for p in CORPUS.iterdir())
    assert stored == sorted(n for n in EXPECTED if not n.startswith("generated-"))
    assert len(EXPECTED) >= 30


@pytest.mark.slow
@pytest.mark.parametrize("name", CASES)
def test_invalid_profile_exits_2_with_one_line(
    name: str, outcomes: dict[str, tuple[subprocess.CompletedProcess[str], float, Path]]
) -> None:
    result, seconds, project = outcomes[name]
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"qaagent: error: {name}: "), lines[0]
    assert EXPECTED[name] in lines[0]
    assert len(lines[0]) < 1000
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stdout == ""
    assert not (project / ".qaagent").exists(), "nothing may run or be written for a bad profile"
    assert seconds < 10, f"used {seconds:.1f} s of CPU"


@pytest.mark.parametrize(
    "name", ["alias-bomb-billion-laughs.yaml", "alias-bomb-in-env.yaml", "alias-bomb-in-suite-order.yaml"]
)
def test_alias_bombs_under_the_alias_limit_are_refused_quickly(name: str) -> None:
    # Regression: 81 aliases (under MAX_ALIASES) expanded 9**9 times in the line map and in env's str().
    text = (CORPUS / name).read_text(encoding="utf-8")
    started = time.monotonic()
    with pytest.raises(ProfileError, match="invalid profile"):
        parse_profile(text)
    assert time.monotonic() - started < 2.0
