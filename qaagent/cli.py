"""Command line: one function per command; `run-all` is the pipeline read top to bottom.

load profile → plan → start the bundle → run suites → write reports → publish feedback → exit code.
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, NoReturn, TextIO, cast

from qaagent import __version__
from qaagent.console import Console
from qaagent.errors import ExitCode, QAAgentError, UsageError, report_error
from qaagent.files import copy_to
from qaagent.github.feedback import FeedbackOptions, GitHubFeedback, display_path
from qaagent.plan import Overrides, Plan, build_plan, describe, parse_suite_list
from qaagent.process import become_subreaper, children_of, stop_orphans
from qaagent.profile import load_profile
from qaagent.results import FailOn, RunResult, conclusion

if TYPE_CHECKING:
    from qaagent.evidence.bundle import Bundle

FAIL_ON_CHOICES = ("failed", "error", "flaky")


class _Parser(argparse.ArgumentParser):
    """argparse that reports errors as one line through `UsageError` (exit 2)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def _whole_number(text: str, minimum: int) -> int:
    # ASCII digits only: int() also reads "٣" and " 3 ", which no one means on a command line.
    if not re.fullmatch(r"[0-9]{1,9}", text) or int(text) < minimum:
        msg = f"expected a whole number >= {minimum}, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return int(text)


def _positive_int(text: str) -> int:
    return _whole_number(text, 1)


def _non_negative_int(text: str) -> int:
    return _whole_number(text, 0)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        msg = f"expected seconds > 0, got {text!r}"
        raise argparse.ArgumentTypeError(msg) from None
    if not value > 0 or value == float("inf"):
        msg = f"expected seconds > 0, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def _shard_arg(text: str) -> str:
    from qaagent.shard import parse_shard  # noqa: PLC0415 - keeps `--help` fast

    try:
        index, total = parse_shard(text)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(exc.message) from None
    return f"{index}/{total}"


