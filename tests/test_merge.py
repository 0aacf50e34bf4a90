"""`qaagent merge` with real shard runs: same report as one machine; every refusal is one line, exit 2."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import run_qaagent
from helpers import manifest_of, records_text
from test_shard_fixtures import build_project, git_commit, normalized_junit, run_shard

from qaagent.evidence.read import AttemptEntry, Manifest
from qaagent.rebuild import ShardBundle, merge_attempts, unsharded_command
from qaagent.runners.playwright import spec_filter

# cold: shards and merges are separate processes that must agree whatever their hash seeds (a zygote's children share one)
pytestmark = [pytest.mark.slow, pytest.mark.cold_start]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The fixture project in git, with one unsharded run (the reference and the durations)."""
    root = build_project(tmp_path_factory.mktemp("merge") / "project")
    git_commit(root, "first")
    full = run_shard(root, "ev/full")
    return root, full


def _merge(
    root: Path,
    *bundles: Path | str,
    out: str = "ev/merged",
    extra: tuple[str, ...] = (),
    codes: tuple[int, ...] = (1,),
) -> Path:
    args = ["merge", *map(str, bundles), "--evidence-dir", out, "--junit", f"{out}.xml", *extra]
    result = run_qaagent(*args, cwd=root)
    assert result.returncode in codes, result.stderr + result.stdout  # the fixture has failing tests
    assert "merge " in result.stdout
    (bundle,) = (root / out).iterdir()
    return bundle


def _cases(bundle: Path) -> list[tuple[str, str, str, str, bool]]:
    rows = []
    for line in records_text(bundle).splitlines():
        r = json.loads(line)
        rows.append((r["suite"], r["classname"], r["name"], r["status"], r["flaky"]))
    return rows


ShardRuns = Callable[[int], list[Path]]


@pytest.fixture(scope="module")
def shard_runs(project: tuple[Path, Path]) -> ShardRuns:
    """`shard_runs(N)`: the bundles of shards 1/N..N/N in `ev/nN`, each shard run once per module
    (every test here only reads them, or copies them before it changes one)."""
    root, full = project
    runs: dict[int, list[Path]] = {}

    def of(total: int) -> list[Path]:
        if total not in runs:
            evidence = f"ev/n{total}"
            runs[total] = [
                run_shard(root, evidence, f"{index}/{total}", "--durations-from", str(full))
                for index in range(1, total + 1)
            ]
        return runs[total]

    return of


@pytest.mark.parametrize("total", [1, 2, 3])
def test_merged_shards_equal_one_machine(
    project: tuple[Path, Path], shard_runs: ShardRuns, total: int
) -> None:
    root, full = project
    assert len(shard_runs(total)) == total
    merged = _merge(root, root / f"ev/n{total}", out=f"ev/merged{total}")
    assert normalized_junit(merged / "junit.xml") == normalized_junit(full / "junit.xml")
    assert _cases(merged) == _cases(full)
    assert any(flaky for *_, flaky in _cases(merged))  # flakyFailure survived the round trip
    assert run_qaagent("verify", str(merged), cwd=root).returncode == 0
    manifest = manifest_of(merged)
    info = manifest["settings"]["merge"]
    assert [s["shard"] for s in info["shards"]] == [f"{i}/{total}" for i in range(1, total + 1)]
    for entry in info["shards"]:
        copied = merged / entry["path"] / "manifest.json"
        assert entry["host"]
        assert entry["started"]
        assert entry["finished"]
        # the bundle's digest: its manifest's sha256, and the manifest pins every file's sha256
        assert entry["bundle_sha256"] == hashlib.sha256(copied.read_bytes()).hexdigest()
        assert copied.is_file()  # the shard's own bundle is kept as evidence
    assert info["partial"] is False
    assert [s["name"] for s in manifest["suites"]] == ["unit", "behave", "lint"]
    # the first shard's settings, read through the typed reader, are copied as the shard wrote them
    first = manifest_of(merged / info["shards"][0]["path"])["settings"]
    kept = {k: v for k, v in first.items() if k not in ("shard", "start_order", "start_order_reason")}
    assert json.dumps({**kept, "suite_order": manifest["settings"]["suite_order"]}) == json.dumps(
        {k: v for k, v in manifest["settings"].items() if k != "merge"}
    )


