"""Release steps of .github/workflows/release.yml that must be right: kept here to be tested.

    release_action.py check-tag TAG [--remote REMOTE]
        TAG is `vX.Y.Z`, equal to `v` + qaagent.__version__, and CHANGELOG.md has a
        non-empty `## [X.Y.Z]` section. Prints `version=X.Y.Z` and `major=vX` (for
        GITHUB_OUTPUT); with --remote also `major-moves=true|false`: whether vX.Y.Z is the
        highest vX.y.z tag of REMOTE, so that the major tag (of git and of the image) moves
        to it. A backport (v1.0.1 after v1.1.0) leaves both where they are.
    release_action.py notes VERSION
        The body of CHANGELOG.md's section for VERSION (the GitHub release's notes).
    release_action.py rewrite-action IMAGE_REF [--action PATH]
        Point `runs.image` of the Docker action.yml at the published image:
        `image: docker://ghcr.io/OWNER/REPO@sha256:<64 hex>`. Everything else stays as it is.
    release_action.py release --tag TAG --image-ref IMAGE_REF [--push REMOTE]
        On a checkout of the tagged (source) commit: commit the rewritten action.yml on top
        of it ("Release vX.Y.Z"), point the tag vX.Y.Z at that release commit, and point the
        major tag vX there too when vX.Y.Z is the highest vX.y.z tag of REMOTE. With
        --push, push those tags (forced, atomic) to REMOTE. Prints `commit=`,
        `major-moved=` and `latest=` lines.

Run from the repository root (or pass --root). Any bad input is one line on stderr and
exit status 2; a failed git command is exit status 3.
"""

from __future__ import annotations

import argparse
import ast
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

TAG = re.compile(r"v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)")
#: one path component of an image name, as the OCI distribution reference grammar has it:
#: lower-case alphanumerics joined by `.`, `_`, `__` or any run of `-` (`my--repo` is valid)
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
#: what a released action.yml may name: the GitHub container registry, by digest only
IMAGE_REF = re.compile(rf"ghcr\.io/{_COMPONENT}/{_COMPONENT}@sha256:[0-9a-f]{{64}}")
DEV_IMAGE_LINE = "  image: Dockerfile"


class ReleaseError(Exception):
    """Bad input: printed as one line, exit status 2."""


@dataclass(frozen=True, order=True)
class Version:
    """A release version X.Y.Z, ordered numerically."""

    major: int
    minor: int
    patch: int

    @classmethod
    def from_tag(cls, tag: str) -> Version:
        """Parse `vX.Y.Z` (no prefix zeros, no suffix), or raise ReleaseError."""
        match = TAG.fullmatch(tag)
        if match is None:
            raise ReleaseError(f"tag {tag!r} is not a release tag vX.Y.Z")
        return cls(*(int(part) for part in match.groups()))

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"

    @property
    def tag(self) -> str:
        """`vX.Y.Z`."""
        return f"v{self}"

    @property
    def major_tag(self) -> str:
        """`vX`, the tag `uses: org/repo@vX` resolves."""
        return f"v{self.major}"


def package_version(root: Path) -> str:
    """`qaagent.__version__`, read from the source (nothing is imported)."""
    path = root / "qaagent" / "__init__.py"
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "__version__" for t in node.targets)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            return node.value.value
    raise ReleaseError(f"{path}: no __version__ = '...' assignment")


def changelog_notes(text: str, version: str) -> str:
    """The body of the `## [VERSION]` section (Keep a Changelog), or raise ReleaseError."""
    heading = re.compile(rf"^## \[?{re.escape(version)}\]?(?:\s.*)?$")
    lines = text.splitlines()
    for start, line in enumerate(lines):
        if heading.match(line):
            body: list[str] = []
            for following in lines[start + 1 :]:
                if following.startswith("## "):
                    break
                body.append(following)
            notes = "\n".join(body).strip()
            if not notes:
                raise ReleaseError(f"CHANGELOG.md: the section for {version} is empty")
            return notes + "\n"
    raise ReleaseError(
        f"CHANGELOG.md has no section '## [{version}]' (rename '## [Unreleased]' when releasing)"
    )


def check_tag(root: Path, tag: str) -> Version:
    """The version of TAG, which must be the package's version and have release notes."""
    version = Version.from_tag(tag)
    declared = package_version(root)
    if declared != str(version):
        raise ReleaseError(
            f"tag {tag} does not match qaagent.__version__ {declared!r} in qaagent/__init__.py:"
            " bump the version in a commit first, then tag that commit"
        )
    changelog_notes((root / "CHANGELOG.md").read_text(encoding="utf-8"), str(version))
    return version


def _without_image(action: object) -> object:
    if not isinstance(action, dict) or not isinstance(action.get("runs"), dict):
        msg = "action.yml: no `runs` mapping"
        raise ReleaseError(msg)
    return {**action, "runs": {k: v for k, v in action["runs"].items() if k != "image"}}


