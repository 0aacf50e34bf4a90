"""GitHub feedback for one run, from the check run at its start to the comment at its end.

Used by `run-all` and `merge` alike. Nothing here can change the run's conclusion or exit code.
"""

from __future__ import annotations

import math
import os
import secrets
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TextIO

from qaagent.command_options import FeedbackOptions
from qaagent.files import display_path
from qaagent.github.closer import (
    CHECK_MARK_STATE,
    CHECK_NAME_STATE,
    CHECK_RUN_STATE,
    CHECK_SHA_STATE,
    save_state,
)
from qaagent.github.commands import write_command, write_outputs
from qaagent.github.context import GitHubContext
from qaagent.github.lifecycle import fail_check_run, fail_job_summary, start_check_run
from qaagent.github.publish import Published, SummaryRenderer, publish
from qaagent.github.results_json import result_json
from qaagent.run_result import FailOn, RunResult, conclusion

#: seconds the suites wait for the check run's creation at the start of a run
START_BUDGET = 5.0
#: seconds of GitHub API time the creation itself may use (its client's deadline)
START_REQUEST_BUDGET = 30.0
#: seconds the run's end waits for the answer to a creation still on its way, so that it
#: completes that check run by id; the creation has had START_BUDGET already (the suites
#: waited for it). Unanswered by then, it is left to the marked listing and the post step.
END_START_WAIT = 5.0
#: seconds of GitHub API time at the end of a run
FINISH_BUDGET = 60.0
#: the same for a cancelled run, which must exit within a few seconds of the signal
CANCELLED_BUDGET = 1.0
#: seconds a cancelled run waits for the answer to the check run's creation still on its way
#: (the id it brings is what the one last request concludes; else a second check run is made)
CANCELLED_START_WAIT = 1.0


def finish_budget(environ: Mapping[str, str] | None = None) -> float:
    """The end-of-run API budget: `QAAGENT_GITHUB_BUDGET` seconds (1 to 600), else 60."""
    text = (os.environ if environ is None else environ).get("QAAGENT_GITHUB_BUDGET", "")
    try:
        value = float(text)
    except ValueError:
        return FINISH_BUDGET
    return min(max(value, 1.0), 600.0) if math.isfinite(value) else FINISH_BUDGET


