"""The two pipelines, `run_all` and `merge`, each a list of steps read top to bottom.

    run_all: plan → schedule → start the bundle → start the feedback → execute
             → judge against the history → write the reports → record the history
             → publish → exit code
    merge:   merge the shards (their bundles verified, one run rebuilt, its bundle started)
             → start the feedback → judge → write the reports → record → publish → exit code

The command line (`qaagent run-all`, `qaagent merge`) and the action's
entrypoint both call these with their options; nothing else starts a run.
Each step is a small function of the `Run` so far, so a step can be added
(e.g. a history lookup before scheduling, a history record after the
reports) without rewriting the others.

Signals: while planning, SIGINT/SIGTERM/SIGHUP stop the tools being asked for
their test files and the run ends with a `cancelled` bundle; from the bundle
start on they only set the run's cancel flag (the suites stop, and every
report is still written). A signal during the reports changes nothing: the
bundle, the JUnit and the exit code tell the same, complete result.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import signal
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from qaagent import __version__
from qaagent.console import Console
from qaagent.errors import ExitCode, QAAgentError
from qaagent.files import display_path
from qaagent.plan import Plan, build_plan
from qaagent.process import Cancel, cancel_on_signals, child_environment, signal_handler
from qaagent.profile import load_profile
from qaagent.results import FailOn, RunResult, conclusion

if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import FrameType

    from qaagent.evidence.bundle import Bundle, Finished
    from qaagent.github.feedback import GitHubFeedback
    from qaagent.history.compare import Comparison
    from qaagent.history.live import RunHistory
    from qaagent.history.settings import HistorySettings
    from qaagent.options import FeedbackOptions, MergeOptions, RunOptions, SummaryMode
    from qaagent.report.markdown import SummaryCollector


@dataclass
class Run:
    """One run as the steps build it: each step reads what the earlier ones left."""

    console: Console
    fail_on: tuple[FailOn, ...] = ()
    repo_root: Path = Path()
    evidence_dir: Path = Path()
    junit_target: Path = Path()
    keep: int = 20
    max_output: int = 65536
    cancel: Cancel = field(default_factory=Cancel)
    plan: Plan | None = None
    bundle: Bundle | None = None
    feedback: GitHubFeedback | None = None
    github_options: FeedbackOptions | None = None
    result: RunResult | None = None
    notes: tuple[str, ...] = ()
    summary_markdown: str = ""
    #: what the one pass collected for the summaries (the job summary, the check run, the comment)
    summary: SummaryCollector | None = None
    junit: Path | None = None  #: where the merged JUnit was copied (the bundle's own on failure)
    #: reports that could not be written (path, reason): the manifest lists them; exit 3
    missing: tuple[tuple[str, str], ...] = ()
    history: RunHistory | None = None  #: None: history off for this run
    #: the run against the base branch and the quarantine (`judge_history`); the writers render it
    comparison: Comparison | None = None

    def outcome(self) -> tuple[Bundle, RunResult]:
        """The bundle and the result the reporting steps work on (asked before `execute`: a bug)."""
        assert self.bundle is not None  # noqa: S101 - the order of the steps guarantees it
        assert self.result is not None  # noqa: S101
        return self.bundle, self.result


Step = Callable[[Run], None]


# -- run-all ---------------------------------------------------------------------------------------


def run_all(options: RunOptions, *, out: TextIO | None = None) -> ExitCode:
    """Run the profile's suites and report; the evidence bundle is written whatever happens."""
    run = load_plan(options, out or sys.stdout)
    try:
        try:
            with _interrupt_on_signals():
                plan = run.plan
                assert plan is not None  # noqa: S101 - load_plan made it
                run.history = open_history(
                    run,
                    plan.loaded.profile.history,
                    enabled=options.history,
                    base_dir=plan.loaded.directory,
                    project=plan.project,
                    base_branch=options.base_branch,
                )
                schedule(run, options)
        except _CancelledWhilePlanning as stop:
            run.console.line(f"qaagent: {stop} received while planning: nothing runs")
            run.cancel.cancel()
        with cancel_on_signals(run.cancel, on_signal=functools.partial(_announce, run.console)):
            for step in RUN_STEPS:
                step(run)
    finally:
        if run.history is not None:
            run.history.close()
    return exit_code_after_reports(run)