def _shard_count(text: str) -> int:
    from qaagent.shard import MAX_SHARDS  # noqa: PLC0415 - keeps `--help` fast

    if not text.strip().isascii():  # int() also reads other scripts' digits
        msg = f"expected a whole number >= 1 in ASCII digits, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    value = _positive_int(text)
    if value > MAX_SHARDS:
        msg = f"expected at most {MAX_SHARDS} shards, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def _fail_on(text: str) -> tuple[FailOn, ...]:
    kinds: list[FailOn] = []
    for part in text.replace(",", " ").split():
        if part not in FAIL_ON_CHOICES:
            kinds = []
            break
        kinds.append(cast("FailOn", part))
    if not kinds:
        msg = f"expected a list of {', '.join(FAIL_ON_CHOICES)}, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return tuple(dict.fromkeys(kinds))


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    parser = _Parser(prog="qaagent", description="Run every test suite of a project; one report.")
    parser.add_argument("--version", action="version", version=f"qaagent {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    run = commands.add_parser("run-all", help="run the profile's suites and write the reports")
    _profile_arg(run)
    mode = run.add_mutually_exclusive_group()
    mode.add_argument("--parallel", dest="parallel", action="store_true", default=None, help="suites at once")
    mode.add_argument("--sequential", dest="parallel", action="store_false", help="one suite after another")
    run.add_argument("--max-workers", type=_positive_int, metavar="N", help="parallel workers")
    run.add_argument("--retries", type=_non_negative_int, metavar="N", help="reruns of failed tests")
    run.add_argument(
        "--suite", action="append", default=[], metavar="NAME", help="run only these (repeatable)"
    )
    run.add_argument("--timeout", type=_seconds, metavar="S", help="seconds per suite attempt")
    run.add_argument("--junit", type=Path, metavar="PATH", help="where to copy the merged JUnit report")
    run.add_argument("--evidence-dir", type=Path, metavar="DIR", help="where evidence bundles go")
    run.add_argument("--keep", type=_positive_int, metavar="N", help="bundles kept in the evidence dir")
    run.add_argument("--fail-on", type=_fail_on, metavar="LIST", help="failed,error[,flaky]")
    _feedback_args(run)
    run.add_argument("--quiet", action="store_true", help="do not echo suite output")
    run.add_argument("--shard", type=_shard_arg, metavar="I/N", help="run only shard I of N (matrix jobs)")
    _durations_arg(run)
    run.set_defaults(func=cmd_run_all)
    _add_shard_commands(commands.add_parser)

    validate = commands.add_parser("validate", help="check the profile and print the plan; runs nothing")
    _profile_arg(validate)
    validate.add_argument("--suite", action="append", default=[], metavar="NAME", help="select suites")
    validate.set_defaults(func=cmd_validate)

    verify = commands.add_parser("verify", help="recompute an evidence bundle's checksums")
    verify.add_argument("bundle", type=Path, help="the bundle folder (holding manifest.json)")
    verify.set_defaults(func=cmd_verify)

    report = commands.add_parser("report", help="(re)build an evidence bundle's report.html")
    report.add_argument("bundle", type=Path, help="the bundle folder (holding manifest.json)")
    report.set_defaults(func=cmd_report)
    return parser


def _add_shard_commands(add_parser: Callable[..., argparse.ArgumentParser]) -> None:
    """`plan`, `durations` and `merge`: sharding across matrix jobs."""
    plan = add_parser("plan", help="print how the suites split into shards; runs nothing")
    _profile_arg(plan)
    plan.add_argument("--shards", type=_shard_count, default=1, metavar="N", help="number of shards")
    plan.add_argument("--suite", action="append", default=[], metavar="NAME", help="select suites")
    plan.add_argument("--evidence-dir", type=Path, metavar="DIR", help="where earlier bundles are")
    plan.add_argument("--json", action="store_true", help="one line of JSON for `fromJSON` in a matrix")
    _durations_arg(plan)
    plan.set_defaults(func=cmd_plan)

    durations = add_parser("durations", help="write recorded durations as a small JSON file")
    durations.add_argument(
        "source", type=Path, nargs="?", help="bundle, JUnit or durations file (default: newest bundle)"
    )
    _profile_arg(durations)
    durations.add_argument("--evidence-dir", type=Path, metavar="DIR", help="where earlier bundles are")
    durations.add_argument("-o", "--output", type=Path, metavar="FILE", help="default: standard output")
    durations.set_defaults(func=cmd_durations)

    merge = add_parser("merge", help="join the evidence bundles of shard jobs into one run")
    merge.add_argument(
        "bundles", type=Path, nargs="+", metavar="BUNDLE", help="bundle folders (or folders holding them)"
    )
    merge.add_argument("--junit", type=Path, metavar="PATH", help="default: qaagent-junit.xml")
    merge.add_argument("--evidence-dir", type=Path, metavar="DIR", help="default: .qaagent/evidence")
    merge.add_argument("--keep", type=_positive_int, default=20, metavar="N", help="bundles kept")
    merge.add_argument("--fail-on", type=_fail_on, metavar="LIST", help="default: the shards' fail_on")
    merge.add_argument("--allow-partial", action="store_true", help="merge even with shards missing")
    _feedback_args(merge)
    merge.set_defaults(func=cmd_merge)


def _feedback_args(parser: argparse.ArgumentParser) -> None:
    """The GitHub feedback flags `run-all` and `merge` share (see `feedback_options`)."""
    parser.add_argument(
        "--github", choices=("auto", "on", "off"), default="auto", help="GitHub Actions feedback"
    )
    parser.add_argument("--no-annotations", dest="annotations", action="store_false", help="no annotations")
    parser.add_argument("--no-summary", dest="summary", action="store_false", help="no job summary")
    parser.add_argument(
        "--check-name", metavar="NAME", help="create a check run with this name (needs a token)"
    )
    parser.add_argument("--comment", action="store_true", help="comment on the pull request (needs a token)")


def _durations_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--durations-from",
        type=Path,
        metavar="PATH",
        help="evidence bundle, JUnit file or `qaagent durations` JSON (default: newest bundle)",
    )


def _profile_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", type=Path, default=Path(".qaagent.yaml"), help="default: .qaagent.yaml")


def _overrides(args: argparse.Namespace) -> Overrides:
    return Overrides(
        parallel=args.parallel,
        max_workers=args.max_workers,
        retries=args.retries,
        suites=parse_suite_list(args.suite),
        timeout=args.timeout,
        junit=args.junit.resolve() if args.junit else None,
        evidence_dir=args.evidence_dir.resolve() if args.evidence_dir else None,
        fail_on=args.fail_on,
        keep=args.keep,
    )


