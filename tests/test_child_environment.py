"""The one child-environment filter, seen from inside real children (issue 12, boundary 5).

Every child — a suite, the app, `setup`, a listing tool — starts from
`process.child_environment`: no token variable of qaagent's, no history password, none of
the runner's action-only credentials, and everything else as it was.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from conftest import ProjectFactory, run_qaagent

from qaagent.process import RUNNER_CREDENTIALS, TOKEN_VARIABLES, capture, child_environment

PRINT_ENV = "import json, os; print(json.dumps(dict(os.environ)))"
WRITE_ENV = "import json, os, pathlib; pathlib.Path('env.json').write_text(json.dumps(dict(os.environ)))"
WITHHELD = sorted(TOKEN_VARIABLES | RUNNER_CREDENTIALS)
#: what the runner gives a Docker action and a plain step alike: children keep it
KEPT = {"GITHUB_REPOSITORY": "o/r", "CI": "true", "MY_SETTING": "kept-value", "ACTIONS_STEP_DEBUG": "true"}


def _environment() -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", ""),
        **KEPT,
        **{name: f"credential-of-{name}" for name in WITHHELD},
    }


def test_the_filter_withholds_exactly_the_credentials() -> None:
    env = {**KEPT, **dict.fromkeys(WITHHELD, "x" * 12)}
    assert child_environment(env) == KEPT
    assert set(RUNNER_CREDENTIALS) == {
        "ACTIONS_RUNTIME_TOKEN",
        "ACTIONS_RUNTIME_URL",
        "ACTIONS_CACHE_URL",
        "ACTIONS_RESULTS_URL",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
        "ACTIONS_ID_TOKEN_REQUEST_URL",
    }
    assert {"QAAGENT_GITHUB_TOKEN", "INPUT_GITHUB-TOKEN", "INPUT_GITHUB_TOKEN"} <= TOKEN_VARIABLES


def test_a_real_child_started_through_the_spawn_site_gets_the_filtered_environment(tmp_path: Path) -> None:
    env = _environment()
    code, out, err = capture([sys.executable, "-c", PRINT_ENV], cwd=tmp_path, env=env, timeout=30)
    assert code == 0, err
    seen = json.loads(out)
    assert not set(WITHHELD) & set(seen), sorted(set(WITHHELD) & set(seen))
    assert not any(value.startswith("credential-of-") for value in seen.values())
    for name, value in KEPT.items():
        assert seen[name] == value


@pytest.mark.slow
def test_a_suite_of_run_all_gets_the_filtered_environment(qa_project: ProjectFactory) -> None:
    argv = [sys.executable, "-c", WRITE_ENV]
    root = qa_project(
        {".qaagent.yaml": f"tests:\n  probe: {{runner: command, command: {json.dumps(argv)}}}\n"}
    )
    credentials = {name: f"credential-of-{name}" for name in WITHHELD}
    result = run_qaagent("run-all", "--quiet", cwd=root, env={**KEPT, **credentials})
    assert result.returncode == 0, result.stdout + result.stderr
    seen = json.loads((root / "env.json").read_text(encoding="utf-8"))
    assert not set(WITHHELD) & set(seen), sorted(set(WITHHELD) & set(seen))
    for name, value in KEPT.items():
        assert seen[name] == value
