"""Where the tested code came from: commit, ref and repository for the manifest.

A local checkout is asked first (it knows the exact commit that was tested);
in a container without git, or when git refuses the directory ("dubious
ownership"), the GitHub Actions variables fill in. Credentials embedded in a
remote URL (``https://user:token@host/...``) are removed.
"""

from __future__ import annotations

import os
import subprocess
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from qaagent.process import child_environment

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

GIT_TIMEOUT = 5.0


def _git(repo_root: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(repo_root), *args],
            env=child_environment(os.environ),
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    out = done.stdout.strip()
    return out if done.returncode == 0 and out else None


def strip_credentials(url: str) -> str:
    """`url` without a user or password part."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.scheme and parts.hostname and (parts.username or parts.password):
        netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return url


def git_info(repo_root: Path, environ: Mapping[str, str] | None = None) -> dict[str, str | None]:
    """`{sha, ref, repository}` from the checkout at `repo_root`, else from GITHUB_*."""
    env = os.environ if environ is None else environ
    sha = _git(repo_root, "rev-parse", "HEAD")
    ref = _git(repo_root, "symbolic-ref", "-q", "HEAD") if sha else None
    remote = _git(repo_root, "config", "--get", "remote.origin.url") if sha else None
    repository = env.get("GITHUB_REPOSITORY") or (strip_credentials(remote) if remote else None)
    return {
        "sha": sha or env.get("GITHUB_SHA") or None,
        "ref": ref or env.get("GITHUB_REF") or None,
        "repository": repository,
    }
