"""The workflows the README shows are valid and safe to copy: schema, zizmor, status checks.

Every ```yaml block of README.md that is a whole workflow (it has ``jobs:``)
is written to a temporary ``.github/workflows/`` folder, validated against
GitHub's workflow schema (check-jsonschema's bundled copy) and audited by
zizmor offline. The findings zizmor may report are answered here, each for a
reason; anything else fails.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT

_BLOCK = re.compile(r"^```yaml\n(.*?)^```", re.MULTILINE | re.DOTALL)
#: the README's placeholder for the action; every use carries this advice instead of a commit
PLACEHOLDER = "org/qaagent-action@v1"
#: the same for the host variant
PLACEHOLDERS = (PLACEHOLDER, "org/qaagent-action/host@v1")
PIN_ADVICE = "pin a release commit"
#: a step condition that names a status function; without one GitHub adds `success() &&`
_STATUS = re.compile(r"\b(?:cancelled|always|failure|success)\(\)")
#: snippets of other CIs (CircleCI's has `jobs:` too): `test_ci_snippets.py` checks them
OTHER_CIS = ("# .gitlab-ci.yml", "# .circleci/", "# .buildkite/")


def _tool(name: str) -> str:
    found = Path(sys.executable).parent / name
    if found.is_file():
        return str(found)
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed (pip install -r requirements-dev.txt)")
    return path


def readme_workflows() -> list[str]:
    """The README's yaml blocks that are whole workflows."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return [
        block
        for block in _BLOCK.findall(text)
        if re.search(r"^jobs:", block, re.MULTILINE) and not block.startswith(OTHER_CIS)
    ]


