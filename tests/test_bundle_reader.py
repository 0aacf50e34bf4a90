"""The one reader of evidence bundles: what it accepts, what it refuses, and the line it says."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import run_qaagent

from qaagent.evidence.read import MAX_RECORD_LINE, BundleError, iter_records, read_manifest

MINIMAL: dict[str, Any] = {"schema_version": 1, "run_id": "20240501_120000Z", "status": "running"}


def bundle_with(tmp_path: Path, manifest: object, records: str | None = None) -> Path:
    bundle = tmp_path / "20240501_120000Z"
    bundle.mkdir(parents=True, exist_ok=True)
    (bundle / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    if records is not None:
        (bundle / "tests.jsonl").write_text(records, encoding="utf-8")
    return bundle


def test_a_bundle_written_at_the_start_of_a_run_reads(tmp_path: Path) -> None:
    manifest = read_manifest(
        bundle_with(tmp_path, {**MINIMAL, "suites": [{"name": "unit", "status": "pending"}]})
    )
    assert manifest.status == "running"
    assert manifest.suites[0].counts.total == 0
    assert manifest.layout is None


def test_unknown_fields_of_a_newer_qaagent_are_ignored(tmp_path: Path) -> None:
    settings = {"new": 1, "suites": {"u": {"runner": "pytest", "future": 2}}, "shard": {"later": [1]}}
    manifest = read_manifest(
        bundle_with(
            tmp_path,
            {**MINIMAL, "history": {"x": 1}, "settings": settings, "suites": [{"name": "u", "new": 2}]},
        )
    )
    assert manifest.suite("u") is not None
    assert manifest.history is not None
    assert manifest.history.groups == ()
    assert manifest.settings.suites["u"].runner == "pytest"
    assert manifest.layout is not None
    assert manifest.layout.suites == {}
    # what a merged manifest copies: the keys this version knows, as the bundle had them
    assert manifest.settings.recorded() == {"suites": {"u": {"runner": "pytest"}}, "shard": {}}


def test_settings_and_history_may_be_missing_and_are_typed_when_there(tmp_path: Path) -> None:
    bare = read_manifest(bundle_with(tmp_path / "bare", MINIMAL))
    assert bare.history is None
    assert bare.settings.suites == {}
    assert bare.settings.recorded() == {}
    settings = {
        "parallel": True,
        "max_workers": 2,
        "suites": {"u": {"runner": "pytest", "timeout": 1800, "retry_count": 1, "path": None}},
        "app": None,
        "shard": {"total": 2, "suites": {"u": [{"path": "t/a.py", "shard": 2, "keys": ["t/a.py"]}]}},
        "split": {"workers": 2, "makespan": 1.5, "queue": [{"suite": "u", "batch": None, "estimate": 1.5}]},
        "merge": {"total": 2, "shards": [{"run_id": "20240501_120000Z_shard-1of2", "duration": 3}]},
    }
    history = {"base_branch": "main", "base": None, "label": "main", "groups": [{"key": "new", "count": 3}]}
    full = read_manifest(
        bundle_with(tmp_path / "full", {**MINIMAL, "settings": settings, "history": history})
    )
    assert full.settings.suites["u"].timeout == 1800
    assert full.layout is not None
    assert full.layout.units_of("u")[0].shard == 2
    assert full.layout.units_of("other") == ()
    assert full.settings.merge is not None
    assert full.settings.merge.shards[0].run_id == "20240501_120000Z_shard-1of2"
    assert full.history is not None
    assert full.history.groups[0].count == 3
    # an int stays an int and the key order is this version's: a merge copies them unchanged
    assert json.dumps(full.settings.recorded()) == json.dumps(settings)


def test_ci_host_and_totals_are_typed_when_there(tmp_path: Path) -> None:
    bare = read_manifest(bundle_with(tmp_path / "bare", MINIMAL))
    assert (bare.ci, bare.host, bare.totals) == (None, None, None)
    sections = {
        "ci": {
            "provider": "github-actions",
            "run_id": "4242",
            "run_attempt": None,
            "job": "test",
            "later": 1,
        },
        "host": {"hostname": "runner-1", "platform": "Linux", "python": "3.11.9"},
        "totals": {"total": 3, "passed": 2, "failed": 1, "duration": 1.5, "suite_time": 2.25},
    }
    full = read_manifest(bundle_with(tmp_path / "full", {**MINIMAL, **sections}))
    assert full.ci is not None
    assert (full.ci.run_id, full.ci.run_attempt, full.ci.job) == ("4242", None, "test")
    assert full.host is not None
    assert full.host.hostname == "runner-1"
    assert full.totals is not None
    assert (full.totals.total, full.totals.failed, full.totals.flaky) == (3, 1, 0)
    assert (full.totals.duration, full.totals.suite_time) == (1.5, 2.25)


@pytest.mark.parametrize(
    ("manifest", "expected"),
    [
        ([1, 2], "not a JSON object"),
        ({**MINIMAL, "schema_version": 2}, "schema_version 2; this qaagent reads 1"),
        ({"schema_version": 1, "status": "success"}, "run_id: Field required"),
        (
            {**MINIMAL, "suites": [{"name": "u", "attempts": [{"number": "first"}]}]},
            "suites.0.attempts.0.number",
        ),
        ({**MINIMAL, "files": [{"path": "a", "sha256": "x"}]}, "files.0.size: Field required"),
        # the typed `settings` (the plan's shape) and `history` (the base-branch comparison)
        ({**MINIMAL, "settings": "all"}, "settings: Input should be"),
        ({**MINIMAL, "settings": {"suites": {"u": {"timeout": "long"}}}}, "settings.suites.u.timeout"),
        (
            {**MINIMAL, "settings": {"shard": {"suites": {"u": [{"shard": "one"}]}}}},
            "settings.shard.suites.u.0.shard",
        ),
        (
            {**MINIMAL, "settings": {"split": {"queue": [{"batch": 1}]}}},
            "settings.split.queue.0.suite: Field required",
        ),
        ({**MINIMAL, "settings": {"merge": {"shards": [{"run_id": 5}]}}}, "settings.merge.shards.0.run_id"),
        ({**MINIMAL, "history": "x"}, "history: Input should be"),
        ({**MINIMAL, "history": {"groups": "x"}}, "history.groups"),
        ({**MINIMAL, "history": {"groups": [{"count": "many"}]}}, "history.groups.0.count"),
        ({**MINIMAL, "history": {"groups": [{"tests": [{"id": ["x"]}]}]}}, "history.groups.0.tests.0.id"),
        # the CI coordinates, the host and the totals are typed sections too
        ({**MINIMAL, "ci": "actions"}, "ci: Input should be"),
        ({**MINIMAL, "ci": {"run_id": 4242}}, "ci.run_id"),
        ({**MINIMAL, "host": {"hostname": ["a"]}}, "host.hostname"),
        ({**MINIMAL, "totals": {"total": "many"}}, "totals.total"),
        ({**MINIMAL, "totals": {"duration": "long"}}, "totals.duration"),
    ],
)
def test_a_malformed_manifest_is_refused_naming_the_field(
    tmp_path: Path, manifest: object, expected: str
) -> None:
    with pytest.raises(BundleError) as raised:
        read_manifest(bundle_with(tmp_path, manifest))
    assert expected in raised.value.message
    assert raised.value.exit_code == 2


def test_a_bad_record_names_its_line(tmp_path: Path) -> None:
    good = json.dumps({"suite": "u", "name": "t", "status": "passed"})
    bundle = bundle_with(tmp_path, MINIMAL, records=f"{good}\n\n{good}\n{{not json\n")
    records = iter_records(bundle)
    assert next(records).name == "t"
    assert next(records).status == "passed"
    with pytest.raises(BundleError, match=r"tests\.jsonl line 4"):
        next(records)


def test_records_are_read_gzipped_and_an_older_bundles_plain_file_too(tmp_path: Path) -> None:
    lines = "".join(json.dumps({"suite": "u", "name": f"t{i}", "status": "passed"}) + "\n" for i in range(3))
    plain = bundle_with(tmp_path / "plain", MINIMAL, records=lines)
    packed = bundle_with(tmp_path / "packed", MINIMAL)
    (packed / "tests.jsonl.gz").write_bytes(gzip.compress(lines.encode()))
    assert (
        [r.name for r in iter_records(plain)] == [r.name for r in iter_records(packed)] == ["t0", "t1", "t2"]
    )


def test_a_broken_or_hostile_gzip_of_records_is_one_error(tmp_path: Path) -> None:
    bundle = bundle_with(tmp_path, MINIMAL)
    good = json.dumps({"suite": "u", "name": "t", "status": "passed"}).encode() + b"\n"
    (bundle / "tests.jsonl.gz").write_bytes(gzip.compress(good * 3)[:-12])  # cut short
    with pytest.raises(BundleError, match=r"tests\.jsonl\.gz cannot be read after line"):
        list(iter_records(bundle))
    # a line longer than the limit in a small file (it would take a lot of memory) is refused
    bomb = gzip.compress(good) + gzip.compress(b'{"name": "' + b"x" * (MAX_RECORD_LINE + 10) + b'"}\n')
    (bundle / "tests.jsonl.gz").write_bytes(bomb)
    assert len(bomb) < 100_000
    records = iter_records(bundle)
    assert next(records).name == "t"
    with pytest.raises(BundleError, match=rf"line 2: longer than {MAX_RECORD_LINE} bytes"):
        next(records)


@pytest.mark.slow
def test_commands_that_read_a_bundle_refuse_a_malformed_one_in_one_line(tmp_path: Path) -> None:
    bundle = bundle_with(tmp_path, {**MINIMAL, "status": "success", "suites": "many"})
    hostile = bundle_with(tmp_path / "hostile", {**MINIMAL, "status": "success", "history": {"groups": 7}})
    for command in (["report", str(bundle)], ["durations", str(bundle)], ["report", str(hostile)]):
        result = run_qaagent(*command, cwd=tmp_path)
        assert result.returncode == 2, (command, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert "is not a qaagent evidence manifest (" in lines[0]
        assert ("(history.groups: " if "hostile" in command[1] else "(suites: ") in lines[0]


def test_a_number_too_long_to_read_in_the_manifest_is_an_invalid_bundle(tmp_path: Path) -> None:
    bundle = bundle_with(tmp_path, MINIMAL)
    manifest = bundle / "manifest.json"
    manifest.write_text(
        manifest.read_text(encoding="utf-8")[:-1] + ', "n": ' + "9" * 5_000 + "}", encoding="utf-8"
    )
    with pytest.raises(BundleError, match=r"invalid: manifest\.json") as raised:
        read_manifest(bundle)
    assert raised.value.exit_code == 2
