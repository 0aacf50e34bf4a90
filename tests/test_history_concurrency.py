"""Two shards and their merge recording into one store at the same moment, as separate processes.

Each writer is a real `python` process that waits for a start signal and then
records its run three times (re-imports), through the same `History` calls a
run makes. The store does not exist before they start, so they also race to
create the schema. Afterwards nothing is lost and nothing is counted twice:
three runs, the shards superseded by the merge, one row per test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import ROOT
from history_support import SCOPE

from qaagent.history.queries import durations, window_runs
from qaagent.history.store import open_store

PER_SHARD = 5000
WRITER = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from history_support import passing, result, run
    from qaagent.history.api import History
    from qaagent.history.settings import HistorySettings

    store, role, go = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    shard_one = run(1, shard="1/2", suites={"unit": 5.0})
    shard_two = run(2, shard="2/2", suites={"unit": 6.0})
    left = [result(f"test_{i:05d}", file=f"tests/test_{i % 50}.py", duration=0.01) for i in range(PER_SHARD)]
    right = [
        result(f"test_{i:05d}", "failed" if i % 100 == 0 else "passed", file=f"tests/test_{i % 50 + 50}.py",
               duration=0.02)
        for i in range(PER_SHARD, 2 * PER_SHARD)
    ]
    jobs = {
        "shard1": (shard_one, left),
        "shard2": (shard_two, right),
        "merge": (run(3, merged_from=[shard_one, shard_two], suites={"unit": 9.0}), left + right),
    }
    record, results = jobs[role]
    while not go.exists():
        time.sleep(0.002)
    outcomes = []
    for _ in range(3):
        history = History.open(HistorySettings(store=store), base_dir=Path.cwd())
        if isinstance(history, History):
            outcomes.append(str(history.record(record, results)))
            history.close()
        else:
            outcomes.append(str(history))
    print(json.dumps(outcomes))
    """
).replace("PER_SHARD", str(PER_SHARD))


@pytest.mark.slow
def test_two_shards_and_a_merge_at_once_lose_nothing_and_count_once(store_url: str, tmp_path: Path) -> None:
    go = tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")])}
    writers = {
        role: subprocess.Popen(
            [sys.executable, "-c", WRITER, store_url, role, str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=tmp_path,
        )
        for role in ("shard1", "shard2", "merge")
    }
    time.sleep(1.0)  # all three are importing and waiting
    go.write_text("go")
    outputs = {role: proc.communicate(timeout=180) for role, proc in writers.items()}
    for role, (out, err) in outputs.items():
        assert writers[role].returncode == 0, err
        outcomes = json.loads(out)
        assert len(outcomes) == 3
        assert all(o.startswith("Recorded(") for o in outcomes), (role, outcomes)

    store = open_store(store_url, base_dir=tmp_path)
    try:
        query = store.backend.query
        assert [tuple(r) for r in query("SELECT count(*) FROM qa_schema_version")] == [(1,)]
        runs = {str(r[0]): (r[1], r[2]) for r in query("SELECT run_id, kind, superseded_by FROM qa_runs")}
        assert len(runs) == 3
        merge_row = query("SELECT id FROM qa_runs WHERE kind = 'merge'")[0][0]
        assert sorted(runs.values(), key=str) == sorted(
            [("merge", None), ("shard", merge_row), ("shard", merge_row)], key=str
        )
        assert query("SELECT count(*) FROM qa_results")[0][0] == 3
        assert query("SELECT count(*) FROM qa_tests")[0][0] == 2 * PER_SHARD
        assert query("SELECT count(*) FROM qa_problems")[0][0] == 2 * (
            PER_SHARD // 100
        )  # shard 2's and the merge's
        project = store.project_id(SCOPE)
        assert project is not None
        (counted,) = window_runs(store, project, branch="main", window=50)
        assert (counted.kind, counted.tests, counted.failed) == ("merge", 2 * PER_SHARD, PER_SHARD // 100)
        files = durations(store, SCOPE, branch="main", window=50).suites["unit"].files
        assert len(files) == 100
        assert files["tests/test_0.py"] == pytest.approx(
            PER_SHARD / 50 * 0.01
        )  # the merge's, not merge + shard
    finally:
        store.close()
