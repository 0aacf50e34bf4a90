"""``qaagent history``: show, flaky, slowest, import, export, prune, report.

Every subcommand names its store with ``--store`` (a SQLite file, default
``.qaagent/history.sqlite``, or a ``postgresql://`` DSN whose password may
come from ``QAAGENT_HISTORY_PASSWORD``) and its project with ``--project`` /
``--repository`` when the store holds more than one. Reading commands never
create a store. Exit codes: 0 done; 2 bad arguments, no store, a store of a
newer qaagent, or a bundle that cannot be imported (the others still are); 3
the store cannot be used (locked, corrupt, unreachable, refused credentials).
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TextIO

from qaagent import options
from qaagent.errors import ExitCode, QAAgentError, UsageError, report_error
from qaagent.history.dsn import DEFAULT_STORE
from qaagent.text import one_line

if TYPE_CHECKING:  # what only running a command needs is imported there (`--help` stays light)
    from qaagent.console import Console
    from qaagent.history.faults import HistoryUnavailable
    from qaagent.history.settings import HistorySettings

#: the default flake-rate window of the commands (the profile's `history.window` in part 2)
DEFAULT_WINDOW = 50


#: `--limit`, `--runs`: how many (`--window` is `options.WINDOW`, as the profile's `history.window`)
COUNT = options.Range(1, 1_000_000)
#: `prune --keep-days`
DAYS = options.Range(0, 1_000_000)
_count = options.cli_type(lambda text: options.whole_number(text, COUNT))
_window = options.cli_type(options.window)
_days = options.cli_type(lambda text: options.whole_number(text, DAYS))
_rate = options.cli_type(options.rate)


def add_parser(commands: Any) -> None:
    """Add ``history`` and its subcommands to the `qaagent` command's subparsers."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--store", default=DEFAULT_STORE, help=f"SQLite file or postgresql:// DSN (default {DEFAULT_STORE})"
    )
    common.add_argument("--project", help="the project (profile `project.name`) when the store holds several")
    common.add_argument("--repository", help="its repository (owner/name) when a project name is in several")
    windowed = argparse.ArgumentParser(add_help=False, parents=[common])
    windowed.add_argument("--branch", help="only runs of this branch (default: every branch)")
    windowed.add_argument(
        "--window", type=_window, default=DEFAULT_WINDOW, metavar="N", help="the last N runs"
    )

    history = commands.add_parser("history", help="the test history: flaky and slow tests, trends, import")
    sub = history.add_subparsers(dest="history_command", metavar="SUBCOMMAND", parser_class=type(history))
    sub.required = True

    show = sub.add_parser(
        "show", parents=[windowed], help="one test's last runs, flake rate and duration trend"
    )
    show.add_argument("test", help="suite::classname::name, or a part of it")
    show.set_defaults(func=cmd_show)

    flaky = sub.add_parser("flaky", parents=[windowed], help="flaky tests, the flakiest first")
    flaky.add_argument("--limit", type=_count, default=30, metavar="N")
    flaky.add_argument(
        "--threshold", type=_rate, default=0.05, help="mark tests above this rate (default 0.05)"
    )
    flaky.set_defaults(func=cmd_flaky)

    slow = sub.add_parser("slowest", parents=[windowed], help="the slowest tests (or files, suites) by p50")
    slow.add_argument("--by", choices=("test", "file", "suite"), default="test")
    slow.add_argument("--limit", type=_count, default=20, metavar="N")
    slow.set_defaults(func=cmd_slowest)

    imp = sub.add_parser("import", parents=[common], help="record evidence bundles (idempotent)")
    imp.add_argument(
        "bundles", type=Path, nargs="+", metavar="BUNDLE", help="bundle folders or folders holding them"
    )
    imp.set_defaults(func=cmd_import)

    export = sub.add_parser("export", parents=[common], help="every recorded run and result as JSON")
    export.add_argument("--json", action="store_true", required=True, help="JSON (the only format)")
    export.add_argument("-o", "--output", type=Path, metavar="FILE", help="default: standard output")
    export.set_defaults(func=cmd_export)

    prune = sub.add_parser("prune", parents=[common], help="delete runs older than N days")
    prune.add_argument("--keep-days", type=_days, required=True, metavar="N")
    prune.set_defaults(func=cmd_prune)

    report = sub.add_parser(
        "report", parents=[windowed], help="an offline HTML page of trends and flaky tests"
    )
    report.add_argument("-o", "--output", type=Path, default=Path("qaagent-history.html"), metavar="FILE")
    report.add_argument(
        "--runs", type=_count, default=100, metavar="N", help="runs on the charts (default 100)"
    )
    report.set_defaults(func=cmd_report)


