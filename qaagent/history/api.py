"""The history as a run uses it: every call returns its value or a `HistoryUnavailable`.

This is what the pipeline calls (part 2 of issue 14)::

    history = History.open(settings, base_dir=profile_dir)          # or HistoryUnavailable
    durations = history.durations(scope, branch=branch)             # before scheduling
    quarantined = history.quarantine(scope, branch=base_branch)     # before judging the run
    comparison = history.compare(scope, results, base_branch=base_branch, quarantined=quarantined)
    recorded = history.record(run_record, results)                  # after the bundle is written
    history.close()

None of these raises for a store problem: a locked, corrupt, read-only,
unreachable or newer store gives one `HistoryUnavailable` whose `message` the
caller prints as a warning, and the run goes on.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

from qaagent.durations import Durations
from qaagent.history.compare import Comparison, compare
from qaagent.history.dsn import is_dsn, password_for, split_password
from qaagent.history.faults import HistoryUnavailable, guard
from qaagent.history.model import ResultLike, RunRecord
from qaagent.history.prepared import RunResults
from qaagent.history.queries import durations
from qaagent.history.rates import NO_QUARANTINE, Quarantine, quarantine
from qaagent.history.record import Recorded, record
from qaagent.history.settings import HistorySettings
from qaagent.history.store import Scope, Store, open_store

T = TypeVar("T")


def _secrets(settings: HistorySettings, environ: Mapping[str, str] | None) -> tuple[str, ...]:
    if not is_dsn(settings.store):
        return ()
    found = {password_for(settings.store, environ)}
    with contextlib.suppress(ValueError):
        found.add(split_password(settings.store)[1])
    return tuple(s for s in found if s)


class History:
    """An open history store and the settings it is judged by."""

    def __init__(
        self, store: Store, settings: HistorySettings, *, base_dir: Path, secrets: tuple[str, ...]
    ) -> None:
        self.store = store
        self.settings = settings
        self.base_dir = base_dir
        self._secrets = secrets

    @classmethod
    def open(
        cls,
        settings: HistorySettings,
        *,
        base_dir: Path,
        create: bool = True,
        environ: Mapping[str, str] | None = None,
        busy_timeout: float | None = None,
        statement_timeout: float | None = None,
    ) -> History | HistoryUnavailable:
        """Open (create, migrate) the store of `settings`; a relative SQLite path starts at `base_dir`."""
        secrets = _secrets(settings, environ)
        opened = guard(
            "open the history store",
            lambda: open_store(
                settings.store,
                base_dir=base_dir,
                create=create,
                environ=dict(environ) if environ is not None else None,
                busy_timeout=busy_timeout,
                statement_timeout=statement_timeout,
            ),
            store=settings.store_display,
            secrets=secrets,
        )
        if isinstance(opened, HistoryUnavailable):
            return opened
        return cls(opened, settings, base_dir=base_dir, secrets=secrets)

    def record(
        self, run: RunRecord, results: Iterable[ResultLike] | RunResults
    ) -> Recorded | HistoryUnavailable:
        """Record a finished run (idempotent: recording it again replaces it)."""
        return self.attempt(
            "record this run",
            lambda: record(self.store, run, results),
        )

    def durations(
        self, scope: Scope, *, branch: str | None, kinds: Sequence[str] = ("run", "shard", "merge")
    ) -> Durations | HistoryUnavailable:
        """p50 durations per suite, file and classname over the window (see `queries.durations`)."""
        return self.attempt(
            "read durations",
            lambda: durations(self.store, scope, branch=branch, window=self.settings.window, kinds=kinds),
        )

    def quarantine(self, scope: Scope, *, branch: str | None) -> Quarantine | HistoryUnavailable:
        """The quarantine set the settings describe (flake rates over `branch`'s window)."""
        return self.attempt(
            "read the quarantine",
            lambda: quarantine(self.store, scope, self.settings, branch=branch, base_dir=self.base_dir),
        )

    def compare(
        self,
        scope: Scope,
        results: Iterable[ResultLike] | RunResults,
        *,
        base_branch: str,
        quarantined: Quarantine = NO_QUARANTINE,
    ) -> Comparison | HistoryUnavailable:
        """The new run's results grouped against `base_branch`'s latest recorded run."""
        return self.attempt(
            f"compare with {base_branch}",
            lambda: compare(
                self.store,
                scope,
                results,
                base_branch=base_branch,
                window=self.settings.window,
                quarantined=quarantined,
            ),
        )

    def attempt(self, what: str, action: Callable[[], T]) -> T | HistoryUnavailable:
        """`action()` on this store, or a `HistoryUnavailable` saying it could not `what`."""
        return guard(what, action, store=self.store.display, secrets=self._secrets)

    def close(self) -> None:
        """Close the store."""
        self.store.close()
