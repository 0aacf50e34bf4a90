"""Small readers for scripts/container-test.sh: action.yml, the outputs file, a manifest, apt's mirror.

The shell script must not hard-code the action's inputs (every declared input is
passed as `INPUT_<NAME>`, empty when unset, like the Actions runner does), the
outputs it checks, or the Debian mirror it builds the stand-in base image from,
so it asks this file. Run with the repository's `.venv` Python (PyYAML). Usage:

    helper.py inputs ACTION_YML          one input name a line
    helper.py outputs ACTION_YML         one output name a line
    helper.py check-outputs ACTION_YML FILE
                                              every declared output present in a
                                              GITHUB_OUTPUT file; prints name=value
    helper.py get FILE NAME              one value from a GITHUB_OUTPUT file
    helper.py manifest-status BUNDLE     the `status` of BUNDLE/manifest.json
    helper.py mirror SUITE                the first `deb` URI apt uses for SUITE (from
                                          /etc/apt/sources.list.d/*.sources and *.list,
                                          /etc/apt/sources.list)
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import yaml


def _declared(action_yml: Path, key: str) -> list[str]:
    data = yaml.safe_load(action_yml.read_text(encoding="utf-8"))
    section = data.get(key) if isinstance(data, dict) else None
    if not isinstance(section, dict):
        msg = f"{action_yml}: no '{key}' mapping"
        raise SystemExit(msg)
    return [str(name) for name in section]


def parse_outputs(text: str) -> dict[str, str]:
    """Parse the GITHUB_OUTPUT file format: `name=value` lines and `name<<DELIM` heredocs."""
    values: dict[str, str] = {}
    lines = text.split("\n")
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if not line:
            continue
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            body: list[str] = []
            while index < len(lines) and lines[index] != delimiter:
                body.append(lines[index])
                index += 1
            if index >= len(lines):
                msg = f"output {name!r}: delimiter {delimiter!r} never closes"
                raise SystemExit(msg)
            index += 1
            values[name] = "\n".join(body)
        elif "=" in line:
            name, value = line.split("=", 1)
            values[name] = value
        else:
            msg = f"unreadable line in the outputs file: {line!r}"
            raise SystemExit(msg)
    return values


APT_DIR = Path("/etc/apt")


def _deb822_mirrors(text: str, suite: str) -> list[str]:
    found: list[str] = []
    for stanza in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line.startswith("#") or ":" not in line or line[:1].isspace():
                continue
            key, value = line.split(":", 1)
            fields[key.strip().lower()] = value.strip()
        if fields.get("enabled", "yes").lower() == "no":
            continue
        if "deb" in fields.get("types", "").split() and suite in fields.get("suites", "").split():
            found += fields.get("uris", "").split()[:1]
    return found


def _one_line_mirrors(text: str, suite: str) -> list[str]:
    found: list[str] = []
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if words[:1] != ["deb"]:
            continue
        words = words[1:]
        if words and words[0].startswith("["):
            while words and not words[0].endswith("]"):
                words.pop(0)
            words = words[1:]
        if words[1:2] == [suite]:
            found.append(words[0])
    return found


def apt_mirror(suite: str, apt_dir: Path = APT_DIR) -> str:
    """The first enabled `deb` URI of `suite` in apt's sources; '' when there is none."""
    files = sorted((apt_dir / "sources.list.d").glob("*.sources")) + sorted(
        (apt_dir / "sources.list.d").glob("*.list")
    )
    for path in [*files, apt_dir / "sources.list"]:
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        found = _deb822_mirrors(text, suite) if path.suffix == ".sources" else _one_line_mirrors(text, suite)
        if found:
            return found[0]
    return ""


def _names(action_yml: str, key: str) -> int:
    print("\n".join(_declared(Path(action_yml), key)))
    return 0


def _check_outputs(action_yml: str, output_file: str) -> int:
    declared = _declared(Path(action_yml), "outputs")
    values = parse_outputs(Path(output_file).read_text(encoding="utf-8"))
    for name in declared:
        if name in values:
            print(f"  {name}={values[name]!r}")
    missing = [name for name in declared if name not in values]
    if missing:
        print(f"  missing outputs: {', '.join(missing)}")
        return 1
    return 0


def _get(output_file: str, name: str) -> int:
    print(parse_outputs(Path(output_file).read_text(encoding="utf-8")).get(name, ""))
    return 0


def _manifest_status(bundle: str) -> int:
    manifest = json.loads((Path(bundle) / "manifest.json").read_text(encoding="utf-8"))
    print(manifest.get("status", "") if isinstance(manifest, dict) else "")
    return 0


def _mirror(suite: str) -> int:
    mirror = apt_mirror(suite)
    print(mirror)
    return 0 if mirror else 1


COMMANDS: dict[str, Callable[..., int]] = {
    "inputs": lambda action_yml: _names(action_yml, "inputs"),
    "outputs": lambda action_yml: _names(action_yml, "outputs"),
    "check-outputs": _check_outputs,
    "get": _get,
    "manifest-status": _manifest_status,
    "mirror": _mirror,
}


def main(argv: list[str]) -> int:
    """Run one subcommand (see the module docstring); returns the exit status."""
    command = COMMANDS.get(argv[0]) if argv else None
    if command is None:
        sys.stderr.write(__doc__ or "")
        return 2
    try:
        return command(*argv[1:])
    except TypeError:
        sys.stderr.write(f"helper.py {argv[0]}: wrong number of arguments\n")
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
