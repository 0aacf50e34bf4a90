"""Split suites for real: the same report as an unsplit run, batches that crash or hang, the suite's
timeout, cancellation, listings that fail, and the sharding bugs the same unit machinery fixes."""

from __future__ import annotations

import json
import signal
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import ProjectFactory, free_port, health_app, run_qaagent, start_qaagent
from helpers import case, manifest_of, records_text, run_of, suite
from test_shard_fixtures import build_project, normalized_junit, run_shard
from test_shard_playwright import SPEC
from test_shard_playwright import _project as _playwright_project

from qaagent.errors import UsageError
from qaagent.evidence.bundle import Bundle
from qaagent.merge import merge_bundles
from qaagent.options import Shard

# cold: shards and merges are separate processes that must agree whatever their hash seeds (a zygote's children share one)
pytestmark = pytest.mark.cold_start

PY = sys.executable


def _with_split(root: Path, unit: str, behave: str) -> None:
    profile = root / ".qaagent.yaml"
    text = profile.read_text(encoding="utf-8")
    text = text.replace(
        "unit: {runner: pytest, path: tests}", f"unit: {{runner: pytest, path: tests, split: {unit}}}"
    )
    text = text.replace(
        "behave: {runner: behave, path: features}",
        f"behave: {{runner: behave, path: features, split: {behave}}}",
    )
    profile.write_text(text, encoding="utf-8")


def _records(bundle: Path) -> list[dict[str, object]]:
    lines = records_text(bundle).splitlines()
    return [{k: v for k, v in json.loads(line).items() if k != "duration"} for line in lines]


@pytest.mark.slow
def test_a_split_run_reports_exactly_what_an_unsplit_run_reports(tmp_path: Path) -> None:
    """The determinism test: the same merged JUnit apart from times, the same tests.jsonl records."""
    root = build_project(
        tmp_path / "p"
    )  # failing, flaky (retried) and passing tests; behave; a command suite
    unsplit = run_shard(
        root, "ev-whole", None, "--no-history"
    )  # no memory of the other run: its batches come from the listing
    _with_split(root, "3", "2")
    validate = run_qaagent("validate", "--evidence-dir", "ev-none", cwd=root)
    assert validate.returncode == 0, validate.stderr
    assert "suite unit split into 3 batches" in validate.stdout
    assert "suite behave split into 2 batches" in validate.stdout
    assert "predicted makespan: ~" in validate.stdout
    assert "suite lint" not in validate.stdout  # lint asked for nothing: no reason to give
    split = run_shard(
        root, "ev-split", None, "--no-history"
    )  # no memory of the other run: its batches come from the listing
    manifest = manifest_of(split)
    assert manifest["settings"]["split"]["batches"] == {"unit": 3, "behave": 2}
    assert normalized_junit(root / "ev-split.xml") == normalized_junit(root / "ev-whole.xml")
    assert _records(split) == _records(unsplit)
    by_name = {s["name"]: s for s in manifest["suites"]}
    unit = by_name["unit"]
    assert [b["batch"] for b in unit["batches"]] == [1, 2, 3]
    files = [f for b in unit["batches"] for f in b["units"]]
    assert len(files) == len(set(files)) == 8  # every test file in exactly one batch
    for batch in unit["batches"]:  # a log per batch, linked from the suite, in the bundle
        for attempt in batch["attempts"]:
            assert attempt["log"].startswith(f"suites/unit/batch-{batch['batch']}/attempt-")
            assert (split / attempt["log"]).is_file()
            assert attempt["log"] in unit["files"]
    assert unit["process_time"] >= unit["duration"] * 0.5
    assert "lint" not in manifest["settings"]["split"]["batches"]
    assert run_qaagent("verify", str(split), cwd=root).returncode == 0
    html = (split / "report.html").read_text(encoding="utf-8")
    assert "suites/unit/batch-2/attempt-1/output.log" in html


