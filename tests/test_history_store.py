"""The history store on both backends (SQLite file, real PostgreSQL): recording, identity, queries.

Every test here runs twice, once per backend (`store_url` in history_support).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from history_support import SCOPE, T0, passing, result, run
from test_corpus_github import MEGABYTE_NAME
from test_github_commands import INJECTIONS
from test_html_report import HOSTILE as HTML_HOSTILE
from test_junit_write import HOSTILE as JUNIT_HOSTILE

from qaagent.history.compare import compare
from qaagent.history.model import MAX_TEXT, TestId, canonical
from qaagent.history.prepared import prepare
from qaagent.history.queries import (
    durations,
    find_tests,
    outcomes,
    slowest,
    trends,
    window_runs,
)
from qaagent.history.rates import Quarantine, flake_rates, quarantine
from qaagent.history.record import record
from qaagent.history.settings import HistorySettings
from qaagent.history.store import Scope, Store
from qaagent.junit.read import iter_junit_cases
from qaagent.run_result import Excused
from qaagent.text import clean_text

ROOT = Path(__file__).resolve().parent
CORPUS = ROOT / "corpus" / "junit"


def corpus_names() -> list[str]:
    """Every hostile name the corpora use: the injection, HTML and XML lists, a 1 MB name, and the
    names the JUnit reader takes from the corpus files."""
    names = [*INJECTIONS, *HTML_HOSTILE, JUNIT_HOSTILE, MEGABYTE_NAME, "\x00nul", "tab\tand\r\nnewline", "😀"]
    for path in sorted(CORPUS.glob("*.xml")):
        # a broken corpus file gives its cases up to the break, then raises: keep what came
        with contextlib.suppress(Exception):
            names.extend(c.name for c in iter_junit_cases(path, suite="s", base_dir=CORPUS, repo_root=CORPUS))
    return list(dict.fromkeys(names))


def project_of(store: Store) -> int:
    found = store.project_id(SCOPE)
    assert found is not None
    return found


# -- recording and identity ---------------------------------------------------------------------


def test_a_run_and_its_results_read_back(store: Store) -> None:
    first = run(1, suites={"unit": 3.5}, base_branch="main", pr_number=7, ci_run_id="99", ci_run_attempt="2")
    done = record(
        store,
        first,
        [
            result("test_a", duration=1.25),
            result("test_b", "failed", duration=0.5),
            result("test_c", "skipped", duration=0.0),
            result("test_d", "error", duration=2.0, file=None, classname="Cls"),
            result("test_e", flaky=True, attempts=3, duration=0.75),
        ],
    )
    assert (done.results, done.replaced, done.superseded, done.supersedes) == (5, False, False, 0)
    (info,) = window_runs(store, project_of(store), branch="main", window=10)
    assert (info.run_id, info.started, info.commit, info.branch, info.base_branch, info.pr_number) == (
        first.run_id, first.started, "c0001", "main", "main", 7,
    )  # fmt: skip
    assert (info.tests, info.passed, info.failed, info.errors, info.skipped, info.flaky) == (5, 2, 1, 1, 1, 1)
    assert info.kind == "run"
    rows = store.backend.query("SELECT ci_run_id, ci_run_attempt, shard, status FROM qa_runs")
    assert [tuple(r) for r in rows] == [("99", "2", "", "success")]
    ((test, file),) = find_tests(store, SCOPE, "unit::tests.test_mod::test_e")
    assert file == "tests/test_mod.py"
    (seen,) = outcomes(store, SCOPE, test, branch=None, limit=5)
    assert (seen.status, seen.duration, seen.attempts, seen.flaky) == ("passed", 0.75, 3, True)
    found = durations(store, SCOPE, branch="main", window=50)
    unit = found.suites["unit"]
    assert unit.total == 3.5
    assert unit.files == {"tests/test_mod.py": pytest.approx(1.25 + 0.5 + 0.75)}
    assert unit.classes == {"Cls": 2.0}


def test_hostile_names_round_trip_with_one_identity(store: Store) -> None:
    names = corpus_names()
    assert len(names) > 30
    results = [result(n, classname=n, file=n) for n in names]
    record(store, run(1), results)
    record(store, run(2), results)  # the same tests again: no new identities
    (count,) = store.backend.query("SELECT count(*) FROM qa_tests")[0]
    assert count == len({TestId.of("unit", n, n).key for n in names})
    stored = {
        int(key): (str(c), str(n), str(f))
        for key, c, n, f in store.backend.query("SELECT test, classname, name, file FROM qa_tests")
    }
    for name in names:
        test = TestId.of("unit", name, name)
        expected = canonical(name)
        assert stored[test.key] == (expected, expected, expected)
        assert "\x00" not in expected  # what PostgreSQL text cannot hold never reaches it
        assert expected.encode("utf-8")  # no lone surrogates either
        runs = outcomes(store, SCOPE, test, branch=None, limit=5)
        assert [o.run.run_id for o in runs] == [run(2).run_id, run(1).run_id]
        if len(clean_text(name)) <= MAX_TEXT:
            # what tests.jsonl would say is the same text and the same test
            assert expected == clean_text(name)
            assert TestId.of("unit", expected, expected).key == test.key
    megabyte = TestId.of("unit", MEGABYTE_NAME, MEGABYTE_NAME)
    assert len(megabyte.name) == MAX_TEXT
    assert megabyte.name.endswith("…")


def test_recording_the_same_run_twice_replaces_it(store: Store) -> None:
    first = run(1)
    record(store, first, [*passing(50), result("test_x", "failed")])
    again = record(store, first, [*passing(40), result("test_x", "failed"), result("test_y")])
    assert again.replaced
    (info,) = window_runs(store, project_of(store), branch=None, window=10)
    assert (info.tests, info.passed, info.failed) == (42, 41, 1)
    assert store.backend.query("SELECT count(*) FROM qa_runs")[0][0] == 1
    assert store.backend.query("SELECT count(*) FROM qa_results")[0][0] == 1
    assert store.backend.query("SELECT count(*) FROM qa_problems")[0][0] == 1
    assert durations(store, SCOPE, branch=None, window=10).suites["unit"].files[
        "tests/test_mod.py"
    ] == pytest.approx(4.2)


def test_the_same_test_twice_in_one_run_is_kept_twice(store: Store) -> None:
    record(store, run(1), [result("t", "passed", duration=1.0), result("t", "failed", duration=2.0)])
    test = TestId.of("unit", "tests.test_mod", "t")
    seen = outcomes(store, SCOPE, test, branch=None, limit=5)
    assert sorted((o.status, o.duration) for o in seen) == [("failed", 2.0), ("passed", 1.0)]
    assert len(prepare([result("t"), result("t")]).packed) == 2


def test_a_merged_run_supersedes_its_shards_in_either_order(store: Store) -> None:
    one = run(1, shard="1/2", suites={"unit": 5.0})
    two = run(2, shard="2/2", suites={"unit": 7.0})
    merged = run(3, merged_from=[one, two], suites={"unit": 9.0})
    left = [result(f"test_{i}", duration=1.0, file=f"tests/test_{i}.py") for i in range(3)]
    right = [result(f"test_{i}", "failed" if i == 3 else "passed", duration=1.0, file=f"tests/test_{i}.py") for i in range(3, 5)]  # fmt: skip
    assert record(store, one, left).superseded is False
    done = record(store, merged, left + right)  # the merge lands before shard 2
    assert done.supersedes == 1
    late = record(store, two, right)
    assert late.superseded  # shard 2 arrived after its merge: superseded on arrival
    project = project_of(store)
    runs = window_runs(store, project, branch="main", window=10)
    assert [r.run_id for r in runs] == [merged.run_id]
    assert {r[0] for r in store.backend.query("SELECT superseded_by FROM qa_runs WHERE kind = 'shard'")} == {
        done.run
    }
    # counted once: the file times are the merge's, not merge + shards
    files = durations(store, SCOPE, branch="main", window=10).suites["unit"].files
    assert files == {f"tests/test_{i}.py": 1.0 for i in range(5)}
    # a merge's suite time is a span across machines: not a suite total for scheduling
    assert durations(store, SCOPE, branch="main", window=10).suites["unit"].total is None
    assert trends(store, SCOPE, branch=None, limit=10).suites == {"unit": [9.0]}
    # re-importing the merge keeps the shards superseded
    again = record(store, merged, left + right)
    assert again.replaced
    assert again.supersedes == 2
    assert [r.run_id for r in window_runs(store, project, branch="main", window=10)] == [merged.run_id]


def test_cancelled_runs_do_not_count(store: Store) -> None:
    record(store, run(1), passing(3))
    record(store, run(2, status="cancelled"), passing(1))
    assert [r.run_id for r in window_runs(store, project_of(store), branch=None, window=10)] == [
        run(1).run_id
    ]


def test_scopes_keep_projects_apart(store: Store) -> None:
    record(store, run(1), passing(2))
    other = run(2)
    record(store, type(other)(**{**other.__dict__, "project": "other", "repository": "x/y"}), passing(5))
    assert sorted(store.scopes(), key=lambda s: s.project) == [Scope("other", "x/y"), SCOPE]
    assert window_runs(store, project_of(store), branch=None, window=10)[0].tests == 2


# -- durations, slowest, trends ------------------------------------------------------------------


def test_durations_are_medians_over_the_window(store: Store) -> None:
    for number, seconds in enumerate([1.0, 9.0, 2.0, 3.0, 100.0], start=1):
        record(
            store,
            run(number, suites={"unit": seconds * 2}),
            [result("a", duration=seconds, file="tests/a.py")],
        )
    record(
        store,
        run(6, branch="feature", suites={"unit": 1000.0}),
        [result("a", duration=500.0, file="tests/a.py")],
    )
    main = durations(store, SCOPE, branch="main", window=50)
    assert main.suites["unit"].files == {"tests/a.py": 3.0}
    assert main.suites["unit"].total == 6.0
    assert "p50 of 5 run(s), branch main" in main.source
    last_three = durations(store, SCOPE, branch="main", window=3)
    assert last_three.suites["unit"].files == {"tests/a.py": 3.0}  # 2, 3, 100
    assert durations(store, SCOPE, branch=None, window=2).suites["unit"].files == {"tests/a.py": 300.0}
    assert durations(store, Scope("nobody"), branch=None, window=5).suites == {}


def test_slowest_tests_files_and_suites(store: Store) -> None:
    for number in range(1, 4):
        record(
            store,
            run(number, suites={"unit": 10.0, "e2e": 30.0}),
            [
                result("fast", duration=0.1, file="tests/a.py"),
                result("slow", duration=5.0 + number, file="tests/b.py"),
                result(
                    "spec", suite="e2e", classname="login.spec.ts", duration=20.0, file="e2e/login.spec.ts"
                ),
            ],
        )
    tests = slowest(store, SCOPE, branch=None, window=10, limit=2)
    assert [(s.label, s.p50, s.runs) for s in tests] == [
        ("e2e::login.spec.ts::spec", 20.0, 3),
        ("unit::tests.test_mod::slow", 7.0, 3),
    ]
    per_test = {s.label: s.p50 for s in slowest(store, SCOPE, branch=None, window=10, limit=100)}
    assert per_test == {
        "e2e::login.spec.ts::spec": 20.0,
        "unit::tests.test_mod::slow": 7.0,
        "unit::tests.test_mod::fast": 0.1,
    }
    files = slowest(store, SCOPE, branch=None, window=10, by="file")
    assert [s.label for s in files] == ["e2e e2e/login.spec.ts", "unit tests/b.py", "unit tests/a.py"]
    assert [(s.label, s.p50) for s in slowest(store, SCOPE, branch=None, window=10, by="suite")] == [
        ("e2e", 30.0),
        ("unit", 10.0),
    ]


def test_trends_pass_rate_and_suite_durations(store: Store) -> None:
    record(store, run(1, suites={"unit": 4.0}), [result("a"), result("b", "failed"), result("c", "skipped")])
    record(store, run(2, suites={"unit": 5.0, "e2e": 8.0}), [result("a"), result("b")])
    record(store, run(3), [result("a", duration=2.0, suite="lint", file=None, classname="lint")])
    found = trends(store, SCOPE, branch=None, limit=10)
    assert [r.pass_rate for r in found.runs] == [0.5, 1.0, 1.0]
    assert found.suites == {"e2e": [None, 8.0, None], "lint": [None, None, 2.0], "unit": [4.0, 5.0, None]}


# -- flake rates, comparison ---------------------------------------------------------------------


def test_flake_rates_count_retries_and_same_commit_flips(store: Store) -> None:
    record(
        store,
        run(1, commit="aaa"),
        [result("retried", flaky=True, attempts=2), result("flip"), result("broken", "failed")],
    )
    record(
        store, run(2, commit="aaa"), [result("retried"), result("flip", "failed"), result("broken", "failed")]
    )
    record(
        store,
        run(3, commit="bbb"),
        [result("retried"), result("flip"), result("broken", "failed"), result("skip", "skipped")],
    )
    record(store, run(4, commit="ccc"), [result("retried"), result("flip"), result("broken")])
    rates = {r.test.name: r for r in flake_rates(store, SCOPE, branch="main", window=50).values()}
    assert (rates["retried"].flaky, rates["retried"].results, rates["retried"].clean_streak) == (1, 4, 3)
    assert rates["retried"].rate == 0.25
    assert rates["retried"].last_flaky_commit == "aaa"
    # failed on aaa where it also passed: flaky; the broken test failed on three commits it never passed on
    assert (rates["flip"].flaky, rates["flip"].results, rates["flip"].clean_streak) == (1, 4, 2)
    assert (rates["broken"].flaky, rates["broken"].rate) == (0, 0.0)
    assert "skip" not in rates  # never a problem: not a candidate
    only = flake_rates(
        store, SCOPE, branch="main", window=2, only=[TestId.of("unit", "tests.test_mod", "retried").key]
    )
    assert [(r.results, r.flaky) for r in only.values()] == [(2, 0)]


def test_rates_read_for_some_tests_or_only_those_that_can_be_flaky_are_the_full_rates(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    twice = [result("twice", flaky=True, attempts=2), result("twice", "failed")]  # one id, two results
    record(store, run(1, commit="aaa"), [result("retried", flaky=True, attempts=2), result("flip"), *twice])
    record(store, run(2, commit="aaa"), [result("flip", "failed"), result("broken", "failed")])
    record(
        store, run(3, commit="bbb"), [result("broken", "failed"), result("retried"), result("gone", "error")]
    )
    record(store, run(4, commit="ccc"), [result("retried"), result("flip"), result("broken", "failed")])
    full = flake_rates(store, SCOPE, branch="main", window=50)
    assert {r.test.name for r in full.values()} == {"retried", "flip", "twice", "broken", "gone"}
    maybe = flake_rates(store, SCOPE, branch="main", window=50, flaky_only=True)
    # "broken" failed on aaa, run twice: it may have been flaky there (it was not: rate 0); "gone" cannot be
    assert {r.test.name for r in maybe.values()} == {"retried", "flip", "twice", "broken"}
    assert all(maybe[k] == full[k] for k in maybe)
    assert {k for k, r in full.items() if r.flaky} <= set(maybe)
    for key in full:  # a few tests: their stored problems only, in IN lists
        assert flake_rates(store, SCOPE, branch="main", window=50, only=[key]) == {key: full[key]}
    monkeypatch.setattr("qaagent.history.rates._FEW_TESTS", 1)  # many: every problem read, filtered here
    assert flake_rates(store, SCOPE, branch="main", window=50, only=list(full)) == full
    assert flake_rates(store, SCOPE, branch="main", window=50, only=list(full), flaky_only=True) == maybe
    record(store, run(5, commit="ddd"), [result("broken", "failed")])
    read: list[str] = []
    query = store.backend.query

    def reading(sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        read.append(sql)
        return query(sql, params)

    monkeypatch.setattr(store.backend, "query", reading)
    assert flake_rates(store, SCOPE, branch="main", window=1, flaky_only=True) == {}  # only failures
    # that run counted no flaky result and ran no commit twice: none of its problem rows is read
    assert not [sql for sql in read if "qa_problems" in sql]
    again = flake_rates(store, SCOPE, branch="main", window=50, flaky_only=True)
    assert [sql for sql in read if "qa_problems" in sql]  # runs with flaky results or twins are read
    full = flake_rates(store, SCOPE, branch="main", window=50)
    assert set(again) == set(maybe)
    assert all(again[k] == full[k] for k in again)


def test_comparison_with_the_base_branch(store: Store) -> None:
    record(
        store,
        run(1, commit="old"),
        [
            result("broken_long_ago", "failed"),
            result("fixed_now", "failed"),
            result("new_failure"),
            result("flaky_one"),
        ],
    )
    record(
        store,
        run(2, commit="base"),
        [
            result("broken_long_ago", "failed"),
            result("fixed_now", "error"),
            result("new_failure"),
            result("flaky_one"),
            result("removed", "failed"),
        ],
    )
    record(
        store, run(3, branch="feature", commit="feat"), [result("new_failure", "failed")]
    )  # not the base branch
    new_run = [
        result("broken_long_ago", "failed"),
        result("fixed_now"),
        result("new_failure", "failed"),
        result("flaky_one", flaky=True, attempts=2),
        result("brand_new", "error"),
        result("fine"),
    ]
    found = compare(store, SCOPE, new_run, base_branch="main", window=50)
    assert found.base is not None
    assert found.base.commit == "base"
    assert [(e.test.name, e.base_status) for e in found.new] == [
        ("brand_new", None),
        ("new_failure", "passed"),
    ]
    (still,) = found.still_failing
    assert (still.test.name, still.since_commit, still.since_at) == ("broken_long_ago", "old", T0 + 60)
    assert [(e.test.name, e.base_status) for e in found.fixed] == [("fixed_now", "error")]
    (flaky,) = found.flaky
    assert flaky.test.name == "flaky_one"
    assert flaky.rate is not None
    assert flaky.rate.results == 2  # its rate over the base branch's window
    assert found.quarantined == []
    assert found.unknown == []
    nothing = compare(store, SCOPE, new_run, base_branch="release", window=50)
    assert nothing.base is None
    assert sorted(e.test.name for e in nothing.unknown) == ["brand_new", "broken_long_ago", "new_failure"]


def test_a_push_groups_only_its_quarantined_tests(store: Store) -> None:
    """Without a base branch (a push) no entry is built but the quarantined ones: the only group a push shows.

    What every writer and the verdict read (`groups`, `shown`, `excused`) is what it
    was when every failure was also put in `unknown` and every flaky test in `flaky`.
    """
    record(store, run(1, commit="c1"), [result("held", "failed"), result("broken", "failed")])
    new_run = [
        result("broken", "failed"),
        result("held", "failed"),
        result("wobbly", flaky=True, attempts=2),
        result("gone_wrong", "error"),
        result("fine"),
    ]
    held_key = TestId.of("unit", "tests.test_mod", "held").key
    held = Quarantine("list", frozenset({held_key}))
    found = compare(store, SCOPE, new_run, base_branch="", window=50, quarantined=held)
    assert found.base is None
    assert (found.new, found.still_failing, found.fixed, found.flaky, found.unknown) == ([], [], [], [], [])
    (entry,) = found.quarantined
    assert (entry.test.name, entry.status, entry.failed_results) == ("held", "failed", 1)
    assert [(key, [e.test.name for e in entries]) for key, _, entries in found.groups()] == [
        ("quarantined", ["held"])
    ]
    assert found.shown
    assert found.excused() == Excused(quarantined_failed=1)
    nothing = compare(store, SCOPE, new_run, base_branch="", window=50)
    assert not nothing.shown
    assert nothing.excused() == Excused()


def test_failing_since_stops_at_the_last_pass(store: Store) -> None:
    record(store, run(1, commit="c1"), [result("t", "failed")])
    record(store, run(2, commit="c2"), [result("t")])
    record(store, run(3, commit="c3"), [result("t", "failed")])
    record(store, run(4, commit="c4"), [result("t", "error")])
    (still,) = compare(store, SCOPE, [result("t", "failed")], base_branch="main", window=50).still_failing
    assert (still.since_commit, still.since_at) == ("c3", T0 + 180)


# -- pruning ---------------------------------------------------------------------------------------


def test_prune_deletes_old_runs_and_their_tests(store: Store) -> None:
    record(store, run(1), [result("old_only"), result("both", "failed")])
    record(store, run(10), [result("both")])
    runs, tests = store.prune(T0 + 60 * 5)
    assert (runs, tests) == (1, 1)
    assert [n for (n,) in store.backend.query("SELECT name FROM qa_tests")] == ["both"]
    assert store.backend.query("SELECT count(*) FROM qa_problems")[0][0] == 0
    assert store.prune(T0 + 60 * 100) == (1, 1)
    assert store.scopes() == []


def test_auto_quarantine_holds_flaky_tests_until_they_pass_in_a_row(store: Store, tmp_path: Path) -> None:
    settings = HistorySettings(window=20, flaky_threshold=0.1, release_after=3)
    for number in range(1, 11):
        record(
            store,
            run(number),
            [
                result("flaky_now", flaky=number in (7, 9, 10), attempts=2),  # 3 of 10, the last one just now
                result("fixed", flaky=number in (1, 2, 3, 6), attempts=2),  # 4 of 10, then 4 clean passes
                result("rare", flaky=number == 10, attempts=2),  # 1 of 10: not above 0.1
                result("steady"),
            ],
        )
    held = quarantine(store, SCOPE, settings, branch="main", base_dir=tmp_path)
    assert held.mode == "auto"
    names = ("flaky_now", "fixed", "rare", "steady")
    assert [TestId.of("unit", "tests.test_mod", n) in held for n in names] == [True, False, False, False]
    assert [r.test.name for r in held.rates.values()] == ["flaky_now"]
    assert held.rates[TestId.of("unit", "tests.test_mod", "flaky_now").key].rate == 0.3
    stricter = HistorySettings(window=20, flaky_threshold=0.1, release_after=5)
    stricter_held = quarantine(store, SCOPE, stricter, branch="main", base_dir=tmp_path)
    assert {r.test.name for r in stricter_held.rates.values()} == {
        "flaky_now",
        "fixed",
    }  # 4 clean passes are not 5
    off = quarantine(store, SCOPE, HistorySettings(quarantine="off"), branch="main", base_dir=tmp_path)
    assert len(off) == 0


def test_quarantined_tests_have_their_own_group(store: Store, tmp_path: Path) -> None:
    record(store, run(1), [result("held", flaky=True, attempts=2), result("other")])
    record(store, run(2), [result("held"), result("other")])
    listing = tmp_path / "q.txt"
    listing.write_text("unit::tests.test_mod::listed\n")
    listed = quarantine(
        store,
        SCOPE,
        HistorySettings(quarantine="list", quarantine_file=str(listing)),
        branch="main",
        base_dir=tmp_path,
    )
    auto = quarantine(store, SCOPE, HistorySettings(), branch="main", base_dir=tmp_path)
    new_run = [result("held", "failed"), result("listed", "error"), result("other", "failed"), result("ok")]
    by_list = compare(store, SCOPE, new_run, base_branch="main", window=50, quarantined=listed)
    assert [e.test.name for e in by_list.quarantined] == ["listed"]
    assert sorted(e.test.name for e in by_list.new) == ["held", "other"]
    assert [e.status for e in by_list.quarantined] == ["error"]
    by_rate = compare(store, SCOPE, new_run, base_branch="main", window=50, quarantined=auto)
    (held,) = by_rate.quarantined
    assert (held.test.name, held.status) == ("held", "failed")
    assert held.rate is not None
    assert held.rate.rate == 0.5
    assert sorted(e.test.name for e in by_rate.new) == ["listed", "other"]
