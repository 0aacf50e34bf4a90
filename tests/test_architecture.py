"""Which way imports go: every module has a layer, and no module imports a higher one or itself back.

The layers are listed here explicitly (and described in docs/architecture.md). A new module
must be given its layer below, or this test fails. Every import counts: at the top of a
module, inside a function, or under `if TYPE_CHECKING:`.
"""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

import pytest
from helpers import ROOT

from qaagent.runners.names import RUNNERS

#: bottom (0) to top; a module may import modules of its own layer or below, never above
LAYERS: dict[int, tuple[str, ...]] = {
    0: (  # foundations: no qaagent imports but each other; the (empty) package modules
        "qaagent",
        "qaagent.evidence",
        "qaagent.github",
        "qaagent.junit",
        "qaagent.formats",
        "qaagent.report",
        "qaagent.text",
        "qaagent.memo",
        "qaagent.files",
        "qaagent.fastinit",
        "qaagent.attempts",
        "qaagent.counts",
        "qaagent.results",
        "qaagent.run_result",
        "qaagent.redact_encodings",
        "qaagent.redact",
        "qaagent.redact_stream",
        "qaagent.watchdog",
        "qaagent.github.commands",
        "qaagent.history",
        "qaagent.history.dsn",
        "qaagent.history.packed",
        "qaagent.runners.names",
    ),
    1: (  # errors and the guarded doors every layer above uses
        "qaagent.errors",
        "qaagent.paths",
        "qaagent.options",
        "qaagent.command_options",
        "qaagent.ci",
        "qaagent.console",
        "qaagent.schedule",
        "qaagent.evidence.diagnostics",
        "qaagent.stream",
        "qaagent.history.faults",
        "qaagent.history.settings",
        "qaagent.history.model",
    ),
    2: (  # reading input and running processes
        "qaagent.profile",
        "qaagent.profile_load",
        "qaagent.output",
        "qaagent.exit_wait",
        "qaagent.cancel",
        "qaagent.process",
        "qaagent.orphans",
        "qaagent.formats.source",
        "qaagent.formats.xmlsafe",
        "qaagent.formats.xmltree",
        "qaagent.formats.jsonstream",
        "qaagent.junit.locate",
        "qaagent.formats.golang",
        "qaagent.junit.dialects",
        "qaagent.junit.parse",
        "qaagent.junit.read",
        "qaagent.junit.write",
        "qaagent.formats.trx",
        "qaagent.formats.nunit3",
        "qaagent.formats.xunit2",
        "qaagent.formats.gotest",
        "qaagent.formats.tap",
        "qaagent.formats.cucumber",
        "qaagent.formats.mocha",
        "qaagent.formats.detect",
        "qaagent.formats.read",
        "qaagent.formats.parallel",
        "qaagent.evidence.gitinfo",
        "qaagent.history.schema",
        "qaagent.history.backends",
    ),
    3: (  # the plan, the things it starts, the evidence bundle
        "qaagent.plan",
        "qaagent.app",
        "qaagent.setup_command",
        "qaagent.runners",
        "qaagent.runners.registry",
        "qaagent.runners.result_door",
        "qaagent.runners.base",
        "qaagent.runners.listing",
        "qaagent.runners.npm",
        "qaagent.runners.pytest",
        "qaagent.runners.behave",
        "qaagent.runners.playwright",
        "qaagent.runners.command",
        "qaagent.runners.report",
        "qaagent.init_profile",
        "qaagent.evidence.manifest",
        "qaagent.evidence.not_kept",
        "qaagent.evidence.records",
        "qaagent.evidence.sections",
        "qaagent.evidence.read",
        "qaagent.evidence.verify",
        "qaagent.evidence.cleaning",
        "qaagent.evidence.bundle",
        "qaagent.evidence.prune",
        "qaagent.history.store",
        "qaagent.history.bundles",
        "qaagent.history.prepared",
        "qaagent.history.record",
    ),
    4: (  # scheduling and execution; reports and GitHub feedback of a finished run
        "qaagent.durations",
        "qaagent.units",
        "qaagent.shard",
        "qaagent.batching",
        "qaagent.retries",
        "qaagent.suite_run",
        "qaagent.split_suite",
        "qaagent.orchestrator",
        "qaagent.report.console",
        "qaagent.report.timeline",
        "qaagent.report.budget",
        "qaagent.report.markdown_text",
        "qaagent.report.comparison",
        "qaagent.report.markdown_layout",
        "qaagent.report.markdown",
        "qaagent.report.page",
        "qaagent.report.html",
        "qaagent.report.from_bundle",
        "qaagent.github.context",
        "qaagent.github.deadline",
        "qaagent.github.answers",
        "qaagent.github.clock",
        "qaagent.github.errors",
        "qaagent.github.api",
        "qaagent.github.annotations",
        "qaagent.github.checks",
        "qaagent.github.comment",
        "qaagent.github.pulls",
        "qaagent.github.results_json",
        "qaagent.github.publish",
        "qaagent.github.closer",
        "qaagent.github.lifecycle",
        "qaagent.github.feedback",
    ),
    5: (  # shard bundles → one run; what the test history knows; a run's state and its last steps
        "qaagent.run_state",
        "qaagent.report_steps",
        "qaagent.rebuild",
        "qaagent.merge",
        "qaagent.history.queries",
        "qaagent.history.rates",
        "qaagent.history.compare",
        "qaagent.history.api",
        "qaagent.history.report",
        "qaagent.history.live",
    ),
    # the two pipelines; the action's inputs as options; the `qaagent history` commands
    6: (
        "qaagent.pipeline",
        "qaagent.action",
        "qaagent.history.commands",
        "qaagent.history.export",
        "qaagent.plan_commands",
    ),
    7: ("qaagent.cli_flags", "qaagent.cli", "qaagent.__main__"),  # the command line
    8: ("entrypoint",),  # the action's adapter
}
LAYER = {module: layer for layer, modules in LAYERS.items() for module in modules}
#: packages that must not import each other although their layers would allow it
FORBIDDEN = (
    ("qaagent.junit", "qaagent.report"),
    ("qaagent.github", "qaagent.report"),
    ("qaagent.junit.write", "qaagent.evidence"),
    ("qaagent.runners", "qaagent.shard"),
    ("qaagent.runners", "qaagent.units"),
    ("qaagent.runners", "qaagent.batching"),
)


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def sources() -> dict[str, Path]:
    found = {module_name(p): p for p in (ROOT / "qaagent").rglob("*.py")}
    found["entrypoint"] = ROOT / "entrypoint.py"
    return found