# -- commands ------------------------------------------------------------------------------------


def cmd_validate(args: argparse.Namespace, out: TextIO) -> int:
    """Print the resolved plan."""
    loaded = load_profile(args.profile)
    plan = build_plan(loaded, Overrides(suites=parse_suite_list(args.suite)))
    out.writelines(line + "\n" for line in describe(plan))
    out.write("profile OK\n")
    return ExitCode.OK


def cmd_verify(args: argparse.Namespace, out: TextIO) -> int:
    """Exit 0 when every checksum matches, 1 naming each problem, 2 when it is not a bundle."""
    from qaagent.evidence.verify import verify_bundle  # noqa: PLC0415 - keeps `--help` fast

    bundle: Path = args.bundle
    if not bundle.is_dir():
        raise UsageError(f"{bundle}: not a folder")
    problems = verify_bundle(bundle)
    out.writelines(f"{bundle}: {problem}\n" for problem in problems)
    if problems:
        out.write(f"{bundle}: {len(problems)} problem(s)\n")
        return ExitCode.TESTS_FAILED
    out.write(f"{bundle}: OK\n")
    return ExitCode.OK


def cmd_report(args: argparse.Namespace, out: TextIO) -> int:
    """Rebuild report.html from the bundle's own files and update its checksum in the manifest."""
    from qaagent.report.html import write_report  # noqa: PLC0415 - keeps `--help` fast

    bundle: Path = args.bundle
    if not bundle.is_dir():
        raise UsageError(f"{bundle}: not a folder")
    out.write(f"{write_report(bundle)}\n")
    return ExitCode.OK


def cmd_plan(args: argparse.Namespace, out: TextIO) -> int:
    """Print the shard split (`--json`: one line for a workflow matrix)."""
    import json  # noqa: PLC0415

    from qaagent.durations import resolve_durations  # noqa: PLC0415
    from qaagent.shard import split, split_reason  # noqa: PLC0415

    loaded = load_profile(args.profile)
    overrides = Overrides(
        suites=parse_suite_list(args.suite),
        evidence_dir=args.evidence_dir.resolve() if args.evidence_dir else None,
    )
    plan = build_plan(loaded, overrides)
    durations = resolve_durations(args.durations_from, plan.evidence_dir)
    result = split(plan, args.shards, durations)
    reason = split_reason(result)
    if args.json:
        out.write(json.dumps(result.describe(reason), separators=(",", ":")) + "\n")
        return ExitCode.OK
    out.write(f"{args.shards} shard(s): {reason}\n")
    timed = result.known > 0  # without records the estimates are equal weights, not seconds
    for entry in result.describe(reason)["shards"]:
        load = f"~{entry['estimate']:.1f} s, " if timed else ""
        out.write(f"shard {entry['shard']}: {load}{len(entry['units'])} unit(s)\n")
        for unit in entry["units"]:
            where = f" {unit['path']}" if unit["path"] else " (whole suite)"
            seconds = f" ~{unit['estimate']:.1f} s" if timed else ""
            out.write(f"  {unit['suite']}{where}{seconds}\n")
    return ExitCode.OK


def cmd_durations(args: argparse.Namespace, out: TextIO) -> int:
    """Write the durations of a bundle, JUnit or durations file as a `qaagent durations` JSON file."""
    import json  # noqa: PLC0415

    from qaagent.durations import auto_source, from_bundle, load_durations  # noqa: PLC0415

    source: Path | None = args.source
    if source is None:
        evidence = args.evidence_dir
        if evidence is None:
            evidence = build_plan(load_profile(args.profile)).evidence_dir
        source = auto_source(evidence.resolve())
        if source is None:
            raise UsageError(f"no finished evidence bundle in {evidence}: name a SOURCE")
        durations = from_bundle(source)
    else:
        durations = load_durations(source)
    text = json.dumps(durations.as_json(), indent=2, ensure_ascii=False) + "\n"
    if args.output is None:
        out.write(text)
    else:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text, encoding="utf-8")
        out.write(f"qaagent: durations of {len(durations.suites)} suite(s) written to {args.output}\n")
    return ExitCode.OK


