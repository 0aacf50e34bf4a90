"""`qaagent history import` and the other commands on real bundles, and on hostile ones.

Real runs of the shard fixture project (pytest with a flaky and a failing
test, behave, a command suite): one whole run, two shards and their merge.
Importing is idempotent and a merge counts once whatever the order; each
broken bundle is one line and exit 2 while the good ones are imported.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
from pathlib import Path

import pytest
from conftest import run_qaagent
from helpers import manifest_of, records_text
from test_shard_fixtures import build_project, git_commit, run_shard

from qaagent.evidence.read import MAX_MANIFEST_BYTES
from qaagent.history.bundles import MAX_LINE_BYTES, read_bundle
from qaagent.history.queries import window_runs
from qaagent.history.store import Scope, open_store

pytestmark = pytest.mark.slow
SCOPE = Scope("shardy", "")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A whole run, two shards and their merge of the fixture project."""
    root = build_project(tmp_path_factory.mktemp("history") / "project")
    git_commit(root, "first")
    full = run_shard(
        root,
        "ev/full",
        None,
    )
    one = run_shard(root, "ev/shards", "1/2", "--durations-from", str(full))
    two = run_shard(root, "ev/shards", "2/2", "--durations-from", str(full))
    merged = run_qaagent(
        "merge", str(one), str(two), "--evidence-dir", "ev/merged", "--junit", "m.xml", cwd=root
    )
    assert merged.returncode == 1, merged.stderr  # the fixture has a failing test
    (bundle,) = (root / "ev" / "merged").iterdir()
    return {"root": root, "full": full, "one": one, "two": two, "merged": bundle}


def history(root: Path, store: Path, *args: str) -> tuple[int, str]:
    done = run_qaagent("history", *args, "--store", str(store), cwd=root)
    assert "Traceback" not in done.stderr
    return done.returncode, done.stdout + done.stderr


def test_a_whole_run_is_recorded_as_the_bundle_says(runs: dict[str, Path], tmp_path: Path) -> None:
    store = tmp_path / "h.sqlite"
    code, out = history(runs["root"], store, "import", str(runs["full"]))
    assert code == 0, out
    manifest = manifest_of(runs["full"])
    records = records_text(runs["full"]).splitlines()
    assert f"recorded run {manifest['run_id']} ({len(records)} result(s))" in out
    code, again = history(runs["root"], store, "import", str(runs["full"]))
    assert code == 0
    assert f"replaced run {manifest['run_id']} ({len(records)} result(s))" in again
    opened = open_store(str(store), base_dir=tmp_path)
    project = opened.project_id(SCOPE)
    assert project is not None
    (info,) = window_runs(opened, project, branch=None, window=10)
    totals = manifest["totals"]
    assert (info.tests, info.passed, info.failed, info.errors, info.flaky) == (
        totals["total"], totals["passed"], totals["failed"], totals["errors"], totals["flaky"],
    )  # fmt: skip
    assert info.commit == manifest["git"]["sha"]
    assert info.branch == manifest["git"]["ref"].removeprefix("refs/heads/")
    opened.close()
    code, out = history(runs["root"], store, "flaky")
    assert code == 0
    assert "unit::tests.test_zflaky::test_flaky" in out
    assert "100.0%" in out
    code, out = history(runs["root"], store, "show", "test_broken")
    assert code == 0, out
    assert "test: unit::tests.api.test_api::test_broken" in out
    assert "failed" in out


@pytest.mark.parametrize("order", ["shards-first", "merge-first"])
def test_shards_and_their_merge_count_once_in_either_order(
    runs: dict[str, Path], tmp_path: Path, order: str
) -> None:
    store = tmp_path / "h.sqlite"
    bundles = [runs["one"], runs["two"], runs["merged"]]
    if order == "merge-first":
        bundles.reverse()
    code, out = history(runs["root"], store, "import", *map(str, bundles))
    assert code == 0, out
    if order == "merge-first":
        assert out.count("superseded by its merged run") == 2
    else:
        assert "supersedes 2 shard run(s)" in out
    opened = open_store(str(store), base_dir=tmp_path)
    project = opened.project_id(SCOPE)
    assert project is not None
    (info,) = window_runs(opened, project, branch=None, window=10)
    merged = manifest_of(runs["merged"])
    assert info.kind == "merge"
    assert info.tests == merged["totals"]["total"]
    opened.close()