def imports_of(path: Path, known: set[str], *, located: Path | None = None) -> set[str]:
    """The qaagent modules `path` imports, anywhere in it (read as if it were at `located`)."""
    found: set[str] = set()
    where = located or path
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = absolute_module(where, node)
            if module:
                found.add(module)
                # `from qaagent import options` imports the module qaagent.options
                found.update(f"{module}.{alias.name}" for alias in node.names)
    return {name for name in found if name in known}


def absolute_module(path: Path, node: ast.ImportFrom) -> str | None:
    """The module `from ... import` names, with relative imports (`from .cli`) made absolute."""
    if node.level == 0:
        return node.module
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    if node.level > 1:
        package = package[: -(node.level - 1)]
    return ".".join([*package, node.module] if node.module else package)


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = sources()
    return {name: imports_of(path, set(modules)) - {name} for name, path in modules.items()}


def test_every_module_has_a_layer(graph: dict[str, set[str]]) -> None:
    assert sorted(set(graph) - set(LAYER)) == [], "give each new module its layer in LAYERS"
    assert sorted(set(LAYER) - set(graph)) == [], "a module listed in LAYERS no longer exists"


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    return sorted(
        f"{module} (layer {LAYER[module]}) imports {target} (layer {LAYER[target]})"
        for module, targets in graph.items()
        for target in targets
        if LAYER[target] > LAYER[module]
    )


def test_no_module_imports_a_higher_layer(graph: dict[str, set[str]]) -> None:
    assert upward_imports(graph) == []


