"""GitHub Actions workflow commands, written so untrusted text can never issue one.

This is the one writer and escaper of workflow commands: the console, the
error reporter, the action's entrypoint and its `setup` output all go through
it. The runner treats any stdout line that starts with `::` as a command. Test
names, failure messages and suite output are untrusted, so every value that
goes into a command is escaped the way the runner unescapes it (`%`, CR, LF;
in properties also `:` and `,`), Unicode line separators are neutralised,
plain log lines that quote untrusted text are defused (`defuse`), and
streamed output is wrapped in `::stop-commands::<random token>`.

Every value also passes the process's redactor (`qaagent.redact`) on its way
out — command messages and properties, step outputs, the job summary — except
the value of `::add-mask::`, which exists to tell the runner a secret.

Every writer takes a `TextIO` stream so tests assert the exact text.
"""

from __future__ import annotations

import re
import secrets
import weakref
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from qaagent import redact

#: characters that some consumers (Python's str.splitlines, log viewers) treat
#: as line breaks although the runner does not; they become an encoded newline
_EXTRA_LINE_BREAKS = ("\u2028", "\u2029", "\x85", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e")


def escape_data(value: str) -> str:
    """Escape the message part of a workflow command (after the second `::`)."""
    out = value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    for char in _EXTRA_LINE_BREAKS:
        out = out.replace(char, "%0A")
    return out


def escape_property(value: str) -> str:
    """Escape a property value (`file=…,title=…`): data escaping plus `:` and `,`."""
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


#: a `::` where the runner would see the start of a line: at the start of the text or after any
#: character that may break a line (CR, LF, VT, FF, FS-RS, NEL, LS, PS), past leading blanks
_COMMAND_START = re.compile(r"(^|[\r\n\x0b\x0c\x1c-\x1e\x85\u2028\u2029])(\s*)::")


def defuse(text: str) -> str:
    """Text in which no line can be taken for a workflow command (for plain log lines).

    A `::` at a line start becomes `: :`; the runner's older `##[command]` form, which it
    accepts anywhere in a line, becomes `## [`. Values inside a command are escaped with
    `escape_data`/`escape_property` instead.
    """
    return _COMMAND_START.sub(lambda m: f"{m[1]}{m[2]}: :", text).replace("##[", "## [")


def command(name: str, message: str = "", **props: object) -> str:
    """One workflow command line, without the trailing newline.

    Properties whose value is None are left out; the others are converted
    with `str()` and escaped. `name` and the property names are ours, never
    untrusted, and must be plain identifiers.
    """
    if not name.replace("-", "").isalnum():
        raise ValueError(f"invalid workflow command name: {name!r}")
    scrub = redact.current().redact
    parts = []
    for key, value in props.items():
        if value is None:
            continue
        if not key.isalnum():
            raise ValueError(f"invalid workflow command property: {key!r}")
        parts.append(f"{key}={escape_property(scrub(str(value)))}")
    head = f"::{name} {','.join(parts)}" if parts else f"::{name}"
    return f"{head}::{escape_data(scrub(message))}"


#: annotations GitHub shows per step, of each level (actions/toolkit, docs/problem-matchers.md)
ANNOTATIONS_PER_LEVEL = 10
ANNOTATION_LEVELS = ("error", "warning", "notice")
#: annotations written on each stream so far, per level
_ANNOTATED: weakref.WeakKeyDictionary[TextIO, dict[str, int]] = weakref.WeakKeyDictionary()


def write_command(stream: TextIO, name: str, message: str = "", **props: object) -> None:
    """Write one command line to `stream` and flush it (annotations are counted per stream)."""
    stream.write(command(name, message, **props) + "\n")
    stream.flush()
    if name in ANNOTATION_LEVELS:
        counts = _ANNOTATED.setdefault(stream, {})
        counts[name] = counts.get(name, 0) + 1


def annotations_left(stream: TextIO, level: str) -> int:
    """How many more `level` annotations GitHub will show for the step writing to `stream`."""
    return max(0, ANNOTATIONS_PER_LEVEL - _ANNOTATED.get(stream, {}).get(level, 0))


#: values already registered with `::add-mask::` on each stream (masking lasts for the job: once is enough)
_MASKED: weakref.WeakKeyDictionary[TextIO, set[str]] = weakref.WeakKeyDictionary()


def add_mask(value: str, stream: TextIO) -> None:
    """Ask the runner to mask `value` in all later log output (each line of it), once per stream."""
    done = _MASKED.setdefault(stream, set())
    for line in value.splitlines():
        if line.strip() and line not in done:
            # The one value written unredacted: the runner must learn the secret to hide it.
            stream.write(f"::add-mask::{escape_data(line)}\n")
            stream.flush()
            done.add(line)


def new_token() -> str:
    """A random, unguessable token for stop-commands and heredoc delimiters."""
    return secrets.token_hex(16)


def stop_commands_lines(token: str | None = None) -> tuple[str, str]:
    """The pair of lines that pause and resume command processing (no newlines).

    For code that streams suite output line by line from another thread:
    write the first line before the output and the second after it. The
    token is random so the output cannot resume command processing itself.
    """
    token = token or new_token()
    return f"::stop-commands::{token}", f"::{token}::"


@contextmanager
def stop_commands(stream: TextIO) -> Iterator[str]:
    """Pause command processing while the block writes untrusted output; yields the token."""
    start, end = stop_commands_lines()
    stream.write(start + "\n")
    stream.flush()
    try:
        yield start.rsplit("::", 1)[1]
    finally:
        stream.write(end + "\n")
        stream.flush()


def group(title: str, stream: TextIO) -> None:
    """Open a collapsible log group."""
    write_command(stream, "group", title)


def endgroup(stream: TextIO) -> None:
    """Close the innermost log group."""
    write_command(stream, "endgroup")


@contextmanager
def grouped(title: str, stream: TextIO) -> Iterator[None]:
    """A log group around the block (closed even when it raises)."""
    group(title, stream)
    try:
        yield
    finally:
        endgroup(stream)


def _check_output_name(name: str) -> None:
    if not name or "<<" in name or "=" in name or any(c in name for c in "\r\n") or name != name.strip():
        raise ValueError(f"invalid output name: {name!r}")


def format_outputs(mapping: Mapping[str, object]) -> str:
    """The text appended to GITHUB_OUTPUT: one `name<<DELIM` heredoc per value.

    The heredoc form is used for every value, with a random delimiter that is
    checked not to occur in the value, so no value can inject another output.
    """
    chunks = []
    scrub = redact.current().redact
    for name, raw in mapping.items():
        _check_output_name(name)
        value = "" if raw is None else scrub(str(raw))
        delimiter = f"ghadelimiter_{new_token()}"
        while delimiter in value:  # pragma: no cover - 128 random bits
            delimiter = f"ghadelimiter_{new_token()}"
        chunks.append(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")
    return "".join(chunks)


def write_outputs(path: str | Path, mapping: Mapping[str, object]) -> None:
    """Append step outputs to the GITHUB_OUTPUT file at `path`."""
    text = format_outputs(mapping)
    with Path(path).open("a", encoding="utf-8", newline="\n") as handle:
        handle.write(text)


def append_summary(path: str | Path, text: str) -> None:
    """Append Markdown to the GITHUB_STEP_SUMMARY file at `path` (redacted)."""
    text = redact.current().redact(text)
    with Path(path).open("a", encoding="utf-8", newline="\n") as handle:
        handle.write(text if text.endswith("\n") else text + "\n")
