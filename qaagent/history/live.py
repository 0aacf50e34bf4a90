"""The history as one run uses it: opened once, read before scheduling, written after the reports.

    history = RunHistory.open(settings, base_dir=…, project=…, repo_root=…, say=console.line)
    durations = history.durations()          # this branch, else the base branch, else all
    comparison = history.judge(result)       # before the reports: groups, quarantine, the verdict
    history.record(bundle_dir, result)       # after the bundle is finished
    history.close()

Whatever goes wrong with the store — locked, corrupt, read-only, unreachable,
wrong credentials, a newer schema — is said once, as one warning line
(``qaagent: warning: history: cannot …``), and the history is not used for the
rest of the run. The tests, the verdict and the bundle never depend on it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from qaagent.durations import NO_DURATIONS, Durations
from qaagent.errors import UsageError
from qaagent.evidence.gitinfo import git_info
from qaagent.evidence.manifest import environment
from qaagent.evidence.read import GitInfo, read_manifest
from qaagent.history.api import History
from qaagent.history.bundles import run_identity, run_record
from qaagent.history.compare import Comparison, Entry
from qaagent.history.faults import HistoryUnavailable
from qaagent.history.prepared import FIELDS, Columns, RunResults, prepare_columns
from qaagent.history.settings import HistorySettings
from qaagent.history.store import Scope
from qaagent.text import one_line, shorten

if TYPE_CHECKING:
    from qaagent.run_result import RunResult

Say = Callable[[str], None]
#: the runs whose durations schedule a new run (see `RunHistory.durations`)
SCHEDULING_KINDS = ("run", "merge")


@dataclass
class RunHistory:
    """The open store of one run and who the run is (project, repository, branch, base branch)."""

    settings: HistorySettings
    scope: Scope
    branch: str
    base_branch: str
    say: Say
    history: History | None = None
    problem: HistoryUnavailable | None = None  #: the first fault (the only one said)
    #: the results `judge` prepared (the record reuses them: one pass over the cases)
    prepared: RunResults | None = None

    @classmethod
    def open(
        cls,
        settings: HistorySettings,
        *,
        base_dir: Path,
        project: str,
        repo_root: Path,
        say: Say,
        base_branch: str | None = None,
        environ: Mapping[str, str] | None = None,
        git: Mapping[str, str | None] | None = None,
    ) -> RunHistory:
        """Open the store of `settings` (a fault is said and leaves the history unused).

        `git`: the checkout's facts (`evidence.gitinfo.git_info`) when the caller asked git
        already (the pipeline asks once for the history and the manifest); else asked here.
        """
        facts = git if git is not None else git_info(repo_root, environ)
        repository, branch, event_base = run_identity(GitInfo(**facts), environment(environ))
        found = cls(settings, Scope(project, repository), branch, base_branch or event_base, say)
        opened = History.open(settings, base_dir=base_dir, environ=environ)
        if isinstance(opened, HistoryUnavailable):
            found.fault(opened)
        else:
            found.history = opened
        return found

    def fault(self, problem: HistoryUnavailable) -> None:
        """Say the first fault as one warning and stop using the store."""
        if self.problem is None:
            self.problem = problem
            self.say(f"qaagent: warning: {problem.message}; the run goes on without it")
        self.close()

    def durations(self) -> Durations:
        """p50 durations of this branch's window, else the base branch's, else any branch's.

        Whole runs and merges only: a shard run not merged yet is left out, so
        the shards of one run that record into one store, one after another,
        all compute the same split (the merge refuses different splits).
        """
        if self.history is None:
            return NO_DURATIONS
        for branch in dict.fromkeys([self.branch or None, self.base_branch or None, None]):
            found = self.history.durations(self.scope, branch=branch, kinds=SCHEDULING_KINDS)
            if isinstance(found, HistoryUnavailable):
                self.fault(found)
                return NO_DURATIONS
            if found.suites:
                return found
        return NO_DURATIONS

    def record(self, bundle_dir: Path, result: RunResult) -> None:
        """Record the finished run of `bundle_dir` (its manifest says who it is) with its results."""
        if self.history is None:
            return
        if result.cancelled:
            self.say("qaagent: history: a cancelled run is not recorded")
            return
        try:
            run = run_record(read_manifest(bundle_dir), where=str(bundle_dir / "manifest.json"))
        except UsageError as exc:  # BundleError is one: our own manifest unreadable (a full disk…)
            self.fault(HistoryUnavailable("record this run", exc.message))
            return
        prepared = self.prepared if self.prepared is not None else prepare_columns(lambda: _columns(result))
        outcome = self.history.record(run, prepared)
        if isinstance(outcome, HistoryUnavailable):
            self.fault(outcome)
            return
        self.say(f"qaagent: history: {outcome.results} result(s) recorded in {self.history.store.display}")

    def judge(self, result: RunResult) -> Comparison | None:
        """This run's failures against the base branch, and the quarantined tests (None: no store).

        The one place the comparison is computed: the console lines are said here, the
        verdict (`Comparison.excused`) and every writer (job summary, check run, comment,
        report.html) take what this returns. Without a base branch (a push) only the
        quarantine is looked up (against this branch's own window).
        """
        if self.history is None or result.cancelled:
            return None
        self.prepared = prepare_columns(lambda: _columns(result))  # once, for the comparison and the record
        base = self.base_branch if self.base_branch != self.branch else ""
        held = self.history.quarantine(self.scope, branch=base or self.branch or None)
        if isinstance(held, HistoryUnavailable):
            self.fault(held)
            return None
        for note in held.notes:  # a missing, unreadable or partly malformed quarantine list
            self.say(f"qaagent: warning: history: {shorten(one_line(note), 500)}")
        found = self.history.compare(self.scope, self.prepared, base_branch=base, quarantined=held)
        if isinstance(found, HistoryUnavailable):
            self.fault(found)
            return None
        for line in comparison_lines(found):
            self.say(line)
        return found

    def close(self) -> None:
        """Close the store (again is harmless)."""
        if self.history is not None:
            history, self.history = self.history, None
            history.close()


def _columns(result: RunResult) -> Iterator[Columns]:
    """Every case of the run, a chunk at a time, as columns of `prepared.FIELDS` (no `TestCase` built)."""
    for suite in result.suites:
        yield from suite.cases.column_chunks(FIELDS)


#: tests named per group in the console, at most
SHOWN = 10


def _tests(entries: list[Entry]) -> str:
    """How many tests failed, and their failed results when more (a test id that ran twice)."""
    results = sum(e.failing_results for e in entries)
    return f"{len(entries)}" + (f" ({results} results)" if results > len(entries) else "")


def comparison_lines(found: Comparison) -> list[str]:
    """The console's account of a comparison: a summary line, the new, still failing, quarantined tests."""
    lines: list[str] = []
    if not found.base_branch:
        pass  # a push: nothing to compare with, only the quarantine below
    elif found.base is None:
        lines.append(f"qaagent: history: no recorded run of {found.base_branch} to compare with")
    else:
        base = found.base
        lines.append(
            f"qaagent: history: against {found.base_branch} (run {base.run_id}"
            + (f", commit {base.commit[:12]}" if base.commit else "")
            + f"): {len(found.new)} new failure(s), {_tests(found.still_failing)} still failing, "
            f"{len(found.flaky)} flaky, {len(found.quarantined)} quarantined, {len(found.fixed)} fixed"
        )
    groups = [("new", found.new), ("still failing", found.still_failing)] if found.base is not None else []
    failing = [e for e in found.quarantined if e.status in ("failed", "error")]
    if failing:
        lines.append(
            f"qaagent: history: {_tests(failing)} quarantined test(s) failed: reported, not failing the run"
        )
        groups.append(("quarantined", failing))
    for label, entries in groups:
        lines += [
            f"qaagent: history:   {label}: {shorten(one_line(entry.test.text), 300)}"
            for entry in entries[:SHOWN]
        ]
        if len(entries) > SHOWN:
            lines.append(f"qaagent: history:   … and {len(entries) - SHOWN} more {label}")
    return lines
