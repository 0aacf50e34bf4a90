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
    manifest = read_manifest(
        bundle_with(tmp_path, {**MINIMAL, "history": {"x": 1}, "suites": [{"name": "u", "new": 2}]})
    )
    assert manifest.suite("u") is not None


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
    for command in (["report", str(bundle)], ["durations", str(bundle)]):
        result = run_qaagent(*command, cwd=tmp_path)
        assert result.returncode == 2, (command, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert "is not a qaagent evidence manifest (suites: " in lines[0]