def open_history(
    run: Run,
    settings: HistorySettings,
    *,
    enabled: bool | None,
    base_dir: Path,
    project: str,
    base_branch: str | None,
) -> RunHistory | None:
    """The run's test history, unless it is off (`--no-history`, the input, `history.enabled`)."""
    if not (settings.enabled if enabled is None else enabled):
        return None
    from qaagent.history.live import RunHistory  # noqa: PLC0415 - only runs with history import it

    return RunHistory.open(
        settings,
        base_dir=base_dir,
        project=project,
        repo_root=run.repo_root,
        say=run.console.line,
        base_branch=base_branch,
    )


def load_plan(options: RunOptions, out: TextIO) -> Run:
    """Profile → plan; a bad profile or selection is a `UsageError` (exit 2) before anything is written."""
    plan = build_plan(load_profile(options.profile), options)
    github = _github_enabled(options.feedback.github)
    # In Actions every line is parsed for workflow commands, whatever --github says.
    console = Console(out, github=github or os.environ.get("GITHUB_ACTIONS") == "true", quiet=options.quiet)
    return Run(
        console=console,
        plan=plan,
        fail_on=plan.fail_on,
        repo_root=plan.repo_root,
        evidence_dir=plan.evidence_dir,
        junit_target=plan.junit_path,
        keep=plan.keep,
        max_output=plan.max_output,
        github_options=options.feedback if github else None,
    )


def schedule(run: Run, options: RunOptions) -> None:
    """`--shard` (`auto`: from the CI's variables), then the one queue of work (`qaagent.batching`).

    Planning may ask the tools for their test files (pytest --collect-only, playwright --list);
    durations are read only when they matter.
    """
    from qaagent.batching import plan_work  # noqa: PLC0415 - a cheap import path for --help
    from qaagent.ci import shard_from_environment  # noqa: PLC0415
    from qaagent.durations import NO_DURATIONS, resolve_durations  # noqa: PLC0415
    from qaagent.options import AutoShard  # noqa: PLC0415
    from qaagent.shard import apply_shard, split  # noqa: PLC0415
    from qaagent.units import discover_all  # noqa: PLC0415

    plan = run.plan
    assert plan is not None  # noqa: S101 - load_plan made it
    shard = options.shard
    if isinstance(shard, AutoShard):
        found = shard_from_environment(os.environ)
        run.console.line(f"qaagent: --shard auto: {found.reason}")
        shard = found.shard
    splitting = plan.parallel and any(s.split != "off" for s in plan.suites)
    wanted = shard is not None or options.durations_from is not None
    wanted = wanted or (plan.parallel and (len(plan.suites) > 1 or splitting))
    recorded = run.history.durations if run.history is not None else None
    durations = (
        resolve_durations(options.durations_from, plan.evidence_dir, history=recorded)
        if wanted
        else NO_DURATIONS
    )
    discoveries = {}
    if shard is not None:
        discoveries = discover_all(plan, [s.name for s in plan.suites], plan.slots)
        plan = apply_shard(plan, shard.index, split(plan, shard.total, durations, discoveries))
    run.plan = plan_work(plan, durations, discoveries)


def start_bundle(run: Run) -> None:
    """Create the evidence bundle (status `running`) and say what will run."""
    from qaagent.evidence.bundle import Bundle, make_run_id  # noqa: PLC0415

    plan = run.plan
    assert plan is not None  # noqa: S101 - load_plan made it
    run_id = make_run_id(datetime.now(UTC), plan.shard, evidence_dir=plan.evidence_dir)
    run.bundle = Bundle.start(
        plan.evidence_dir,
        run_id,
        project=plan.project,
        settings=plan.settings(),
        profile_path=plan.loaded.path,
        profile_sha256=plan.loaded.sha256,
        repo_root=plan.repo_root,
        suites=[s.name for s in plan.suites],
        shard=plan.shard,
    )
    console = run.console
    mode = f"parallel ({plan.workers} workers)" if plan.parallel else "sequential"
    console.line(f"qaagent {__version__}: run {run.bundle.run_id}, {len(plan.suites)} suite(s), {mode}")
    if plan.shard is not None and plan.shard_layout is not None:
        share = sum(len(s.units) if s.units is not None else 1 for s in plan.suites)
        estimate = plan.shard_layout.get("estimate", 0)
        known = plan.shard_layout.get("known")
        how = f"estimated {estimate:g} s" if known else "equal shares (no recorded durations)"
        console.line(f"qaagent: shard {plan.shard}: {share} unit(s), {how}")
        for note in plan.shard_layout.get("notes") or ():
            console.line(f"qaagent: {note}")  # a suite kept whole, and why
    if plan.suites:
        console.line(f"qaagent: start order: {', '.join(plan.start_order)} — {plan.start_order_reason}")
    from qaagent.batching import layout_lines  # noqa: PLC0415

    for line in layout_lines(plan.split_layout, full=False):
        console.line(f"qaagent: {line}")


