"""Capture what qaagent produces for fixed projects, and compare two captures apart from times.

A refactoring that must not change behaviour is checked with it: capture with
the old code, capture with the new, compare.

    .venv/bin/python scripts/compare-runs.py capture OUT   # runs qaagent, writes OUT/
    .venv/bin/python scripts/compare-runs.py compare A B   # exit 0 when A and B agree

`capture` runs, each in a fresh copy under a temporary folder:

- `demo`: `qaagent run-all` on examples/demo (unit, behave, e2e with the app;
  the e2e suite needs Chromium and the demo's node_modules);
- `shards`: the demo with `--shard 1/2` and `--shard 2/2`, then `qaagent merge`
  of both bundles;
- `failing`: `qaagent run-all` on a small project with a failing, a flaky
  (retried) and a skipped test and a command suite without JUnit;
- `action`: `entrypoint.py` as a Docker action runs it, on the failing project
  in a subfolder of the workspace, on a pull-request event, with a check run and
  a comment, against the fake GitHub API of the tests (tests/github_server.py).

For each it keeps the exit code, the merged JUnit, tests.jsonl, summary.md,
the manifest, the console (sorted: parallel suites interleave), and for the
action the step outputs, the job summary and every API request. Everything
is normalised first: times, durations, run ids, evidence-id dates, pids,
host names, temporary paths and checksums of files whose content holds
times (logs, traces) are replaced by placeholders; the manifest's file list
is kept as paths. `compare` prints a unified diff per differing file.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
HEAD_SHA = "6dcb09b5b57875f334f61aebed695e2e4193db5e"
TOKEN = "ghs_CAPTUREtoken0123456789abcdefghijkl"  # noqa: S105 - a made-up token for the fake API

FAILING = {
    ".qaagent.yaml": """
        project: {name: failing}
        run: {retry_count: 1}
        tests:
          unit: {runner: pytest, path: tests}
          lint: {runner: command, command: [python3, -c, "print('lint ok')"]}
    """,
    "tests/test_cart.py": """
        import os
        import pathlib

        import pytest


        def test_total():
            assert 2 + 3 == 5


        def test_discount():
            assert 2 + 3 == 6, "discount applied twice"


        def test_flaky():
            marker = pathlib.Path(os.environ["FLAKY_MARKER"])
            if not marker.exists():
                marker.write_text("seen")
                raise AssertionError("first attempt fails")


        @pytest.mark.skip(reason="not today")
        def test_later():
            pass
    """,
}


def write_project(root: Path, files: dict[str, str]) -> None:
    """Write {relative path: dedented text} under `root`."""
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")


def copy_demo(target: Path) -> Path:
    """A copy of examples/demo at `target`, sharing the demo's installed node_modules."""
    shutil.copytree(
        ROOT / "examples" / "demo",
        target,
        ignore=shutil.ignore_patterns(".qaagent", "node_modules", "test-results", "qaagent-junit.xml"),
    )
    (target / "e2e" / "node_modules").symlink_to(ROOT / "examples" / "demo" / "e2e" / "node_modules")
    return target


def environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This environment without GitHub's and qaagent's variables, running this checkout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_", "QAAGENT_", "CI"))}
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra or {})
    return env


