"""The profile's `history:` section as a model (wired into the profile in part 2 of issue 14)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import run_qaagent
from pydantic import ValidationError

from qaagent.errors import ProfileError
from qaagent.history.dsn import mask, password_for, scrub, split_password
from qaagent.history.settings import HistorySettings
from qaagent.options import RELEASE_AFTER, WINDOW
from qaagent.profile_load import load_profile

SECRET = "s3cr3t-p@ss:w/rd"  # noqa: S105 - a test password
DSN = "postgresql://qa:s3cr3t-p%40ss%3Aw%2Frd@db.example:5432/qa?sslmode=require"


def test_defaults() -> None:
    settings = HistorySettings()
    assert settings.model_dump() == {
        "enabled": True,
        "store": ".qaagent/history.sqlite",
        "window": 50,
        "quarantine": "auto",
        "quarantine_file": ".qaagent/quarantine.txt",
        "flaky_threshold": 0.05,
        "release_after": 20,
    }
    assert not settings.is_postgres


def test_the_model_is_frozen_and_forbids_unknown_keys() -> None:
    settings = HistorySettings()
    with pytest.raises(ValidationError):
        settings.window = 3
    with pytest.raises(ValidationError, match="windw"):
        HistorySettings.model_validate({"windw": 3})


@pytest.mark.parametrize(
    ("data", "wanted"),
    [
        ({"window": 0}, "expected a whole number from 1 to 10000, got '0'"),
        ({"window": True}, "whole number"),
        ({"window": 2.5}, "whole number"),
        ({"release_after": 0}, "expected a whole number from 1 to 10000"),
        ({"flaky_threshold": 1.5}, "expected a rate from 0 to 1"),
        ({"flaky_threshold": -0.1}, "expected a rate from 0 to 1"),
        ({"flaky_threshold": True}, "expected a rate from 0 to 1"),
        ({"quarantine": "sometimes"}, "'auto', 'off' or 'list'"),
        ({"store": ""}, "must not be empty"),
        ({"store": "a\nb.sqlite"}, "control characters"),
        ({"store": "mysql://u@h/db"}, "a SQLite file path or a postgresql://"),
        ({"store": "postgresql://u:pw@/db"}, "must name a host"),
        ({"store": "postgresql://u:pw@h:port/db"}, "not a valid postgresql:// DSN"),
        ({"quarantine_file": "x\x00y"}, "control characters"),
    ],
)
def test_invalid_values_are_refused(data: dict[str, Any], wanted: str) -> None:
    with pytest.raises(ValidationError, match=wanted):
        HistorySettings.model_validate(data)


def test_a_dsn_with_a_host_in_the_query_is_accepted() -> None:
    assert HistorySettings(store="postgresql:///qa?host=/run/postgresql").is_postgres


def test_the_password_never_shows_in_repr_dump_or_errors() -> None:
    settings = HistorySettings(store=DSN)
    assert settings.is_postgres
    assert settings.store == DSN  # the driver still gets it
    shown = [
        repr(settings),
        str(settings),
        settings.model_dump_json(),
        str(settings.model_dump()),
        settings.store_display,
    ]
    for text in shown:
        assert "s3cr3t" not in text
        assert "qa:***@db.example:5432" in text
    # an invalid DSN is not echoed back in the validation error
    with pytest.raises(ValidationError) as caught:
        HistorySettings(store="postgresql://qa:s3cr3t@/nohost")
    assert "s3cr3t" not in str(caught.value)
    assert "s3cr3t" not in repr(caught.value.errors(include_input=False))


def test_dsn_passwords_in_userinfo_and_query() -> None:
    assert split_password(DSN) == ("postgresql://qa@db.example:5432/qa?sslmode=require", SECRET)
    assert split_password("postgresql://qa@h/db?password=q%20p&x=1") == ("postgresql://qa@h/db?x=1", "q p")
    assert mask("postgresql://qa@h/db?password=zz&sslpassword=yy") == (
        "postgresql://qa@h/db?password=***&sslpassword=***"
    )
    assert mask(".qaagent/history.sqlite") == ".qaagent/history.sqlite"
    assert password_for(DSN, {}) == SECRET
    assert password_for(DSN, {"QAAGENT_HISTORY_PASSWORD": "env-pw"}) == "env-pw"
    assert password_for("postgresql://qa@h/db", {}) is None
    assert (
        scrub(f"failed for {SECRET} and s3cr3t-p%40ss%3Aw%2Frd", [SECRET, None]) == "failed for *** and ***"
    )


# -- one validator and one range per option, on every entry point (profile YAML, model, flag) ---------

#: what no entry point takes as a window: signs, blanks, floats, underscores, 0, too large
BAD_COUNTS = ["+3", " 3", "3.0", "1_000", "0", str(WINDOW.high + 1)]


@pytest.mark.parametrize("text", BAD_COUNTS)
@pytest.mark.parametrize("key", ["window", "release_after"])
def test_the_profile_refuses_what_the_flags_refuse_written_bare_or_quoted(
    tmp_path: Path, key: str, text: str
) -> None:
    for written in (text.strip() if text != " 3" else "' 3'", f"'{text}'"):
        profile = tmp_path / ".qaagent.yaml"
        profile.write_text(f"tests: {{unit: {{}}}}\nhistory:\n  {key}: {written}\n", encoding="utf-8")
        with pytest.raises(ProfileError, match=rf"history\.{key}: .*expected a whole number from 1 to 10000"):
            load_profile(profile)


@pytest.mark.parametrize("text", BAD_COUNTS)
def test_the_model_refuses_the_same_texts(text: str) -> None:
    with pytest.raises(ValidationError, match="expected a whole number from 1 to 10000"):
        HistorySettings.model_validate({"window": text})


@pytest.mark.parametrize("text", BAD_COUNTS)
def test_the_window_flag_refuses_the_same_texts(tmp_path: Path, text: str) -> None:
    done = run_qaagent(
        "history", "flaky", "--window", text, "--store", str(tmp_path / "h.sqlite"), cwd=tmp_path
    )
    assert done.returncode == 2
    assert f"expected a whole number from 1 to {WINDOW.high}" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_ends_of_each_range_are_taken_everywhere(tmp_path: Path) -> None:
    profile = tmp_path / ".qaagent.yaml"
    profile.write_text(
        f"tests: {{unit: {{}}}}\nhistory: {{window: {WINDOW.high}, release_after: '{RELEASE_AFTER.low}',"
        " flaky_threshold: 1}\n",
        encoding="utf-8",
    )
    history = load_profile(profile).profile.history
    assert (history.window, history.release_after, history.flaky_threshold) == (WINDOW.high, 1, 1.0)
    done = run_qaagent(
        "history", "flaky", "--window", str(WINDOW.high), "--store", str(tmp_path / "h.sqlite"), cwd=tmp_path
    )
    assert "expected a whole number" not in done.stderr  # taken: what fails is the missing store
    assert "no history store" in done.stderr


@pytest.mark.parametrize("text", ["1.5", "-0.1", "nan", "x"])
def test_the_threshold_is_one_rate_in_the_profile_and_on_the_flag(tmp_path: Path, text: str) -> None:
    profile = tmp_path / ".qaagent.yaml"
    profile.write_text(f"tests: {{unit: {{}}}}\nhistory: {{flaky_threshold: '{text}'}}\n", encoding="utf-8")
    with pytest.raises(ProfileError, match="expected a rate from 0 to 1"):
        load_profile(profile)
    done = run_qaagent(
        "history", "flaky", "--threshold", text, "--store", str(tmp_path / "h.sqlite"), cwd=tmp_path
    )
    assert done.returncode == 2
    assert "expected a rate from 0 to 1" in done.stderr