@pytest.mark.slow
def test_a_split_from_recorded_durations_runs_a_file_added_since_once_and_a_deleted_one_is_no_error(
    tmp_path: Path,
) -> None:
    """Files from the durations of an earlier run, not listed first: the project changed since.

    A file added since runs exactly once (the last batch runs the suite's path without the
    other batches' files), a file deleted since is no error, and the merged JUnit and the
    records equal an unsplit run's of the project as it is now (the listing that ran alongside
    the batches puts the cases in its order).
    """
    root = build_project(tmp_path / "p")
    profile = (root / ".qaagent.yaml").read_text(encoding="utf-8")
    _with_split(root, "3", "off")
    recorded = run_shard(root, "ev-first", None, "--no-history")  # records the files' durations
    (root / "tests" / "test_mod2.py").unlink()
    (root / "tests" / "api" / "test_new.py").write_text(
        "def test_added():\n    pass\n\ndef test_added_fails():\n    assert 0\n", encoding="utf-8"
    )
    (root / ".qaagent.yaml").write_text(profile, encoding="utf-8")
    unsplit = run_shard(root, "ev-whole", None, "--no-history")
    _with_split(root, "3", "off")
    plan = run_qaagent("plan", "--durations-from", str(recorded), "--evidence-dir", "ev-none", cwd=root)
    assert plan.returncode == 0, plan.stderr
    assert (
        "suite unit: its 7 test files from the recorded durations, not listed before the run" in plan.stdout
    )
    result = run_qaagent(
        "run-all", "--evidence-dir", "ev-split", "--junit", "ev-split.xml", "--no-history",
        "--durations-from", str(recorded), cwd=root,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr + result.stdout
    assert "[unit] 1 test file(s) not in the recorded durations ran in batch 3: tests/api/test_new.py" in (
        result.stdout
    )
    (split,) = (root / "ev-split").glob("*")
    manifest = manifest_of(split)
    assert manifest["settings"]["split"]["unlisted"] == {"unit": 7}
    assert [q["rest"] for q in manifest["settings"]["split"]["queue"] if q["suite"] == "unit"].count(
        True
    ) == 1
    assert normalized_junit(root / "ev-split.xml") == normalized_junit(root / "ev-whole.xml")
    records = _records(split)
    assert records == _records(unsplit)
    names = [r["name"] for r in records if r["suite"] == "unit"]
    assert names.count("test_added") == names.count("test_added_fails") == 1
    assert not [r for r in records if "test_mod2" in str(r.get("file"))]
    assert all(r["status"] != "error" for r in records)


@pytest.mark.slow
def test_when_the_listing_alongside_fails_the_recorded_order_stands_and_the_run_says_why(
    tmp_path: Path,
) -> None:
    root = tmp_path / "p"
    (root / "tests" / "sub").mkdir(parents=True)
    for rel in ("tests/test_b.py", "tests/sub/test_a.py", "tests/test_c.py", "tests/zz/test_d.py"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("def test_one():\n    pass\n\ndef test_two():\n    pass\n", encoding="utf-8")
    (root / ".qaagent.yaml").write_text(
        "project: {name: p}\nrun: {parallel: true, max_workers: 2}\n"
        "tests:\n  unit: {runner: pytest, path: tests, split: 2}\n",
        encoding="utf-8",
    )
    first = run_qaagent("run-all", "--quiet", "--junit", "first.xml", cwd=root)  # history records the files
    assert first.returncode == 0, first.stdout + first.stderr
    # from now on a listing fails (batches, which do not pass --collect-only, still run)
    (root / "tests" / "conftest.py").write_text(
        "import sys\n\nif '--collect-only' in sys.argv:\n    raise SystemExit('no listing here')\n",
        encoding="utf-8",
    )
    second = run_qaagent("run-all", "--junit", "second.xml", cwd=root)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "not listed before the run" in second.stdout
    assert "[unit] cases in the recorded order of their files (pytest --collect-only exited" in second.stdout
    assert normalized_junit(root / "second.xml") == normalized_junit(root / "first.xml")


@pytest.mark.slow
def test_cases_keep_listing_order_when_pytests_rootdir_is_the_test_folder(qa_project: ProjectFactory) -> None:
    """A `tests/pytest.ini` makes pytest's rootdir `tests/`, so JUnit's `file` lacks the `tests/` prefix.

    The batches (files 0 and 3, 1 and 4, 2 and 5) must still merge back into listing order
    (found on Textualize/rich: the cases came out batch after batch).
    """
    files = {
        f"tests/test_m{i}.py": f"def test_a{i}():\n    pass\n\ndef test_b{i}():\n    pass\n" for i in range(6)
    }
    profile = "project: {{name: r}}\nrun: {{parallel: true, max_workers: 2}}\ntests:\n  unit: {{runner: pytest, path: tests{}}}\n"
    root = qa_project({".qaagent.yaml": profile.format(""), "tests/pytest.ini": "[pytest]\n", **files})
    unsplit = run_shard(
        root, "ev-whole", None, "--no-history"
    )  # no memory of the other run: its batches come from the listing
    (root / ".qaagent.yaml").write_text(profile.format(", split: 3"), encoding="utf-8")
    split = run_shard(
        root, "ev-split", None, "--no-history"
    )  # no memory of the other run: its batches come from the listing
    manifest = manifest_of(split)
    assert manifest["settings"]["split"]["batches"] == {"unit": 3}
    assert [r["name"] for r in _records(split)] == [r["name"] for r in _records(unsplit)]
    assert normalized_junit(root / "ev-split.xml") == normalized_junit(root / "ev-whole.xml")


CRASH = "import os\n\ndef test_crash():\n    os._exit(3)\n"
HANG = "import time\n\ndef test_hang():\n    time.sleep(120)\n"
GOOD = "def test_good():\n    pass\n\ndef test_also_good():\n    pass\n"


def _batched_project(qa_project: ProjectFactory, files: dict[str, str], *, timeout: int, split: int) -> Path:
    return qa_project(
        {
            ".qaagent.yaml": (
                f"project: {{name: b}}\nrun: {{parallel: true, max_workers: 2, timeout: {timeout}}}\n"
                f"tests:\n  unit: {{runner: pytest, path: tests, split: {split}}}\n"
            ),
            "pytest.ini": "[pytest]\n",
            **{f"tests/{name}": text for name, text in files.items()},
        }
    )


def _unit_records(root: Path, evidence: str = ".qaagent/evidence") -> dict[str, list[dict[str, object]]]:
    bundle = max((root / evidence).iterdir())
    by_file: dict[str, list[dict[str, object]]] = {}
    for record in (json.loads(line) for line in records_text(bundle).splitlines()):
        by_file.setdefault(str(record["file"]), []).append(record)
    return by_file


@pytest.mark.slow
def test_a_batch_that_crashes_or_hangs_makes_errors_of_its_files_and_the_others_stand(
    qa_project: ProjectFactory,
) -> None:
    files = {"test_a_crash.py": CRASH, "test_b_hang.py": HANG, "test_c.py": GOOD, "test_d.py": GOOD}
    root = _batched_project(qa_project, files, timeout=20, split=4)
    result = run_qaagent("run-all", cwd=root, timeout=180)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "suite unit split into 4 batches" in result.stdout
    records = _unit_records(root)
    (crash,) = records["tests/test_a_crash.py"]
    assert crash["status"] == "error"
    assert "pytest exited with code 3 and wrote no JUnit report" in str(crash["message"])
    (hang,) = records["tests/test_b_hang.py"]
    assert hang["status"] == "error"
    # its own 20 s, or what was left of the suite's 20 s when it started after another batch
    assert str(hang["message"]).startswith(("timed out after 20 s", "timed out: the suite's timeout of 20 s"))
    assert [r["status"] for f in ("tests/test_c.py", "tests/test_d.py") for r in records[f]] == ["passed"] * 4


@pytest.mark.slow
def test_the_suites_timeout_bounds_its_batches_together(qa_project: ProjectFactory) -> None:
    # 4 batches of one 12 s test each on 2 workers, a timeout of 18 s: an unsplit run could not
    # finish them either. The first two fit (whatever a start-up takes here, up to 5 s); the last
    # two get what is left of the suite's 18 s and stop.
    slow = "import time\n\ndef test_slow():\n    time.sleep(12)\n"
    files = {f"test_{c}.py": slow for c in "abcd"}
    root = _batched_project(qa_project, files, timeout=18, split=4)
    result = run_qaagent("run-all", cwd=root, timeout=180)
    assert result.returncode == 1, result.stdout + result.stderr
    records = _unit_records(root)
    ran_out = "the suite's timeout of 18 s (its batches together) ran out"
    for late in ("tests/test_c.py", "tests/test_d.py"):  # batches 3 and 4 start second
        assert any(ran_out in str(r["message"]) for r in records[late]), records[late]
    manifest = manifest_of(max((root / ".qaagent" / "evidence").iterdir()))
    (unit,) = manifest["suites"]
    # busy for at most its timeout (plus the stop's grace and drain), not 2 x 12 s and start-ups
    assert unit["duration"] < 18 + 8, unit["duration"]


@pytest.mark.slow
def test_cancelling_a_split_run_stops_its_batches_and_skips_the_rest(qa_project: ProjectFactory) -> None:
    slow = (
        "import pathlib, time\n\ndef test_slow():\n"
        "    pathlib.Path(__file__).with_suffix('.sleeping').touch()\n    time.sleep(60)\n"
    )
    files = {f"test_{c}.py": slow for c in "abcd"}
    root = _batched_project(qa_project, files, timeout=120, split=4)
    proc = start_qaagent("run-all", "--evidence-dir", "ev", cwd=root)
    deadline = time.monotonic() + 60
    while len(list(root.rglob("*.sleeping"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)  # until both workers' batches are inside their test (not a guess at the phase)
    assert len(list(root.rglob("*.sleeping"))) == 2
    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, rest
    bundle = max((root / "ev").iterdir())
    manifest = manifest_of(bundle)
    assert manifest["status"] == "cancelled"
    statuses = sorted(str(r["status"]) for rs in _unit_records(root, "ev").values() for r in rs)
    assert statuses == ["error", "error", "skipped", "skipped"]  # 2 stopped, 2 never started
    skipped = [r for rs in _unit_records(root, "ev").values() for r in rs if r["status"] == "skipped"]
    assert all(
        "not run: the run was cancelled before this batch started" in str(r["message"]) for r in skipped
    )
    assert run_qaagent("verify", str(bundle), cwd=root).returncode == 0


@pytest.mark.slow
def test_addopts_cannot_change_the_listing(qa_project: ProjectFactory) -> None:
    """`addopts = "-v --tb=short"` made the listing find one unit: shard 2 ran nothing, silently."""
    root = qa_project(
        {
            ".qaagent.yaml": "project: {name: a}\ntests:\n  unit: {runner: pytest, path: tests}\n",
            "pyproject.toml": '[tool.pytest.ini_options]\naddopts = "-v --tb=short --color=yes"\n',
            **{f"tests/test_{c}.py": GOOD for c in "abcd"},
        }
    )
    result = run_qaagent("plan", "--shards", "2", "--json", cwd=root)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert [len(s["units"]) for s in data["shards"]] == [2, 2]
    assert "kept whole" not in data["reason"]


@pytest.mark.slow
def test_a_listing_that_fails_or_prints_garbage_keeps_the_suite_whole_and_says_why(
    qa_project: ProjectFactory,
) -> None:
    fake = textwrap.dedent(
        """
        import subprocess, sys
        if "--collect-only" in sys.argv:
            print("garbage::that is no test")
            sys.exit(0)
        sys.exit(subprocess.call([sys.executable, "-m", "pytest", *sys.argv[1:]]))
        """
    )
    root = qa_project(
        {
            ".qaagent.yaml": (
                "project: {name: g}\nrun: {parallel: true, max_workers: 2}\ntests:\n"
                "  broken: {runner: pytest, path: broken, split: auto}\n"
                f"  garbage: {{runner: pytest, path: tests, split: auto, command: [{PY!r}, fake.py]}}\n"
                "  lint: {runner: command, command: ['true'], split: 2}\n"
            ).replace("'", '"'),
            "fake.py": fake,
            "broken/conftest.py": "raise RuntimeError('conftest is broken')\n",
            "broken/test_x.py": GOOD,
            **{f"tests/test_{c}.py": GOOD for c in "ab"},
        }
    )
    result = run_qaagent("validate", cwd=root)
    assert result.returncode == 0, result.stderr
    assert "suite broken runs whole: pytest --collect-only exited" in result.stdout
    assert "suite garbage runs whole: pytest collected garbage, which is not a file here" in result.stdout
    assert "suite lint runs whole: a command suite has no unit list: it runs whole" in result.stdout
    run = run_qaagent("run-all", cwd=root)
    assert run.returncode == 1, run.stdout  # the broken conftest is the suite's error; nothing is dropped
    records = _unit_records(root)
    assert [r["status"] for r in records["tests/test_a.py"] + records["tests/test_b.py"]] == ["passed"] * 4
    assert "qaagent: suite garbage runs whole: pytest collected garbage" in run.stdout


def _shard_bundle(evidence: Path, index: int, names: list[str], root: Path) -> Path:
    layout = {
        "total": 2,
        "suites": {
            "e2e": [
                {"path": "e2e/tests/a.js", "shard": 1, "keys": ["e2e/tests/a.js", "tests/a.js"]},
                {"path": "e2e/tests/b.js", "shard": 2, "keys": ["e2e/tests/b.js", "tests/b.js"]},
            ]
        },
        "split_sha256": "0" * 64,
        "suite_order": ["e2e"],
        "runners": {"e2e": "playwright"},
        "index": index,
    }
    bundle = Bundle.start(
        evidence,
        f"20240101_00000{index}Z_shard-{index}of2",
        project="dup",
        settings={"shard": layout, "suite_order": ["e2e"]},
        profile_path=None,
        profile_sha256="1" * 64,
        repo_root=root,
        suites=["e2e"],
        shard=Shard(index, 2),
    )
    cases = [case(n, suite="e2e", classname=f"tests/{n[0]}.js", file=f"e2e/tests/{n[0]}.js") for n in names]
    bundle.finish(run_of(suite("e2e", cases, runner="playwright")), summary_markdown="", fail_on=["failed"])
    return bundle.dir


def test_merge_refuses_a_test_two_shards_reported(tmp_path: Path) -> None:
    """Both shards ran both specs their args named: 18 tests from a 9-test suite, with no warning."""
    shards = [_shard_bundle(tmp_path / "in", i, ["a one", "a two", "b one"], tmp_path) for i in (1, 2)]
    with pytest.raises(UsageError) as caught:
        merge_bundles(shards, evidence_dir=tmp_path / "out", repo_root=tmp_path)
    message = str(caught.value)
    assert message.startswith("refusing to merge: 3 test(s) reported by more than one shard")
    assert "e2e/tests/a.js › tests/a.js › a one (shards 1/2 and 2/2)" in message
    assert not (tmp_path / "out").exists()  # refused before anything was written
    merged = merge_bundles(shards, evidence_dir=tmp_path / "out", repo_root=tmp_path, allow_partial=True)
    assert merged.run.counts.total == 3  # each test once
    assert any("reported by more than one shard" in n and "kept the first shard's" in n for n in merged.notes)


@pytest.mark.slow
def test_the_batches_share_the_one_app_qaagent_started(qa_project: ProjectFactory) -> None:
    port = free_port()
    app = health_app("import os, pathlib\npathlib.Path('starts.txt').open('a').write(f'{os.getpid()}\\n')")
    ping = textwrap.dedent(
        """
        import os, urllib.request

        def test_app_answers():
            with urllib.request.urlopen(os.environ["BASE_URL"] + "/health", timeout=10) as reply:
                assert reply.status == 200
        """
    )
    root = qa_project(
        {
            ".qaagent.yaml": (
                "project: {name: app}\nrun: {parallel: true, max_workers: 2}\n"
                "tests:\n  unit: {runner: pytest, path: tests, split: 3}\n"
                f"app:\n  base_url: http://127.0.0.1:{port}\n  health_endpoint: /health\n"
                f"  start_command: [{PY!r}, app.py, '{port}']\n"
            ).replace("'", '"'),
            "app.py": app,
            "pytest.ini": "[pytest]\n",
            **{f"tests/test_{c}.py": ping for c in "abc"},
        }
    )
    result = run_qaagent("run-all", cwd=root, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "suite unit split into 3 batches" in result.stdout
    assert len((root / "starts.txt").read_text().split()) == 1  # started once, for every batch
    assert [r["status"] for rs in _unit_records(root).values() for r in rs] == ["passed"] * 3


@pytest.mark.slow
def test_playwright_args_naming_specs_run_once_across_shards_and_batches(tmp_path: Path) -> None:
    """The issue's suite: `args` naming two specs ran both in every shard; merge gave twice the tests."""
    root = _playwright_project(tmp_path / "p")
    tests = root / "e2e" / "tests"
    for name in ("a", "b", "c"):
        (tests / f"{name}.spec.js").write_text(SPEC.replace("'it'", f"'{name} works'"), encoding="utf-8")
    (root / ".qaagent.yaml").write_text(
        "project: {name: pw}\nrun: {parallel: true, max_workers: 2}\ntests:\n"
        "  e2e: {runner: playwright, path: e2e, args: [--retries=0, tests/a.spec.js, tests/b.spec.js]}\n",
        encoding="utf-8",
    )
    for shard in ("1/2", "2/2"):
        result = run_qaagent("run-all", "--shard", shard, "--evidence-dir", "shards", cwd=root, timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr
    bundles = sorted((root / "shards").iterdir())
    counts = [manifest_of(b)["totals"]["total"] for b in bundles]
    assert counts == [1, 1]  # each shard ran its one spec, not both
    merged = run_qaagent("merge", *map(str, bundles), "--evidence-dir", "merged", cwd=root, timeout=120)
    assert merged.returncode == 0, merged.stdout + merged.stderr
    names = sorted(str(r["name"]) for rs in _unit_records(root, "merged").values() for r in rs)
    assert names == ["a works", "b works"]  # 2 tests from a 2-test suite, c never ran
    (root / ".qaagent.yaml").write_text(
        (root / ".qaagent.yaml").read_text().replace("tests/b.spec.js]}", "tests/b.spec.js], split: 2}"),
        encoding="utf-8",
    )
    split = run_qaagent("run-all", "--evidence-dir", "split", cwd=root, timeout=300)
    assert split.returncode == 0, split.stdout + split.stderr
    assert "suite e2e split into 2 batches" in split.stdout
    names = sorted(str(r["name"]) for rs in _unit_records(root, "split").values() for r in rs)
    assert names == ["a works", "b works"]
