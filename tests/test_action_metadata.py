"""The action's metadata agrees with itself, the entrypoint, the Dockerfile and the docs."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from conftest import load_file_module

from qaagent.action import DEFAULTS

ROOT = Path(__file__).resolve().parent.parent
EXPECTED_INPUTS = {
    "profile", "files", "format", "parallel", "max-workers", "retries", "suites", "shard", "mode", "bundles",
    "working-directory", "setup", "junit-path", "evidence-dir", "fail-on", "annotations",
    "summary", "github-token", "check-name", "comment", "history", "base-branch",
    "comment-mode", "annotate", "annotations-limit", "summary-title", "commit", "pull-request",
}  # fmt: skip
EXPECTED_OUTPUTS = {
    "conclusion", "total", "passed", "failed", "errors", "skipped", "flaky", "xfailed", "xpassed", "duration",
    "junit-path", "evidence-path", "run-id", "check-url", "comment-url", "json",
}  # fmt: skip
SHA_PIN = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


def _load(path: str) -> dict[str, Any]:
    data = yaml.safe_load((ROOT / path).read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _entrypoint() -> ModuleType:
    return load_file_module(ROOT / "entrypoint.py", "qaagent_action_entrypoint")


@pytest.fixture(scope="module")
def docker() -> dict[str, Any]:
    return _load("action.yml")


@pytest.fixture(scope="module")
def host() -> dict[str, Any]:
    return _load("host/action.yml")


def test_docker_action_declares_every_input_and_output(docker: dict[str, Any]) -> None:
    assert set(docker["inputs"]) == EXPECTED_INPUTS
    assert set(docker["outputs"]) == EXPECTED_OUTPUTS
    assert docker["runs"] == {
        "using": "docker",
        "image": "Dockerfile",
        "post-entrypoint": "/usr/local/bin/qaagent-post",  # the console script pyproject.toml declares
    }
    assert 'qaagent-post = "qaagent.github.closer:main"' in (ROOT / "pyproject.toml").read_text()
    assert docker["branding"]["icon"]
    assert docker["branding"]["color"]


def test_every_input_has_a_description_and_a_string_default(
    docker: dict[str, Any], host: dict[str, Any]
) -> None:
    for action in (docker, host):
        for name, spec in action["inputs"].items():
            assert spec["description"].strip(), name
            assert isinstance(spec["default"], str), name
            assert spec.get("required", False) is False, name
        for name, spec in action["outputs"].items():
            assert spec["description"].strip(), name


def test_documented_defaults(docker: dict[str, Any]) -> None:
    inputs = docker["inputs"]
    assert inputs["profile"]["default"] == ".qaagent.yaml"
    assert inputs["mode"]["default"] == "run"
    assert inputs["working-directory"]["default"] == "."
    assert inputs["annotations"]["default"] == "true"
    assert inputs["summary"]["default"] == "full"
    assert inputs["annotate"]["default"] == "failures-and-flaky"
    assert inputs["annotations-limit"]["default"] == "10"
    assert inputs["comment"]["default"] == "false"
    assert inputs["check-name"]["default"] == ""
    assert inputs["github-token"]["default"] == "${{ github.token }}"
    for empty in (
        "parallel", "max-workers", "retries", "suites", "shard", "setup", "fail-on", "comment-mode",
        "commit", "pull-request", "summary-title", "history",
    ):  # fmt: skip
        assert inputs[empty]["default"] == "", empty


def test_host_variant_has_the_same_inputs_defaults_and_outputs(
    docker: dict[str, Any], host: dict[str, Any]
) -> None:
    assert {name: spec["default"] for name, spec in host["inputs"].items()} == {
        name: spec["default"] for name, spec in docker["inputs"].items()
    }
    assert set(host["outputs"]) == set(docker["outputs"])
    for name, spec in host["outputs"].items():
        assert spec["value"] == f"${{{{ steps.qaagent.outputs.{name} }}}}", name


def test_host_variant_maps_every_input_to_its_hyphenated_env_variable(host: dict[str, Any]) -> None:
    assert host["runs"]["using"] == "composite"
    steps = {step.get("id"): step for step in host["runs"]["steps"]}
    run = steps["qaagent"]
    assert "entrypoint.py" in run["run"]
    expected = {f"INPUT_{name.upper()}": f"${{{{ inputs.{name} }}}}" for name in host["inputs"]}
    # and the interpreter of the environment host/install.sh made (tests/test_host_install.py)
    expected["QAAGENT_HOST_VENV_PYTHON"] = "${{ steps.install.outputs.python }}"
    assert run["env"] == expected
    assert "INPUT_MAX-WORKERS" in run["env"]
    # No step expands an expression inside a shell script (template injection).
    for step in host["runs"]["steps"]:
        assert "${{" not in step.get("run", ""), step.get("name")


def test_entrypoint_defaults_match_action_yml(docker: dict[str, Any]) -> None:
    defaults = DEFAULTS
    declared = {name: spec["default"] for name, spec in docker["inputs"].items()}
    # Only the runner can expand `${{ github.token }}`; without it there is no token.
    declared["github-token"] = ""
    assert defaults == declared


def test_dockerfile_runs_as_root_with_exec_form_entrypoint() -> None:
    lines = [
        line.strip()
        for line in (ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    instructions = [line.split()[0].upper() for line in lines]
    assert "USER" not in instructions
    assert "WORKDIR" not in instructions
    froms = [line for line in lines if line.upper().startswith("FROM ")]
    assert len(froms) == 1
    image = froms[0].split()[1]
    assert re.search(r":\d+\.\d+\.\d+-slim", image), image
    entrypoints = [line for line in lines if line.upper().startswith("ENTRYPOINT ")]
    assert len(entrypoints) == 1
    argv = json.loads(entrypoints[0].split(None, 1)[1])
    assert isinstance(argv, list)
    assert argv[-1].endswith("entrypoint.py")
    # the locked dependencies are installed first, then qaagent itself without resolving any
    installs = [line for line in lines if line.upper().startswith("RUN ") and "pip install" in line]
    assert re.search(r"pip install .*(?<!\S)-r \S*requirements\.txt\b", installs[0]), installs
    assert re.search(r"pip install .*(?<!\S)-r \S*requirements-postgres\.txt\b", installs[1]), installs
    assert "--no-deps" in installs[-1], installs


def _workflow_steps() -> list[tuple[str, dict[str, Any]]]:
    steps = []
    for path in sorted((ROOT / ".github" / "workflows").glob("*.yml")):
        workflow = yaml.safe_load(path.read_text(encoding="utf-8"))
        steps += [(path.name, step) for job in workflow["jobs"].values() for step in job["steps"]]
    return steps


def test_workflows_pin_third_party_actions_by_commit_with_a_version_comment() -> None:
    texts = {p.name: p.read_text(encoding="utf-8") for p in (ROOT / ".github" / "workflows").glob("*.yml")}
    for name, step in _workflow_steps():
        uses = step.get("uses")
        if uses is None or uses.startswith("./"):
            continue
        assert SHA_PIN.match(uses), (name, uses)
        assert re.search(re.escape(uses) + r" # v\d+\.\d+\.\d+", texts[name]), (name, uses)
        if uses.startswith("actions/checkout@"):
            assert step["with"]["persist-credentials"] is False, name


def test_workflows_set_minimal_permissions() -> None:
    for path in sorted((ROOT / ".github" / "workflows").glob("*.yml")):
        workflow = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert workflow["permissions"] == {}, path.name
        for job_name, job in workflow["jobs"].items():
            assert "permissions" in job, (path.name, job_name)
            assert "write-all" not in str(job["permissions"])


def test_ci_runs_the_action_on_the_demo_and_uploads_the_evidence_of_a_run_that_ended() -> None:
    ci = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text(encoding="utf-8"))
    docker_steps = ci["jobs"]["action-docker"]["steps"]
    action = next(step for step in docker_steps if step.get("uses") == "./")
    assert action["with"]["working-directory"] == "examples/demo"
    upload = next(step for step in docker_steps if "upload-artifact" in step.get("uses", ""))
    assert upload["if"] == "${{ !cancelled() && steps.qaagent.outputs.evidence-path != '' }}"
    assert any("make test" in step.get("run", "") for step in ci["jobs"]["test"]["steps"])


def test_every_input_and_output_is_documented() -> None:
    readme = ROOT / "README.md"
    doc = readme if readme.exists() else ROOT / "docs" / "action.md"
    text = doc.read_text(encoding="utf-8")
    action = _load("action.yml")
    missing = [
        name for name in [*action["inputs"], *action["outputs"]] if f"`{name}`" not in text
    ]  # fmt: skip
    assert not missing, f"{doc.name} does not document: {', '.join(missing)}"