def cmd_merge(args: argparse.Namespace, out: TextIO) -> int:
    """Join shard bundles into one run and report it like `run-all` would."""
    from qaagent.junit.write import DEFAULT_MAX_OUTPUT  # noqa: PLC0415
    from qaagent.merge import merge_bundles  # noqa: PLC0415
    from qaagent.plan import find_repo_root  # noqa: PLC0415

    repo_root = find_repo_root(Path.cwd().resolve())
    evidence_dir = (args.evidence_dir or Path(".qaagent/evidence")).resolve()
    junit = (args.junit or Path("qaagent-junit.xml")).resolve()
    github = _github_enabled(args.github)
    console = Console(out, github=github, quiet=True)
    merged = merge_bundles(
        args.bundles, evidence_dir=evidence_dir, repo_root=repo_root, allow_partial=args.allow_partial
    )
    fail_on = args.fail_on or merged.fail_on
    console.line(f"qaagent {__version__}: merge {merged.bundle.run_id} of {merged.description}")
    for note in merged.notes:
        console.line(f"qaagent: warning: {note}")
    feedback = (
        GitHubFeedback(feedback_options(args), repo_root=repo_root, stream=console.stream) if github else None
    )
    if feedback is not None:
        feedback.start()
    finish_reports(
        merged.run,
        merged.bundle,
        fail_on=fail_on,
        max_output=DEFAULT_MAX_OUTPUT,
        junit_path=junit,
        evidence_dir=evidence_dir,
        keep=args.keep,
        repo_root=repo_root,
        console=console,
        feedback=feedback,
        notes=merged.notes,
    )
    return exit_code(merged.run, fail_on)


def schedule(plan: Plan, *, shard: str | None, durations_from: Path | None) -> Plan:
    """Apply `--shard` and the longest-first start order; durations are read only when they matter."""
    from qaagent.durations import NO_DURATIONS, resolve_durations  # noqa: PLC0415
    from qaagent.shard import apply_shard, parse_shard, schedule_start_order, split  # noqa: PLC0415

    wanted = shard is not None or durations_from is not None or (plan.parallel and len(plan.suites) > 1)
    durations = resolve_durations(durations_from, plan.evidence_dir) if wanted else NO_DURATIONS
    if shard is not None:
        index, total = parse_shard(shard)
        plan = apply_shard(plan, index, split(plan, total, durations))
    return schedule_start_order(plan, durations)


def cmd_run_all(args: argparse.Namespace, out: TextIO) -> int:
    """The whole pipeline; the evidence bundle is written whatever happens."""
    loaded = load_profile(args.profile)
    plan = build_plan(loaded, _overrides(args))
    github = _github_enabled(args.github)
    # In Actions every line is parsed for workflow commands, whatever --github says.
    console = Console(out, github=github or os.environ.get("GITHUB_ACTIONS") == "true", quiet=args.quiet)
    try:
        # Planning may ask the tools for their test files (pytest --collect-only, playwright
        # --list): a cancel then stops them and still ends in a `cancelled` bundle.
        with _interrupt_on_signals():
            plan = schedule(plan, shard=args.shard, durations_from=args.durations_from)
    except _CancelledWhilePlanning as stop:
        console.line(f"qaagent: {stop} received while planning: nothing runs")
        cancelled = threading.Event()
        cancelled.set()
        return run_pipeline(plan, console=console, github=github, args=args, cancel=cancelled)
    return run_pipeline(plan, console=console, github=github, args=args)


class _CancelledWhilePlanning(Exception):  # noqa: N818 - a signal, not an error
    """A cancel signal arrived before any suite could start."""


@contextmanager
def _interrupt_on_signals() -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP raise `_CancelledWhilePlanning` (stopping what blocks)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, _frame: FrameType | None) -> None:
        raise _CancelledWhilePlanning(signal.Signals(signum).name)

    wanted = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {sig: signal.signal(sig, handler) for sig in wanted}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old if old is not None else signal.SIG_DFL)


def _github_enabled(mode: str) -> bool:
    if mode == "on":
        return True
    if mode == "off":
        return False
    return os.environ.get("GITHUB_ACTIONS") == "true"


def feedback_options(args: argparse.Namespace) -> FeedbackOptions:
    """The GitHub feedback flags of `run-all` and `merge`."""
    return FeedbackOptions(
        check_name=args.check_name or None,
        comment=args.comment,
        annotations=args.annotations,
        summary=args.summary,
    )