def start_feedback(run: Run) -> None:
    """In GitHub Actions: the `in_progress` check run (when asked for; a cancel stops the wait)."""
    if run.github_options is None:
        return
    # Imported only here: the GitHub client and `requests` cost a tenth of a second of start-up.
    from qaagent.github.feedback import GitHubFeedback  # noqa: PLC0415

    run.feedback = GitHubFeedback(run.github_options, repo_root=run.repo_root, stream=run.console.stream)
    run.feedback.start(run.cancel)


def execute(run: Run) -> None:
    """Run the suites (app, slots, retries); what they leave outside their process groups is stopped."""
    from qaagent.orchestrator import RunOrchestrator  # noqa: PLC0415
    from qaagent.orphans import OrphanReaper  # noqa: PLC0415

    plan, bundle = run.plan, run.bundle
    assert plan is not None  # noqa: S101 - load_plan made it
    assert bundle is not None  # noqa: S101 - start_bundle made it
    reaper = OrphanReaper(run.console)
    orchestrator = RunOrchestrator(
        plan,
        run_id=bundle.run_id,
        suite_dir=bundle.suite_dir,
        console=run.console,
        cancel=run.cancel,
        base_env=child_environment(os.environ),
        orphans_between_suites=reaper.stop if reaper.active else None,
    )
    result = orchestrator.run()
    reaper.stop(hurry=run.cancel.is_set())
    # A signal that came after the last suite still makes this a cancelled run.
    run.result = dataclasses.replace(result, cancelled=result.cancelled or run.cancel.is_set())


# -- the steps both pipelines end with -------------------------------------------------------------


def write_reports(run: Run) -> None:
    """After execution, from one thread: the bundle's one pass, the merged JUnit's copy, pruning, console.

    One pass over the cases writes junit.xml (and its copy at `--junit`), tests.jsonl.gz,
    report.html and collects the summary (`Bundle.finish`); a report that cannot be
    written is a warning here and exit code 3 at the end (`exit_code_after_reports`).
    """
    from qaagent.evidence.bundle import prune  # noqa: PLC0415
    from qaagent.files import StreamedFile  # noqa: PLC0415
    from qaagent.report.console import summary_lines  # noqa: PLC0415
    from qaagent.report.html import REPORT_NAME, HtmlReport  # noqa: PLC0415
    from qaagent.report.markdown import SummaryCollector  # noqa: PLC0415

    bundle, result = run.outcome()
    # In Actions, failures link to their file and line at the tested commit.
    ctx = run.feedback.ctx if run.feedback is not None else None
    run.summary = SummaryCollector(
        link_base=(ctx.repo_url or None) if ctx is not None else None,
        sha=(ctx.head_sha or None) if ctx is not None else None,
    )
    evidence_path = display_path(bundle.dir, run.repo_root)
    summary = run.summary

    def summary_markdown() -> str:
        run.summary_markdown = summary.render(
            fail_on=run.fail_on, evidence_path=evidence_path, notes=run.notes
        )
        return run.summary_markdown

    page = HtmlReport(StreamedFile(bundle.dir / REPORT_NAME), max_output=run.max_output)
    finished = bundle.finish(
        result,
        summary_markdown=summary_markdown,
        fail_on=run.fail_on,
        max_output=run.max_output,
        writers=[summary, page],
        junit_copy=run.junit_target,
    )
    run.missing = finished.missing
    for name, reason in finished.missing:
        run.console.line(
            f"qaagent: warning: cannot write {name} ({reason}); the manifest lists it as missing"
        )
    run.junit = _junit_written(bundle.junit_path, run.junit_target, finished, run.console)
    pruned = prune(run.evidence_dir, run.keep, current=bundle.dir)
    if pruned:
        run.console.line(f"qaagent: pruned {len(pruned)} old bundle(s) (keep {run.keep})")
    merged = run.junit if run.junit is not None else "not written (the bundle's manifest lists it as missing)"
    reports = [f"merged JUnit: {merged}", f"evidence: {bundle.dir}"]
    for line in summary_lines(result, fail_on=run.fail_on, reports=reports):
        run.console.line(line)