def test_github_coordinates_come_from_the_manifest(runs: dict[str, Path], tmp_path: Path) -> None:
    bundle = tmp_path / "pr"
    shutil.copytree(runs["full"], bundle)
    manifest = manifest_of(bundle)
    manifest["git"] = {"sha": "abc123", "ref": "refs/pull/7/merge", "repository": "o/r"}
    manifest["ci"] = {"provider": "github-actions", "run_id": "4242", "run_attempt": "2"}
    manifest["environment"] = {
        "GITHUB_REF": "refs/pull/7/merge", "GITHUB_HEAD_REF": "feature/x", "GITHUB_BASE_REF": "main",
    }  # fmt: skip
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    run = read_bundle(bundle).run
    assert (run.repository, run.commit, run.branch, run.base_branch, run.pr_number) == (
        "o/r", "abc123", "feature/x", "main", 7,
    )  # fmt: skip
    assert (run.ci_run_id, run.ci_run_attempt, run.kind) == ("4242", "2", "run")
    merged = read_bundle(runs["merged"]).run
    assert merged.kind == "merge"
    assert {p.run_id for p in merged.merged_from} == {runs["one"].name, runs["two"].name}
    assert read_bundle(runs["one"]).run.shard == "1/2"


def _broken(base: Path, name: str, manifest: object = None, records: bytes | None = None) -> Path:
    bundle = base / name
    shutil.copytree(base / "good", bundle)
    if manifest is not None:
        text = manifest if isinstance(manifest, str) else json.dumps(manifest)
        (bundle / "manifest.json").write_text(text)
    if records is not None:
        (bundle / "tests.jsonl.gz").write_bytes(gzip.compress(records))
    return bundle


