"""The command line: argparse → options, one thin function per command.

`run-all` and `merge` hand their options to `qaagent.pipeline`, which the
action's entrypoint calls too; `validate`, `plan` and `durations` are in
`qaagent.plan_commands`, `history` in `qaagent.history.commands`; `verify` and
`report` are small enough to be here. Every flag value is checked by
the validators of `qaagent.options`, the same the action's inputs go through.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn, TextIO

from qaagent import __version__, cli_flags, options
from qaagent.command_options import MergeOptions, RunOptions
from qaagent.errors import ExitCode, UsageError, before_exit, exit_status, pause_collection, resume_collection
from qaagent.options import cli_type


class _Parser(argparse.ArgumentParser):
    """argparse that reports errors as one line through `UsageError` (exit 2)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def build_parser(*, history: bool = True) -> argparse.ArgumentParser:
    """The argument parser of every command (without `history` when `history` is False)."""
    parser = _Parser(prog="qaagent", description="Run every test suite of a project; one report.")
    parser.add_argument("--version", action="version", version=f"qaagent {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    run = commands.add_parser("run-all", help="run the profile's suites and write the reports")
    run.add_argument("--profile", type=Path, help="default: .qaagent.yaml")
    run.add_argument(
        "--files",
        action="append",
        default=[],
        metavar="GLOB",
        help="publish these result files instead (no profile: one report suite; repeatable, !GLOB excludes)",
    )
    run.add_argument(
        "--format", type=cli_type(options.result_format), metavar="NAME", help="their format (default: told)"
    )
    mode = run.add_mutually_exclusive_group()
    mode.add_argument("--parallel", dest="parallel", action="store_true", default=None, help="suites at once")
    mode.add_argument("--sequential", dest="parallel", action="store_false", help="one suite after another")
    cli_flags.workers_arg(run)
    run.add_argument(
        "--retries",
        type=cli_type(options.retries),
        metavar="N",
        help=f"reruns of failed tests ({options.RETRIES.low}-{options.RETRIES.high})",
    )
    run.add_argument(
        "--suite", action="append", default=[], metavar="NAME", help="run only these (repeatable)"
    )
    run.add_argument(
        "--timeout", type=cli_type(options.seconds), metavar="S", help="seconds per suite attempt"
    )
    run.add_argument("--junit", type=Path, metavar="PATH", help="where to copy the merged JUnit report")
    run.add_argument("--evidence-dir", type=Path, metavar="DIR", help="where evidence bundles go")
    run.add_argument(
        "--keep", type=cli_type(options.keep), metavar="N", help="bundles kept in the evidence dir"
    )
    run.add_argument("--fail-on", type=cli_type(options.fail_on), metavar="LIST", help="failed,error[,flaky]")
    cli_flags.feedback_args(run)
    run.add_argument("--quiet", action="store_true", help="do not echo suite output")
    run.add_argument(
        "--shard",
        type=cli_type(options.shard_or_auto),
        metavar="I/N",
        help="run only shard I of N (matrix jobs); auto: from the CI's parallel-job variables",
    )
    cli_flags.durations_arg(run)
    cli_flags.history_args(run)
    run.set_defaults(func=cmd_run_all)
    _add_shard_commands(commands.add_parser)

    init = commands.add_parser("init", help="detect the project's suites and write a commented profile")
    init.add_argument("folder", type=Path, nargs="?", default=Path(), help="the project (default: here)")
    init.add_argument("--profile", type=Path, metavar="PATH", help="default: FOLDER/.qaagent.yaml")
    init.add_argument("--force", action="store_true", help="overwrite an existing profile")
    init.set_defaults(func=cmd_init)

    validate = commands.add_parser(
        "validate", help="check the profile and print the plan (and a split suite's batches); runs no test"
    )
    cli_flags.profile_arg(validate)
    validate.add_argument("--suite", action="append", default=[], metavar="NAME", help="select suites")
    cli_flags.workers_arg(validate)
    validate.add_argument("--evidence-dir", type=Path, metavar="DIR", help="where earlier bundles are")
    cli_flags.durations_arg(validate)
    validate.set_defaults(func=cmd_validate)

    verify = commands.add_parser("verify", help="recompute an evidence bundle's checksums")
    verify.add_argument("bundle", type=Path, help="the bundle folder (holding manifest.json)")
    verify.set_defaults(func=cmd_verify)

    report = commands.add_parser("report", help="(re)build an evidence bundle's report.html")
    report.add_argument("bundle", type=Path, help="the bundle folder (holding manifest.json)")
    report.set_defaults(func=cmd_report)
    if history:
        from qaagent.history import commands as history_commands  # noqa: PLC0415 - see `_needs_history`

        history_commands.add_parser(commands)
    return parser


#: the commands other than `history`: their command lines never need its parser
_OTHER_COMMANDS = frozenset({"run-all", "init", "validate", "verify", "report", "plan", "durations", "merge"})


def _needs_history(argv: Sequence[str]) -> bool:
    """Whether parsing `argv` needs the `history` commands (their models cost ~30 ms to import).

    Only when its command is not another one: `qaagent run-all …` never does; `qaagent
    --help` and `qaagent history …` do; `qaagent --version …` does not (argparse prints the
    version and exits at that first flag).
    """
    if list(argv[:1]) == ["--version"]:
        return False
    command = next((arg for arg in argv if not arg.startswith("-")), None)
    return command not in _OTHER_COMMANDS


def _add_shard_commands(add_parser: Callable[..., argparse.ArgumentParser]) -> None:
    """`plan`, `durations` and `merge`: sharding across matrix jobs."""
    plan = add_parser("plan", help="print how the suites split into shards; runs nothing")
    cli_flags.profile_arg(plan)
    plan.add_argument(
        "--shards", type=cli_type(options.shard_count), default=1, metavar="N", help="number of shards"
    )
    plan.add_argument("--suite", action="append", default=[], metavar="NAME", help="select suites")
    cli_flags.workers_arg(plan)
    plan.add_argument("--evidence-dir", type=Path, metavar="DIR", help="where earlier bundles are")
    plan.add_argument("--json", action="store_true", help="one line of JSON for `fromJSON` in a matrix")
    cli_flags.durations_arg(plan)
    plan.add_argument(
        "--no-history", dest="history", action="store_false", default=None, help="do not read history"
    )
    plan.set_defaults(func=cmd_plan)

    durations = add_parser("durations", help="write recorded durations as a small JSON file")
    durations.add_argument(
        "source",
        type=Path,
        nargs="?",
        help="bundle, JUnit or durations file (default: history, else newest bundle)",
    )
    cli_flags.profile_arg(durations)
    durations.add_argument("--evidence-dir", type=Path, metavar="DIR", help="where earlier bundles are")
    durations.add_argument("-o", "--output", type=Path, metavar="FILE", help="default: standard output")
    durations.add_argument(
        "--no-history", dest="history", action="store_false", default=None, help="only bundles"
    )
    durations.set_defaults(func=cmd_durations)

    merge = add_parser("merge", help="join the evidence bundles of shard jobs into one run")
    merge.add_argument(
        "bundles", type=Path, nargs="+", metavar="BUNDLE", help="bundle folders (or folders holding them)"
    )
    merge.add_argument("--junit", type=Path, metavar="PATH", help="default: qaagent-junit.xml")
    merge.add_argument("--evidence-dir", type=Path, metavar="DIR", help="default: .qaagent/evidence")
    merge.add_argument(
        "--keep",
        type=cli_type(options.keep),
        default=MergeOptions.keep,
        metavar="N",
        help="bundles kept",
    )
    merge.add_argument(
        "--fail-on", type=cli_type(options.fail_on), metavar="LIST", help="default: the shards' fail_on"
    )
    merge.add_argument("--allow-partial", action="store_true", help="merge even with shards missing")
    merge.add_argument(
        "--profile", type=Path, metavar="PATH", help="its `history:` records the run (default: .qaagent.yaml)"
    )
    cli_flags.history_args(merge)
    cli_flags.feedback_args(merge)
    merge.set_defaults(func=cmd_merge)


def _resolved(path: Path | None) -> Path | None:
    return path.resolve() if path is not None else None


def run_options(args: argparse.Namespace) -> RunOptions:
    """The `run-all` flags as options (paths resolved against the current folder)."""
    files = tuple(glob.strip() for glob in args.files)
    if files and args.profile is not None:
        msg = "give either --profile or --files (which publishes files with no profile), not both"
        raise UsageError(msg)
    if any(not glob or glob == "!" for glob in files) or (files and all(g.startswith("!") for g in files)):
        msg = "--files needs globs of result files, at least one that is not an exclude (!GLOB)"
        raise UsageError(msg)
    return RunOptions(
        profile=args.profile or Path(".qaagent.yaml"),
        files=files,
        format=args.format,
        parallel=args.parallel,
        max_workers=args.max_workers,
        retries=args.retries,
        suites=options.suite_names(args.suite),
        timeout=args.timeout,
        junit=_resolved(args.junit),
        evidence_dir=_resolved(args.evidence_dir),
        keep=args.keep,
        fail_on=args.fail_on,
        shard=args.shard,
        durations_from=args.durations_from,
        quiet=args.quiet,
        feedback=cli_flags.feedback_options(args),
        history=args.history,
        base_branch=args.base_branch,
    )


def merge_options(args: argparse.Namespace) -> MergeOptions:
    """The `merge` flags as options."""
    defaults = MergeOptions(bundles=())
    return MergeOptions(
        bundles=tuple(args.bundles),
        junit=args.junit or defaults.junit,
        evidence_dir=args.evidence_dir or defaults.evidence_dir,
        keep=args.keep,
        fail_on=args.fail_on,
        allow_partial=args.allow_partial,
        feedback=cli_flags.feedback_options(args),
        profile=args.profile,
        history=args.history,
        base_branch=args.base_branch,
    )


# -- commands ------------------------------------------------------------------------------------


def cmd_init(args: argparse.Namespace, out: TextIO) -> int:
    """`qaagent init` (`qaagent.plan_commands`, imported only when it runs: it loads the profile models)."""
    from qaagent import plan_commands  # noqa: PLC0415 - keeps `--help`, `verify` and `history` fast

    return plan_commands.cmd_init(args, out)


def cmd_validate(args: argparse.Namespace, out: TextIO) -> int:
    """`qaagent validate` (`qaagent.plan_commands`)."""
    from qaagent import plan_commands  # noqa: PLC0415 - keeps `--help`, `verify` and `history` fast

    return plan_commands.cmd_validate(args, out)


def cmd_plan(args: argparse.Namespace, out: TextIO) -> int:
    """`qaagent plan` (`qaagent.plan_commands`)."""
    from qaagent import plan_commands  # noqa: PLC0415 - keeps `--help`, `verify` and `history` fast

    return plan_commands.cmd_plan(args, out)


def cmd_durations(args: argparse.Namespace, out: TextIO) -> int:
    """`qaagent durations` (`qaagent.plan_commands`)."""
    from qaagent import plan_commands  # noqa: PLC0415 - keeps `--help`, `verify` and `history` fast

    return plan_commands.cmd_durations(args, out)


def cmd_run_all(args: argparse.Namespace, out: TextIO) -> int:
    """The whole pipeline; the evidence bundle is written whatever happens."""
    from qaagent.pipeline import run_all  # noqa: PLC0415 - keeps `--help` fast

    return run_all(run_options(args), out=out)


def cmd_merge(args: argparse.Namespace, out: TextIO) -> int:
    """Join shard bundles into one run and report it like `run-all` would."""
    from qaagent.pipeline import merge  # noqa: PLC0415 - keeps `--help` fast

    return merge(merge_options(args), out=out)


def _bundle_folder(args: argparse.Namespace) -> Path:
    bundle: Path = args.bundle
    if not bundle.is_dir():
        raise UsageError(f"{bundle}: not a folder")
    return bundle


def cmd_verify(args: argparse.Namespace, out: TextIO) -> int:
    """Exit 0 when every checksum matches, 1 naming each problem, 2 when it is not a bundle."""
    bundle = _bundle_folder(args)
    from qaagent.evidence.verify import verify_bundle  # noqa: PLC0415 - keeps `--help` fast

    problems = verify_bundle(bundle)
    out.writelines(f"{bundle}: {problem}\n" for problem in problems)
    if problems:
        out.write(f"{bundle}: {len(problems)} problem(s)\n")
        return ExitCode.TESTS_FAILED
    out.write(f"{bundle}: OK\n")
    return ExitCode.OK


def cmd_report(args: argparse.Namespace, out: TextIO) -> int:
    """Rebuild report.html from the bundle's own files and update its checksum in the manifest."""
    from qaagent.report.from_bundle import write_report  # noqa: PLC0415 - keeps `--help` fast

    out.write(f"{write_report(_bundle_folder(args))}\n")
    return ExitCode.OK


# -- entry point ---------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the process exit code (see `ExitCode`)."""
    arguments = list(argv) if argv is not None else sys.argv[1:]

    def command() -> int:
        args = build_parser(history=_needs_history(arguments)).parse_args(arguments)
        func: Callable[[argparse.Namespace, TextIO], int] = args.func
        if func is not cmd_run_all:
            resume_collection()  # run-all resumes it when its first suite starts (pipeline.execute)
        return func(args, sys.stdout)

    return exit_status(command)


def run() -> int:
    """The `qaagent` program (console script, `python -m qaagent`): `main`, then `before_exit`.

    No garbage collection while it starts (`errors.pause_collection`).
    """
    pause_collection()
    try:
        code = main()
    finally:
        resume_collection()  # a command that ended before its start did (a usage error)
    before_exit()
    return code