@pytest.fixture(scope="module")
def workflows(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The README's workflows as files of a repository's .github/workflows folder."""
    blocks = readme_workflows()
    assert len(blocks) >= 3, "the README lost its workflows"  # quick start, publish, matrix
    folder = tmp_path_factory.mktemp("readme") / ".github" / "workflows"
    folder.mkdir(parents=True)
    for number, block in enumerate(blocks, start=1):
        (folder / f"readme-{number}.yml").write_text(block, encoding="utf-8")
    return folder


def test_readme_workflows_match_githubs_schema(workflows: Path) -> None:
    files = sorted(str(p) for p in workflows.iterdir())
    result = subprocess.run(
        [_tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *files],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _answered(finding: dict[str, Any], workflows: Path) -> bool:
    """Whether a zizmor finding is one the README answers on purpose."""
    ident = finding["ident"]
    concrete = [loc["concrete"] for loc in finding["locations"]]
    if ident == "unpinned-uses":
        # The placeholder stands for the user's own pin; each use says so next to it.
        return any(
            c["feature"] in PLACEHOLDERS and any(PIN_ADVICE in comment for comment in c["comments"])
            for c in concrete
        )
    if ident == "dangerous-triggers":
        # The workflow_run recipe republishes a finished run's artifact: it never checks out
        # or runs the pull request's code, and says so.
        path = finding["locations"][0]["symbolic"]["key"]["Local"]["verbatim_path"]
        text = (workflows.parent.parent / path).read_text(encoding="utf-8")
        return "workflow_run:" in text and "never runs the PR's code" in text and "checkout" not in text
    return False


def test_zizmor_finds_nothing_unanswered_in_readme_workflows(workflows: Path) -> None:
    result = subprocess.run(
        [_tool("zizmor"), "--offline", "--format", "json", "--no-progress", str(workflows)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=workflows.parent.parent,
    )
    assert result.stdout.strip(), result.stderr
    findings = json.loads(result.stdout)
    left = [
        f"{f['ident']}: {f['locations'][0]['concrete']['feature'][:120]!r}"
        for f in findings
        if not _answered(f, workflows)
    ]
    assert not left, left


def test_readme_steps_reading_outputs_say_when_they_run() -> None:
    """A bare `if: steps.x.outputs…` means `success() && …`: it would not run after failing tests."""
    bare = []
    for block in readme_workflows():
        for job in yaml.safe_load(block)["jobs"].values():
            for step in job.get("steps", []):
                condition = str(step.get("if", ""))
                if "steps." in condition and not _STATUS.search(condition):
                    bare.append(condition)
    assert not bare, bare


def test_every_action_use_in_the_readme_says_to_pin_it() -> None:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    either = "|".join(map(re.escape, PLACEHOLDERS))
    uses = [line for line in lines if re.match(rf"^\s*(- )?uses: (?:{either})", line)]
    assert uses
    assert all(PIN_ADVICE in line for line in uses), [u for u in uses if PIN_ADVICE not in u]


def _action_steps() -> list[tuple[str, dict[str, Any]]]:
    """Every step of the README's workflows that uses the action: (its `uses`, its `with`)."""
    found = []
    for block in readme_workflows():
        for job in yaml.safe_load(block)["jobs"].values():
            for step in job.get("steps", []):
                uses = str(step.get("uses", ""))
                if uses.startswith("org/qaagent-action"):
                    found.append((uses, dict(step.get("with") or {})))
    return found


def test_docker_variant_steps_that_run_suites_install_their_tools() -> None:
    # The image has qaagent and Python, not the project's test tools: without `setup`,
    # a pytest suite fails with "No module named pytest". A `files:` step runs no suite (it
    # publishes the files earlier steps wrote: one `report` suite), so it needs no tools.
    steps = _action_steps()
    running = [
        w for uses, w in steps if uses == PLACEHOLDER and w.get("mode", "run") == "run" and "files" not in w
    ]
    assert running
    assert all(str(w.get("setup", "")).strip() for w in running), running


def test_shard_inputs_take_the_plans_matrix_value_as_it_is() -> None:
    # `qaagent plan --json` gives include: [{"shard": "1/4"}, ...]: appending "/N" makes "1/4/4".
    shards = [str(w["shard"]) for _, w in _action_steps() if "shard" in w]
    assert shards
    assert set(shards) <= {"${{ matrix.shard }}", "auto"}, shards


def test_no_recipe_installs_into_the_system_python() -> None:
    for block in readme_workflows():
        for line in block.splitlines():
            if "pip install" in line and "qaagent @" in line:
                assert "$RUNNER_TEMP/qaagent/bin/pip" in line, line


def test_every_artifact_upload_survives_a_rerun_of_failed_jobs() -> None:
    """`overwrite: true` on each upload-artifact step: a re-run uploads the same name (else 409)."""
    uploads = [
        step
        for block in readme_workflows()
        for job in yaml.safe_load(block)["jobs"].values()
        for step in job.get("steps", [])
        if str(step.get("uses", "")).startswith("actions/upload-artifact@")
    ]
    assert uploads
    missing = [step["with"]["name"] for step in uploads if step.get("with", {}).get("overwrite") is not True]
    assert missing == []


#: an upload of the bundle a run wrote as it ended: (step id, path)
_EVIDENCE_PATH = re.compile(r"^\$\{\{ steps\.([\w-]+)\.outputs\.evidence-path \}\}$")
#: the one file of the evidence folder that is no bundle (`qaagent durations`' output)
_DURATIONS = re.compile(r"^[\w./-]*qaagent-durations\.json$")


def _uploads(workflow: str) -> list[dict[str, Any]]:
    return [
        step
        for job in yaml.safe_load(workflow)["jobs"].values()
        for step in job.get("steps", [])
        if str(step.get("uses", "")).startswith("actions/upload-artifact@")
    ]


def test_evidence_uploads_take_only_the_bundle_of_a_run_that_ended() -> None:
    """A killed run sets no `evidence-path`: a fallback folder or `!cancelled()` alone uploads its raw bundle."""
    workflows = [*readme_workflows(), (ROOT / ".github" / "workflows" / "ci.yml").read_text(encoding="utf-8")]
    checked, wrong = 0, []
    for workflow in workflows:
        for step in _uploads(workflow):
            path = str(step.get("with", {}).get("path", "")).strip()
            named = str(step.get("with", {}).get("name", ""))
            if _DURATIONS.match(path) or ("evidence" not in path and not named.startswith("qaagent")):
                continue
            checked += 1
            found = _EVIDENCE_PATH.match(path)
            condition = str(step.get("if", ""))
            needed = f"steps.{found.group(1)}.outputs.evidence-path != ''" if found else None
            if needed is None or "!cancelled()" not in condition or needed not in condition:
                wrong.append(f"{step['with'].get('name')}: if {condition!r}, path {path!r}")
    assert checked >= 9  # the README's recipes (shard jobs too) and ci.yml's two
    assert wrong == []
