"""The readers on output the real tools write now: go test -json, gotestsum, node --test, prove.

The golden files (tests/fixtures/formats/) pin what each reader maps; these tests run
the tools on the same fixture projects and check that today's output reads the same
way, so a tool's new version that changes its format is noticed. They skip with the
reason on a laptop without the tool, and fail when CI=true (.ci/run installs them).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import run_qaagent, skip_unless_ready

from qaagent.formats.detect import detect_format
from qaagent.formats.read import read_results
from qaagent.junit.read import iter_junit_cases

PROJECT = Path(__file__).parent / "fixtures" / "formats" / "project"


def tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        skip_unless_ready([f"{name} is not installed (apt-get install {_PACKAGES.get(name, name)})"])
    assert found is not None
    return found


_PACKAGES = {"go": "golang-go", "gotestsum": "gotestsum", "node": "nodejs", "prove": "perl"}


def copy(tmp_path: Path, name: str) -> Path:
    target = tmp_path / name
    shutil.copytree(PROJECT / name, target)
    return target


def go_env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    # the fixture module has no dependencies: nothing to fetch, and no proxy to ask
    env.update(
        GOFLAGS="-mod=mod", GOPROXY="off", GOCACHE=str(tmp_path / "gocache"), GOPATH=str(tmp_path / "gopath")
    )
    env.pop("FLAKY_MARKER", None)
    return env


def summary(path: Path, base: Path) -> list[tuple[str, str, str | None, int | None, str]]:
    cases = read_results(path, suite="s", base_dir=base, repo_root=base)
    return [(c.name, c.status, c.file, c.line, c.message) for c in cases]


@pytest.mark.slow
def test_go_test_json_now(tmp_path: Path) -> None:
    go = tool("go")
    module = copy(tmp_path, "go")
    run = subprocess.run(
        [go, "test", "-json", "./..."],
        cwd=module,
        env=go_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 1, run.stderr
    report = tmp_path / "go.jsonl"
    report.write_text(run.stdout)
    assert detect_format(report, repo_root=tmp_path) == "go-test-json"
    rows = summary(report, module)
    assert ("TestAddFails", "failed", "calc/calc_test.go", 18, "Add(1, 1) = 2, want 3") in rows
    assert ("TestTable/2+2", "failed", "calc/calc_test.go", 31, "got 4, want 5") in rows
    assert ("TestSkipped", "skipped", "calc/calc_test.go", 23, "not on this platform") in rows
    assert (
        "TestPanics",
        "failed",
        "crash/crash_test.go",
        7,
        "panic: assignment to entry in nil map [recovered]",
    ) in rows
    assert {name for name, status, *_ in rows if status == "passed"} == {
        "TestAddPasses",
        "TestTable/1+2",
        "TestFlaky",
    }


@pytest.mark.slow
def test_gotestsum_junit_and_jsonfile_now(tmp_path: Path) -> None:
    tool("go")
    gotestsum = tool("gotestsum")
    module = copy(tmp_path, "go")
    env = go_env(tmp_path)
    env["FLAKY_MARKER"] = str(tmp_path / "flaky-marker")
    subprocess.run(
        [gotestsum, "--format", "standard-quiet", "--jsonfile", "out.jsonl", "--junitfile", "out.xml",
         "--rerun-fails=2", "--rerun-fails-max-failures=20", "--packages", "./calc"],
        cwd=module, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    junit = list(iter_junit_cases(module / "out.xml", suite="s", base_dir=module, repo_root=module))
    from_json = list(read_results(module / "out.jsonl", suite="s", base_dir=module, repo_root=module))
    # both list every run: TestFlaky failed once, then passed; TestAddFails failed three times
    for cases in (junit, from_json):
        assert [c.status for c in cases if c.name == "TestFlaky"] == ["failed", "passed"]
        assert [c.status for c in cases if c.name == "TestAddFails"] == ["failed"] * 3
        failed = next(c for c in cases if c.name == "TestAddFails")
        assert (failed.file, failed.line, failed.message) == (
            "calc/calc_test.go",
            18,
            "Add(1, 1) = 2, want 3",
        )


@pytest.mark.slow
def test_node_test_runner_tap_and_junit_now(tmp_path: Path) -> None:
    node = tool("node")
    project = copy(tmp_path, "node")
    rows: dict[str, list[tuple[str, str, str | None]]] = {}
    for reporter in ("tap", "junit"):
        run = subprocess.run(
            [node, "--test", f"--test-reporter={reporter}", "test/"],
            cwd=project, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        report = tmp_path / f"node.{reporter}"
        report.write_text(run.stdout)
        cases = read_results(report, suite="s", base_dir=project, repo_root=project)
        rows[reporter] = [(c.name, c.status, c.outcome) for c in cases]
    expected = {
        ("adds", "passed", None),
        ("is broken", "failed", None),
        ("skipped on purpose", "skipped", None),
        ("todo passing", "passed", "xpass"),
        ("todo failing", "skipped", "xfail"),
        ("nested passes", "passed", None),
        ("nested fails", "failed", None),
    }
    assert expected <= set(rows["tap"])
    assert expected <= set(rows["junit"])
    assert len(rows["tap"]) == 10  # node's "# tests 10"


@pytest.mark.slow
def test_prove_now(tmp_path: Path) -> None:
    prove = tool("prove")
    project = copy(tmp_path, "prove")
    run = subprocess.run(
        [prove, "-v", "--merge", "t/"], cwd=project, capture_output=True, text=True, timeout=120, check=False
    )
    report = tmp_path / "prove.txt"
    report.write_text(run.stdout)
    assert detect_format(report, repo_root=tmp_path) == "tap"
    rows = summary(report, project)
    assert ("is broken", "failed", "t/basic.t", 6, "got: '2'") in rows
    assert ("other passes", "passed", "t/other.t", None, "") in rows
    assert len(rows) == 9


def _broken_module(root: Path) -> Path:
    """A module whose packages abad and zbad (sorting first and last) do not compile, and ok passes."""
    module = root / "broken"
    files = {
        "go.mod": "module example.com/g\n\ngo 1.19\n",
        "ok/ok_test.go": 'package ok\n\nimport "testing"\n\nfunc TestOk(t *testing.T) {}\n',
    }
    for name in ("abad", "zbad"):
        files[f"{name}/{name}.go"] = f'package {name}\n\nfunc X() int {{ return "s" }}\n'
        files[f"{name}/{name}_test.go"] = (
            f'package {name}\n\nimport "testing"\n\nfunc TestX(t *testing.T) {{}}\n'
        )
    for name, text in files.items():
        (module / name).parent.mkdir(parents=True, exist_ok=True)
        (module / name).write_text(text)
    return module


@pytest.mark.slow
@pytest.mark.parametrize("merged", [False, True], ids=["stdout", "2>&1"])
def test_go_build_failures_before_go_1_24_are_errors(tmp_path: Path, merged: bool) -> None:
    go = tool("go")
    module = _broken_module(tmp_path)
    run = subprocess.run(
        [go, "test", "-json", "./..."],
        cwd=module,
        env=go_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if merged else subprocess.PIPE,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 2, run.stdout
    report = module / "go.jsonl"
    report.write_text(run.stdout)
    assert not run.stdout.startswith("{")  # the first line is go test's plain text (Go < 1.24), or an event
    assert detect_format(report, repo_root=module) == "go-test-json"
    cases = list(read_results(report, suite="s", base_dir=module, repo_root=module))
    failed = sorted((c.classname, c.name, c.status) for c in cases if c.status != "passed")
    assert failed == [
        ("example.com/g/abad", "(package)", "error"),
        ("example.com/g/zbad", "(package)", "error"),
    ]
    assert [c.name for c in cases if c.status == "passed"] == ["TestOk"]
    messages = {c.message for c in cases if c.status == "error"}
    if merged:
        assert all(m.startswith("build failed: ") and "cannot use" in m for m in messages), messages
    else:
        assert all(m.startswith("build failed") for m in messages), messages
    # the whole run: an error, never a green one (with format: named and without)
    for extra in ([], ["--format", "go-test-json"]):
        result = run_qaagent("run-all", "--files", "go.jsonl", "--no-history", *extra, cwd=module)
        assert result.returncode == 1, result.stdout + result.stderr
        assert "SUCCESS" not in result.stdout
        assert "2 errors" in result.stdout, result.stdout