def test_forbidden_package_imports(graph: dict[str, set[str]]) -> None:
    def inside(name: str, package: str) -> bool:
        return name == package or name.startswith(package + ".")

    found = sorted(
        f"{module} imports {target}"
        for module, targets in graph.items()
        for target in targets
        for source, banned in FORBIDDEN
        if inside(module, source) and inside(target, banned)
    )
    assert found == []


def test_no_import_cycle(graph: dict[str, set[str]]) -> None:
    # Tarjan-free: a depth-first search that reports the first cycle it walks into.
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (cycle := visit(target)) is not None:
                return cycle
        path.pop()
        state[module] = 2
        return None

    for module in sorted(graph):
        if module not in state and (cycle := visit(module)) is not None:
            pytest.fail("import cycle: " + " → ".join(cycle))


@pytest.mark.parametrize(
    ("where", "statement"),
    [
        ("qaagent/text.py", "from qaagent.cli import main"),
        ("qaagent/text.py", "import qaagent.cli"),
        ("qaagent/text.py", "from qaagent import cli"),
        ("qaagent/text.py", "def _late():\n    from .cli import main"),
        ("qaagent/evidence/read.py", "from ..cli import main"),
        ("qaagent/evidence/read.py", "from .. import cli"),
    ],
)
def test_the_check_sees_a_violation(tmp_path: Path, where: str, statement: str) -> None:
    """A copy of the real module with one upward import added fails the layer check."""
    source = ROOT / where
    copy = tmp_path / "copy.py"
    copy.write_text(source.read_text(encoding="utf-8") + "\n" + statement + "\n", "utf-8")
    modules = sources()
    name = module_name(source)
    graph = {name: imports_of(copy, set(modules), located=source) - {name}}
    assert any("qaagent.cli" in line for line in upward_imports(graph))


# -- runner knowledge lives in runners/ ------------------------------------------------------------


def _strings(node: ast.expr) -> list[str]:
    """The string literals `node` is, or holds (a tuple, list or set of them)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return [text for element in node.elts for text in _strings(element)]
    return []


def _pattern_strings(pattern: ast.pattern) -> list[str]:
    """The string literals a match-case pattern matches (``case "report":``, ``case "a" | "b":``)."""
    if isinstance(pattern, ast.MatchValue):
        return _strings(pattern.value)
    if isinstance(pattern, ast.MatchOr):
        return [text for inner in pattern.patterns for text in _pattern_strings(inner)]
    if isinstance(pattern, ast.MatchAs) and pattern.pattern is not None:
        return _pattern_strings(pattern.pattern)
    return []


def _is_runner(node: ast.expr) -> bool:
    """`node` is ``runner`` or ``<something>.runner``."""
    return (isinstance(node, ast.Name) and node.id == "runner") or (
        isinstance(node, ast.Attribute) and node.attr == "runner"
    )


def runner_name_comparisons(source: str) -> list[str]:
    """Where `source` compares something with a runner's name, or lists runner names, as a literal.

    ``x == "report"``, ``x != "command"``, ``x in ("command", "report")``, a tuple, list or
    set made only of runner names, ``match s.runner: case "report":`` and a dict literal keyed
    only by runner names (``{"report": 1}.get(s.runner)``) count; ``"pytest" in table`` (a key
    looked up in a mapping, a tool's own config table or a JUnit producer's name) does not.
    """
    found: list[str] = []
    names = set(RUNNERS)
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            for op, (left, right) in zip(node.ops, itertools.pairwise(sides), strict=True):
                if isinstance(op, ast.Eq | ast.NotEq | ast.Is | ast.IsNot):
                    literals = [
                        text
                        for side in (left, right)
                        if isinstance(side, ast.Constant)
                        for text in _strings(side)
                    ]
                elif isinstance(op, ast.In | ast.NotIn):
                    literals = _strings(right) if isinstance(right, ast.Tuple | ast.List | ast.Set) else []
                else:
                    literals = []
                if names & set(literals):
                    found.append(f"line {node.lineno}: {ast.unparse(node)}")
        elif isinstance(node, ast.Tuple | ast.List | ast.Set) and node.elts:
            literals = _strings(node)
            if len(literals) == len(node.elts) and set(literals) <= names:
                found.append(f"line {node.lineno}: {ast.unparse(node)}")
        elif isinstance(node, ast.Match) and _is_runner(node.subject):
            found.extend(
                f"line {case.pattern.lineno}: match {ast.unparse(node.subject)}: case ..."
                for case in node.cases
                if names & set(_pattern_strings(case.pattern))
            )
        elif isinstance(node, ast.Dict) and node.keys:
            keys = [text for key in node.keys if key is not None for text in _strings(key)]
            if len(keys) == len(node.keys) and set(keys) <= names:
                found.append(f"line {node.lineno}: {ast.unparse(node)[:80]}")
    return found


def test_no_runner_name_is_compared_outside_runners() -> None:
    """A module outside runners/ asks the runner (a hook, `PROFILE_RULES`), never compares its name."""
    found = [
        f"{path.relative_to(ROOT)} {line}"
        for name, path in sorted(sources().items())
        if not (name == "qaagent.runners" or name.startswith("qaagent.runners."))
        for line in runner_name_comparisons(path.read_text(encoding="utf-8"))
    ]
    assert found == [], "ask the runner through runners/ (a hook or PROFILE_RULES) instead"


@pytest.mark.parametrize(
    "statement",
    [
        'if suite.runner == "report":\n    pass',
        'skip = "command" != kind',
        'reads = runner in ("command", "report")',
        'READERS = ("command", "report")',
        'ok = runner not in ["pytest"]',
        'match s.runner:\n    case "report":\n        pass',
        'match runner:\n    case "other" | "command":\n        pass',
        'weight = {"report": 1}.get(s.runner)',
        'TABLE = {"pytest": 2.0, "behave": 1.0}',
    ],
)
def test_the_runner_name_check_sees_a_comparison(statement: str) -> None:
    """The check fails on each way a module could switch on a runner's name."""
    source = (ROOT / "qaagent/plan.py").read_text(encoding="utf-8")
    assert runner_name_comparisons(source) == []
    assert runner_name_comparisons(source + "\n" + statement + "\n") != []