def test_hostile_bundles_are_one_line_each_and_the_good_ones_still_import(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    base = tmp_path / "bundles"
    base.mkdir()
    shutil.copytree(runs["full"], base / "good")
    good = manifest_of(base / "good")
    expected: dict[str, str] = {}

    def bad(name: str, reason: str, manifest: object = None, records: bytes | None = None) -> Path:
        path = _broken(base, name, manifest, records)
        expected[name] = reason
        return path

    bad("not-json", "invalid: manifest.json (JSONDecodeError", "{nope")  # the one door's words
    bad("a-list", "manifest.json is not a qaagent evidence manifest (not a JSON object)", [1, 2])
    bad("running", "status 'running' is not a finished run", {**good, "status": "running"})
    bad("no-start", "no valid start time", {**good, "started": "yesterday"})
    bad("no-run-id", "run_id: Input should be a valid string", {**good, "run_id": 7})
    bad("path-run-id", "'../../etc' is not a qaagent run id", {**good, "run_id": "../../etc"})
    bad("huge-run-id", "'" + "2" * 80 + "' is not a qaagent run id", {**good, "run_id": "2" * 1_000_000})
    bad("typed-git", "git.sha: Input should be a valid string", {**good, "git": {"sha": 5}})
    bad(
        "typed-env",
        "environment.GITHUB_REF: Input should be a valid string",
        {**good, "environment": {"GITHUB_REF": []}},
    )
    bad("typed-suites", "suites: Input should be a valid", {**good, "suites": "unit"})
    bad("nested", "manifest.json is nested too deeply", "[" * 100_000 + "]" * 100_000)
    huge = bad("huge", f"more than the {MAX_MANIFEST_BYTES} byte limit")
    with (huge / "manifest.json").open("r+b") as handle:
        handle.truncate(MAX_MANIFEST_BYTES + 1)  # sparse: never read
    link = bad("symlink", "manifest.json is a symbolic link")
    (link / "manifest.json").unlink()
    (link / "manifest.json").symlink_to(base / "good" / "manifest.json")
    records_link = bad("records-link", "tests.jsonl.gz is a symbolic link")
    (records_link / "tests.jsonl.gz").unlink()
    (records_link / "tests.jsonl.gz").symlink_to(os.devnull)
    # not refused: recorded without results, with a note saying why
    not_gzip = _broken(base, "not-gzip", {**good, "run_id": "20240502_120000Z"}, records=b"")
    (not_gzip / "tests.jsonl.gz").write_bytes(b'{"a": 1}\n')
    lines = records_text(base / "good").encode().splitlines(keepends=True)
    odd = [
        b"not json\n",
        b"[1, 2]\n",
        json.dumps(
            {"suite": "unit", "classname": "c", "name": "n", "status": "weird", "duration": 1}
        ).encode()
        + b"\n",
        json.dumps(
            {"suite": "unit", "classname": "c", "name": "n", "status": "passed", "duration": "1"}
        ).encode()
        + b"\n",
        json.dumps(
            {
                "suite": "unit",
                "classname": "c",
                "name": "n",
                "status": "passed",
                "duration": 1,
                "attempts": True,
            }
        ).encode()
        + b"\n",
        b'{"suite": "' + b"x" * (MAX_LINE_BYTES + 10) + b'"}\n',
        b"\xff\xfe not utf-8\n",
        b"[" * 50_000 + b"\n",
    ]
    mixed = _broken(
        base,
        "bad-lines",
        {**good, "run_id": "20240501_120000Z"},
        records=b"".join(lines[:3] + odd + lines[3:]),
    )

    code, out = history(
        runs["root"], tmp_path / "h.sqlite", "import", *(str(p) for p in sorted(base.iterdir()))
    )
    assert code == 2
    errors = [line for line in out.splitlines() if line.startswith("qaagent: error:")]
    assert len(errors) == len(expected), out
    assert all(len(line) < 2000 for line in errors)  # a huge field is never echoed whole
    for name, reason in expected.items():
        assert any(f"/{name}" in line and reason in line for line in errors), (name, reason, out)
    assert f"recorded run {good['run_id']} ({len(lines)} result(s)) from {base / 'good'}" in out
    assert f"recorded run 20240501_120000Z ({len(lines)} result(s)) from {mixed}" in out
    assert f"{mixed}: tests.jsonl.gz: {len(odd)} line(s) are not valid test records and were skipped" in out
    assert f"{not_gzip}: tests.jsonl.gz: unreadable after 0 record(s)" in out
    assert f"qaagent: {len(expected)} bundle(s) could not be imported" in out


def test_commands_say_what_is_missing_in_one_line(runs: dict[str, Path], tmp_path: Path) -> None:
    root = runs["root"]
    code, out = history(root, tmp_path / "none.sqlite", "flaky")
    assert (code, out.strip()) == (
        2,
        f"qaagent: error: history: cannot open the history store: no history store at {tmp_path / 'none.sqlite'}",
    )
    assert not (tmp_path / "none.sqlite").exists()  # reading never creates a store
    (tmp_path / "junk.sqlite").write_bytes(b"junk" * 1000)
    code, out = history(root, tmp_path / "junk.sqlite", "slowest")
    assert code == 3
    assert out.strip().endswith(f"file is not a database ({tmp_path / 'junk.sqlite'})")
    store = tmp_path / "two.sqlite"
    assert history(root, store, "import", str(runs["full"]))[0] == 0
    other = tmp_path / "other"
    shutil.copytree(runs["full"], other)
    manifest = manifest_of(other)
    (other / "manifest.json").write_text(json.dumps({**manifest, "project": "second"}))
    assert history(root, store, "import", str(other))[0] == 0
    code, out = history(root, store, "flaky")
    assert code == 2
    assert "holds several projects: second (no repository), shardy (no repository)" in out
    assert history(root, store, "flaky", "--project", "second")[0] == 0
    code, out = history(root, store, "show", "test_", "--project", "shardy")
    assert code == 2
    assert "tests match 'test_'; be more precise:" in out
    code, out = history(root, store, "flaky", "--window", "0")
    assert code == 2
    assert "expected a whole number from 1 to 10000" in out  # --window: the profile's range


def test_export_slowest_prune_and_report(runs: dict[str, Path], tmp_path: Path) -> None:
    root = runs["root"]
    store = tmp_path / "h.sqlite"
    assert (
        history(
            root, store, "import", str(runs["full"]), str(runs["one"]), str(runs["two"]), str(runs["merged"])
        )[0]
        == 0
    )
    code, out = history(root, store, "export", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["format"] == "qaagent-history"
    (project,) = data["projects"]
    kinds = sorted((r["kind"], r["superseded"]) for r in project["runs"])
    assert kinds == [("merge", False), ("run", False), ("shard", True), ("shard", True)]
    full = next(r for r in project["runs"] if r["kind"] == "run")
    records = [json.loads(line) for line in records_text(runs["full"]).splitlines()]
    assert sorted((r["suite"], r["classname"], r["name"], r["status"]) for r in full["results"]) == sorted(
        (r["suite"], r["classname"], r["name"], r["status"]) for r in records
    )
    code, out = history(root, store, "export", "--json", "-o", str(tmp_path / "out" / "h.json"))
    assert code == 0
    assert json.loads((tmp_path / "out" / "h.json").read_text()) == data
    code, out = history(root, store, "slowest", "--by", "suite")
    assert code == 0
    assert {"unit", "behave", "lint"} <= {line.split()[-1] for line in out.splitlines()[1:]}
    code, out = history(root, store, "report", "-o", str(tmp_path / "report.html"))
    assert (code, out.strip()) == (0, str(tmp_path / "report.html"))
    assert "unit::tests.test_zflaky::test_flaky" in (tmp_path / "report.html").read_text()
    code, out = history(root, store, "prune", "--keep-days", "100000")
    assert (code, out.strip()) == (0, "qaagent: pruned 0 run(s) and 0 test(s) older than 100000 day(s)")
    code, out = history(root, store, "prune", "--keep-days", "0")
    assert code == 0
    assert out.startswith("qaagent: pruned 4 run(s) and ")


def test_a_hostile_bundle_read_through_the_typed_reader(runs: dict[str, Path], tmp_path: Path) -> None:
    """Huge text fields are cut, records of the wrong types are bad lines, a huge name stays whole."""
    base = tmp_path / "typed"
    base.mkdir()
    shutil.copytree(runs["full"], base / "good")
    good = manifest_of(base / "good")
    huge = "b" * 200_000
    manifest = {
        **good,
        "environment": {**good.get("environment", {}), "GITHUB_HEAD_REF": huge, "GITHUB_BASE_REF": huge},
        "git": {"sha": "c" * 100_000, "ref": None, "repository": None},
        "project": "p" * 100_000,
    }
    record = {"suite": "unit", "classname": "c", "name": "n", "status": "passed", "duration": 1.0}
    lines = [
        {**record, "name": "x" * 1_000_000},  # a 1 MB name fits: it is kept whole
        {**record, "attempts": "2"},  # strict types: a number as text is not a number
        {**record, "flaky": 1},
        {**record, "duration": "NaN"},
        {**record, "suite": ["unit"]},
        {**record, "status": "passed", "duration": -5.0},  # kept, its time 0
        {**record, "status": "maybe"},
        {**record, "name": ""},
    ]
    bundle = _broken(base, "hostile", manifest, b"".join(json.dumps(r).encode() + b"\n" for r in lines))
    found = read_bundle(bundle)
    assert len(found.run.branch) == len(found.run.base_branch) == len(found.run.commit) == 1000
    assert len(found.run.project) == 1000
    assert [len(r.name) for r in found.results] == [1_000_000, 1]
    assert found.results[1].duration == 0.0
    assert found.bad_lines == 6
