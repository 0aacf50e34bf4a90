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
report is still written). A signal during the reports changes nothing in
them: the bundle and the JUnit tell the complete result. With GitHub feedback,
a signal during the reports or while publishing stops the publishing (the
request in flight ends within a second, one last request concludes the check
run as `cancelled`, no comment) and the exit code is 130.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import signal
import sys
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from qaagent import __version__, redact
from qaagent.cancel import cancel_on_signals, signal_handler
from qaagent.console import Console
from qaagent.errors import ExitCode, UsageError, as_qaagent_error, resume_collection
from qaagent.evidence.gitinfo import git_info
from qaagent.plan import build_plan
from qaagent.process import child_environment
from qaagent.profile_load import files_profile, load_profile
from qaagent.report_steps import (
    exit_code_after_reports,
    judge_history,
    publish,
    record_history,
    write_reports,
)
from qaagent.run_state import Run, Step

if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import FrameType

    from qaagent.command_options import MergeOptions, RunOptions
    from qaagent.history.live import RunHistory
    from qaagent.history.settings import HistorySettings


# -- run-all ---------------------------------------------------------------------------------------


def run_all(options: RunOptions, *, out: TextIO | None = None) -> ExitCode:
    """Run the profile's suites and report; the evidence bundle is written whatever happens."""
    run = load_plan(options, out or sys.stdout)
    try:
        try:
            with _interrupt_on_signals():
                plan = run.plan
                assert plan is not None  # noqa: S101 - load_plan made it
                run.git = git_info(run.repo_root)  # once: the history's identity and the manifest
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
            _steps(run, RUN_STEPS)
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
        git=run.git,
    )


def load_plan(options: RunOptions, out: TextIO) -> Run:
    """Profile → plan; a bad profile or selection is a `UsageError` (exit 2) before anything is written.

    With `options.files` (`--files`, the action's `files:` input) the profile is one `report`
    suite built from them, and no profile file is read.
    """
    if options.files:
        project = os.environ.get("GITHUB_REPOSITORY", "").rpartition("/")[2] or Path.cwd().name or "project"
        loaded = files_profile(options.files, directory=Path.cwd(), format=options.format, project=project)
    elif options.format is not None:
        msg = "--format (input 'format') names the format of --files (input 'files'): give both"
        raise UsageError(msg)
    else:
        loaded = load_profile(options.profile)
    plan = build_plan(loaded, options)
    github = _github_enabled(options.feedback.github)
    # In Actions every line is parsed for workflow commands, whatever --github says.
    console = Console(out, github=github or os.environ.get("GITHUB_ACTIONS") == "true", quiet=options.quiet)
    if options.files and options.profile.is_file():
        console.line(f"qaagent: publishing --files: the profile {options.profile} is not read")
    return Run(
        console=console,
        plan=plan,
        fail_on=plan.fail_on,
        repo_root=plan.repo_root,
        evidence_dir=plan.evidence_dir,
        junit_target=plan.junit_path,
        keep=plan.keep,
        max_output=plan.max_output,
        keep_unredactable=plan.keep_unredactable,
        github_options=options.feedback if github else None,
    )


def schedule(run: Run, options: RunOptions) -> None:
    """`--shard` (`auto`: from the CI's variables), then the one queue of work (`qaagent.batching`).

    Planning may ask the tools for their test files (pytest --collect-only, playwright --list);
    durations are read only when they matter.
    """
    from qaagent.batching import plan_work  # noqa: PLC0415 - a cheap import path for --help
    from qaagent.durations import NO_DURATIONS, resolve_durations  # noqa: PLC0415
    from qaagent.options import AutoShard  # noqa: PLC0415

    plan = run.plan
    assert plan is not None  # noqa: S101 - load_plan made it
    shard = options.shard
    if isinstance(shard, AutoShard):
        from qaagent.ci import shard_from_environment  # noqa: PLC0415 - only `--shard auto` reads the CI

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
        from qaagent.shard import apply_shard, split  # noqa: PLC0415 - only a shard run splits here
        from qaagent.units import discover_all  # noqa: PLC0415

        discoveries = discover_all(plan, [s.name for s in plan.suites], plan.slots)
        plan = apply_shard(plan, shard.index, split(plan, shard.total, durations, discoveries))
    run.plan = plan_work(plan, durations, discoveries)