class GitHubFeedback:
    """One run's feedback; the token comes from `QAAGENT_GITHUB_TOKEN` and is never printed."""

    def __init__(self, options: FeedbackOptions, *, repo_root: Path, stream: TextIO) -> None:
        self.options = options
        self.stream = stream
        # The `commit` and `pull-request` inputs win over the event's values.
        ctx = GitHubContext.from_env()
        self.ctx = ctx.targeting(commit=options.commit, pull_request=options.pull_request)
        self.root: Path | str = self.ctx.workspace or repo_root
        self.token = os.environ.get("QAAGENT_GITHUB_TOKEN") or None
        self.check_id: int | None = None
        self._starting: threading.Thread | None = None  #: the request creating the check run
        self._sent = 0.0  #: when that request was started (`time.monotonic`)
        self.mark = ""  #: the check run's `external_id`: which check runs are this run's
        self.finished = False  #: `finish` or `fail` concluded the run's feedback

    def start(self, cancel: threading.Event | None = None) -> None:
        """Create the `in_progress` check run when a token and a check name are given.

        The request runs in a thread: the suites wait for it at most START_BUDGET seconds, and a
        cancel (`cancel` set) stops the waiting at once. The request itself goes on, within its
        client's START_REQUEST_BUDGET, and `finish` waits END_START_WAIT more for its answer.
        """
        if not (self.token and self.options.check_name):
            return
        token, name = self.token, self.options.check_name
        done = threading.Event()
        # Before the request: if its answer (the id) comes too late for this run (a signal, a
        # kill), the post step finds the check run by its name, commit and this mark.
        external_id = self.mark = f"qaagent-{secrets.token_hex(8)}"
        save_state(
            self.ctx.state,
            {CHECK_NAME_STATE: name, CHECK_SHA_STATE: self.ctx.head_sha, CHECK_MARK_STATE: external_id},
            self.stream,
        )

        def create() -> None:
            # The suites wait START_BUDGET for this; the request may take longer (its answer is
            # waited for at the end), and the completing request creates the check run anyway
            # if this one did not get through.
            self.check_id = start_check_run(
                ctx=self.ctx,
                token=token,
                check_name=name,
                stream=self.stream,
                budget=START_REQUEST_BUDGET,
                external_id=external_id,
            )
            self._save_check_id()
            done.set()

        self._starting = threading.Thread(target=create, name="check-run-start", daemon=True)
        self._sent = time.monotonic()
        self._starting.start()
        until = time.monotonic() + START_BUDGET
        while not done.wait(0.1) and time.monotonic() < until:
            if cancel is not None and cancel.is_set():
                return

    def finish(
        self,
        run: RunResult,
        *,
        fail_on: Sequence[FailOn],
        render: SummaryRenderer,
        summary_md: str,
        bundle_dir: Path,
        junit: Path,
        notes: Sequence[str] = (),
        cancel: threading.Event | None = None,
        error: str | None = None,
    ) -> None:
        """Publish everything; problems become warnings. `render` renders the check run and comment.

        `cancel` set while publishing (a signal) stops it: see `publish`. `error`: qaagent
        failed after its reports (exit 3): the check run concludes `failure` naming it.
        """
        unanswered = self._await_start(cancelled=run.cancelled, cancel=cancel)
        # after the wait: a signal during it gives the last request the cancelled budget
        cancelled = run.cancelled or (cancel is not None and cancel.is_set())
        self.finished = True
        evidence = display_path(bundle_dir, self.root)
        junit_rel = display_path(junit, self.root)
        problem = self.write_outputs(run, fail_on=fail_on, evidence=evidence, junit=junit_rel)
        warnings = [said for said in (unanswered, problem) if said]
        published = Published()
        publish(
            run,
            ctx=self.ctx,
            fail_on=fail_on,
            render=render,
            token=self.token,
            check_name=self.options.check_name,
            check_run_id=self.check_id,
            comment=self.options.comment,
            comment_mode=self.options.comment_mode,
            annotations=self.options.annotations,
            annotate=self.options.annotate,
            annotations_limit=self.options.annotations_limit,
            summary=self.options.summary,
            summary_mode=self.options.summary_mode,
            summary_title=self.options.summary_title,
            published=published,
            summary_markdown=summary_md,
            evidence_path=evidence,
            junit_path=junit_rel,
            notes=notes,
            stream=self.stream,
            warnings=warnings,
            cancel=cancel,
            check_mark=self.mark,
            error=error,
            # Cancelled: GitHub kills the job 10 s after the first signal; the bundle is written.
            budget=CANCELLED_BUDGET if cancelled else finish_budget(),
        )
        self._save_published(published.check_id)
        late = self._write({"check-url": published.check_url, "comment-url": published.comment_url})
        if late and not problem:  # the same cause was already in publish's one warning otherwise
            write_command(self.stream, "warning", late, title="qaagent")

    def _await_start(self, *, cancelled: bool, cancel: threading.Event | None) -> str | None:
        """Wait for the check run's creation still on its way (its id), bounded as below.

        Returns the one warning line when, without a signal, the creation is still unanswered
        after END_START_WAIT; else None.
        """
        starting = self._starting
        if starting is None or not starting.is_alive():
            return None
        # The check run's creation is still on its way (answered late, or the run was short):
        # its answer (the id) lets the run complete that check run instead of a second one.
        # Without a signal, wait END_START_WAIT at most (the creation has had START_BUDGET while
        # the suites waited); once a signal came (before or during this wait),
        # CANCELLED_START_WAIT at most, so the run still exits within seconds of it.
        if cancelled:
            starting.join(CANCELLED_START_WAIT)
            return None
        until = time.monotonic() + END_START_WAIT
        while starting.is_alive() and time.monotonic() < until:
            if cancel is not None and cancel.is_set():
                starting.join(CANCELLED_START_WAIT)
                return None
            starting.join(min(0.1, max(until - time.monotonic(), 0.0)))
        if not starting.is_alive():
            return None
        return (
            f"GitHub had not answered the check run's creation after {time.monotonic() - self._sent:.0f} s: "
            "the results go to a check run of their own; if GitHub makes the first one later, "
            "the Docker action's post step closes it"
        )

    def fail(self, error: str, cancel: threading.Event | None = None) -> None:
        """Conclude the check run `failure` naming `error`: qaagent failed before publishing (exit 3).

        The job summary (unless `summary: off`) is that one line too; nothing else is published
        (no report was made); the run's exit code stays 3. `cancel` set (a signal) shortens the
        wait for a check run still being created, as in `finish`.
        """
        if self.finished:
            return
        if self.options.summary and self.ctx.step_summary:
            problem = fail_job_summary(self.ctx.step_summary, error)
            if problem:
                write_command(self.stream, "warning", problem, title="qaagent")
        if not self.mark:
            self.finished = True
            return
        unanswered = self._await_start(cancelled=cancel is not None and cancel.is_set(), cancel=cancel)
        if unanswered:
            write_command(self.stream, "warning", unanswered, title="qaagent")
        self.finished = True
        made = fail_check_run(
            ctx=self.ctx,
            token=self.token,
            check_name=self.options.check_name,
            check_run_id=self.check_id,
            error=error,
            stream=self.stream,
            check_mark=self.mark,
            budget=CANCELLED_BUDGET if cancel is not None and cancel.is_set() else finish_budget(),
        )
        self._save_published(made)

    def write_outputs(
        self, run: RunResult, *, fail_on: Sequence[FailOn], evidence: str, junit: str
    ) -> str | None:
        """The step outputs (`GITHUB_OUTPUT`), paths relative to the workspace; a problem, or None.

        The problem is left to `publish` to report: it goes into its one warning annotation.
        """
        if not self.ctx.output:
            return None
        counts = run.counts
        values = {
            "conclusion": conclusion(run, fail_on),
            "total": str(counts.total),
            "passed": str(counts.passed),
            "failed": str(counts.failed),
            "errors": str(counts.errors),
            "skipped": str(counts.skipped),
            "flaky": str(counts.flaky),
            "xfailed": str(counts.xfailed),
            "xpassed": str(counts.xpassed),
            "duration": f"{run.duration:.3f}",
            "junit-path": junit,
            "evidence-path": evidence,
            "run-id": run.run_id,
            "json": result_json(run, fail_on),
        }
        return self._write(values)

    def _save_published(self, check_id: int | None) -> None:
        """The check run the run's end completed, when it is not the one the start's creation made.

        (That creation brought no id in time, or its answer came while the end published.) The
        post step copies its conclusion to a marked check run still open (`closer.close_abandoned_check`).
        """
        if check_id is not None and check_id != self.check_id:
            save_state(self.ctx.state, {CHECK_RUN_STATE: str(check_id)}, self.stream)

    def _save_check_id(self) -> None:
        """Tell the action's post step which check run is open (it closes it if this run is killed)."""
        if self.check_id is not None:
            save_state(self.ctx.state, {CHECK_RUN_STATE: str(self.check_id)}, self.stream)

    def _write(self, values: Mapping[str, str]) -> str | None:
        """Append step outputs through the one GITHUB_OUTPUT writer; a problem, or None."""
        if not self.ctx.output:
            return None
        try:
            write_outputs(Path(self.ctx.output), values)
        except OSError as exc:
            return f"cannot write the outputs to GITHUB_OUTPUT ({self.ctx.output}): {exc.strerror or exc}"
        return None
