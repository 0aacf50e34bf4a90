"""The release: the workflow, the released action.yml it produces, and the tags it moves.

scripts/release_action.py does the parts that must be right (the tag against
qaagent.__version__, the changelog notes, the action.yml rewrite, the release commit and
tags); .github/workflows/release.yml calls it. These tests run the script for real: on the
repository's own action.yml (the result checked against GitHub's action schema), and on a
throw-away git repository with a bare "origin" whose tags are read and moved.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT, load_file_module

import qaagent

SCRIPT = ROOT / "scripts" / "release_action.py"
DIGEST = "sha256:" + "0123456789abcdef" * 4
IMAGE_REF = f"ghcr.io/org/qaagent-action@{DIGEST}"
RELEASED_IMAGE = re.compile(r"docker://ghcr\.io/[a-z0-9._-]+/[a-z0-9._-]+@sha256:[0-9a-f]{64}")


release_action = load_file_module(SCRIPT, "qaagent_release_action")


def run_script(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def _check_jsonschema(schema: str, *files: Path) -> subprocess.CompletedProcess[str]:
    tool = Path(sys.executable).parent / "check-jsonschema"
    if not tool.is_file():
        pytest.fail("check-jsonschema is not installed (pip install -r requirements-dev.txt)")
    return subprocess.run(
        [str(tool), "--builtin-schema", schema, *map(str, files)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


CHANGELOG = """\
# Changelog

## [Unreleased]

## [{version}] - 2026-12-01

### Added
- The thing users asked for.

## [0.0.1] - 2026-01-01

- First.
"""


def _project(root: Path, version: str, changelog_version: str | None = None) -> Path:
    """The files the release reads: qaagent/__init__.py, CHANGELOG.md, action.yml."""
    (root / "qaagent").mkdir(parents=True)
    (root / "qaagent" / "__init__.py").write_text(
        f'"""qaagent."""\n\n__version__ = "{version}"\n', encoding="utf-8"
    )
    (root / "CHANGELOG.md").write_text(
        CHANGELOG.format(version=changelog_version or version), encoding="utf-8"
    )
    shutil.copy2(ROOT / "action.yml", root / "action.yml")
    return root


# --- the tag, the version, the notes ---------------------------------------------------


def test_check_tag_prints_the_version_and_the_major_tag(tmp_path: Path) -> None:
    project = _project(tmp_path / "p", "1.4.2")
    result = run_script("check-tag", "v1.4.2", cwd=project)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["version=1.4.2", "major=v1"]


def test_check_tag_refuses_a_tag_that_differs_from_the_package_version(tmp_path: Path) -> None:
    project = _project(tmp_path / "p", "1.4.2", changelog_version="1.4.3")
    result = run_script("check-tag", "v1.4.3", cwd=project)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert "v1.4.3 does not match qaagent.__version__ '1.4.2'" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_repository_version_is_a_release_version() -> None:
    # The tag `v` + __version__ must be one the release workflow accepts.
    assert release_action.Version.from_tag(f"v{qaagent.__version__}").tag == f"v{qaagent.__version__}"


@pytest.mark.parametrize("tag", ["v1.2", "1.2.3", "v01.2.3", "v1.2.3-rc1", "v1.2.3\n", "vX.Y.Z", ""])
def test_check_tag_refuses_what_is_not_a_release_tag(tmp_path: Path, tag: str) -> None:
    project = _project(tmp_path / "p", "1.2.3")
    result = run_script("check-tag", tag, cwd=project)
    assert result.returncode == 2
    assert "is not a release tag vX.Y.Z" in result.stderr
    assert result.stderr.count("\n") == 1


def test_check_tag_wants_release_notes(tmp_path: Path) -> None:
    project = _project(tmp_path / "p", "1.2.3", changelog_version="1.2.2")
    result = run_script("check-tag", "v1.2.3", cwd=project)
    assert result.returncode == 2
    assert "CHANGELOG.md has no section '## [1.2.3]'" in result.stderr


def test_notes_are_the_versions_section_only(tmp_path: Path) -> None:
    project = _project(tmp_path / "p", "1.2.3")
    result = run_script("notes", "1.2.3", cwd=project)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "### Added\n- The thing users asked for.\n"
    # a version that is a prefix of another is not confused with it
    assert release_action.changelog_notes("## [1.2.30]\n\nother\n\n## [1.2.3]\n\nthis\n", "1.2.3") == "this\n"
    with pytest.raises(release_action.ReleaseError, match="empty"):
        release_action.changelog_notes("## [1.2.3]\n\n## [1.2.2]\n\n- x\n", "1.2.3")


def test_the_changelog_has_an_unreleased_section_to_rename() -> None:
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert re.search(r"^## \[Unreleased\]$", text, re.MULTILINE)


# --- the released action.yml -------------------------------------------------------------


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository's action.yml as the release rewrites it."""
    folder = tmp_path_factory.mktemp("released")
    shutil.copy2(ROOT / "action.yml", folder / "action.yml")
    result = run_script("rewrite-action", IMAGE_REF, "--action", str(folder / "action.yml"), cwd=folder)
    assert result.returncode == 0, result.stderr
    return folder / "action.yml"


