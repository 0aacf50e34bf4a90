"""`qaagent init`: find a project's test suites and write a commented `.qaagent.yaml` for them.

What is looked for, at the top of the project (and, for Playwright and
`package.json`, one or two folders down, skipping hidden folders and
`node_modules`):

- **pytest** — a pytest configuration (``pytest.ini``, ``[tool.pytest.ini_options]``
  in ``pyproject.toml``, ``[pytest]`` in ``tox.ini``, ``[tool:pytest]`` in
  ``setup.cfg``) or a ``tests/`` (``test/``) folder with ``test_*.py`` files;
- **behave** — a ``features/`` folder with ``.feature`` files and a ``steps/``
  folder of Python files;
- **Playwright** — a ``playwright.config.*``;
- **jest / vitest** — a ``package.json`` whose ``test`` script runs jest or
  vitest: a `command` suite with the reporter flags that make each write JUnit
  (jest through jest-junit, vitest through its own junit reporter).

The profile is rendered as text (comments included), then parsed by the
profile loader before anything is written, so what `init` writes always
validates. An existing profile is never overwritten without `force`.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from qaagent import __version__
from qaagent.errors import QAAgentError, UsageError
from qaagent.profile_load import parse_profile
from qaagent.runners.playwright import CONFIG_NAMES

#: folders never searched (dependencies, virtual environments, caches)
_SKIPPED = frozenset({"node_modules", "venv", "env", "build", "dist", "__pycache__", "site-packages"})
#: how deep Playwright configs and package.json files are looked for (0: the project's top)
_DEPTH = 2
_TEST_SCRIPT = re.compile(r"(?:^|[\s/&;|(])(jest|vitest)(?:$|[\s;&|)])")


@dataclass(frozen=True)
class Suite:
    """One detected suite: its name, why it was detected, and its profile entry (YAML lines)."""

    name: str
    why: str
    entry: tuple[str, ...]
    notes: tuple[str, ...] = ()  #: comments written above the entry (what to install, …)


@dataclass
class Detected:
    """Every suite found in a project, in the order they are written."""

    root: Path
    suites: list[Suite] = field(default_factory=list)

    def add(self, suite: Suite) -> None:
        """Add a suite; a name already taken gets `-2`, `-3` and so on."""
        names = {s.name for s in self.suites}
        name, number = suite.name, 2
        while name in names:
            name, number = f"{suite.name}-{number}", number + 1
        self.suites.append(Suite(name, suite.why, suite.entry, suite.notes))


def _q(value: str) -> str:
    """A YAML scalar for `value` (JSON strings are valid YAML flow scalars)."""
    return json.dumps(value, ensure_ascii=False)


def _flow(values: list[str]) -> str:
    return "[" + ", ".join(_q(v) for v in values) + "]"


def _folders(root: Path, depth: int = _DEPTH) -> list[Path]:
    """`root` and its folders up to `depth` levels down, sorted, hidden and dependency folders skipped."""
    found = [root]
    level = [root]
    for _ in range(depth):
        below: list[Path] = []
        for folder in level:
            try:
                children = sorted(p for p in folder.iterdir() if p.is_dir() and not p.is_symlink())
            except OSError:
                continue
            below.extend(p for p in children if not p.name.startswith(".") and p.name not in _SKIPPED)
        found.extend(below)
        level = below
    return found


def _rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix() or "."


# -- the detectors ---------------------------------------------------------------------------------


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")[: 1024 * 1024]
    except OSError:
        return ""


def _pytest_config(root: Path) -> str | None:
    """Which file configures pytest, if one does."""
    if (root / "pytest.ini").is_file():
        return "pytest.ini"
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        try:
            tool = tomllib.loads(_read_text(pyproject)).get("tool", {})
        except tomllib.TOMLDecodeError:
            tool = {}
        if isinstance(tool, dict) and "pytest" in tool:
            return "pyproject.toml [tool.pytest.ini_options]"
    for name, section in (("tox.ini", "[pytest]"), ("setup.cfg", "[tool:pytest]")):
        if section in _read_text(root / name).splitlines():
            return f"{name} {section}"
    return None


def _has_python_tests(folder: Path) -> bool:
    for _dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if not d.startswith(".") and d not in _SKIPPED]
        if any(f.endswith(".py") and (f.startswith("test_") or f.endswith("_test.py")) for f in filenames):
            return True
    return False


def _pytest(root: Path, found: Detected) -> None:
    config = _pytest_config(root)
    folder = next((root / n for n in ("tests", "test") if _has_python_tests(root / n)), None)
    if config is None and folder is None:
        return
    path = _rel(folder, root) if folder is not None else "."
    why = f"pytest ({config})" if config else f"pytest ({path}/ has test files)"
    entry = ("runner: pytest", f"path: {_q(path)}")
    found.add(Suite("unit", why, entry, ("retries rerun only the failed tests (their node ids)",)))


def _behave(root: Path, found: Detected) -> None:
    features = root / "features"
    steps = features / "steps"
    if not (steps.is_dir() and any(steps.glob("*.py")) and any(features.rglob("*.feature"))):
        return
    entry = ("runner: behave", f"path: {_q('features')}")
    found.add(Suite("behave", "behave (features/ with steps/)", entry))


def _playwright(root: Path, found: Detected) -> None:
    for folder in _folders(root):
        config = next((name for name in CONFIG_NAMES if (folder / name).is_file()), None)
        if config is None:
            continue
        rel = _rel(folder, root)
        entry = ("runner: playwright", f"path: {_q(rel)}")
        notes = (
            "the folder of playwright.config.*; `args: [--project=chromium]` picks one project",
            "(write `--project=NAME` as one argument: `--project NAME` takes what follows too)",
        )
        found.add(Suite("e2e", f"Playwright ({_rel(folder / config, root)})", entry, notes))


def _package_tests(root: Path, found: Detected) -> None:
    for folder in _folders(root):
        package = folder / "package.json"
        if not package.is_file():
            continue
        try:
            data = json.loads(_read_text(package))
        except ValueError:
            continue
        if not isinstance(data, dict):
            continue
        scripts = data.get("scripts") if isinstance(data.get("scripts"), dict) else {}
        script = scripts.get("test") if isinstance(scripts, dict) else None
        match = _TEST_SCRIPT.search(script) if isinstance(script, str) else None
        if match is None:
            continue
        deps: dict[str, object] = {}
        for key in ("dependencies", "devDependencies"):
            if isinstance(data.get(key), dict):
                deps.update(data[key])
        suite = _jest(folder, root, deps) if match[1] == "jest" else _vitest(folder, root)
        found.add(suite)


def _workdir_lines(folder: Path, root: Path) -> tuple[str, ...]:
    rel = _rel(folder, root)
    return () if rel == "." else (f"working_directory: {_q(rel)}",)


def _jest(folder: Path, root: Path, deps: dict[str, object]) -> Suite:
    command = ["npx", "jest", "--ci", "--reporters=default", "--reporters=jest-junit"]
    entry = (
        "runner: command",
        f"command: {_flow(command)}",
        *_workdir_lines(folder, root),
        "env:",
        "  JEST_JUNIT_OUTPUT_DIR: reports/jest",
        '  JEST_JUNIT_CLASSNAME: "{classname}"   # describe blocks (jest-junit\'s default repeats the title)',
        '  JEST_JUNIT_TITLE: "{title}"',
        '  JEST_JUNIT_ADD_FILE_ATTRIBUTE: "true"  # file="…": annotations land in the test file',
        f"files: {_q('reports/jest/*.xml')}",
    )
    notes = ["jest writes JUnit through jest-junit (a reporter package), into JEST_JUNIT_OUTPUT_DIR"]
    if "jest-junit" not in deps:
        notes.append("jest-junit is not in package.json yet: npm install --save-dev jest-junit")
    where = _rel(folder / "package.json", root)
    return Suite("jest", f"jest ({where} test script)", entry, tuple(notes))


def _vitest(folder: Path, root: Path) -> Suite:
    command = [
        "npx",
        "vitest",
        "run",
        "--reporter=default",
        "--reporter=junit",
        "--outputFile.junit=reports/vitest/junit.xml",
    ]
    entry = (
        "runner: command",
        f"command: {_flow(command)}",
        *_workdir_lines(folder, root),
        f"files: {_q('reports/vitest/*.xml')}",
    )
    where = _rel(folder / "package.json", root)
    notes = ("vitest's own junit reporter writes the file; `run` keeps vitest from watching",)
    return Suite("vitest", f"vitest ({where} test script)", entry, notes)


DETECTORS = (_pytest, _behave, _playwright, _package_tests)


def detect(root: Path) -> Detected:
    """Every suite found in the project at `root`."""
    found = Detected(root)
    for detector in DETECTORS:
        detector(root, found)
    return found


# -- the profile -----------------------------------------------------------------------------------


def render(found: Detected) -> str:
    """The commented profile for `found` (its suites must not be empty)."""
    name = found.root.name or "project"
    lines = [
        f"# qaagent profile, written by `qaagent init` (qaagent {__version__}).",
        "# Check it with `qaagent validate`, run it with `qaagent run-all`; every key: README.md,",
        '# "The profile". Paths are relative to this file\'s folder.',
        "project:",
        f"  name: {_q(name)}",
        "run:",
        "  parallel: false         # true: run the suites at once (or --parallel)",
        "  retry_count: 0          # reruns of the failed tests only, per suite (or --retries N)",
        "  timeout: 1800           # seconds per suite attempt",
        "  fail_on: [failed, error]   # add flaky to fail on tests that passed only on a retry",
        "reports:",
        "  junit: qaagent-junit.xml          # the merged report",
        "  evidence_dir: .qaagent/evidence   # one evidence bundle per run",
        "tests:",
    ]
    for suite in found.suites:
        lines.append(f"  # {suite.why}")
        lines.extend(f"  # {note}" for note in suite.notes)
        lines.append(f"  {suite.name}:")
        lines.extend(f"    {line}" for line in suite.entry)
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Written:
    """What `init` wrote, and why."""

    path: Path
    detected: Detected
    text: str


def write_profile(root: Path, *, target: Path | None = None, force: bool = False) -> Written:
    """Detect the suites under `root` and write the profile (default `root/.qaagent.yaml`).

    `UsageError` (exit 2) when nothing is found or the profile exists and `force` is not set.
    """
    if not root.is_dir():
        raise UsageError(f"{root}: not a folder")
    path = target if target is not None else root / ".qaagent.yaml"
    if path.exists() and not force:
        raise UsageError(f"{path} exists already: qaagent init never overwrites a profile (--force does)")
    found = detect(root)
    if not found.suites:
        msg = (
            f"no test suite found in {root} (looked for a pytest configuration or tests/, features/ "
            "with steps/, playwright.config.*, a package.json test script running jest or vitest): "
            "write the profile by hand (README, The profile), or publish result files with --files"
        )
        raise UsageError(msg)
    text = render(found)
    try:
        parse_profile(text, str(path))  # what init writes must load; a bug here is ours
    except QAAgentError as exc:
        raise QAAgentError(f"internal error: the generated profile does not load: {exc}") from exc
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise QAAgentError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return Written(path, found, text)
