"""What many tests share: reading a run's bundle, building results, and the action's environment.

The fake GitHub API is `github_server.GitHubServer` (the only one); the
fixtures that start it are in conftest.py.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import re
import shutil
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from qaagent.attempts import Attempt, Rerun
from qaagent.formats.read import iter_result_files
from qaagent.results import CaseStore, Status, SuiteResult, TestCase
from qaagent.run_result import RunResult

if TYPE_CHECKING:
    from github_server import GitHubServer

ROOT = Path(__file__).resolve().parent.parent
ENTRYPOINT = ROOT / "entrypoint.py"
#: what every child a test starts gets (conftest.py puts it in this process's environment for the
#: tests' children): pytest loads no plugin by entry point. The project's .venv holds hypothesis
#: and xdist, whose plugins a child pytest would load (0.4-0.5 s of CPU each, measured) though
#: no fixture project uses them; the test processes themselves keep theirs (loaded before).
CHILD_PYTEST_ENV = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}


# -- a run's evidence --------------------------------------------------------------------------------


def latest_bundle(root: Path) -> Path:
    """The newest evidence bundle of the project at `root` (in its default evidence dir)."""
    return max((root / ".qaagent" / "evidence").iterdir())


def manifest_of(path: Path) -> dict[str, Any]:
    """The manifest of the bundle at `path`, or of the newest bundle of the project at `path`."""
    bundle = path if (path / "manifest.json").is_file() else latest_bundle(path)
    data: dict[str, Any] = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    return data


def records_text(bundle: Path) -> str:
    """The text of the bundle's records: tests.jsonl.gz decompressed (an older bundle's tests.jsonl)."""
    packed = bundle / "tests.jsonl.gz"
    if packed.is_file():
        return gzip.decompress(packed.read_bytes()).decode("utf-8")
    return (bundle / "tests.jsonl").read_text(encoding="utf-8")


def bundle_texts(bundle: Path) -> dict[str, bytes]:
    """Every file of the bundle as a reader sees it: .gz decompressed, report.html's data unpacked.

    For checks on content (secrets): compressed bytes would hide what they hold.
    """
    texts: dict[str, bytes] = {}
    for path in sorted(bundle.rglob("*")):
        if not path.is_file():
            continue
        data = path.read_bytes()
        if path.name.endswith(".gz"):
            data = gzip.decompress(data)
        elif path.name == "report.html":
            packed = re.search(rb'id="qa-data"[^>]*>([A-Za-z0-9+/=]*)</script>', data)
            assert packed is not None, "report.html has no data block"
            data += b"\n" + zlib.decompress(base64.b64decode(packed.group(1)))
        texts[path.relative_to(bundle).as_posix()] = data
    return texts


def records_of(path: Path) -> list[dict[str, Any]]:
    """The records of the bundle at `path`, or of the project's newest bundle."""
    bundle = path if (path / "manifest.json").is_file() else latest_bundle(path)
    return [json.loads(line) for line in records_text(bundle).splitlines() if line]


def copy_demo(tmp_path: Path) -> Path:
    """A copy of examples/demo sharing its installed node_modules."""
    demo = tmp_path / "demo"
    shutil.copytree(
        ROOT / "examples" / "demo",
        demo,
        ignore=shutil.ignore_patterns(".qaagent", "node_modules", "test-results", "qaagent-junit.xml"),
    )
    (demo / "e2e" / "node_modules").symlink_to(ROOT / "examples" / "demo" / "e2e" / "node_modules")
    return demo


# -- result builders ---------------------------------------------------------------------------------


def case(
    name: str,
    status: Status = "passed",
    *,
    suite: str = "unit",
    classname: str = "tests.test_x",
    file: str | None = "tests/test_x.py",
    line: int | None = 3,
    message: str = "",
    type: str = "",  # noqa: A002 - TestCase's field
    details: str = "",
    flaky: bool = False,
    attempts: int = 1,
    reruns: tuple[Rerun, ...] | None = None,
    stdout: str = "",
    stderr: str = "",
    artifacts: tuple[str, ...] = (),
) -> TestCase:
    """A test case with sensible defaults (a flaky one failed once first unless `reruns` says how)."""
    if reruns is None:
        reruns = (Rerun(status="failed", message="first try failed"),) if flaky else ()
    if flaky:
        attempts = max(attempts, 2)
    return TestCase(
        suite=suite,
        classname=classname,
        name=name,
        status=status,
        file=file,
        line=line,
        message=message,
        type=type,
        details=details,
        flaky=flaky,
        attempts=attempts,
        reruns=reruns,
        stdout=stdout,
        stderr=stderr,
        artifacts=artifacts,
        duration=0.01,
    )


def suite(
    name: str,
    cases: list[TestCase],
    *,
    runner: str = "pytest",
    duration: float = 2.0,
    command: tuple[str, ...] = ("pytest",),
    started_at: float = 1_700_000_000.0,
    error: str | None = None,
) -> SuiteResult:
    """A suite that ran once for `duration` seconds (returning 1 when it has an `error`)."""
    attempt = Attempt(
        number=1,
        command=command,
        returncode=1 if error else 0,
        timed_out=False,
        started_at=started_at,
        duration=duration,
        log_path=Path("log.txt"),
    )
    return SuiteResult(name=name, runner=runner, cases=CaseStore(cases), attempts=[attempt], error=error)


def run_of(*suites: SuiteResult, duration: float = 3.0, project: str = "shop") -> RunResult:
    """A run of `suites` that took `duration` seconds of wall time."""
    return RunResult(
        project=project,
        run_id="20240101_000000Z",
        suites=list(suites),
        started_at=1_700_000_000.0,
        finished_at=1_700_000_000.0 + duration,
    )