def start_bundle(run: Run) -> None:
    """Create the evidence bundle (status `running`) and say what will run."""
    from qaagent.evidence.bundle import Bundle, make_run_id  # noqa: PLC0415
    from qaagent.github.closer import BUNDLE_STATE, save_state  # noqa: PLC0415

    plan = run.plan
    assert plan is not None  # noqa: S101 - load_plan made it
    run_id = make_run_id(datetime.now(UTC), plan.shard, evidence_dir=plan.evidence_dir)
    run.bundle = Bundle.start(
        plan.evidence_dir,
        run_id,
        project=plan.project,
        settings=plan.settings(),
        profile_path=plan.loaded.source,
        profile_sha256=plan.loaded.sha256,
        repo_root=plan.repo_root,
        suites=[s.name for s in plan.suites],
        shard=plan.shard,
        git=run.git,
    )
    run.bundle.keep_unredactable = plan.keep_unredactable
    # where the action's post step finds the bundle if this run is killed before it ends
    save_state(
        os.environ.get("GITHUB_STATE", ""), {BUNDLE_STATE: str(run.bundle.dir.resolve())}, run.console.stream
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
    resume_collection()  # the start is over (`errors.pause_collection`): what it built is frozen
    reaper = OrphanReaper(run.console)
    orchestrator = RunOrchestrator(
        plan,
        run_id=bundle.run_id,
        suite_dir=bundle.suite_dir,
        console=run.console,
        cancel=run.cancel,
        base_env=child_environment(os.environ),
        orphans_between_suites=reaper.stop if reaper.active else None,
        seal=bundle.seal,
    )
    with redact.frozen():  # the environment is asked once, not per suite
        result = orchestrator.run()
    reaper.stop(hurry=run.cancel.is_set())
    # A signal that came after the last suite still makes this a cancelled run.
    run.result = dataclasses.replace(result, cancelled=result.cancelled or run.cancel.is_set())


RUN_STEPS: tuple[Step, ...] = (
    start_bundle,
    start_feedback,
    execute,
    judge_history,
    write_reports,
    record_history,
    publish,
)


def _steps(run: Run, steps: Sequence[Step]) -> None:
    """Run the steps; a qaagent failure after the check run started still concludes it (`failure`).

    The failure (exit 3, e.g. a file that could neither be redacted nor removed) goes on to
    the caller as it was: its one line is the check run's summary (`GitHubFeedback.fail`).
    """
    try:
        for step in steps:
            step(run)
    except Exception as error:
        failure = as_qaagent_error(error)
        if run.feedback is not None and failure.exit_code == ExitCode.INTERNAL:
            run.feedback.fail(failure.message, cancel=run.cancel)
        raise


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
        _steps(run, MERGE_STEPS)
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
    git = git_info(repo_root)  # once: the merged bundle's manifest and the history's identity
    merged = merge_bundles(
        options.bundles,
        evidence_dir=evidence_dir,
        repo_root=repo_root,
        allow_partial=options.allow_partial,
        git=git,
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
        keep_unredactable=True,  # each shard's own profile decided what its bundle keeps
        bundle=merged.bundle,
        result=merged.run,
        notes=tuple(merged.notes),
        github_options=options.feedback if github else None,
        git=git,
    )


MERGE_STEPS: tuple[Step, ...] = (start_feedback, judge_history, write_reports, record_history, publish)


# -- helpers ---------------------------------------------------------------------------------------


def _github_enabled(wanted: bool | None) -> bool:  # noqa: FBT001 - None means "auto"
    return os.environ.get("GITHUB_ACTIONS") == "true" if wanted is None else wanted


def _announce(console: Console, name: str, first: bool) -> None:  # noqa: FBT001 - a signal callback
    if first:
        console.line(f"qaagent: {name} received: stopping suites and writing the evidence bundle")
    else:
        console.line(f"qaagent: {name} again: still writing the evidence bundle, please wait")


class _CancelledWhilePlanning(Exception):  # noqa: N818 - a signal, not an error
    """A cancel signal arrived before any suite could start."""


def _interrupt_on_signals() -> AbstractContextManager[None]:
    """SIGINT, SIGTERM and SIGHUP raise `_CancelledWhilePlanning` (stopping what blocks)."""

    def handler(signum: int, _frame: FrameType | None) -> None:
        raise _CancelledWhilePlanning(signal.Signals(signum).name)

    return signal_handler(handler)