def _load(path: Path) -> dict[Any, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@pytest.mark.slow
def test_released_action_is_schema_valid_and_names_the_image_by_digest(released: Path) -> None:
    result = _check_jsonschema("vendor.github-actions", released)
    assert result.returncode == 0, result.stdout + result.stderr
    runs = _load(released)["runs"]
    assert runs["using"] == "docker"
    assert RELEASED_IMAGE.fullmatch(runs["image"]), runs["image"]
    assert runs["image"] == f"docker://{IMAGE_REF}"
    assert runs["post-entrypoint"] == "/usr/local/bin/qaagent-post"  # the released image runs it too


def test_released_action_keeps_every_input_output_and_line_but_the_image(released: Path) -> None:
    dev = _load(ROOT / "action.yml")
    rel = _load(released)
    assert rel["inputs"] == dev["inputs"]
    assert rel["outputs"] == dev["outputs"]
    assert {k: v for k, v in rel.items() if k != "runs"} == {k: v for k, v in dev.items() if k != "runs"}
    dev_lines = (ROOT / "action.yml").read_text(encoding="utf-8").splitlines()
    rel_lines = released.read_text(encoding="utf-8").splitlines()
    changed = [(a, b) for a, b in zip(dev_lines, rel_lines, strict=True) if a != b]
    assert changed == [("  image: Dockerfile", f"  image: docker://{IMAGE_REF}")]


def test_the_development_action_keeps_building_its_dockerfile() -> None:
    assert _load(ROOT / "action.yml")["runs"]["image"] == "Dockerfile"


@pytest.mark.parametrize(
    "ref",
    [
        "ghcr.io/org/qaagent-action:v1.2.3",  # a tag can move: only a digest pins
        "ghcr.io/Org/qaagent-action@" + DIGEST,  # GHCR names are lower case
        "docker.io/org/qaagent-action@" + DIGEST,  # only the GitHub registry is published to
        "ghcr.io/org/qaagent-action@sha256:abc",
        "ghcr.io/org@" + DIGEST,
        "ghcr.io/org/qaagent-action@" + DIGEST + "\n  using: node20",  # no YAML through the reference
        "ghcr.io/org/../x@" + DIGEST,
        "ghcr.io/org/a..b@" + DIGEST,  # the reference grammar joins by one `.` only
        "ghcr.io/org/a___b@" + DIGEST,  # ... and by `_` or `__`
        "ghcr.io/org/-ab@" + DIGEST,  # a component starts and ends alphanumeric
        "ghcr.io/org/ab-@" + DIGEST,
    ],
)
def test_rewrite_refuses_a_malformed_image_reference(tmp_path: Path, ref: str) -> None:
    shutil.copy2(ROOT / "action.yml", tmp_path / "action.yml")
    before = (tmp_path / "action.yml").read_text(encoding="utf-8")
    result = run_script("rewrite-action", ref, "--action", str(tmp_path / "action.yml"), cwd=tmp_path)
    assert result.returncode == 2
    assert "is not ghcr.io/<owner>/<repo>@sha256:<64 hex digits>" in result.stderr
    assert (tmp_path / "action.yml").read_text(encoding="utf-8") == before


def test_rewrite_refuses_an_already_released_action(released: Path) -> None:
    with pytest.raises(release_action.ReleaseError, match="already a release commit"):
        release_action.released_action(released.read_text(encoding="utf-8"), IMAGE_REF)


def test_rewrite_refuses_an_image_line_outside_runs() -> None:
    text = (ROOT / "action.yml").read_text(encoding="utf-8")
    moved = text.replace("  image: Dockerfile", "  image: Dockerfile\n# x").replace(
        "branding:\n", "branding:\n  image: Dockerfile\n", 1
    )
    with pytest.raises(release_action.ReleaseError, match="exactly once"):
        release_action.released_action(moved, IMAGE_REF)


# --- the workflow agrees with the script ----------------------------------------------------


@pytest.fixture(scope="module")
def workflow() -> dict[Any, Any]:
    return _load(ROOT / ".github" / "workflows" / "release.yml")


def _step(job: dict[str, Any], pattern: str) -> dict[str, Any]:
    found = [s for s in job["steps"] if re.search(pattern, s.get("uses", "") + "\n" + s.get("run", ""))]
    assert len(found) == 1, pattern
    step: dict[str, Any] = found[0]
    return step


@pytest.mark.slow
def test_release_workflow_is_schema_valid_and_runs_on_version_tags(workflow: dict[Any, Any]) -> None:
    result = _check_jsonschema("vendor.github-workflows", ROOT / ".github" / "workflows" / "release.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    # PyYAML reads the key `on` as True
    assert workflow[True] == {"push": {"tags": ["v[0-9]+.[0-9]+.[0-9]+"]}}
    assert workflow["concurrency"]["cancel-in-progress"] is False


def test_release_jobs_have_the_least_permissions_in_order(workflow: dict[Any, Any]) -> None:
    jobs = workflow["jobs"]
    assert workflow["permissions"] == {}
    assert jobs["check"]["permissions"] == {"contents": "read"}
    assert jobs["image"]["permissions"] == {"contents": "read", "packages": "write"}
    assert jobs["publish"]["permissions"] == {"contents": "write"}
    assert jobs["image"]["needs"] == "check"
    assert set(jobs["publish"]["needs"]) == {"check", "image"}
    for name, job in jobs.items():
        checkout = _step(job, r"^actions/checkout@")
        expected = {"ref": "${{ github.sha }}", "persist-credentials": False}
        if name == "check":  # reads every tag (does the major tag move?), keeps no credential
            expected["fetch-depth"] = 0
        assert checkout["with"] == expected, name


def test_check_job_runs_the_tag_check(workflow: dict[Any, Any]) -> None:
    step = _step(workflow["jobs"]["check"], r"release_action\.py check-tag")
    assert step["env"]["TAG"] == "${{ github.ref_name }}"
    assert '>> "$GITHUB_OUTPUT"' in step["run"]
    assert workflow["jobs"]["check"]["outputs"]["major"] == f"${{{{ steps.{step['id']}.outputs.major }}}}"


def test_image_job_builds_both_platforms_and_outputs_the_digest(workflow: dict[Any, Any]) -> None:
    job = workflow["jobs"]["image"]
    steps = [s.get("uses", "").split("@")[0] for s in job["steps"]]
    assert steps.index("docker/setup-qemu-action") < steps.index("docker/setup-buildx-action")
    build = _step(job, r"^docker/build-push-action@")
    assert set(build["with"]["platforms"].split(",")) == {"linux/amd64", "linux/arm64"}
    assert build["with"]["push"] is True
    assert "org.opencontainers.image.source=" in build["with"]["labels"]
    assert job["outputs"]["digest"] == f"${{{{ steps.{build['id']}.outputs.digest }}}}"
    name = _step(job, r"ghcr\.io/")
    assert job["outputs"]["image"] == f"${{{{ steps.{name['id']}.outputs.image }}}}"
    assert build["with"]["tags"] == f"${{{{ steps.{name['id']}.outputs.tags }}}}"


def _image_step(workflow: dict[Any, Any], tmp_path: Path, repository: str, moves: str) -> dict[str, str]:
    """Run the workflow's own naming step; its GITHUB_OUTPUT lines."""
    step = _step(workflow["jobs"]["image"], r"ghcr\.io/")
    assert step["env"]["MAJOR_MOVES"] == "${{ needs.check.outputs.major-moves }}"
    output = tmp_path / "output"
    output.write_text("", encoding="utf-8")
    env = {
        "PATH": os.environ["PATH"], "GITHUB_OUTPUT": str(output),
        "REPOSITORY": repository, "TAG": "v1.4.2", "MAJOR": "v1", "MAJOR_MOVES": moves,
    }  # fmt: skip
    result = subprocess.run(
        ["bash", "-e", "-c", step["run"]], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return dict(line.split("=", 1) for line in output.read_text(encoding="utf-8").splitlines())


def test_the_image_name_the_workflow_computes_is_one_the_script_accepts(
    workflow: dict[Any, Any], tmp_path: Path
) -> None:
    # a repository name in mixed case, with the `--` and `__` GitHub allows
    values = _image_step(workflow, tmp_path, "My-Org/QA--Agent__Action", "true")
    assert values["image"] == "ghcr.io/my-org/qa--agent__action"
    assert values["tags"] == "ghcr.io/my-org/qa--agent__action:v1.4.2,ghcr.io/my-org/qa--agent__action:v1"
    text = release_action.released_action(
        (ROOT / "action.yml").read_text(encoding="utf-8"), f"{values['image']}@{DIGEST}"
    )
    assert RELEASED_IMAGE.fullmatch(yaml.safe_load(text)["runs"]["image"])


def test_a_backport_image_does_not_move_the_major_image_tag(workflow: dict[Any, Any], tmp_path: Path) -> None:
    values = _image_step(workflow, tmp_path, "org/qaagent-action", "false")
    assert values["tags"] == "ghcr.io/org/qaagent-action:v1.4.2"


def test_check_job_reads_every_tag_to_decide_whether_the_major_moves(workflow: dict[Any, Any]) -> None:
    job = workflow["jobs"]["check"]
    checkout = _step(job, r"^actions/checkout@")
    assert checkout["with"]["fetch-depth"] == 0
    step = _step(job, r"release_action\.py check-tag")
    assert "--remote ." in step["run"]
    assert job["outputs"]["major-moves"] == f"${{{{ steps.{step['id']}.outputs.major-moves }}}}"


def test_publish_job_passes_the_pushed_digest_to_the_release_commit(workflow: dict[Any, Any]) -> None:
    job = workflow["jobs"]["publish"]
    step = _step(job, r"release_action\.py release")
    assert step["env"]["IMAGE_REF"] == "${{ needs.image.outputs.image }}@${{ needs.image.outputs.digest }}"
    assert step["env"]["TAG"] == "${{ github.ref_name }}"
    assert '--tag "$TAG" --image-ref "$IMAGE_REF"' in step["run"]
    assert "--push origin" in step["run"]
    notes = _step(job, r"release_action\.py notes")
    assert "gh release create" in notes["run"]
    assert notes["env"]["LATEST"] == f"${{{{ steps.{step['id']}.outputs.latest }}}}"
    # no expression is expanded inside a script (template injection)
    for each in workflow["jobs"].values():
        for s in each["steps"]:
            assert "${{" not in s.get("run", ""), s.get("name")


# --- the release commit and the tags, on a real git repository -------------------------------


def _git(cwd: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid",
        "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
    }  # fmt: skip
    result = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, (args, result.stderr)
    return result.stdout.strip()


@pytest.fixture
def repository(tmp_path: Path) -> tuple[Path, Path]:
    """A clone whose origin (a bare repository) has v1.0.0 and v1 on an earlier commit."""
    origin = tmp_path / "origin.git"
    _git(tmp_path, "init", "--quiet", "--bare", "--initial-branch=main", str(origin))
    clone = _project(tmp_path / "clone", "1.0.0")
    _git(clone, "init", "--quiet", "--initial-branch=main")
    _git(clone, "remote", "add", "origin", str(origin))
    _git(clone, "add", ".")
    _git(clone, "commit", "--quiet", "-m", "1.0.0")
    _git(clone, "tag", "v1.0.0")
    _git(clone, "tag", "v1")
    _git(clone, "tag", "not-a-release")
    _git(clone, "push", "--quiet", "origin", "main", "--tags")
    return clone, origin


def _source_commit(clone: Path, version: str) -> str:
    """Commit VERSION on main, tag it vVERSION and push both, as a maintainer does."""
    _git(clone, "checkout", "--quiet", "main")
    (clone / "qaagent" / "__init__.py").write_text(f'__version__ = "{version}"\n', encoding="utf-8")
    (clone / "CHANGELOG.md").write_text(CHANGELOG.format(version=version), encoding="utf-8")
    _git(clone, "commit", "--quiet", "-am", f"Version {version}")
    _git(clone, "tag", f"v{version}")
    _git(clone, "push", "--quiet", "origin", "main", f"v{version}")
    source = _git(clone, "rev-parse", "HEAD")
    _git(clone, "checkout", "--quiet", "--detach", source)  # what actions/checkout leaves
    return source


def _release(clone: Path, tag: str) -> dict[str, str]:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "bot", "GIT_AUTHOR_EMAIL": "bot@example.invalid",
        "GIT_COMMITTER_NAME": "bot", "GIT_COMMITTER_EMAIL": "bot@example.invalid",
        "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
    }  # fmt: skip
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "release", "--tag", tag, "--image-ref", IMAGE_REF, "--push", "origin"],
        cwd=clone, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return dict(line.split("=", 1) for line in result.stdout.splitlines())


def _remote_tag(origin: Path, tag: str) -> str:
    return _git(origin, "rev-parse", f"refs/tags/{tag}^{{commit}}")


@pytest.mark.slow
def test_release_commits_the_released_action_on_the_source_and_moves_both_tags(
    repository: tuple[Path, Path],
) -> None:
    clone, origin = repository
    old_v1 = _remote_tag(origin, "v1")
    source = _source_commit(clone, "1.1.0")
    check = run_script("check-tag", "v1.1.0", "--remote", "origin", cwd=clone)
    assert check.stdout.splitlines() == ["version=1.1.0", "major=v1", "major-moves=true"], check.stderr
    outputs = _release(clone, "v1.1.0")
    commit = outputs["commit"]
    assert outputs == {"commit": commit, "major-moved": "true", "latest": "true"}
    assert _remote_tag(origin, "v1.1.0") == commit
    assert _remote_tag(origin, "v1") == commit != old_v1
    assert _git(origin, "rev-parse", f"{commit}^") == source
    assert _git(origin, "diff", "--name-only", source, commit) == "action.yml"
    released = yaml.safe_load(_git(origin, "show", f"{commit}:action.yml"))
    assert released["runs"]["image"] == f"docker://{IMAGE_REF}"
    assert yaml.safe_load(_git(origin, "show", f"{source}:action.yml"))["runs"]["image"] == "Dockerfile"
    # main is not touched: the development branch keeps building its Dockerfile
    assert _git(origin, "rev-parse", "refs/heads/main") == source
    assert _git(origin, "cat-file", "-t", "refs/tags/v1.1.0") == "tag"  # annotated


@pytest.mark.slow
def test_a_patch_of_an_older_line_leaves_the_major_tag_on_the_newest(repository: tuple[Path, Path]) -> None:
    clone, origin = repository
    _source_commit(clone, "1.1.0")
    newest = _release(clone, "v1.1.0")["commit"]
    # a fix for 1.0.x released after 1.1.0
    _git(clone, "checkout", "--quiet", "-b", "release-1.0", "v1.0.0")
    (clone / "qaagent" / "__init__.py").write_text('__version__ = "1.0.1"\n', encoding="utf-8")
    (clone / "CHANGELOG.md").write_text(CHANGELOG.format(version="1.0.1"), encoding="utf-8")
    _git(clone, "commit", "--quiet", "-am", "Version 1.0.1")
    _git(clone, "tag", "v1.0.1")
    _git(clone, "push", "--quiet", "origin", "v1.0.1")
    # the check job's answer (which decides the image's :v1 tag) agrees with the release's
    check = run_script("check-tag", "v1.0.1", "--remote", "origin", cwd=clone)
    assert check.returncode == 0, check.stderr
    assert check.stdout.splitlines() == ["version=1.0.1", "major=v1", "major-moves=false"]
    outputs = _release(clone, "v1.0.1")
    assert outputs["major-moved"] == "false"
    assert outputs["latest"] == "false"
    assert _remote_tag(origin, "v1.0.1") == outputs["commit"]
    assert _remote_tag(origin, "v1") == newest


def test_a_new_major_moves_its_own_major_tag_only(repository: tuple[Path, Path]) -> None:
    clone, origin = repository
    old_v1 = _remote_tag(origin, "v1")
    _source_commit(clone, "2.0.0")
    outputs = _release(clone, "v2.0.0")
    assert outputs["major-moved"] == "true"
    assert _remote_tag(origin, "v2") == outputs["commit"]
    assert _remote_tag(origin, "v1") == old_v1


def test_release_refuses_a_tag_that_is_not_the_package_version(repository: tuple[Path, Path]) -> None:
    clone, origin = repository
    _source_commit(clone, "1.1.0")
    before = _git(origin, "show-ref")
    result = run_script("release", "--tag", "v1.2.0", "--image-ref", IMAGE_REF, "--push", "origin", cwd=clone)
    assert result.returncode == 2
    assert "does not match qaagent.__version__ '1.1.0'" in result.stderr
    assert _git(origin, "show-ref") == before
    assert _git(clone, "status", "--porcelain") == ""


@pytest.mark.slow
def test_release_refuses_a_release_commit_as_its_source(repository: tuple[Path, Path]) -> None:
    clone, origin = repository
    _source_commit(clone, "1.1.0")
    commit = _release(clone, "v1.1.0")["commit"]
    _git(clone, "checkout", "--quiet", "--detach", commit)
    result = run_script("release", "--tag", "v1.1.0", "--image-ref", IMAGE_REF, "--push", "origin", cwd=clone)
    assert result.returncode == 2
    assert "already a release commit" in result.stderr
    assert _remote_tag(origin, "v1.1.0") == commit
