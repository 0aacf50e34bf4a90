"""The flags several commands share, and the options they make (`qaagent.cli` builds the parser).

Each flag's value is checked by its validator in `qaagent.options` (`cli_type`), the same the
action's inputs and the profile go through; what is here is only the flags' names, help and
defaults, and `feedback_options`, which reads the GitHub feedback flags back.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from qaagent import options
from qaagent.command_options import FeedbackOptions, effective_comment_mode
from qaagent.options import cli_type


def feedback_args(parser: argparse.ArgumentParser) -> None:
    """The GitHub feedback flags `run-all` and `merge` share (read back by `feedback_options`)."""
    parser.add_argument(
        "--github", choices=("auto", "on", "off"), default="auto", help="GitHub Actions feedback"
    )
    parser.add_argument("--no-annotations", dest="annotations", action="store_false", help="no annotations")
    parser.add_argument("--no-summary", dest="show_summary", action="store_false", help="no job summary")
    parser.add_argument(
        "--check-name", metavar="NAME", help="create a check run with this name (needs a token)"
    )
    parser.add_argument("--comment", action="store_true", help="comment on the pull request (needs a token)")
    parser.add_argument(
        "--comment-mode",
        type=cli_type(options.comment_mode),
        metavar="MODE",
        help="always, changes, failures or off (given: implies --comment unless off)",
    )
    parser.add_argument(
        "--annotate", type=cli_type(options.annotate), metavar="WHAT", help="failures[-and-flaky] or all"
    )
    parser.add_argument(
        "--annotations-limit",
        type=cli_type(options.annotations_limit),
        metavar="N",
        help="test annotations per level, 0-10 (default 10)",
    )
    parser.add_argument(
        "--summary", type=cli_type(options.summary_mode), metavar="MODE", help="full, failures, totals or off"
    )
    parser.add_argument("--summary-title", type=cli_type(options.title), metavar="TEXT", help="the heading")
    parser.add_argument(
        "--commit",
        type=cli_type(options.commit),
        metavar="SHA",
        help="the check run's commit (default: the event's)",
    )
    parser.add_argument(
        "--pull-request",
        type=cli_type(options.pull_request),
        metavar="N",
        help="pull request to comment on (default: the event's)",
    )


def workers_arg(parser: argparse.ArgumentParser) -> None:
    """`--max-workers` (`run-all`, `validate`, `plan`): one range, `options.WORKERS`."""
    workers = options.WORKERS
    parser.add_argument(
        "--max-workers",
        type=cli_type(options.workers),
        metavar="N",
        help=f"processes at once across all suites ({workers.low}-{workers.high}; default: the CPU count)",
    )


def history_args(parser: argparse.ArgumentParser) -> None:
    """`--no-history` and `--base-branch` (`run-all` and `merge`)."""
    parser.add_argument(
        "--no-history", dest="history", action="store_false", default=None, help="no test history"
    )
    parser.add_argument(
        "--base-branch",
        type=cli_type(options.branch),
        metavar="BRANCH",
        help="compare failures with this branch's history (default: GITHUB_BASE_REF)",
    )


def durations_arg(parser: argparse.ArgumentParser) -> None:
    """`--durations-from` (`run-all`, `validate`, `plan`)."""
    parser.add_argument(
        "--durations-from",
        type=Path,
        metavar="PATH",
        help="evidence bundle, JUnit file or `qaagent durations` JSON (default: newest bundle)",
    )


def profile_arg(parser: argparse.ArgumentParser) -> None:
    """`--profile` with its default (`validate`, `plan`, `durations`)."""
    parser.add_argument("--profile", type=Path, default=Path(".qaagent.yaml"), help="default: .qaagent.yaml")


def feedback_options(args: argparse.Namespace) -> FeedbackOptions:
    """The flags of `feedback_args` as options (`run-all`, `merge`)."""
    comment_mode = effective_comment_mode(args.comment_mode, comment=args.comment)
    summary_mode: options.SummaryMode = args.summary or "full"
    defaults = FeedbackOptions()
    return FeedbackOptions(
        github={"auto": None, "on": True, "off": False}[args.github],
        check_name=args.check_name or None,
        comment_mode=comment_mode,
        annotations=args.annotations,
        annotate=args.annotate or defaults.annotate,
        annotations_limit=_given(args.annotations_limit, defaults.annotations_limit),
        summary_mode=summary_mode if args.show_summary else "off",
        summary_title=args.summary_title,
        commit=args.commit,
        pull_request=args.pull_request,
    )


def _given(value: int | None, default: int) -> int:
    return default if value is None else value
