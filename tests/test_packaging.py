"""What is shipped: the hashed lock, the pinned base image, the package metadata, a clean build.

The lock (`requirements.txt`, compiled from `requirements.in`) is what the action image and
the host variant install with `--require-hashes`; the wheel is built from a copy of the
sources with the lock's own setuptools and every warning turned into an error, so a
deprecation in the build configuration fails here before it fails a user's build.
"""

from __future__ import annotations

import email.parser
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
import yaml
from conftest import ROOT

import qaagent

_PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>\S+?)\s*\\?$")
_HASH = re.compile(r"^\s+--hash=sha256:(?P<hash>[0-9a-f]{64})\s*\\?$")


def lock_entries(text: str) -> dict[str, tuple[str, list[str]]]:
    """`requirements.txt` as {normalised name: (version, [sha256, ...])}."""
    entries: dict[str, tuple[str, list[str]]] = {}
    current: str | None = None
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if pin := _PIN.match(line):
            current = re.sub(r"[-_.]+", "-", pin["name"]).lower()
            assert current not in entries, f"{current} is pinned twice"
            entries[current] = (pin["version"], [])
        elif (digest := _HASH.match(line)) and current is not None:
            entries[current][1].append(digest["hash"])
        else:
            pytest.fail(f"requirements.txt: a line that is neither a pin nor a hash: {line!r}")
    return entries


def _normalised(requirement: str) -> str:
    name, rest = re.match(r"([A-Za-z0-9._-]+)(.*)", requirement).groups()  # type: ignore[union-attr]
    return re.sub(r"[-_.]+", "-", name).lower() + rest.replace(" ", "")


def test_lock_pins_every_runtime_dependency_and_the_build_backend_with_hashes() -> None:
    entries = lock_entries((ROOT / "requirements.txt").read_text(encoding="utf-8"))
    for name in (
        "pydantic", "pydantic-core", "annotated-types", "typing-extensions", "typing-inspection",
        "pyyaml", "requests", "urllib3", "idna", "certifi", "charset-normalizer", "setuptools",
    ):  # fmt: skip
        assert name in entries, name
    for name, (version, hashes) in entries.items():
        assert re.fullmatch(r"[0-9][0-9A-Za-z.+!-]*", version), (name, version)
        assert hashes, f"{name}=={version} has no --hash"
    # Binary packages need a wheel for each image platform: many files, so many hashes.
    for binary in ("pydantic-core", "pyyaml", "charset-normalizer"):
        assert len(entries[binary][1]) >= 10, binary
    header = (ROOT / "requirements.txt").read_text(encoding="utf-8").split("\n\n")[0]
    assert "make lock" in header, "the lock's header must say how to regenerate it"


