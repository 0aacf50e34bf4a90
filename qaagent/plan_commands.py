"""`init`, `validate`, `plan` and `durations`: the commands that run no test.

`init` writes a profile for the suites it detects; `validate` prints the resolved plan
(and a split suite's batches), `plan` the split over
shards and each shard's queue, `durations` the recorded durations as a small JSON file.
Their flags are parsed by `qaagent.cli`.
"""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from qaagent import options
from qaagent.command_options import RunOptions
from qaagent.errors import ExitCode, UsageError
from qaagent.plan import build_plan, describe
from qaagent.profile_load import load_profile

if TYPE_CHECKING:
    from qaagent.durations import Durations
    from qaagent.history.live import RunHistory
    from qaagent.plan import Plan


def _chosen_plan(args: argparse.Namespace) -> Plan:
    """The plan of the profile with the suites, worker count and evidence folder the flags chose."""
    evidence_dir: Path | None = args.evidence_dir
    chosen = RunOptions(
        suites=options.suite_names(args.suite),
        max_workers=args.max_workers,
        evidence_dir=evidence_dir.resolve() if evidence_dir is not None else None,
    )
    return build_plan(load_profile(args.profile), chosen)


def cmd_init(args: argparse.Namespace, out: TextIO) -> int:
    """Write a profile for the suites found in the folder; never over an existing one without --force."""
    from qaagent.init_profile import write_profile  # noqa: PLC0415 - keeps `--help` fast

    written = write_profile(args.folder.resolve(), target=args.profile, force=args.force)
    out.write(f"qaagent: wrote {written.path} with {len(written.detected.suites)} suite(s):\n")
    out.writelines(f"  {suite.name}: {suite.why}\n" for suite in written.detected.suites)
    out.write("next: `qaagent validate` to see the plan, `qaagent run-all` to run it\n")
    return ExitCode.OK


def cmd_validate(args: argparse.Namespace, out: TextIO) -> int:
    """Print the resolved plan; when a suite asks to split, its batches and the predicted makespan.

    Splitting asks the tools for their test files (pytest --collect-only, playwright --list).
    """
    plan = _chosen_plan(args)
    out.writelines(line + "\n" for line in describe(plan))
    if any(s.split != "off" for s in plan.suites):
        from qaagent.batching import layout_lines, plan_work  # noqa: PLC0415 - lists test files
        from qaagent.durations import resolve_durations  # noqa: PLC0415

        scheduled = plan_work(plan, resolve_durations(args.durations_from, plan.evidence_dir))
        out.writelines(line + "\n" for line in layout_lines(scheduled.split_layout))
    out.write("profile OK\n")
    return ExitCode.OK


def cmd_plan(args: argparse.Namespace, out: TextIO) -> int:
    """Print the shard split and each shard's queue (`--json`: one line for a workflow matrix)."""
    import json  # noqa: PLC0415

    from qaagent.batching import layout_lines, plan_work  # noqa: PLC0415
    from qaagent.durations import resolve_durations  # noqa: PLC0415
    from qaagent.shard import apply_shard, split, split_reason  # noqa: PLC0415
    from qaagent.units import discover_all  # noqa: PLC0415

    plan = _chosen_plan(args)
    history = _plan_history(plan, args.history, sys.stderr)
    try:
        durations = resolve_durations(
            args.durations_from, plan.evidence_dir, history=history.durations if history else None
        )
    finally:
        if history is not None:
            history.close()
    discoveries = discover_all(plan, [s.name for s in plan.suites], plan.slots)
    result = split(plan, args.shards, durations, discoveries)
    reason = split_reason(result)
    described = result.describe(reason)
    layouts = []
    for entry in described["shards"]:
        # one shard is what `run-all` without --shard runs: the whole plan (its files may come from durations)
        shard = plan if args.shards == 1 else apply_shard(plan, entry["index"], result)
        mine = plan_work(shard, durations, discoveries)
        layout = dict(mine.split_layout or {})
        entry["queue"] = layout.get("queue", [])
        entry["makespan"] = layout.get("makespan")
        layouts.append(layout)
    if args.json:
        out.write(json.dumps(described, separators=(",", ":")) + "\n")
        return ExitCode.OK
    out.write(f"{args.shards} shard(s): {reason}\n")
    timed = result.known > 0  # without records the estimates are equal weights, not seconds
    for entry, layout in zip(described["shards"], layouts, strict=True):
        load = f"~{entry['estimate']:.1f} s, " if timed else ""
        out.write(f"shard {entry['shard']}: {load}{len(entry['units'])} unit(s)\n")
        for unit in entry["units"]:
            where = f" {unit['path']}" if unit["path"] else " (whole suite)"
            seconds = f" ~{unit['estimate']:.1f} s" if timed else ""
            out.write(f"  {unit['suite']}{where}{seconds}\n")
        out.writelines(f"  {line}\n" for line in layout_lines(layout))
    return ExitCode.OK


def _plan_history(plan: Plan, enabled: bool | None, err: TextIO) -> RunHistory | None:  # noqa: FBT001
    """The history `plan` reads durations from (its warnings go to `err`: `--json` stays one line)."""
    from qaagent.history.live import RunHistory  # noqa: PLC0415

    settings = plan.loaded.profile.history
    if not (settings.enabled if enabled is None else enabled):
        return None
    say = functools.partial(print, file=err)
    return RunHistory.open(
        settings, base_dir=plan.loaded.directory, project=plan.project, repo_root=plan.repo_root, say=say
    )


def _recorded_durations(args: argparse.Namespace) -> Durations:
    """The profile's history (when it has any), else the newest finished bundle; a `UsageError` if neither."""
    from qaagent.durations import auto_source, from_bundle  # noqa: PLC0415

    evidence: Path | None = args.evidence_dir
    if evidence is None or args.profile.is_file():  # `--evidence-dir` alone needs no profile
        plan = build_plan(load_profile(args.profile))
        evidence = evidence or plan.evidence_dir
        history = _plan_history(plan, args.history, sys.stderr)
        if history is not None:
            recorded = history.durations()
            history.close()
            if recorded.suites:
                return recorded
    source = auto_source(evidence.resolve())
    if source is None:
        raise UsageError(f"no recorded history and no finished bundle in {evidence}: name a SOURCE")
    return from_bundle(source)


def cmd_durations(args: argparse.Namespace, out: TextIO) -> int:
    """Write the durations of a bundle, JUnit or durations file as a `qaagent durations` JSON file."""
    import json  # noqa: PLC0415

    from qaagent.durations import load_durations  # noqa: PLC0415

    source: Path | None = args.source
    durations = load_durations(source) if source is not None else _recorded_durations(args)
    text = json.dumps(durations.as_json(), indent=2, ensure_ascii=False) + "\n"
    if args.output is None:
        out.write(text)
    else:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text, encoding="utf-8")
        out.write(f"qaagent: durations of {len(durations.suites)} suite(s) written to {args.output}\n")
    return ExitCode.OK