def judge_history(run: Run) -> None:
    """Before the reports: group the failures against the base branch; quarantined ones stop failing the run.

    The comparison is computed once (`RunHistory.judge`); the verdict reads what it
    excuses (`RunResult.excused`), and every writer renders `Run.comparison`.
    """
    if run.history is None:
        return
    _, result = run.outcome()
    found = run.history.judge(result)
    if found is not None:
        run.comparison = found
        run.result = dataclasses.replace(result, excused=found.excused())


def record_history(run: Run) -> None:
    """Record the finished run in the test history (a fault is one warning; nothing else changes)."""
    if run.history is None:
        return
    bundle, result = run.outcome()
    run.history.record(bundle.dir, result)


def publish(run: Run) -> None:
    """GitHub feedback: outputs, annotations, job summary, check run, comment (never the verdict)."""
    if run.feedback is None:
        return
    bundle, result = run.outcome()
    summary = run.summary
    fail_on = run.fail_on

    def render(
        *,
        max_bytes: int,
        evidence_path: str | None,
        notes: Sequence[str],
        link_base: str | None,
        sha: str | None,
        detail: SummaryMode = "full",
        title: str | None = None,
    ) -> str:
        """The check run's and the comment's Markdown, from what the one pass collected."""
        del link_base, sha  # the collector was made with the same context's link base and commit
        if summary is None:  # no pass was made (cannot happen after write_reports): render from the run
            from qaagent.report.markdown import render_summary  # noqa: PLC0415

            return render_summary(
                result,
                fail_on=fail_on,
                max_bytes=max_bytes,
                evidence_path=evidence_path,
                detail=detail,
                title=title,
            )
        return summary.render(
            fail_on=fail_on,
            evidence_path=evidence_path,
            notes=notes,
            max_bytes=max_bytes,
            detail=detail,
            title=title,
        )

    run.feedback.finish(
        result,
        fail_on=run.fail_on,
        render=render,
        summary_md=run.summary_markdown,
        bundle_dir=bundle.dir,
        junit=run.junit or bundle.junit_path,
        notes=run.notes,
    )


RUN_STEPS: tuple[Step, ...] = (
    start_bundle,
    start_feedback,
    execute,
    judge_history,
    write_reports,
    record_history,
    publish,
)


# -- merge -----------------------------------------------------------------------------------------


def merge(options: MergeOptions, *, out: TextIO | None = None) -> ExitCode:
    """Join shard bundles into one run and report it as `run_all` would."""
    settings, base_dir = merge_history_settings(options)  # a bad profile stops before any bundle
    run = merge_shards(options, out or sys.stdout)
    try:
        _, merged = run.outcome()
        run.history = open_history(
            run,
            settings,
            enabled=options.history,
            base_dir=base_dir,
            project=merged.project,
            base_branch=options.base_branch,
        )
        for step in MERGE_STEPS:
            step(run)
    finally:
        if run.history is not None:
            run.history.close()
    return exit_code_after_reports(run)


def merge_history_settings(options: MergeOptions) -> tuple[HistorySettings, Path]:
    """The `history:` a merged run is recorded by: `--profile`'s, else ./.qaagent.yaml's, else the default."""
    from qaagent.history.settings import HistorySettings  # noqa: PLC0415

    profile = options.profile
    if profile is None and Path(".qaagent.yaml").is_file():
        profile = Path(".qaagent.yaml")
    if profile is None:
        return HistorySettings(), Path.cwd()
    loaded = load_profile(profile)
    return loaded.profile.history, loaded.directory


