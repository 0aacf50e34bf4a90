"""Time as the GitHub client sees it: monotonic seconds, epoch seconds, sleeping (a fake in tests)."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Time as the client sees it (a fake in tests)."""

    def monotonic(self) -> float:
        """Seconds on a monotonic clock."""
        ...

    def time(self) -> float:
        """Epoch seconds (rate-limit reset times are epoch seconds)."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait `seconds`."""
        ...


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        """Seconds on the process's monotonic clock."""
        return time.monotonic()

    def time(self) -> float:
        """Epoch seconds."""
        return time.time()

    def sleep(self, seconds: float) -> None:
        """Really wait."""
        time.sleep(seconds)
