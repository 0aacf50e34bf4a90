"""The run's cancel flag, and the signals that set it.

A CI runner cancels a job with SIGINT (GitHub: then SIGTERM, then SIGKILL 10 s later), a
terminal with SIGINT, a hang-up with SIGHUP. While a run's suites run, those signals set the
run's `Cancel` flag instead of stopping qaagent (`cancel_on_signals`): the suites are stopped
(`qaagent.process`) and every report is still written. `signal_handler` installs any handler
for the block of code it wraps and puts the previous ones back after it.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from types import FrameType


class Cancel(threading.Event):
    """A cancel flag that remembers which signal set it (SIGTERM when set by hand)."""

    def __init__(self) -> None:
        super().__init__()
        self.signum: int = signal.SIGTERM

    def cancel(self, signum: int = signal.SIGTERM) -> bool:
        """Set the flag (once); False when it was set already."""
        if self.is_set():
            return False
        self.signum = signum
        self.set()
        return True


#: the signals a CI runner cancels a job with
CANCEL_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextmanager
def signal_handler(
    handler: Callable[[int, FrameType | None], None], signals: Sequence[signal.Signals] = CANCEL_SIGNALS
) -> Iterator[None]:
    """`handler` for `signals` inside the block, the previous handlers after it.

    Outside the main thread, where Python cannot install handlers, this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, handler) for sig in signals}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old if old is not None else signal.SIG_DFL)


def cancel_on_signals(
    cancel: threading.Event,
    *,
    signals: Sequence[signal.Signals] = CANCEL_SIGNALS,
    on_signal: Callable[[str, bool], None] | None = None,
) -> contextlib.AbstractContextManager[None]:
    """Inside the block, `signals` set `cancel` instead of stopping the process.

    `on_signal(name, first)` is told of each one (`first`: it set the flag).
    """

    def handler(signum: int, _frame: FrameType | None) -> None:
        if isinstance(cancel, Cancel):
            first = cancel.cancel(signum)
        else:
            first = not cancel.is_set()
            cancel.set()
        if on_signal is not None:
            on_signal(signal.Signals(signum).name, first)

    return signal_handler(handler, signals)