@pytest.fixture(scope="module")
def two_shards(project: tuple[Path, Path], shard_runs: ShardRuns) -> tuple[Path, Path, Path]:
    """The two shards of the 2-shard split (the same runs test_merged_shards_equal_one_machine[2] merges)."""
    root, _ = project
    one, two = shard_runs(2)
    return root, one, two


def _refused(root: Path, *args: str) -> str:
    result = run_qaagent("merge", *args, "--evidence-dir", "ev/refused", cwd=root)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert not (root / "ev/refused").exists()  # refused before anything is written
    return lines[0]


def test_missing_shard_is_refused(two_shards: tuple[Path, Path, Path]) -> None:
    root, one, _ = two_shards
    assert "shard(s) 2/2 missing" in _refused(root, str(one))


def test_same_shard_twice_is_refused(two_shards: tuple[Path, Path, Path], tmp_path: Path) -> None:
    root, one, two = two_shards
    again = tmp_path / "again"
    shutil.copytree(one, again)
    assert "shard 1/2 appears 2 times" in _refused(root, str(one), str(again), str(two))


def test_two_shards_with_one_run_id_merge_side_by_side(
    two_shards: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    # The folders in the merged bundle are named by the merge (shard-IofN), never by a run id
    # the bundle gives: a second shard claiming the first one's run id used to stop the merge
    # with exit 3 and leave a `running` bundle behind.
    root, one, two = two_shards
    forged = tmp_path / "forged"
    shutil.copytree(two, forged)
    manifest = manifest_of(forged)
    first_id = manifest_of(one)["run_id"]
    manifest["run_id"] = first_id
    (forged / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    merged = _merge(root, one, forged, out="ev/same-id")
    info = manifest_of(merged)
    assert info["status"] != "running"
    shards = info["settings"]["merge"]["shards"]
    assert [(s["run_id"], s["path"]) for s in shards] == [
        (first_id, "shards/shard-1of2"),
        (first_id, "shards/shard-2of2"),
    ]
    assert sorted(p.name for p in (merged / "shards").iterdir()) == ["shard-1of2", "shard-2of2"]
    assert (merged / "shards" / "shard-2of2" / "manifest.json").read_bytes() == (
        forged / "manifest.json"
    ).read_bytes()
    assert run_qaagent("verify", str(merged), cwd=root).returncode == 0


def test_corrupted_bundle_is_refused(two_shards: tuple[Path, Path, Path], tmp_path: Path) -> None:
    root, one, two = two_shards
    bad = tmp_path / "bad"
    shutil.copytree(one, bad)
    with (bad / "junit.xml").open("a", encoding="utf-8") as handle:
        handle.write("<!-- tampered -->")
    message = _refused(root, str(bad), str(two))
    assert "does not verify (changed: junit.xml)" in message


def test_bundles_of_different_commits_are_refused(two_shards: tuple[Path, Path, Path]) -> None:
    root, one, _ = two_shards
    (root / "tests" / "test_mod1.py").write_text("def test_one():\n    pass\n", encoding="utf-8")
    git_commit(root, "second")
    try:
        later = run_shard(root, "ev/later", "2/2")
        message = _refused(root, str(one), str(later))
    finally:
        (root / "tests" / "test_mod1.py").write_text(
            "def test_one():\n    pass\n\ndef test_two():\n    assert 1 > 0\n", encoding="utf-8"
        )
        git_commit(root, "restore")
    assert "different commits" in message


def test_not_a_bundle_is_refused(two_shards: tuple[Path, Path, Path], tmp_path: Path) -> None:
    root, _, _ = two_shards
    assert "not an evidence bundle" in _refused(root, str(tmp_path))


def test_allow_partial_states_the_gap(two_shards: tuple[Path, Path, Path]) -> None:
    root, one, _ = two_shards
    # the exit code is the verdict on the tests that are there; the gap is stated
    merged = _merge(root, one, out="ev/partial", extra=("--allow-partial",), codes=(0, 1))
    manifest = manifest_of(merged)
    assert manifest["settings"]["merge"]["partial"] is True
    assert manifest["settings"]["merge"]["missing"] == ["2/2"]
    summary = (merged / "summary.md").read_text(encoding="utf-8")
    assert "shard(s) 2/2 missing" in summary


def test_unsharded_command_for_each_runner(tmp_path: Path) -> None:
    """A merged suite's command is the whole suite's: the shard's files give way to the suite's path."""
    layout = {
        "suites": {
            "unit": [{"path": "tests/a.py", "shard": 1}, {"path": "tests/b.py", "shard": 2}],
            "e2e": [{"path": "e2e/tests/x (1).spec.js", "shard": 1}],
        }
    }
    settings = {
        "evidence_dir": "/ci/ev",
        "shard": layout,
        "suites": {
            "unit": {"runner": "pytest", "working_directory": ".", "path": "tests"},
            "e2e": {"runner": "playwright", "working_directory": ".", "path": "e2e"},
        },
    }
    manifest = Manifest.model_validate(
        {"run_id": "20250101_000000Z_shard-1of2", "status": "success", "settings": settings}
    )
    shard = ShardBundle(tmp_path, manifest, 1, 2)
    out = tmp_path / "merged"
    pytest_argv = [
        "py",
        "-m",
        "pytest",
        "tests/a.py",
        "--junitxml=/ci/ev/20250101_000000Z_shard-1of2/suites/u.xml",
    ]
    assert unsharded_command(shard, "unit", pytest_argv, out) == (
        "py",
        "-m",
        "pytest",
        "tests",
        f"--junitxml={out}/suites/u.xml",
    )
    spec = spec_filter(Path("/ci/repo/e2e/tests/x (1).spec.js"))
    assert unsharded_command(shard, "e2e", ["npx", "playwright", "test", spec, "-x"], out) == (
        "npx",
        "playwright",
        "test",
        "-x",
    )
    retry = ["py", "-m", "pytest", "tests/a.py::test_x"]  # not the shard's files: kept
    assert unsharded_command(shard, "unit", retry, out) == tuple(retry)


def test_a_deeply_nested_manifest_is_refused_not_a_crash(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "manifest.json").write_text('{"suites": ' + "[" * 100_000 + "]" * 100_000 + "}")
    result = run_qaagent("merge", str(bundle), "--evidence-dir", "out", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    expected = (
        f"qaagent: error: {bundle}: the bundle does not verify "
        "(invalid: manifest.json is nested too deeply to be a manifest); refusing to merge it"
    )
    assert result.stderr.strip().splitlines() == [expected]
    verified = run_qaagent("verify", str(bundle), cwd=tmp_path)
    assert verified.returncode == 1  # a problem named, not an internal error
    assert "nested too deeply" in verified.stdout


def test_a_merged_attempt_spans_its_shards_instead_of_summing_them(tmp_path: Path) -> None:
    def shard(index: int) -> ShardBundle:
        return ShardBundle(
            tmp_path / f"s{index}", Manifest(run_id=f"20250101_00000{index}Z", status="success"), index, 2
        )

    entries = [
        (shard(1), AttemptEntry(number=1, started="2026-11-25T10:00:00+00:00", duration=5.0, returncode=0)),
        (shard(2), AttemptEntry(number=1, started="2026-11-25T10:00:01+00:00", duration=5.0, returncode=1)),
    ]
    (attempt,) = merge_attempts(entries, tmp_path)
    assert attempt.duration == 6.0  # 10:00:00 to 10:00:06, side by side — not 10 s
    assert attempt.returncode == 1