def close_run(run: RunResult) -> None:
    """Release the suites' spill files (large runs)."""
    for item in run.suites:
        item.cases.close()


# -- the action's world --------------------------------------------------------------------------------

TOKEN = "ghs_SECRETtoken0123456789abcdefghijklmnop"  # noqa: S105 - a fake, to prove masking
HEAD_SHA = "6dcb09b5b57875f334f61aebed695e2e4193db5e"
MERGE_SHA = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4"
DECLARED = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))["inputs"]
#: a profile with one command suite that passes
COMMAND_PROFILE = """\
project:
  name: fixture
tests:
  smoke:
    runner: command
    command: [python3, -c, "print('ok')"]
"""


def pull_request_event() -> dict[str, Any]:
    """The event payload of a `pull_request` (synchronize) run of PR 7 at `HEAD_SHA`."""
    repo = {"id": 1296269, "name": "shop", "full_name": "octo/shop", "private": False,
            "owner": {"login": "octo", "type": "Organization"}}  # fmt: skip
    return {
        "action": "synchronize",
        "number": 7,
        "pull_request": {
            "number": 7,
            "state": "open",
            "title": "Make checkout faster",
            "user": {"login": "contributor"},
            "head": {"ref": "fast-checkout", "sha": HEAD_SHA, "repo": repo},
            "base": {"ref": "main", "sha": "9049f1265b7d61be4a8904a9a27120d2064dab3b", "repo": repo},
            "merge_commit_sha": MERGE_SHA,
        },
        "repository": repo,
        "sender": {"login": "contributor"},
    }


class ActionWorld:
    """A workspace with a fixture project and the environment the runner gives a Docker action.

    `inputs` holds every input of action.yml (its declared defaults; a token);
    `environment()` is what the entrypoint sees.
    """

    def __init__(self, tmp_path: Path, api_url: str) -> None:
        self.workspace = tmp_path / "workspace"
        self.workspace.mkdir()
        (self.workspace / ".qaagent.yaml").write_text(COMMAND_PROFILE, encoding="utf-8")
        self.files = tmp_path / "file_commands"
        self.files.mkdir()
        self.output = self.files / "output"
        self.summary = self.files / "summary"
        self.output.touch()
        self.summary.touch()
        event = self.files / "event.json"
        event.write_text(json.dumps(pull_request_event()), encoding="utf-8")
        self.inputs: dict[str, str] = {name: spec["default"] for name, spec in DECLARED.items()}
        self.inputs["github-token"] = TOKEN
        self.env = {
            **CHILD_PYTEST_ENV,
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(tmp_path),
            "LANG": "C.UTF-8",
            "CI": "true",
            "GITHUB_ACTIONS": "true",
            "GITHUB_WORKSPACE": str(self.workspace),
            "GITHUB_OUTPUT": str(self.output),
            "GITHUB_STEP_SUMMARY": str(self.summary),
            "GITHUB_EVENT_NAME": "pull_request",
            "GITHUB_EVENT_PATH": str(event),
            "GITHUB_SHA": MERGE_SHA,
            "GITHUB_REF": "refs/pull/7/merge",
            "GITHUB_REPOSITORY": "octo/shop",
            "GITHUB_API_URL": api_url,
            "GITHUB_SERVER_URL": "https://github.com",
            "GITHUB_RUN_ID": "1658821493",
            "GITHUB_RUN_ATTEMPT": "1",
            "GITHUB_JOB": "qa",
            "GITHUB_WORKFLOW": "tests",
            "GITHUB_ACTOR": "contributor",
        }

    def environment(self) -> dict[str, str]:
        """The job's variables and one `INPUT_<NAME>` per input (hyphens kept, as the runner does)."""
        env = dict(self.env)
        env.update({f"INPUT_{name.upper()}": value for name, value in self.inputs.items()})
        return env

    def outputs(self) -> dict[str, str]:
        """The step outputs written so far."""
        return parse_outputs(self.output.read_text(encoding="utf-8"))


def parse_outputs(text: str) -> dict[str, str]:
    """Read a GITHUB_OUTPUT file: `name=value` lines and `name<<DELIM` ... `DELIM` blocks."""
    values: dict[str, str] = {}
    lines = iter(text.splitlines())
    for line in lines:
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            body: list[str] = []
            for inner in lines:
                if inner == delimiter:
                    break
                body.append(inner)
            else:
                msg = f"output {name!r}: delimiter {delimiter!r} never closes"
                raise AssertionError(msg)
            values[name] = "\n".join(body)
        elif "=" in line:
            name, value = line.split("=", 1)
            values[name] = value
    return values


def unescape_data(value: str) -> str:
    """Undo `commands.escape_data` the way the Actions runner does (the runner cannot run here)."""
    return value.replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")


def unescape_property(value: str) -> str:
    """Undo `commands.escape_property` the way the Actions runner does."""
    return unescape_data(value.replace("%3A", ":").replace("%2C", ","))


def read_junit_files(
    paths: Sequence[Path], *, suite: str, base_dir: Path, repo_root: Path
) -> tuple[list[TestCase], list[str]]:
    """All cases of several JUnit files in order and one reason per bad file, as `iter_result_files` gives them."""
    problems: list[str] = []
    cases = list(
        iter_result_files(
            paths, format="junit", suite=suite, base_dir=base_dir, repo_root=repo_root, problems=problems
        )
    )
    return cases, problems


def api_environment(api: GitHubServer) -> dict[str, str]:
    """What qaagent needs to talk to `api` in Actions, with a token."""
    return {
        "GITHUB_ACTIONS": "true",
        "GITHUB_API_URL": api.url,
        "GITHUB_REPOSITORY": "octo/shop",
        "GITHUB_SHA": "a" * 40,
        "QAAGENT_GITHUB_TOKEN": api.token,
    }
