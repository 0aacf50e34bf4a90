"""Reading a profile: YAML read safely, validated into `qaagent.profile`'s models, errors naming the line.

The YAML loader refuses duplicate keys and alias bombs and remembers where each key is, so
a validation error says ``(line N)``; `load_profile` also refuses a profile that is not a
regular file or is larger than `MAX_PROFILE_BYTES`. `files_profile` is the profile the
`files:` input / `--files` builds when there is none.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from qaagent.errors import ProfileError
from qaagent.files import FileTooLargeError, NotRegularFileError, read_regular
from qaagent.profile import FILES_SUITE, LoadedProfile, Profile

#: a profile larger than this is refused before YAML parsing
MAX_PROFILE_BYTES = 1024 * 1024
#: aliases allowed in one profile (guards against alias-expansion bombs)
MAX_ALIASES = 100


def files_profile(
    files: tuple[str, ...],
    *,
    directory: Path,
    format: str | None = None,  # noqa: A002 - the profile's key
    project: str = "project",
) -> LoadedProfile:
    """The profile `--files`/the `files:` input stands for: one `report` suite, no file read.

    Its YAML text is what the user would write; the checksum the manifest records is that
    text's, so two runs publishing the same globs record the same profile.
    """
    import json  # noqa: PLC0415 - only this path needs it

    suite: dict[str, Any] = {"runner": "report", "files": list(files)}
    if format is not None:
        suite["format"] = format
    text = yaml.safe_dump(
        {"project": {"name": project}, "tests": {FILES_SUITE: suite}}, sort_keys=False, allow_unicode=True
    )
    where = f"--files {json.dumps(list(files), ensure_ascii=False)}"
    profile = parse_profile(text, where)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    path = directory.resolve() / ".qaagent.yaml"
    return LoadedProfile(profile=profile, path=path, sha256=digest, generated=True)


class _LoaderError(Exception):
    """A problem found while composing the YAML (duplicates, alias bombs)."""


#: the integers the profile's YAML reads as numbers: plain decimal ones (YAML 1.1 also reads
#: ``+3``, ``1_000``, ``0x10``, ``0o7`` and ``1:30`` as integers, which no flag or input takes;
#: as text, the one validator of each option refuses them with its message)
_PLAIN_INT = re.compile(r"^-?(?:0|[1-9][0-9]*)$")
_INT_TAG = "tag:yaml.org,2002:int"


def _strict_int_resolvers() -> dict[Any, list[tuple[str, re.Pattern[str]]]]:
    table = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != _INT_TAG]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    for first in "-0123456789":
        table.setdefault(first, []).insert(0, (_INT_TAG, _PLAIN_INT))
    return table


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys and alias bombs, and remembers lines."""

    aliases = 0
    yaml_implicit_resolvers = _strict_int_resolvers()

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                msg = f"more than {MAX_ALIASES} YAML aliases (line {mark.line + 1})"
                raise _LoaderError(msg)
        return super().compose_node(parent, index)

    def construct_yaml_int(self, node: Any) -> int:
        try:
            return int(super().construct_yaml_int(node))
        except ValueError:  # more digits than int() takes (sys.get_int_max_str_digits)
            msg = f"a number too long to read (line {node.start_mark.line + 1})"
            raise _LoaderError(msg) from None

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:  # noqa: FBT001, FBT002 - PyYAML's signature
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            try:
                if key in seen:
                    msg = f"duplicate key {key!r} at line {line} (first at line {seen[key]})"
                    raise _LoaderError(msg)
                seen[key] = line
            except TypeError:
                continue
        return super().construct_mapping(node, deep=deep)


_Loader.add_constructor("tag:yaml.org,2002:int", _Loader.construct_yaml_int)