def test_requirements_in_has_the_ranges_of_pyproject() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    expected = {
        _normalised(r)
        for r in [*pyproject["project"]["dependencies"], *pyproject["build-system"]["requires"]]
    }
    sources = {
        _normalised(line.strip())
        for line in (ROOT / "requirements.in").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert sources == expected


def test_lock_satisfies_the_ranges() -> None:
    packaging_version = pytest.importorskip("packaging.version")
    specifiers = pytest.importorskip("packaging.specifiers")
    entries = lock_entries((ROOT / "requirements.txt").read_text(encoding="utf-8"))
    for line in (ROOT / "requirements.in").read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, spec = re.match(r"([A-Za-z0-9._-]+)(.*)", line.strip()).groups()  # type: ignore[union-attr]
        locked = entries[re.sub(r"[-_.]+", "-", name).lower()][0]
        assert packaging_version.Version(locked) in specifiers.SpecifierSet(spec), (name, locked, spec)


def test_dockerfile_pins_the_base_by_tag_and_digest_and_installs_with_hashes() -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    froms = re.findall(r"^FROM\s+(\S+)", text, re.MULTILINE)
    assert len(froms) == 1
    assert re.fullmatch(
        r"docker\.io/library/python:3\.12\.\d+-slim-bookworm@sha256:[0-9a-f]{64}", froms[0]
    ), froms[0]
    runs = " ".join(re.findall(r"^RUN\s+(.*(?:\\\n.*)*)", text, re.MULTILINE))
    assert "--require-hashes" in runs
    assert "-r /opt/qaagent/requirements.txt" in runs
    assert "--no-build-isolation" in runs
    assert "COPY requirements.txt /opt/qaagent/requirements.txt" in text


def test_the_image_installs_the_locked_postgres_extra() -> None:
    """The README's PostgreSQL history store works from the action: the image has psycopg, pinned."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "COPY requirements-postgres.txt /opt/qaagent/requirements-postgres.txt" in text
    installs = re.findall(r"^RUN pip install (.*)$", text, re.MULTILINE)
    assert any(
        "-r /opt/qaagent/requirements-postgres.txt" in line
        and "--require-hashes" in line
        and "--only-binary" in line
        for line in installs
    ), installs
    # the lock has the extra's range (pyproject.toml's), hashes for every platform's wheel,
    # and pins what it shares with requirements.txt the same
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    extra = pyproject["project"]["optional-dependencies"]["postgres"]
    sources = [
        line.strip()
        for line in (ROOT / "requirements-postgres.in").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith(("#", "-c"))
    ]
    assert {_normalised(s) for s in sources} == {_normalised(e) for e in extra}
    assert "-c requirements.txt" in (ROOT / "requirements-postgres.in").read_text(encoding="utf-8")
    postgres = lock_entries((ROOT / "requirements-postgres.txt").read_text(encoding="utf-8"))
    core = lock_entries((ROOT / "requirements.txt").read_text(encoding="utf-8"))
    assert {"psycopg", "psycopg-binary"} <= set(postgres)
    assert postgres["psycopg"][0] == postgres["psycopg-binary"][0]
    assert len(postgres["psycopg-binary"][1]) >= 10  # a wheel per platform and Python
    for name in set(postgres) & set(core):
        assert postgres[name] == core[name], name
    assert "--extra-index-url" not in (ROOT / "requirements-postgres.txt").read_text(encoding="utf-8")


def test_license_and_metadata_in_pyproject() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["license"] == "MIT"
    assert project["license-files"] == ["LICENSE"]
    assert (ROOT / "LICENSE").read_text(encoding="utf-8").startswith("MIT License")
    assert not [c for c in project["classifiers"] if c.startswith("License ::")]
    for minor in (11, 12, 13):
        assert f"Programming Language :: Python :: 3.{minor}" in project["classifiers"]
    assert {"Homepage", "Changelog", "Issues"} <= set(project["urls"])


def _source_copy(dest: Path) -> Path:
    """The files a build reads, outside the repository (so no build/ or egg-info is left in it)."""
    dest.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, dest / name)
    shutil.copytree(ROOT / "qaagent", dest / "qaagent", ignore=shutil.ignore_patterns("__pycache__"))
    return dest


@pytest.mark.slow
def test_wheel_builds_with_the_locked_setuptools_and_no_warning(tmp_path: Path) -> None:
    entries = lock_entries((ROOT / "requirements.txt").read_text(encoding="utf-8"))
    version, hashes = entries["setuptools"]
    only_setuptools = tmp_path / "setuptools.txt"
    only_setuptools.write_text(
        f"setuptools=={version} " + " ".join(f"--hash=sha256:{h}" for h in hashes) + "\n", encoding="utf-8"
    )
    backend = tmp_path / "backend"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
         "--require-hashes", "--only-binary=:all:", "--target", str(backend), "-r", str(only_setuptools)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr[-2000:]
    source = _source_copy(tmp_path / "src")
    out = tmp_path / "dist"
    out.mkdir()
    build = (
        "import sys, warnings\n"
        "warnings.simplefilter('error')\n"
        "import setuptools, setuptools.build_meta as backend\n"
        "assert setuptools.__file__.startswith(sys.argv[2]), setuptools.__file__\n"
        "print(backend.build_wheel(sys.argv[1]))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONPATH"] = str(backend)
    result = subprocess.run(
        [sys.executable, "-c", build, str(out), str(backend)],
        cwd=source, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    assert "Deprecat" not in result.stdout + result.stderr
    wheel = out / result.stdout.strip().splitlines()[-1]
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        dist_info = f"qaagent-{qaagent.__version__}.dist-info"
        metadata = email.parser.Parser().parsestr(archive.read(f"{dist_info}/METADATA").decode())
    assert f"{dist_info}/licenses/LICENSE" in names
    assert "qaagent/py.typed" in names
    assert "qaagent/report/assets/report.js" in names
    assert metadata["Version"] == qaagent.__version__
    assert metadata["License-Expression"] == "MIT"
    assert metadata.get_all("License-File") == ["LICENSE"]
    assert "Programming Language :: Python :: 3.13" in metadata.get_all("Classifier", [])
    assert any(url.startswith("Changelog, ") for url in metadata.get_all("Project-URL", []))
    assert metadata["Requires-Python"] == ">=3.11"


def _jsonschema() -> str:
    tool = Path(sys.executable).parent / "check-jsonschema"
    if not tool.is_file():
        pytest.fail("check-jsonschema is not installed (pip install -r requirements-dev.txt)")
    return str(tool)


def test_dependabot_config_is_schema_valid_and_covers_every_pinned_file() -> None:
    config_path = ROOT / ".github" / "dependabot.yml"
    result = subprocess.run(
        [_jsonschema(), "--builtin-schema", "vendor.dependabot", str(config_path)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    updates = yaml.safe_load(config_path.read_text(encoding="utf-8"))["updates"]
    covered: dict[str, set[str]] = {}
    for update in updates:
        dirs = update.get("directories") or [update["directory"]]
        covered.setdefault(update["package-ecosystem"], set()).update(dirs)

    def folder(path: Path) -> str:
        relative = path.parent.relative_to(ROOT).as_posix()
        return "/" if relative == "." else f"/{relative}"

    # Docker: every Dockerfile's folder; pip: every requirements file's folder.
    for ecosystem, pattern in (("docker", "Dockerfile"), ("pip", "requirements*.txt")):
        found = list(ROOT.glob(pattern))
        assert found, pattern
        for path in found:
            assert folder(path) in covered[ecosystem], (ecosystem, path)
    # GitHub actions: the workflows and every action metadata file that uses other actions.
    assert "/" in covered["github-actions"]
    for action in [*ROOT.glob("action.yml"), *ROOT.glob("*/action.yml")]:
        if re.search(r"^\s*(?:-\s+)?uses:", action.read_text(encoding="utf-8"), re.MULTILINE):
            assert folder(action) in covered["github-actions"], action


def test_ci_tests_every_supported_python_and_both_installs() -> None:
    ci = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text(encoding="utf-8"))
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    supported = sorted(
        c.rsplit(" ", 1)[1]
        for c in project["classifiers"]
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    )
    test = ci["jobs"]["test"]
    assert sorted(test["strategy"]["matrix"]["python"]) == supported == ["3.11", "3.12", "3.13"]
    setup = next(s for s in test["steps"] if s.get("uses", "").startswith("actions/setup-python@"))
    assert setup["with"]["python-version"] == "${{ matrix.python }}"
    assert project["requires-python"] == f">={supported[0]}"
    packaging = ci["jobs"]["packaging"]
    assert any(s.get("run") == "make package-test" for s in packaging["steps"])
    # the grader's CI entry runs the same smoke test
    assert re.search(r"^make package-test$", (ROOT / ".ci" / "run").read_text(encoding="utf-8"), re.MULTILINE)
    script = (ROOT / "scripts" / "package-test.sh").read_text(encoding="utf-8")
    for needed in ('install "$WORK/src"', "wheel --no-deps", "--version", "validate", "run-all", "verify"):
        assert needed in script, needed