# -- opening ---------------------------------------------------------------------------------------


def _settings(args: argparse.Namespace) -> HistorySettings:
    try:
        from qaagent.history.settings import HistorySettings  # noqa: PLC0415 - pydantic: not for `--help`

        return HistorySettings(store=args.store)
    except ValueError as exc:
        first = str(exc).splitlines()
        reason = first[2].strip().removeprefix("Value error, ") if len(first) > 2 else "invalid"  # noqa: PLR2004
        raise UsageError(f"--store: {reason.split(' [type=')[0]}") from None


def _raise(unavailable: HistoryUnavailable) -> None:
    if unavailable.cause in ("missing", "newer-schema"):
        raise UsageError(unavailable.message)
    raise QAAgentError(unavailable.message)


def _open(args: argparse.Namespace, *, create: bool = False) -> Any:
    from qaagent.history.api import History  # noqa: PLC0415 - keeps `--help` fast
    from qaagent.history.faults import HistoryUnavailable  # noqa: PLC0415

    opened = History.open(_settings(args), base_dir=Path.cwd(), create=create)
    if isinstance(opened, HistoryUnavailable):
        _raise(opened)
    return opened


@contextmanager
def _output(path: Path) -> Iterator[IO[str]]:
    """An ``-o`` file, written atomically (its missing folders made, as ``--junit``'s are).

    A path that cannot be written — a file where a folder should be, a folder named as
    the file, no permission — is one line and exit 2 (`UsageError`), not a traceback's
    "File exists" and exit 3.
    """
    from qaagent.files import atomic_open  # noqa: PLC0415

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_open(path) as handle:
            yield handle
    except OSError as exc:
        blocked = next(
            (p for p in (path.parent, *path.parent.parents) if p.exists() and not p.is_dir()), None
        )
        reason = f"{blocked} is not a folder" if blocked is not None else exc.strerror or str(exc)
        if path.is_dir():
            reason = "it is a folder"
        raise UsageError(f"-o {one_line(str(path))}: cannot be written ({one_line(reason)})") from None


def _run(history: Any, what: str, action: Callable[[], Any]) -> Any:
    from qaagent.history.faults import HistoryUnavailable  # noqa: PLC0415 - keeps `--help` fast

    result = history.attempt(what, action)
    if isinstance(result, HistoryUnavailable):
        _raise(result)
    return result


def _query(args: argparse.Namespace, what: str, action: Callable[[Any, Any], Any]) -> Any:
    """Open the store, find the project, run `action(store, scope)` as `what`, close the store."""
    history = _open(args)
    try:
        scope = _scope(history, args)
        return _run(history, what, lambda: action(history.store, scope))
    finally:
        history.close()


def _scope(history: Any, args: argparse.Namespace) -> Any:
    from qaagent.history.store import Scope  # noqa: PLC0415

    scopes = _run(history, "list its projects", history.store.scopes)
    if args.project is not None and args.repository is not None:
        return Scope(args.project, args.repository)
    found = [
        s for s in scopes
        if (args.project is None or s.project == args.project)
        and (args.repository is None or s.repository == args.repository)
    ]  # fmt: skip
    if len(found) == 1:
        return found[0]
    if not found:
        wanted = " ".join(
            f"--{k} {v!r}" for k, v in (("project", args.project), ("repository", args.repository)) if v
        )
        raise UsageError(f"{history.store.display}: no recorded runs{' for ' + wanted if wanted else ''}")
    names = ", ".join(f"{s.project} ({s.repository or 'no repository'})" for s in found[:10])
    raise UsageError(
        f"{history.store.display} holds several projects: {names}; choose one with --project/--repository"
    )


def _console(out: TextIO) -> Console:
    from qaagent.console import Console  # noqa: PLC0415 - keeps `--help` fast

    return Console(out, github=os.environ.get("GITHUB_ACTIONS") == "true")


