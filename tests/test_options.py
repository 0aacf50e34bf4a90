"""The one set of option validators (`qaagent.options`), in-process: plain decimals, errors naming their source."""

from __future__ import annotations

from pathlib import Path

import pytest

from qaagent import options
from qaagent.action import action_run
from qaagent.command_options import RunOptions
from qaagent.errors import UsageError
from qaagent.options import InvalidValue
from qaagent.plan import build_plan
from qaagent.profile import LoadedProfile, RunSettings
from qaagent.profile_load import load_profile

#: what `float()` reads but no one writes as a number of seconds or a rate
NOT_PLAIN_DECIMALS = [
    "1_0",  # an underscore
    " 1",  # blanks
    "1 ",
    "\t1",
    "nan",
    "NaN",
    "inf",
    "-inf",
    "Infinity",
    "1e309",  # an exponent, here one that is infinite
    "1e3",
    "1E-2",
    "+1",  # a sign
    "-1",
    "١",  # a digit that is not ASCII
    "1.2.3",
    ".",
    "",
    "0x10",
    "12345678901234567890",  # more digits than any range here allows
]


@pytest.mark.parametrize("text", NOT_PLAIN_DECIMALS)
def test_seconds_take_only_a_plain_decimal_number(text: str) -> None:
    with pytest.raises(InvalidValue, match=r"^expected seconds > 0 and at most 604800, got "):
        options.seconds(text)


@pytest.mark.parametrize("text", NOT_PLAIN_DECIMALS)
def test_a_rate_takes_only_a_plain_decimal_number(text: str) -> None:
    with pytest.raises(InvalidValue, match=r"^expected a rate from 0 to 1, got "):
        options.rate(text)


@pytest.mark.parametrize("text", ["0", "0.0", "604800.001", "604801", "999999999999"])
def test_seconds_outside_the_range_are_refused(text: str) -> None:
    with pytest.raises(InvalidValue):
        options.seconds(text)


@pytest.mark.parametrize("text", ["1.01", "2", "10"])
def test_a_rate_above_one_is_refused(text: str) -> None:
    with pytest.raises(InvalidValue):
        options.rate(text)


@pytest.mark.parametrize(
    ("text", "value"), [("1", 1.0), ("0.5", 0.5), ("12.", 12.0), (".25", 0.25), ("604800", 604800.0)]
)
def test_seconds_in_range(text: str, value: float) -> None:
    assert options.seconds(text) == value


@pytest.mark.parametrize(
    ("text", "value"), [("0", 0.0), ("0.05", 0.05), (".5", 0.5), ("1", 1.0), ("1.0", 1.0)]
)
def test_rates_in_range(text: str, value: float) -> None:
    assert options.rate(text) == value


@pytest.mark.parametrize("text", ["1_0", "nan", "inf", "1e309", " 1"])
def test_the_profile_reads_seconds_given_as_text_through_the_same_validator(text: str) -> None:
    with pytest.raises(ValueError, match="expected seconds > 0"):
        RunSettings.model_validate({"timeout": text})
    assert RunSettings.model_validate({"timeout": "90"}).timeout == 90.0
    assert RunSettings.model_validate({"timeout": 1.5}).timeout == 1.5


@pytest.mark.parametrize("value", [float("nan"), float("inf"), 0, -1, 1e309])
def test_the_profile_refuses_a_yaml_number_that_is_not_finite_or_in_range(value: float) -> None:
    with pytest.raises(ValueError, match="timeout"):
        RunSettings.model_validate({"timeout": value})


# --- an error about the suites names where they came from ----------------------------------------


def _profile(tmp_path: Path) -> LoadedProfile:
    path = tmp_path / ".qaagent.yaml"
    path.write_text("tests:\n  unit: {path: t}\n  smoke: {runner: command, command: ['true']}\n", "utf-8")
    return load_profile(path)


def test_an_unknown_suite_from_the_command_line_names_the_flag(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as raised:
        build_plan(_profile(tmp_path), RunOptions(suites=("nope",)))
    assert raised.value.message == "--suite names unknown suite(s): nope (known: unit, smoke)"


def test_an_unknown_suite_from_the_action_names_its_input(tmp_path: Path) -> None:
    chosen = RunOptions(suites=("nope",), suites_source="input 'suites'")
    with pytest.raises(UsageError) as raised:
        build_plan(_profile(tmp_path), chosen)
    assert raised.value.message == "input 'suites' names unknown suite(s): nope (known: unit, smoke)"


def test_the_action_reads_the_suites_input_as_coming_from_it(tmp_path: Path) -> None:
    env = {"GITHUB_WORKSPACE": str(tmp_path), "INPUT_SUITES": "nope"}
    chosen = action_run(env).options
    assert isinstance(chosen, RunOptions)
    assert chosen.suites_source == "input 'suites'"
    with pytest.raises(UsageError) as raised:
        action_run({**env, "INPUT_SUITES": " , "})
    assert raised.value.message == "input 'suites' needs a suite name (got ',')"  # inputs are stripped


def test_empty_suite_names_on_the_command_line_name_the_flag() -> None:
    with pytest.raises(UsageError) as raised:
        options.suite_names(["a", " , "])
    assert raised.value.message == "--suite needs a suite name (got ' , ')"


HUGE = "9" * 100_000


@pytest.mark.parametrize(
    ("validator", "text"),
    [
        (options.workers, HUGE),
        (options.rate, HUGE),
        (options.seconds, HUGE),
        (options.shard, HUGE),
        (options.globs, "!" + HUGE),
        (options.boolean, HUGE),
        (options.switch, HUGE),
        (options.result_format, HUGE),
        (options.fail_on, " ".join(["x" * 80] * 5_000)),
        (options.split_setting, HUGE),
    ],
)
def test_a_huge_bad_value_is_quoted_short(validator: object, text: str) -> None:
    """The review's finding: a 100,000-digit max-workers came back whole in the one-line message."""
    with pytest.raises(InvalidValue) as caught:
        validator(text)  # type: ignore[operator]
    assert len(str(caught.value)) < 600
