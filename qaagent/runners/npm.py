"""npm knowledge the Playwright runner needs: is a package installed, and how to install it.

A Playwright project runs from its own `node_modules`. When that folder is
missing, qaagent installs exactly what the lockfile says with `npm ci` — never
`npm install`, which would rewrite the lockfile and run with versions nobody
reviewed. A project without a lockfile is refused with a message telling the
user to commit one; yarn and pnpm projects are told to install before qaagent
runs (a `setup` command in the Docker action).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

#: lockfiles `npm ci` accepts
NPM_LOCKFILES = ("package-lock.json", "npm-shrinkwrap.json")
#: lockfiles of other package managers, with the command that installs from them
OTHER_LOCKFILES = {
    "yarn.lock": "yarn install --frozen-lockfile",
    "pnpm-lock.yaml": "pnpm install --frozen-lockfile",
    "bun.lockb": "bun install --frozen-lockfile",
    "bun.lock": "bun install --frozen-lockfile",
}


@dataclass(frozen=True)
class InstallPlan:
    """What to do about a project's dependencies before its tests run."""

    #: the folder with package.json (where `npm ci` runs), or None when there is none
    package_dir: Path | None
    #: the argv to run first, or () when nothing needs installing
    argv: tuple[str, ...] = ()
    #: why the project cannot run (no package.json, no lockfile), or None
    problem: str | None = None


def installed(package: str, start: Path) -> Path | None:
    """The folder of `package` as Node would resolve it from `start` (walking up), or None."""
    for folder in (start, *start.parents):
        candidate = folder / "node_modules" / package
        if (candidate / "package.json").is_file():
            return candidate
    return None


def package_dir(start: Path, stop: Path) -> Path | None:
    """The nearest folder from `start` up to `stop` (inclusive) holding a package.json."""
    for folder in (start, *start.parents):
        if (folder / "package.json").is_file():
            return folder
        if folder == stop:
            break
    return None


def plan_install(project: Path, repo_root: Path, package: str, *, show: str) -> InstallPlan:
    """Decide whether `package` must be installed for `project`, and how.

    `show` is how to name the project folder in messages (relative to the repository).
    """
    if installed(package, project) is not None:
        return InstallPlan(package_dir(project, repo_root))
    folder = package_dir(project, repo_root)
    if folder is None:
        return InstallPlan(
            None,
            problem=(
                f"{package} is not installed and there is no package.json in {show} or above it: "
                f"add {package} to the project's package.json and commit its package-lock.json"
            ),
        )
    for name in NPM_LOCKFILES:
        if (folder / name).is_file():
            argv = ("npm", "ci", "--no-audit", "--no-fund", "--prefer-offline")
            return InstallPlan(folder, argv=argv)
    for name, command in OTHER_LOCKFILES.items():
        if (folder / name).is_file():
            return InstallPlan(
                folder,
                problem=(
                    f"{package} is not installed in {show} and qaagent installs only with npm: "
                    f"run `{command}` before qaagent (e.g. the action's `setup` input)"
                ),
            )
    return InstallPlan(
        folder,
        problem=(
            f"{package} is not installed in {show} and there is no package-lock.json to install it from: "
            "run `npm install` once and commit package-lock.json (qaagent installs with `npm ci`)"
        ),
    )