def test_the_runner_name_check_lets_a_key_lookup_pass() -> None:
    """A tool's config table (`"pytest" in tool`) or other words are not a runner comparison."""
    assert runner_name_comparisons('found = "pytest" in tool\nkind = x == "reports"\n') == []
    # a record with a "command" field among others, and a match on something that is not a runner
    assert runner_name_comparisons('entry = {"command": [], "returncode": 0}\n') == []
    assert runner_name_comparisons('match status:\n    case "command":\n        pass\n') == []


#: calls that open a file by its path; in runners/ the files are the suite's (a FIFO, a link to
#: /dev/zero): they go through `qaagent.files`' bounded regular-file readers instead
_OPENS = ("read_text", "read_bytes", "open")


def file_reads(source: str) -> list[str]:
    """The calls in `source` that read a file by its path (`os.open` with flags is let pass)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        called = (
            func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        )
        owner = ast.unparse(func.value) if isinstance(func, ast.Attribute) else ""
        if (called in _OPENS and owner != "os") or (owner == "json" and called == "load"):
            found.append(f"{node.lineno}: {ast.unparse(node)[:80]}")
    return found


def test_runners_read_a_suites_files_only_through_the_bounded_readers() -> None:
    """No module in runners/ reads a file by itself (issue 12, seventh review: two such hung qaagent)."""
    found = [
        f"{path.relative_to(ROOT)}:{line}"
        for name, path in sorted(sources().items())
        if name.startswith("qaagent.runners.")
        for line in file_reads(path.read_text(encoding="utf-8"))
    ]
    assert found == [], "read a suite's file with qaagent.files.read_regular / read_start"


@pytest.mark.parametrize(
    "statement",
    [
        "text = path.read_text()",
        "data = (d / 'x').read_bytes()",
        "with open(p) as f:\n    pass",
        "json.load(h)",
    ],
)
def test_the_file_read_check_sees_a_read(statement: str) -> None:
    assert file_reads("import os\nfd = os.open(p, os.O_RDONLY)\n") == []
    assert file_reads(statement + "\n") != []
