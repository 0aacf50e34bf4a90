"""The steps both pipelines end with: judge, the reports, the history record, the feedback, the exit code.

`judge_history` groups the failures against the base branch (and takes quarantined ones
out of the verdict) before anything is written; `write_reports` makes the bundle's one
pass (junit.xml and its copy, tests.jsonl.gz, report.html, the summary's collector),
prunes old bundles and prints the console summary; `record_history` records the run;
`publish` gives the GitHub feedback from what the pass collected;
`exit_code_after_reports` turns the result (and any report that could not be written)
into the exit code. `qaagent.pipeline` lists them in its steps.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from qaagent.console import Console
from qaagent.errors import ExitCode, QAAgentError
from qaagent.files import display_path
from qaagent.run_result import FailOn, RunResult, conclusion
from qaagent.run_state import Run

if TYPE_CHECKING:
    from collections.abc import Sequence

    from qaagent.evidence.bundle import Finished
    from qaagent.options import SummaryMode


def write_reports(run: Run) -> None:
    """After execution, from one thread: the bundle's one pass, the merged JUnit's copy, pruning, console.

    One pass over the cases writes junit.xml (and its copy at `--junit`), tests.jsonl.gz,
    report.html and collects the summary (`Bundle.finish`); a report that cannot be
    written is a warning here and exit code 3 at the end (`exit_code_after_reports`).
    """
    from qaagent.evidence.prune import prune  # noqa: PLC0415
    from qaagent.files import StreamedFile  # noqa: PLC0415
    from qaagent.report.comparison import document  # noqa: PLC0415
    from qaagent.report.console import summary_lines  # noqa: PLC0415
    from qaagent.report.html import REPORT_NAME, HtmlReport  # noqa: PLC0415
    from qaagent.report.markdown import SummaryCollector  # noqa: PLC0415

    bundle, result = run.outcome()
    # In Actions, failures link to their file and line at the tested commit.
    ctx = run.feedback.ctx if run.feedback is not None else None
    run.summary = SummaryCollector(
        link_base=(ctx.repo_url or None) if ctx is not None else None,
        sha=(ctx.head_sha or None) if ctx is not None else None,
        comparison=run.comparison,
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
        keep_unredactable=run.keep_unredactable,
        writers=[summary, page],
        junit_copy=run.junit_target,
        history=document(run.comparison),
    )
    run.missing = finished.missing
    # a file removed for a full disk is also missing: its one warning is the one below
    missing = {name for name, _ in finished.missing}
    removed = [(name, why) for name, why in finished.unredacted_removed if name not in missing]
    if removed:
        whys = sorted({why.removeprefix("not kept (").removesuffix(")") for _, why in removed})
        run.console.line(
            f"qaagent: warning: removed {len(removed)} file(s) the suites left from the "
            f"bundle ({'; '.join(whys)}); the manifest lists them under not_kept"
        )
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
        failure: str | None = None,
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
                failure=failure,
            )
        return summary.render(
            fail_on=fail_on,
            evidence_path=evidence_path,
            notes=notes,
            max_bytes=max_bytes,
            detail=detail,
            title=title,
            failure=failure,
        )

    run.feedback.finish(
        result,
        fail_on=run.fail_on,
        render=render,
        summary_md=run.summary_markdown,
        bundle_dir=bundle.dir,
        junit=run.junit or bundle.junit_path,
        notes=run.notes,
        cancel=run.cancel,
        error=qaagent_failure(run),
    )
    if run.cancel.is_set() and not result.cancelled:  # a signal while publishing: exit 130
        run.result = dataclasses.replace(result, cancelled=True)


def qaagent_failure(run: Run) -> str | None:
    """Why qaagent itself failed although its reports were made (exit 3), in one line; or None.

    A report it could not write (a full disk), or a suite's log it could not write. The
    check run then concludes `failure` naming it (`publish`), and the exit code is 3.
    """
    _, result = run.outcome()
    if run.missing:
        names = ", ".join(name for name, _ in run.missing)
        reasons = sorted({reason for _, reason in run.missing})
        return (
            f"could not write {names} ({'; '.join(reasons)}); the evidence bundle's manifest lists them as "
            f"missing (the tests' verdict: {conclusion(result, run.fail_on)})"
        )
    logs = [
        f"{suite.name}: {attempt.log_error}"
        for suite in result.suites
        for attempt in suite.attempts
        if attempt.log_error
    ]
    # a cancelled run exits 130 whatever its logs (`exit_code`): its feedback says cancelled
    if logs and conclusion(result, run.fail_on) != "cancelled":
        return f"could not write the output log of {'; '.join(logs)} (the manifest says what is missing)"
    return None


def exit_code_after_reports(run: Run) -> ExitCode:
    """The run's exit code; qaagent's own failure after the reports (a full disk) is exit 3, in one line."""
    _, result = run.outcome()
    if run.missing:
        failure = qaagent_failure(run)
        assert failure is not None  # noqa: S101 - run.missing makes one
        raise QAAgentError(failure)
    return exit_code(result, run.fail_on)


def exit_code(result: RunResult, fail_on: tuple[FailOn, ...]) -> ExitCode:
    """130 cancelled, 3 when a log could not be written (disk full), 1 on a `fail_on` category, else 0."""
    verdict = conclusion(result, fail_on)
    if verdict == "cancelled":
        return ExitCode.CANCELLED
    if any(attempt.log_error for suite in result.suites for attempt in suite.attempts):
        return ExitCode.INTERNAL  # the bundle is incomplete: its manifest says what could not be written
    return ExitCode.TESTS_FAILED if verdict == "failure" else ExitCode.OK


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
