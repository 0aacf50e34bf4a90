"""Keeping the evidence folder small: the oldest bundles go, never one a run is still writing.

`prune` removes the bundles beyond the newest `keep` (by the manifest's start time);
`still_running` tells a bundle whose run is alive (its pid, on this host) from one
whose run was killed.
"""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

from qaagent.errors import UsageError
from qaagent.evidence.read import RUN_ID_RE, BundleError, read_manifest


def _started_key(bundle_dir: Path) -> tuple[str, str]:
    try:
        started = read_manifest(bundle_dir).started
    except BundleError:
        started = None  # unreadable: the oldest by name
    return (started or "", bundle_dir.name)


def still_running(bundle_dir: Path) -> bool:
    """Whether a run is still writing the bundle: `running`, and its process alive (or elsewhere).

    The manifest names the writing process (pid and host). On this host a pid that
    no longer exists means the run was killed: its bundle may go. A run on another
    host (a shared folder) cannot be checked and is spared. A running bundle of a
    qaagent that recorded no process (older versions) counts as gone.
    """
    try:
        manifest = read_manifest(bundle_dir)
    except BundleError:
        return False
    if manifest.status != "running" or manifest.process is None:
        return False
    if manifest.process.host != socket.gethostname():
        return True
    try:
        os.kill(manifest.process.pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # it exists, owned by someone else
    return True


def prune(evidence_dir: Path, keep: int, *, current: Path | None = None) -> list[Path]:
    """Remove the oldest bundles beyond the newest `keep`; never `current`. Return what was removed.

    Only directories named like a run id are considered, so nothing else in
    `evidence_dir` is ever deleted; nor is the bundle of a run still going
    (`still_running`). Age is the manifest's start time, then
    the name (run ids sort by time).
    """
    if keep < 0:
        raise UsageError(f"keep must be >= 0, got {keep}")
    if not evidence_dir.is_dir():
        return []
    bundles = [
        p for p in evidence_dir.iterdir() if p.is_dir() and not p.is_symlink() and RUN_ID_RE.match(p.name)
    ]
    bundles.sort(key=_started_key, reverse=True)
    protected = current.resolve() if current is not None else None
    removed: list[Path] = []
    for old in bundles[keep:]:
        if (protected is not None and old.resolve() == protected) or still_running(old):
            continue
        shutil.rmtree(old)
        removed.append(old)
    return removed