def _when(epoch: float | None) -> str:
    return "–" if epoch is None else datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M")


# -- the commands ------------------------------------------------------------------------------------


def cmd_show(args: argparse.Namespace, out: TextIO) -> int:
    """One test: identity, file, flake rate, p50 and its trend, its last runs."""
    from qaagent.history.queries import find_tests, outcomes, p50  # noqa: PLC0415
    from qaagent.history.rates import flake_rates  # noqa: PLC0415

    console = _console(out)

    def look(store: Any, scope: Any) -> Any:
        found = find_tests(store, scope, args.test)
        if len(found) != 1:
            return found, [], {}
        test = found[0][0]
        runs = outcomes(store, scope, test, branch=args.branch, limit=args.window)
        return found, runs, flake_rates(store, scope, branch=args.branch, window=args.window, only=[test.key])

    found, runs, rates = _query(args, "read the test's history", look)
    if not found:
        raise UsageError(f"no recorded test matches {one_line(args.test)!r}")
    if len(found) > 1:
        console.line(f"{len(found)} tests match {one_line(args.test)!r}; be more precise:")
        for other, _ in found[:20]:
            console.line(f"  {one_line(other.text)}")
        return ExitCode.USAGE
    test, file = found[0]
    console.line(f"test: {one_line(test.text)}")
    console.line(f"file: {one_line(file) or '–'}")
    rate = rates.get(test.key)
    if rate is not None and rate.results:
        console.line(
            f"flake rate: {rate.rate:.1%} ({rate.flaky} of {rate.results} results), "
            f"{rate.clean_streak} clean pass(es) in a row"
        )
    times = [o.duration for o in runs if o.status != "skipped"]
    if times:
        half = len(times) // 2
        trend = ""
        if half >= 2:  # noqa: PLR2004 - a trend needs a few results on each side
            newer, older = p50(times[:half]), p50(times[half:])
            trend = f"; newer half {newer:.3f} s vs older half {older:.3f} s ({_change(newer, older)})"
        console.line(f"duration: p50 {p50(times):.3f} s over {len(times)} run(s){trend}")
        console.line(f"duration trend (oldest → newest): {_sparkline(list(reversed(times)))}")
    console.line(f"last {len(runs)} run(s):")
    console.line(f"  {'started (UTC)':16}  {'status':7}  {'seconds':>8}  {'tries':>5}  commit        branch")
    for item in runs:
        mark = " flaky" if item.flaky else ""
        console.line(
            f"  {_when(item.run.started_at):16}  {item.status:7}  {item.duration:8.3f}  {item.attempts:5d}  "
            f"{one_line(item.run.commit[:12]) or '–':12}  {one_line(item.run.branch) or '–'}{mark}"
        )
    return ExitCode.OK


def _change(newer: float, older: float) -> str:
    if older <= 0:
        return "no earlier time"
    return f"{(newer - older) / older:+.0%}"


def _sparkline(values: Sequence[float]) -> str:
    bars = "▁▂▃▄▅▆▇█"
    top = max(values) or 1.0
    return "".join(bars[min(len(bars) - 1, int(v / top * (len(bars) - 1) + 0.5))] for v in values)


def cmd_flaky(args: argparse.Namespace, out: TextIO) -> int:
    """Flaky tests ranked by flake rate over the window."""
    from qaagent.history.rates import flake_rates  # noqa: PLC0415

    console = _console(out)
    rates = _query(
        args,
        "read flake rates",
        lambda store, scope: flake_rates(store, scope, branch=args.branch, window=args.window),
    )
    ranked = sorted((r for r in rates.values() if r.flaky), key=lambda r: (-r.rate, -r.flaky, r.test.text))
    where = f"branch {args.branch}" if args.branch else "all branches"
    if not ranked:
        console.line(f"no flaky test in the last {args.window} run(s) ({where})")
        return ExitCode.OK
    console.line(f"flaky tests in the last {args.window} run(s) ({where}); * above {args.threshold:g}:")
    console.line(f"  {'rate':>6}  {'flaky':>9}  {'last flaky (UTC)':16}  test")
    for rate in ranked[: args.limit]:
        mark = "*" if rate.rate > args.threshold else " "
        console.line(
            f"{mark} {rate.rate:6.1%}  {rate.flaky:4d}/{rate.results:<4d}  {_when(rate.last_flaky_at):16}  "
            f"{one_line(rate.test.text)}"
        )
    if len(ranked) > args.limit:
        console.line(f"… and {len(ranked) - args.limit} more (--limit)")
    return ExitCode.OK


