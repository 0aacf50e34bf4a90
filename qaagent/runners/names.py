"""The runners qaagent has, by the name a profile's `runner:` gives them: the one list.

The profile (which cannot import the runners: they import the plan, which imports it) takes
its `runner:` type, its error messages and what it checks of a suite (`PROFILE_RULES`) from
here; `qaagent.runners.registry` maps each name to its `Runner` class, typed by `RunnerName`,
and a test holds the two to the same set.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal, get_args

RunnerName = Literal["pytest", "behave", "playwright", "command", "report"]
#: every runner's name, in the order error messages list them
RUNNERS: Final[tuple[RunnerName, ...]] = get_args(RunnerName)
#: suite names that imply their runner, as in the original qaagent
DEFAULT_RUNNERS: Final[dict[str, RunnerName]] = {"unit": "pytest", "behave": "behave", "e2e": "playwright"}


@dataclass(frozen=True)
class ProfileRules:
    """What the profile and the plan ask of a runner, below the runner classes (which import the plan)."""

    #: False: the suite runs nothing; `files:` are required and command/args/junit/retries/split refused
    runs_command: bool = True
    #: `files:` and `format:` name the result files it reads (the others write and find their own)
    reads_result_files: bool = False
    #: a suite of it needs `command:`
    needs_command: bool = False


#: each runner's rules; its `Runner` class answers `runs_command` from here
PROFILE_RULES: Final[dict[RunnerName, ProfileRules]] = {
    "pytest": ProfileRules(),
    "behave": ProfileRules(),
    "playwright": ProfileRules(),
    "command": ProfileRules(reads_result_files=True, needs_command=True),
    "report": ProfileRules(runs_command=False, reads_result_files=True),
}