def qaagent(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m qaagent ARGS` in `cwd`."""
    return subprocess.run(
        [PY, "-m", "qaagent", *args],
        cwd=cwd,
        env=environment(env),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


# -- normalising ------------------------------------------------------------------------------------


class Scrubber:
    """Replaces what differs from run to run (times, ids, paths) with placeholders."""

    def __init__(self, work: Path) -> None:
        self.rules: list[tuple[re.Pattern[str], str]] = [
            (re.compile(re.escape(re.escape(str(work.resolve())))), "$WORK"),  # inside a regex filter
            (re.compile(re.escape(str(work.resolve()))), "$WORK"),
            (re.compile(re.escape(str(work))), "$WORK"),
            (re.compile(re.escape(str(ROOT))), "$REPO"),
            (re.compile(re.escape(PY)), "$PYTHON"),
            (re.compile(r"\d{8}_\d{6}Z(?:_shard-\d+of\d+)?(?:-\d+)?"), "$RUN_ID"),
            (re.compile(r"TST-\d{8}-"), "TST-$DATE-"),
            (re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?"), "$TIME"),
            (re.compile(r"(time|timestamp)=\"[^\"]*\""), r'\1="$T"'),
            (re.compile(r"-\d+\.playwright\.config"), "-$PID.playwright.config"),
            (re.compile(r"\b\d+(?:\.\d+)?(?: ?m \d+)? ?(?:s|ms|seconds?)\b"), "$DURATION"),
            (re.compile(r"\(\d+(?:\.\d+)?(?:s|ms)\)"), "($DURATION)"),
            (re.compile(r", \d{10,}, \d{10,}$", re.MULTILINE), ", $START, $END"),
            (re.compile(r"\b\d+:\d{2}:\d{2}\b"), "$CLOCK"),
            (re.compile(r"\bpid \d+"), "pid $PID"),
            (re.compile(r" \(parallel execution saved \$DURATION\)"), ""),  # depends on the timing
            (re.compile(r"^\d+\.\d{3}$", re.MULTILINE), "$SECONDS"),  # the `duration` step output
            (re.compile(r"\b0x[0-9a-f]{6,}\b"), "$ADDRESS"),
            (re.compile(r"/tmp/[A-Za-z0-9_.-]+"), "$TMP"),  # noqa: S108 - a pattern, not a file
            (re.compile(r"ghadelimiter_[0-9a-f]+"), "ghadelimiter_$TOKEN"),
            (re.compile(r"::stop-commands::[0-9a-f]+"), "::stop-commands::$TOKEN"),
            (re.compile(r"^::[0-9a-f]{32}::$", re.MULTILINE), "::$TOKEN::"),
        ]

    def text(self, value: str) -> str:
        """`value` with every rule applied."""
        for pattern, replacement in self.rules:
            value = pattern.sub(replacement, value)
        return value

    def data(self, value: Any) -> Any:
        """Every string inside `value` (JSON data) scrubbed."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.data(v) for v in value]
        if isinstance(value, dict):
            return {k: self.data(v) for k, v in value.items()}
        return value


#: manifest keys whose values are times, durations or machine facts
VOLATILE = frozenset(
    {"started", "finished", "duration", "suite_time", "host", "started_at", "completed_at", "bundle_sha256"}
)


def strip_volatile(value: Any) -> Any:
    """`value` with the values of `VOLATILE` keys replaced, at any depth."""
    if isinstance(value, dict):
        return {k: ("$VOLATILE" if k in VOLATILE else strip_volatile(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [strip_volatile(v) for v in value]
    return value


def normal_manifest(manifest: dict[str, Any], scrub: Scrubber) -> dict[str, Any]:
    """The manifest without what differs between two runs of the same code."""
    data = dict(manifest)
    data["files"] = sorted(scrub.text(f["path"]) for f in manifest.get("files") or [])
    data["tool"] = {"name": (manifest.get("tool") or {}).get("name")}
    data["environment"] = sorted(manifest.get("environment") or {})
    data["git"] = {k: ("$SET" if v else v) for k, v in (manifest.get("git") or {}).items()}
    return strip_volatile(scrub.data(data))


def normal_records(text: str, scrub: Scrubber) -> str:
    """tests.jsonl with durations and evidence-id dates replaced, keys sorted."""
    rows = []
    for line in text.splitlines():
        record = json.loads(line)
        record["duration"] = "$DURATION"
        rows.append(json.dumps(scrub.data(record), sort_keys=True, ensure_ascii=False))
    return "\n".join(rows) + "\n"


def newest_bundle(evidence: Path) -> Path:
    """The newest bundle folder in `evidence`."""
    return max((p for p in evidence.iterdir() if (p / "manifest.json").is_file()), key=lambda p: p.name)


def keep_bundle(bundle: Path, out: Path, scrub: Scrubber, junit: Path | None = None) -> None:
    """Write the normalised bundle files (and `qaagent verify`'s verdict) to `out`."""
    out.mkdir(parents=True, exist_ok=True)
    manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    write(out / "manifest.json", json.dumps(normal_manifest(manifest, scrub), indent=2, sort_keys=True))
    write(out / "junit.xml", scrub.text((bundle / "junit.xml").read_text(encoding="utf-8")))
    write(out / "tests.jsonl", normal_records((bundle / "tests.jsonl").read_text(encoding="utf-8"), scrub))
    write(out / "summary.md", scrub.text((bundle / "summary.md").read_text(encoding="utf-8")))
    if junit is not None:
        same = junit.read_bytes() == (bundle / "junit.xml").read_bytes()
        write(out / "junit-copy.txt", f"copied merged JUnit identical to the bundle's: {same}")
    verify = qaagent("verify", str(bundle), cwd=bundle.parent)
    write(out / "verify.txt", f"exit {verify.returncode}\n{scrub.text(verify.stdout)}")


def keep_console(result: subprocess.CompletedProcess[str], out: Path, scrub: Scrubber) -> None:
    """Write the exit code and the sorted console lines to `out`."""
    out.mkdir(parents=True, exist_ok=True)
    write(out / "exit.txt", str(result.returncode))
    # Parallel suites interleave their lines: the set of lines is what must agree.
    write(out / "stdout.txt", "\n".join(sorted(scrub.text(result.stdout).splitlines())))
    write(out / "stderr.txt", "\n".join(sorted(scrub.text(result.stderr).splitlines())))


def write(path: Path, text: str) -> None:
    """Write `text` with a final newline."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")


# -- the runs ---------------------------------------------------------------------------------------


def capture_demo(work: Path, out: Path) -> None:
    """`run-all` of the demo, as `make demo` runs it."""
    demo = copy_demo(work / "demo")
    scrub = Scrubber(work)
    result = qaagent("run-all", "--profile", ".qaagent.yaml", "--parallel", "--max-workers", "3", cwd=demo)
    keep_console(result, out / "demo", scrub)
    keep_bundle(
        newest_bundle(demo / ".qaagent" / "evidence"), out / "demo", scrub, demo / "qaagent-junit.xml"
    )


def capture_shards(work: Path, out: Path) -> None:
    """The demo in two shards, then `merge` of both bundles."""
    demo = copy_demo(work / "shards")
    scrub = Scrubber(work)
    bundles = []
    for shard in ("1/2", "2/2"):
        evidence = work / f"shard-{shard[0]}"
        result = qaagent("run-all", "--shard", shard, "--evidence-dir", str(evidence), cwd=demo)
        label = f"shard-{shard[0]}"
        keep_console(result, out / label, scrub)
        bundle = newest_bundle(evidence)
        keep_bundle(bundle, out / label, scrub)
        bundles.append(str(bundle))
    merged = qaagent("merge", *bundles, "--evidence-dir", str(work / "merged"), cwd=demo)
    keep_console(merged, out / "merge", scrub)
    keep_bundle(newest_bundle(work / "merged"), out / "merge", scrub, demo / "qaagent-junit.xml")


def capture_failing(work: Path, out: Path) -> None:
    """`run-all` of the failing project (a failure, a flaky test, a skip, a command suite)."""
    project = work / "failing"
    write_project(project, FAILING)
    scrub = Scrubber(work)
    result = qaagent("run-all", cwd=project, env={"FLAKY_MARKER": str(work / "flaky-cli")})
    keep_console(result, out / "failing", scrub)
    keep_bundle(newest_bundle(project / ".qaagent" / "evidence"), out / "failing", scrub)


def _fake_api() -> Any:
    sys.path.insert(0, str(ROOT / "tests"))
    try:
        from helpers import GitHubServer  # noqa: PLC0415 - the tests' one fake API (after issue 18)
    except ImportError:
        from github_server import GitHubServer  # type: ignore[no-redef]  # noqa: PLC0415 - before it
    return GitHubServer


def capture_action(work: Path, out: Path) -> None:
    """entrypoint.py on a pull request with a check run and a comment, against the fake API."""
    workspace = work / "workspace"
    write_project(workspace / "services" / "shop", FAILING)
    files = work / "file_commands"
    files.mkdir()
    (files / "output").touch()
    (files / "summary").touch()
    event = {
        "number": 7,
        "pull_request": {"number": 7, "head": {"sha": HEAD_SHA, "ref": "feature"}, "base": {"ref": "main"}},
    }
    (files / "event.json").write_text(json.dumps(event), encoding="utf-8")
    inputs = yaml_inputs()
    inputs.update(
        {
            "working-directory": "services/shop",
            "github-token": TOKEN,
            "check-name": "qaagent",
            "comment": "true",
            "junit-path": "reports/junit.xml",
        }
    )
    scrub = Scrubber(work)
    with _fake_api()(token=TOKEN) as api:
        env = {
            "CI": "true",
            "GITHUB_ACTIONS": "true",
            "GITHUB_WORKSPACE": str(workspace),
            "GITHUB_OUTPUT": str(files / "output"),
            "GITHUB_STEP_SUMMARY": str(files / "summary"),
            "GITHUB_EVENT_NAME": "pull_request",
            "GITHUB_EVENT_PATH": str(files / "event.json"),
            "GITHUB_SHA": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4",
            "GITHUB_REF": "refs/pull/7/merge",
            "GITHUB_REPOSITORY": "octo/shop",
            "GITHUB_API_URL": api.url,
            "GITHUB_SERVER_URL": "https://github.com",
            "GITHUB_RUN_ID": "1658821493",
            "GITHUB_RUN_ATTEMPT": "1",
            "FLAKY_MARKER": str(work / "flaky-action"),
            **{f"INPUT_{name.upper()}": value for name, value in inputs.items()},
        }
        result = subprocess.run(
            [PY, str(ROOT / "entrypoint.py")],
            cwd=workspace,
            env=environment(env),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        requests = [
            {
                "method": r.method,
                "path": r.path,
                "status": r.status,
                "body": strip_volatile(scrub.data(r.body)),
            }
            for r in api.requests
        ]
    target = out / "action"
    keep_console(result, target, scrub)
    write(target / "stdout-ordered.txt", scrub.text(result.stdout))
    write(target / "requests.json", json.dumps(requests, indent=2, sort_keys=True, ensure_ascii=False))
    write(target / "outputs.txt", scrub.text((files / "output").read_text(encoding="utf-8")))
    write(target / "step-summary.md", scrub.text((files / "summary").read_text(encoding="utf-8")))
    project = workspace / "services" / "shop"
    keep_bundle(
        newest_bundle(project / ".qaagent" / "evidence"), target, scrub, project / "reports" / "junit.xml"
    )


def yaml_inputs() -> dict[str, str]:
    """Every input of action.yml with its declared default."""
    import yaml  # noqa: PLC0415 - a dependency of qaagent, so present in its environment

    declared = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))["inputs"]
    return {name: str(spec.get("default", "")) for name, spec in declared.items()}


def capture(out: Path) -> int:
    """Every run of this checkout into `out`."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for name, step in (
        ("demo", capture_demo),
        ("shards", capture_shards),
        ("failing", capture_failing),
        ("action", capture_action),
    ):
        with tempfile.TemporaryDirectory(prefix=f"qaagent-capture-{name}-") as tmp:
            step(Path(tmp), out)
        print(f"captured {name}")
    return 0


def compare(first: Path, second: Path) -> int:
    """Print a diff of each file that differs; 1 when any does."""
    names = sorted(
        {p.relative_to(first).as_posix() for p in first.rglob("*") if p.is_file()}
        | {p.relative_to(second).as_posix() for p in second.rglob("*") if p.is_file()}
    )
    differing = 0
    for name in names:
        a, b = first / name, second / name
        left = a.read_text(encoding="utf-8").splitlines() if a.is_file() else ["(missing)"]
        right = b.read_text(encoding="utf-8").splitlines() if b.is_file() else ["(missing)"]
        if left != right:
            differing += 1
            sys.stdout.writelines(
                line + "\n"
                for line in difflib.unified_diff(left, right, f"{first.name}/{name}", f"{second.name}/{name}")
            )
    print(f"{len(names)} files compared, {differing} differ")
    return 1 if differing else 0


def main(argv: list[str]) -> int:
    """`capture OUT` or `compare A B`."""
    if len(argv) == 2 and argv[0] == "capture":  # noqa: PLR2004 - command and folder
        return capture(Path(argv[1]).resolve())
    if len(argv) == 3 and argv[0] == "compare":  # noqa: PLR2004 - command and two folders
        return compare(Path(argv[1]), Path(argv[2]))
    sys.stderr.write(__doc__ or "")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