def released_action(text: str, image_ref: str) -> str:
    """The Docker action.yml TEXT with `runs.image` pointing at IMAGE_REF, all else unchanged."""
    if not IMAGE_REF.fullmatch(image_ref):
        raise ReleaseError(
            f"image reference {image_ref!r} is not ghcr.io/<owner>/<repo>@sha256:<64 hex digits> (lower case)"
        )
    lines = text.split("\n")
    found = [index for index, line in enumerate(lines) if line.rstrip() == DEV_IMAGE_LINE]
    if len(found) != 1:
        raise ReleaseError(
            f"action.yml must contain the line {DEV_IMAGE_LINE.strip()!r} exactly once (found {len(found)}):"
            " is this already a release commit?"
        )
    lines[found[0]] = f"  image: docker://{image_ref}"
    released = "\n".join(lines)
    before, after = yaml.safe_load(text), yaml.safe_load(released)
    if (
        after["runs"] != {**before["runs"], "image": f"docker://{image_ref}"}
        or after["runs"]["using"] != "docker"
    ):
        raise ReleaseError(f"action.yml: runs is not a Docker action after the rewrite: {after['runs']!r}")
    if _without_image(before) != _without_image(after):
        msg = "action.yml: the rewrite changed more than runs.image"
        raise ReleaseError(msg)
    return released


def _git(root: Path, *args: str) -> str:
    result = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        sys.stderr.write(f"release_action: git {' '.join(args)} failed: {detail[-1] if detail else ''}\n")
        raise SystemExit(3)
    return result.stdout


def remote_versions(root: Path, remote: str) -> list[Version]:
    """The release versions tagged on REMOTE (tags that are not vX.Y.Z are ignored)."""
    versions = []
    for line in _git(root, "ls-remote", "--tags", "--refs", remote).splitlines():
        name = line.split("\t", 1)[-1].removeprefix("refs/tags/")
        if TAG.fullmatch(name):
            versions.append(Version.from_tag(name))
    return versions


def moves_major(version: Version, others: list[Version]) -> bool:
    """Whether the major tag vX moves to VERSION: it is the highest vX.y.z of OTHERS and itself.

    The one rule for both tags that follow a major line: the git tag `vX` (`uses: org/repo@vX`)
    and the image tag `:vX`. A backport to an older minor line moves neither.
    """
    return all(other <= version for other in others if other.major == version.major)


@dataclass(frozen=True)
class Release:
    """What `release` did."""

    commit: str
    major_moved: bool
    latest: bool


def release(root: Path, tag: str, image_ref: str, push: str | None, remote: str) -> Release:
    """Commit the released action.yml on the checked-out source commit and tag it."""
    version = check_tag(root, tag)
    if _git(root, "status", "--porcelain", "--untracked-files=no").strip():
        msg = "the checkout has uncommitted changes: a release commit must hold action.yml only"
        raise ReleaseError(msg)
    action = root / "action.yml"
    action.write_text(released_action(action.read_text(encoding="utf-8"), image_ref), encoding="utf-8")
    _git(root, "add", "action.yml")
    _git(
        root, "commit", "--quiet", "-m", f"Release {version.tag}",
        "-m", f"action.yml runs the published image {image_ref}\n(built from the parent's Dockerfile).",
    )  # fmt: skip
    commit = _git(root, "rev-parse", "HEAD").strip()
    _git(root, "tag", "--force", "--annotate", version.tag, "-m", f"qaagent {version}", commit)
    others = remote_versions(root, remote)
    major_moved = moves_major(version, others)
    latest = all(other <= version for other in others)
    refs = [f"refs/tags/{version.tag}"]
    if major_moved:
        _git(root, "tag", "--force", version.major_tag, commit)
        refs.append(f"refs/tags/{version.major_tag}")
    if push is not None:
        _git(root, "push", "--quiet", "--force", "--atomic", push, *refs)
    return Release(commit=commit, major_moved=major_moved, latest=latest)


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand; see the module docstring."""
    parser = argparse.ArgumentParser(prog="release_action.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="repository root (default: .)")
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check-tag")
    check.add_argument("tag")
    check.add_argument("--remote", default=None, help="also print major-moves= for REMOTE's tags")
    commands.add_parser("notes").add_argument("version")
    rewrite = commands.add_parser("rewrite-action")
    rewrite.add_argument("image_ref")
    rewrite.add_argument("--action", type=Path, default=None, help="default: ROOT/action.yml")
    make = commands.add_parser("release")
    make.add_argument("--tag", required=True)
    make.add_argument("--image-ref", required=True)
    make.add_argument("--remote", default="origin", help="where existing release tags are read from")
    make.add_argument("--push", default=None, metavar="REMOTE", help="push the tags to REMOTE")
    args = parser.parse_args(argv)
    root: Path = args.root
    try:
        if args.command == "check-tag":
            version = check_tag(root, args.tag)
            print(f"version={version}\nmajor={version.major_tag}")
            if args.remote is not None:
                moves = moves_major(version, remote_versions(root, args.remote))
                print(f"major-moves={str(moves).lower()}")
        elif args.command == "notes":
            print(changelog_notes((root / "CHANGELOG.md").read_text(encoding="utf-8"), args.version), end="")
        elif args.command == "rewrite-action":
            path = args.action or root / "action.yml"
            path.write_text(
                released_action(path.read_text(encoding="utf-8"), args.image_ref), encoding="utf-8"
            )
        else:
            done = release(root, args.tag, args.image_ref, args.push, args.remote)
            print(f"commit={done.commit}")
            print(f"major-moved={str(done.major_moved).lower()}")
            print(f"latest={str(done.latest).lower()}")
    except (ReleaseError, OSError) as error:
        sys.stderr.write(f"release_action: {error}\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
