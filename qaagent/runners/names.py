"""The runners qaagent has, by the name a profile's `runner:` gives them: the one list.

The profile (which cannot import the runners: they import the plan, which imports it) takes
its `runner:` type and its error messages from here; `qaagent.runners.registry` maps each
name to its `Runner` class, typed by `RunnerName`, and a test holds the two to the same set.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

RunnerName = Literal["pytest", "behave", "playwright", "command", "report"]
#: every runner's name, in the order error messages list them
RUNNERS: Final[tuple[RunnerName, ...]] = get_args(RunnerName)
#: suite names that imply their runner, as in the original qaagent
DEFAULT_RUNNERS: Final[dict[str, RunnerName]] = {"unit": "pytest", "behave": "behave", "e2e": "playwright"}