def cmd_slowest(args: argparse.Namespace, out: TextIO) -> int:
    """The slowest tests, files or suites by p50 duration."""
    from qaagent.history.queries import slowest  # noqa: PLC0415

    console = _console(out)
    rows = _query(
        args,
        "read durations",
        lambda store, scope: slowest(
            store, scope, branch=args.branch, window=args.window, by=args.by, limit=args.limit
        ),
    )
    if not rows:
        console.line("no recorded durations")
        return ExitCode.OK
    console.line(f"slowest {args.by}s by p50 over the last {args.window} run(s):")
    for row in rows:
        console.line(f"  {row.p50:10.3f} s  {one_line(row.label)}")
    return ExitCode.OK


def cmd_import(args: argparse.Namespace, out: TextIO) -> int:
    """Record evidence bundles (and merged shard bundles); each bad bundle is one line, the rest go on."""
    from qaagent.history.bundles import read_bundle  # noqa: PLC0415
    from qaagent.merge import find_bundles  # noqa: PLC0415 - the same bundle lookup as `qaagent merge`

    console = _console(out)
    paths: list[Path] = []
    failed = 0
    for given in args.bundles:
        try:
            paths.extend(find_bundles([given]))
        except UsageError as exc:
            report_error(exc)
            failed += 1
    history = _open(args, create=True)
    try:
        for path in paths:
            try:
                bundle = read_bundle(path)
            except UsageError as exc:
                report_error(exc)
                failed += 1
                continue
            done = _record(history, path, bundle)
            how = "replaced" if done.replaced else "recorded"
            extra = "; superseded by its merged run" if done.superseded else ""
            extra += f"; supersedes {done.supersedes} shard run(s)" if done.supersedes else ""
            console.line(
                f"{how} run {one_line(bundle.run.run_id)} ({done.results} result(s)) from {path}{extra}"
            )
            for note in bundle.notes:
                console.line(f"qaagent: warning: {path}: {note}")
    finally:
        history.close()
    if failed:
        console.line(f"qaagent: {failed} bundle(s) could not be imported")
        return ExitCode.USAGE
    return ExitCode.OK


def _record(history: Any, path: Path, bundle: Any) -> Any:
    from qaagent.history.record import record  # noqa: PLC0415

    return _run(history, f"record {path}", lambda: record(history.store, bundle.run, bundle.results))


def cmd_export(args: argparse.Namespace, out: TextIO) -> int:
    """Every run and result as one JSON document (streamed)."""
    from qaagent.history.export import write_export  # noqa: PLC0415 - only `export` needs it

    history = _open(args)
    try:
        if args.output is None:
            _run(history, "export", lambda: write_export(history.store, out))
        else:
            with _output(args.output) as handle:
                _run(history, "export", lambda: write_export(history.store, handle))
            _console(out).line(f"qaagent: history exported to {args.output}")
    finally:
        history.close()
    return ExitCode.OK


def cmd_prune(args: argparse.Namespace, out: TextIO) -> int:
    """Delete runs that started more than N days ago, and tests no remaining run has."""
    history = _open(args)
    before = time.time() - args.keep_days * 86400
    try:
        runs, tests = _run(history, "prune", lambda: history.store.prune(before))
    finally:
        history.close()
    _console(out).line(
        f"qaagent: pruned {runs} run(s) and {tests} test(s) older than {args.keep_days} day(s)"
    )
    return ExitCode.OK


def cmd_report(args: argparse.Namespace, out: TextIO) -> int:
    """Write the offline HTML page of trends, the flaky leaderboard and the slowest tests."""
    from qaagent.history.report import render  # noqa: PLC0415

    page = _query(
        args,
        "build the report",
        lambda store, scope: render(store, scope, branch=args.branch, window=args.window, runs=args.runs),
    )
    with _output(args.output) as handle:
        handle.write(page)
    _console(out).line(str(args.output))
    return ExitCode.OK
