"""The peer reporter's Python pipeline on JUnit files, without any GitHub call (run_all.py's `--peer`).

The peer is EnricoMi/publish-unit-test-result-action. Its entry point
(`python/publish_test_results.py`, `main`) parses the files, turns them into
results and statistics, then `Publisher.publish` builds the check run's data
(`get_publish_data`: annotations, title, summaries) and sends it. This driver runs
the same functions in the same order with the action's default settings, up to the
request bodies it would send — each batch of 50 annotations with title and summary as
JSON, and the job summary — and stops there (no token, no network, no PyGithub
object). It imports the peer's modules from the checkout given with `--peer`; none of
the peer's code is kept in this repository.

    PEER_PYTHON benchmarks/peer_pipeline.py --peer CHECKOUT FILE.xml...

PEER_PYTHON is a venv with the checkout's `python/requirements.txt` (run_all.py
creates it under build/). It prints one JSON object: the counts it saw, the number of
annotations and the seconds of each phase.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

#: files of a checkout of the peer's repository this driver needs
PEER_ENTRY = Path("python") / "publish_test_results.py"
PEER_MODULES = ("junit", "unittestresults", "__init__")
#: the GitHub check-run API takes at most this many annotations per request (the peer splits likewise)
BATCH = 50


def peer_problem(checkout: Path) -> str | None:
    """Why `checkout` is not a usable checkout of the peer action (None when it is)."""
    if not checkout.is_dir():
        return f"--peer {checkout}: not a directory"
    missing = [str(PEER_ENTRY)] if not (checkout / PEER_ENTRY).is_file() else []
    missing += [
        f"python/publish/{name}.py"
        for name in PEER_MODULES
        if not (checkout / "python" / "publish" / f"{name}.py").is_file()
    ]
    if missing:
        return (
            f"--peer {checkout}: not a checkout of EnricoMi/publish-unit-test-result-action "
            f"(missing {', '.join(missing)})"
        )
    return None


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """Command line: `--peer CHECKOUT` and the JUnit files (each must exist)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--peer", required=True, type=Path, help="checkout of the peer action's repository")
    parser.add_argument(
        "--commit", default="0" * 40, help="commit sha put into the results (no effect on work)"
    )
    parser.add_argument("files", nargs="+", type=Path, help="JUnit XML files")
    args = parser.parse_args(list(argv))
    problem = peer_problem(args.peer)
    if problem is None:
        absent = [str(f) for f in args.files if not f.is_file()]
        problem = f"not a file: {', '.join(absent)}" if absent else None
    if problem is not None:
        parser.error(problem)
    return args


def run_pipeline(checkout: Path, files: Sequence[Path], commit: str) -> dict[str, Any]:
    """parse → results → stats → conclusion → annotations and summaries → request bodies."""
    sys.path.insert(0, str(checkout / "python"))
    started = time.perf_counter()
    entry = importlib.import_module(
        "publish_test_results"
    )  # imports github, humanize, psutil as the action does
    publish = importlib.import_module("publish")
    junit = importlib.import_module("publish.junit")
    results_mod = importlib.import_module("publish.unittestresults")
    imported = time.perf_counter()

    # parse_files(): every file as JUnit XML with the defaults (large_files=False, ignore_runs=False)
    trees = junit.parse_junit_xml_files([str(f) for f in files], large_files=False, drop_testcases=False)
    parsed = junit.process_junit_xml_elems(
        trees, time_factor=1.0, test_file_prefix=None, add_suite_details=False
    ).with_commit(commit)
    parsed_at = time.perf_counter()

    # main(): results, stats, conclusion (fail_on: "test failures")
    results = results_mod.get_test_results(parsed, dedup_classes_by_file_name=False)
    stats = results_mod.get_stats(results)
    conclusion = entry.get_conclusion(parsed, fail_on_failures=True, fail_on_errors=True)
    results_at = time.perf_counter()

    # Publisher.get_publish_data(): annotations (default check_run_annotation: all and skipped tests lists)
    cases = results.case_results
    annotations = (
        publish.get_error_annotations(stats.errors)
        + publish.get_case_annotations(cases, report_individual_runs=False)
        + publish.get_suite_annotations(stats.suite_details, False, False)  # noqa: FBT003 - the peer's signature
        + [
            a
            for a in publish.get_skipped_tests_list_annotation(cases)
            + publish.get_all_tests_list_annotation(cases)
            if a
        ]
    )
    title = publish.get_short_summary(stats)
    summary_with_digest = publish.get_long_summary_with_digest_md(stats, stats)
    annotated_at = time.perf_counter()

    # Publisher.publish_check() / publish_job_summary(): the bodies it would send, encoded, not sent
    dicts = [a.to_dict() for a in annotations]
    body_bytes = 0
    for start in range(0, max(len(dicts), 1), BATCH):
        output = {"title": title, "summary": summary_with_digest, "annotations": dicts[start : start + BATCH]}
        body_bytes += len(json.dumps({"name": "Test Results", "conclusion": conclusion, "output": output}))
    job_summary = f"## Test Results\n{publish.get_long_summary_md(stats, None)}"
    finished = time.perf_counter()
    return {
        "files": parsed.files,
        "cases": results.cases,
        "failures": results.cases_failures,
        "skipped": results.cases_skipped,
        "errors": results.cases_errors,
        "parse_errors": len(parsed.errors),
        "conclusion": conclusion,
        "annotations": len(annotations),
        "request_bytes": body_bytes,
        "job_summary_chars": len(job_summary),
        "seconds": {
            "imports": imported - started,
            "parse": parsed_at - imported,
            "results": results_at - parsed_at,
            "annotations": annotated_at - results_at,
            "requests": finished - annotated_at,
        },
    }


def main(argv: Sequence[str] | None = None) -> None:
    """Run the pipeline once and print what it did as JSON."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    print(json.dumps(run_pipeline(args.peer.resolve(), args.files, args.commit)))


if __name__ == "__main__":
    main()