def run_pipeline(
    plan: Plan,
    *,
    console: Console,
    github: bool,
    args: argparse.Namespace,
    cancel: threading.Event | None = None,
) -> int:
    """Run a plan and report; returns the exit code."""
    from qaagent.evidence.bundle import Bundle, make_run_id  # noqa: PLC0415
    from qaagent.orchestrator import RunOrchestrator  # noqa: PLC0415

    # Signals are caught from the very start: a cancel while the bundle or the check run is being
    # created still ends in a `cancelled` bundle and exit 130, never a half-made run.
    cancel = cancel if cancel is not None else threading.Event()
    with _cancel_on_signals(cancel, console):
        run_id = make_run_id(datetime.now(UTC), plan.shard, evidence_dir=plan.evidence_dir)
        bundle = Bundle.start(
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
        mode = f"parallel ({plan.max_workers} workers)" if plan.parallel else "sequential"
        console.line(f"qaagent {__version__}: run {bundle.run_id}, {len(plan.suites)} suite(s), {mode}")
        if plan.shard is not None and plan.shard_layout is not None:
            share = sum(len(s.units) if s.units is not None else 1 for s in plan.suites)
            estimate = plan.shard_layout.get("estimate", 0)
            how = (
                f"estimated {estimate:g} s"
                if plan.shard_layout.get("known")
                else "equal shares (no recorded durations)"
            )
            console.line(f"qaagent: shard {plan.shard}: {share} unit(s), {how}")
            for note in plan.shard_layout.get("notes") or ():
                console.line(f"qaagent: {note}")  # a suite kept whole, and why
        if plan.suites:
            console.line(f"qaagent: start order: {', '.join(plan.start_order)} — {plan.start_order_reason}")
        feedback = (
            GitHubFeedback(feedback_options(args), repo_root=plan.repo_root, stream=console.stream)
            if github
            else None
        )
        if feedback is not None:
            feedback.start(cancel)
        # Adopt daemons that suites start outside their process group, to stop them at the end.
        adopting = become_subreaper()
        children_before = set(children_of(os.getpid()))

        def reap(keep: set[int], *, hurry: bool) -> None:
            """Stop what suites left running outside their process group (not the app: `keep`)."""
            stopped = stop_orphans(keep=children_before | keep, grace=0.5 if hurry else 1.0)
            if stopped:
                console.line(
                    f"qaagent: stopped {len(stopped)} process(es) that suites left running outside "
                    "their process group"
                )

        orchestrator = RunOrchestrator(
            plan,
            run_id=bundle.run_id,
            suite_dir=bundle.suite_dir,
            console=console,
            cancel=cancel,
            base_env=suite_environment(os.environ),
            orphans_between_suites=(lambda keep: reap(keep, hurry=False)) if adopting else None,
        )
        run = orchestrator.run()
        if adopting:
            reap(set(), hurry=cancel.is_set())
        # A signal that came after the last suite still makes this a cancelled run.
        run.cancelled = run.cancelled or cancel.is_set()
        # Reporting happens with signals still caught: a second Ctrl-C must not cut the bundle short.
        finish_reports(
            run,
            bundle,
            fail_on=plan.fail_on,
            max_output=plan.max_output,
            junit_path=plan.junit_path,
            evidence_dir=plan.evidence_dir,
            keep=plan.keep,
            repo_root=plan.repo_root,
            console=console,
            feedback=feedback,
        )
    # A signal during the reporting itself changes nothing: every suite had finished, and the
    # bundle, the JUnit and the exit code all tell that same, complete result.
    return exit_code(run, plan.fail_on)


def finish_reports(
    run: RunResult,
    bundle: Bundle,
    *,
    fail_on: Sequence[FailOn],
    max_output: int,
    junit_path: Path,
    evidence_dir: Path,
    keep: int,
    repo_root: Path,
    console: Console,
    feedback: GitHubFeedback | None,
    notes: Sequence[str] = (),
) -> Path:
    """After execution, from one thread: bundle, merged JUnit, pruning, console summary, GitHub."""
    from qaagent.evidence.bundle import prune  # noqa: PLC0415
    from qaagent.report.console import summary_lines  # noqa: PLC0415
    from qaagent.report.markdown import render_summary  # noqa: PLC0415

    # In Actions, failures link to their file and line at the tested commit.
    ctx = feedback.ctx if feedback is not None else None
    summary_md = render_summary(
        run,
        fail_on=fail_on,
        evidence_path=display_path(bundle.dir, repo_root),
        notes=notes,
        link_base=(ctx.repo_url or None) if ctx is not None else None,
        sha=(ctx.head_sha or None) if ctx is not None else None,
    )
    bundle.finish(run, summary_markdown=summary_md, fail_on=fail_on, max_output=max_output)
    _write_html_report(bundle.dir, console)
    junit = _copy_junit(bundle.junit_path, junit_path, console)
    pruned = prune(evidence_dir, keep, current=bundle.dir)
    if pruned:
        console.line(f"qaagent: pruned {len(pruned)} old bundle(s) (keep {keep})")
    reports = [f"merged JUnit: {junit}", f"evidence: {bundle.dir}"]
    for line in summary_lines(run, fail_on=fail_on, reports=reports):
        console.line(line)
    if feedback is not None:
        feedback.finish(
            run,
            fail_on=fail_on,
            render=functools.partial(render_summary, run, fail_on=fail_on),
            summary_md=summary_md,
            bundle_dir=bundle.dir,
            junit=junit,
            notes=notes,
        )
    return junit


def _write_html_report(bundle_dir: Path, console: Console) -> None:
    """report.html from the finished bundle; a failure is a warning, never a lost bundle."""
    from qaagent.report.html import write_report  # noqa: PLC0415

    try:
        write_report(bundle_dir)
    except (QAAgentError, OSError, ValueError) as exc:
        console.line(f"qaagent: warning: cannot write report.html: {exc}")


#: variables that carry the GitHub token to qaagent; suites and the app never see them
TOKEN_VARIABLES = frozenset({"QAAGENT_GITHUB_TOKEN", "INPUT_GITHUB-TOKEN", "INPUT_GITHUB_TOKEN"})


def suite_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment suites and the app start from: ours without the token qaagent was given."""
    return {k: v for k, v in environ.items() if k not in TOKEN_VARIABLES}


def exit_code(run: RunResult, fail_on: Sequence[FailOn]) -> int:
    """130 cancelled, 1 when a `fail_on` category occurred, else 0."""
    verdict = conclusion(run, fail_on)
    if verdict == "cancelled":
        return ExitCode.CANCELLED
    return ExitCode.TESTS_FAILED if verdict == "failure" else ExitCode.OK


def _copy_junit(source: Path, target: Path, console: Console) -> Path:
    if source.resolve() == target.resolve():
        return target
    try:
        copy_to(source, target)
    except OSError as exc:
        console.line(
            f"qaagent: warning: cannot write the merged JUnit to {target}: {exc}; it is in the bundle"
        )
        return source
    return target


@contextmanager
def _cancel_on_signals(cancel: threading.Event, console: Console) -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP set `cancel` (once); later signals are noted and ignored."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    wanted = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP]
    previous: dict[signal.Signals, Callable[[int, FrameType | None], object] | int | None] = {}

    def handler(signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if cancel.is_set():
            console.line(f"qaagent: {name} again: still writing the evidence bundle, please wait")
            return
        cancel.set()
        console.line(f"qaagent: {name} received: stopping suites and writing the evidence bundle")

    for sig in wanted:
        previous[sig] = signal.getsignal(sig)
        signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old if old is not None else signal.SIG_DFL)


# -- entry point ---------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the process exit code (see `ExitCode`)."""
    out = sys.stdout
    try:
        args = build_parser().parse_args(list(argv) if argv is not None else None)
        func: Callable[[argparse.Namespace, TextIO], int] = args.func
        return int(func(args, out))
    except QAAgentError as error:
        report_error(error)
        return int(error.exit_code)
    except KeyboardInterrupt:
        sys.stderr.write("qaagent: interrupted\n")
        return int(ExitCode.CANCELLED)
    except OSError as error:
        report_error(QAAgentError(f"{error.strerror or error}: {error.filename or ''}".rstrip(": ")))
        return int(ExitCode.INTERNAL)
    except Exception as error:  # a bug of ours: one line, the traceback only on request
        if os.environ.get("QAAGENT_DEBUG"):
            raise
        report_error(
            QAAgentError(f"internal error: {type(error).__name__}: {error} (QAAGENT_DEBUG=1 shows more)")
        )
        return int(ExitCode.INTERNAL)
