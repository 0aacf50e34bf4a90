"""The pieces of manifest.json: who ran what, where, with which result.

Kept apart from `bundle.py` (which owns the directory and the order of
writes) so the manifest's shape can be read in one place. Environment values
are recorded from an allowlist only — never by scanning everything and
filtering — and even an allowlisted name is dropped if it looks secret.
"""

from __future__ import annotations

import math
import os
import platform
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qaagent.paths import printable
from qaagent.redact import is_secret_name

if TYPE_CHECKING:
    from collections.abc import Mapping

    from qaagent.attempts import Attempt
    from qaagent.redact import Redactor
    from qaagent.results import SuiteResult

SCHEMA_VERSION = 1
#: ignored result files named per attempt (the count is always there; the log lists every one)
MAX_IGNORED_LISTED = 100

#: environment variables recorded in the manifest (names; values only if set)
ENV_ALLOWLIST = (
    "CI",
    "GITHUB_ACTIONS",
    "GITHUB_ACTION",
    "GITHUB_ACTOR",
    "GITHUB_BASE_REF",
    "GITHUB_EVENT_NAME",
    "GITHUB_HEAD_REF",
    "GITHUB_JOB",
    "GITHUB_REF",
    "GITHUB_REF_NAME",
    "GITHUB_REF_TYPE",
    "GITHUB_REPOSITORY",
    "GITHUB_RUN_ATTEMPT",
    "GITHUB_RUN_ID",
    "GITHUB_RUN_NUMBER",
    "GITHUB_SERVER_URL",
    "GITHUB_SHA",
    "GITHUB_WORKFLOW",
    "GITHUB_WORKSPACE",
    "RUNNER_ARCH",
    "RUNNER_NAME",
    "RUNNER_OS",
    "LANG",
    "LC_ALL",
    "TZ",
    "PYTHONHASHSEED",
)


def iso_utc(epoch: float | None) -> str | None:
    """ISO-8601 UTC with a `Z`, second precision kept to milliseconds; None for no time."""
    if epoch is None or epoch <= 0 or not math.isfinite(epoch):
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Return the allowlisted, non-secret environment variables that are set."""
    env = os.environ if environ is None else environ
    return {name: env[name] for name in ENV_ALLOWLIST if name in env and not is_secret_name(name)}


def ci_info(environ: Mapping[str, str] | None = None) -> dict[str, str | None] | None:
    """GitHub Actions run coordinates, or None outside Actions."""
    env = os.environ if environ is None else environ
    if env.get("GITHUB_ACTIONS") != "true" and "GITHUB_RUN_ID" not in env:
        return None
    return {
        "provider": "github-actions",
        "run_id": env.get("GITHUB_RUN_ID"),
        "run_attempt": env.get("GITHUB_RUN_ATTEMPT"),
        "job": env.get("GITHUB_JOB"),
        "workflow": env.get("GITHUB_WORKFLOW"),
        "actor": env.get("GITHUB_ACTOR"),
        "server_url": env.get("GITHUB_SERVER_URL"),
    }


def host_info() -> dict[str, str]:
    """Hostname, platform and Python version of the machine that ran the tests."""
    return {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def rel_path(path: Path | None, bundle_dir: Path, repo_root: Path | None = None) -> str | None:
    """`path` relative to the bundle (or else the repository root) as POSIX text; None stays None."""
    if path is None:
        return None
    for base in (bundle_dir, repo_root):
        if base is not None:
            try:
                text = Path(os.path.abspath(path)).relative_to(os.path.abspath(base)).as_posix()  # noqa: PTH100 - no symlink resolution wanted
            except ValueError:
                continue
            return printable(text)  # the manifest is UTF-8: a name that is not is written escaped
    return printable(str(path))


def attempt_entry(attempt: Attempt, bundle_dir: Path, repo_root: Path | None) -> dict[str, Any]:
    """One attempt of a suite as recorded in the manifest (`log_error` only when its log was cut)."""
    entry: dict[str, Any] = {
        "number": attempt.number,
        "command": list(attempt.command),
        "returncode": attempt.returncode,
        "timed_out": attempt.timed_out,
        "cancelled": attempt.cancelled,
        "started": iso_utc(attempt.started_at),
        "duration": round(max(0.0, attempt.duration), 3),
        "log": rel_path(attempt.log_path, bundle_dir, repo_root),
        "junit_files": [rel_path(p, bundle_dir, repo_root) for p in attempt.junit_files],
        "selected": list(attempt.selected),
        # matches of the suite's result globs that were not read, and why (stale, outside)
        "ignored_count": len(attempt.ignored),
        "ignored_files": [
            {"path": rel_path(item.path, bundle_dir, repo_root), "reason": item.reason}
            for item in attempt.ignored[:MAX_IGNORED_LISTED]
        ],
    }
    if attempt.log_error is not None:
        entry["log_error"] = attempt.log_error
    return entry


def suite_entry(suite: SuiteResult, bundle_dir: Path, repo_root: Path | None) -> dict[str, Any]:
    """One suite as recorded in the manifest."""
    status = "skipped" if suite.skipped_reason and not suite.counts.total else suite.status
    entry = {
        "name": suite.name,
        "runner": suite.runner,
        "command": list(suite.command),
        "working_directory": rel_path(suite.working_directory, bundle_dir, repo_root),
        "attempts": [attempt_entry(a, bundle_dir, repo_root) for a in suite.attempts],
        "returncode": suite.returncode,
        "timed_out": suite.timed_out,
        "counts": suite.counts.as_dict(),
        "duration": round(max(0.0, suite.duration), 3),
        "status": status,
        "error": suite.error,
        "skipped_reason": suite.skipped_reason,
        "files": sorted({p for p in (rel_path(f, bundle_dir, repo_root) for f in suite.files) if p}),
    }
    if suite.batches:
        # A split suite: each batch's own attempts and logs; `duration` above is its wall time.
        entry["process_time"] = round(max(0.0, suite.process_time), 3)
        entry["batches"] = [
            {
                "batch": batch.number,
                "units": list(batch.units),
                "attempts": [attempt_entry(a, bundle_dir, repo_root) for a in batch.attempts],
            }
            for batch in suite.batches
        ]
    return entry


def redacted(value: Any, redactor: Redactor) -> Any:
    """`value` as JSON-compatible data with every string redacted (what a manifest holds)."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return redactor.redact(value)
    if isinstance(value, dict):
        return {str(k): redacted(v, redactor) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return [redacted(v, redactor) for v in items]
    return redactor.redact(str(value))