def _lines_of(
    node: yaml.Node,
    prefix: tuple[str | int, ...],
    out: dict[tuple[str | int, ...], int],
    seen: set[int] | None = None,
) -> None:
    out[prefix] = node.start_mark.line + 1
    # An alias is the same node object again: walk each node once, or a few
    # dozen aliases (a "billion laughs" profile) would make this walk exponential.
    seen = set() if seen is None else seen
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.start_mark.line)
            out[(*prefix, key)] = key_node.start_mark.line + 1
            _lines_of(value_node, (*prefix, key), out, seen)
            out[(*prefix, key)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _lines_of(item, (*prefix, index), out, seen)


def _line_for(loc: tuple[str | int, ...], lines: dict[tuple[str | int, ...], int]) -> int | None:
    path = tuple(loc)
    while path:
        normalized = tuple(str(p) if not isinstance(p, int) else p for p in path)
        if normalized in lines:
            return lines[normalized]
        path = path[:-1]
    return None


def _loc_in_message(message: str) -> tuple[str | int, ...]:
    """Where a whole-profile check points (its messages name the suite or `run.suite_order`)."""
    if message.startswith("run.suite_order"):
        return ("run", "suite_order")
    named = re.match(r"suite (?:name )?'([^']*)'", message)
    return ("tests", named[1]) if named else ()


def _format_validation(error: ValidationError, where: str, lines: dict[tuple[str | int, ...], int]) -> str:
    parts: list[str] = []
    for item in error.errors()[:3]:
        loc = tuple(p for p in item["loc"] if p not in ("function-after", "function-before"))
        dotted = ".".join(str(p) for p in loc if not str(p).startswith(("function-", "constrained-")))
        message = item["msg"].removeprefix("Value error, ")
        line = _line_for(loc or _loc_in_message(message), lines)
        if item["type"] == "extra_forbidden":
            message = "unknown key (not allowed here)"
        elif item["type"] == "missing":
            message = "required key is missing"
        field_text = f"{dotted}: " if dotted else ""
        line_text = f" (line {line})" if line else ""
        parts.append(f"{field_text}{message}{line_text}")
    more = len(error.errors()) - len(parts)
    suffix = f" (+{more} more)" if more > 0 else ""
    return f"{where}: invalid profile: {'; '.join(parts)}{suffix}"


def parse_profile(text: str, where: str = "profile") -> Profile:
    """Validate profile text; raise `ProfileError` with a one-line message."""
    try:
        loader = _Loader(text)  # checks every character at once
    except yaml.reader.ReaderError as exc:
        at_line = text[: exc.position].count("\n") + 1
        char = exc.character if isinstance(exc.character, int) else ord(str(exc.character)[:1] or "\0")
        msg = f"{where}: YAML error at line {at_line}: the control character U+{char:04X} is not allowed"
        raise ProfileError(msg) from None
    try:
        node = loader.get_single_node()
        if node is None:
            msg = f"{where}: the profile is empty"
            raise ProfileError(msg)
        lines: dict[tuple[str | int, ...], int] = {}
        _lines_of(node, (), lines)
        data = loader.construct_document(node)
    except _LoaderError as exc:
        msg = f"{where}: {exc}"
        raise ProfileError(msg) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = exc.problem or exc.context or "syntax error"
        msg = f"{where}: YAML syntax error{line}: {problem}"
        raise ProfileError(msg) from None
    except yaml.YAMLError as exc:
        msg = f"{where}: YAML error: {exc}"
        raise ProfileError(msg) from None
    except RecursionError:
        msg = f"{where}: the profile is nested too deeply"
        raise ProfileError(msg) from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        kind = type(data).__name__ if data is not None else "empty"
        msg = f"{where}: the profile must be a mapping (got {kind})"
        raise ProfileError(msg)
    try:
        return Profile.model_validate(data)
    except ValidationError as exc:
        raise ProfileError(_format_validation(exc, where, lines)) from None
    except RecursionError:
        msg = f"{where}: the profile is nested too deeply"
        raise ProfileError(msg) from None


def load_profile(path: Path) -> LoadedProfile:
    """Read and validate a profile file."""
    where = str(path)
    try:
        if path.is_dir():
            msg = f"{where}: is a directory, not a profile file"
            raise ProfileError(msg)
        raw = read_regular(path, MAX_PROFILE_BYTES)  # a FIFO or /dev/zero is refused, not read
    except FileNotFoundError:
        msg = (
            f"{where}: profile not found: write one with `qaagent init` (it detects the project's "
            "suites), or publish result files written earlier with `--files GLOB`"
        )
        raise ProfileError(msg) from None
    except FileTooLargeError as exc:
        msg = f"{where}: the profile {exc.strerror}; at most {MAX_PROFILE_BYTES} are read"
        raise ProfileError(msg) from None
    except NotRegularFileError as exc:
        msg = f"{where}: the profile {exc.strerror}"
        raise ProfileError(msg) from None
    except OSError as exc:
        msg = f"{where}: cannot read the profile: {exc.strerror or exc}"
        raise ProfileError(msg) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        msg = f"{where}: the profile is not UTF-8 (bad byte at line {line})"
        raise ProfileError(msg) from None
    if "\x00" in text:
        msg = f"{where}: the profile contains a NUL byte (is it a binary file?)"
        raise ProfileError(msg)
    profile = parse_profile(text, where)
    return LoadedProfile(profile=profile, path=path.resolve(), sha256=hashlib.sha256(raw).hexdigest())