def merge_shards(options: MergeOptions, out: TextIO) -> Run:
    """Verify and check the shard bundles, rebuild one run from them, start its bundle."""
    from qaagent.junit.write import DEFAULT_MAX_OUTPUT  # noqa: PLC0415
    from qaagent.merge import merge_bundles  # noqa: PLC0415
    from qaagent.plan import find_repo_root  # noqa: PLC0415

    repo_root = find_repo_root(Path.cwd().resolve())
    evidence_dir = options.evidence_dir.resolve()
    github = _github_enabled(options.feedback.github)
    console = Console(out, github=github, quiet=True)
    merged = merge_bundles(
        options.bundles, evidence_dir=evidence_dir, repo_root=repo_root, allow_partial=options.allow_partial
    )
    console.line(f"qaagent {__version__}: merge {merged.bundle.run_id} of {merged.description}")
    for note in merged.notes:
        console.line(f"qaagent: warning: {note}")
    return Run(
        console=console,
        fail_on=options.fail_on or merged.fail_on,
        repo_root=repo_root,
        evidence_dir=evidence_dir,
        junit_target=options.junit.resolve(),
        keep=options.keep,
        max_output=DEFAULT_MAX_OUTPUT,
        bundle=merged.bundle,
        result=merged.run,
        notes=tuple(merged.notes),
        github_options=options.feedback if github else None,
    )


MERGE_STEPS: tuple[Step, ...] = (start_feedback, judge_history, write_reports, record_history, publish)


# -- helpers ---------------------------------------------------------------------------------------


def exit_code_after_reports(run: Run) -> ExitCode:
    """The run's exit code; a report that could not be written (a full disk) is exit 3, in one line."""
    _, result = run.outcome()
    if run.missing:
        names = ", ".join(name for name, _ in run.missing)
        reasons = sorted({reason for _, reason in run.missing})
        msg = (
            f"could not write {names} ({'; '.join(reasons)}); the evidence bundle's manifest lists them as "
            f"missing (the tests' verdict: {conclusion(result, run.fail_on)})"
        )
        raise QAAgentError(msg)
    return exit_code(result, run.fail_on)


def exit_code(result: RunResult, fail_on: tuple[FailOn, ...]) -> ExitCode:
    """130 cancelled, 3 when a log could not be written (disk full), 1 on a `fail_on` category, else 0."""
    verdict = conclusion(result, fail_on)
    if verdict == "cancelled":
        return ExitCode.CANCELLED
    if any(attempt.log_error for suite in result.suites for attempt in suite.attempts):
        return ExitCode.INTERNAL  # the bundle is incomplete: its manifest says what could not be written
    return ExitCode.TESTS_FAILED if verdict == "failure" else ExitCode.OK


def _github_enabled(wanted: bool | None) -> bool:  # noqa: FBT001 - None means "auto"
    return os.environ.get("GITHUB_ACTIONS") == "true" if wanted is None else wanted


def _announce(console: Console, name: str, first: bool) -> None:  # noqa: FBT001 - a signal callback
    if first:
        console.line(f"qaagent: {name} received: stopping suites and writing the evidence bundle")
    else:
        console.line(f"qaagent: {name} again: still writing the evidence bundle, please wait")


def _junit_written(bundle_junit: Path, target: Path, finished: Finished, console: Console) -> Path | None:
    """Where the merged JUnit is: its copy at `target`; on a failed copy a warning and the bundle's own."""
    if any(name == bundle_junit.name for name, _ in finished.missing):
        return None
    error = finished.junit_copy_error
    if error is not None:
        console.line(
            f"qaagent: warning: cannot write the merged JUnit to {target}: {error}; it is in the bundle"
        )
        return bundle_junit
    return target


class _CancelledWhilePlanning(Exception):  # noqa: N818 - a signal, not an error
    """A cancel signal arrived before any suite could start."""


def _interrupt_on_signals() -> AbstractContextManager[None]:
    """SIGINT, SIGTERM and SIGHUP raise `_CancelledWhilePlanning` (stopping what blocks)."""

    def handler(signum: int, _frame: FrameType | None) -> None:
        raise _CancelledWhilePlanning(signal.Signals(signum).name)

    return signal_handler(handler)
