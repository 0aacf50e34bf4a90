"""The history's comparison with the base branch, as each writer shows it (it is computed once).

`qaagent.history.live.RunHistory.judge` computes the `Comparison` before the reports;
the job summary, the check run and the PR comment (`qaagent.report.markdown`) and
report.html (`qaagent.report.html`, from the manifest's ``history``: `document`) only
render it, here: the groups *new*, *still
failing* (with since when), *flaky* (with its rate), *quarantined* and *fixed*, each
with its count and its first tests. Test ids are untrusted: escaped for Markdown
(`escape_text`), set as text by report.html's script, and cut.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from qaagent.text import escape_text, one_line, shorten

if TYPE_CHECKING:
    from qaagent.evidence.sections import History


# What the writers read of `qaagent.history.compare.Comparison` (a layer above the reports).
class _Test(Protocol):
    @property
    def text(self) -> str: ...


class _Entry(Protocol):
    @property
    def test(self) -> _Test: ...
    @property
    def note(self) -> str: ...


class _Base(Protocol):
    @property
    def run_id(self) -> str: ...
    @property
    def commit(self) -> str: ...
    @property
    def started(self) -> str: ...


class Comparison(Protocol):
    """A run against its base branch, as `qaagent.history.compare.Comparison` holds it."""

    @property
    def base_branch(self) -> str:
        """The branch compared with ('' for a push)."""

    @property
    def base(self) -> _Base | None:
        """Its latest recorded run (None: none)."""

    @property
    def shown(self) -> bool:
        """Whether a section is shown at all."""

    @property
    def base_label(self) -> str:
        """The run compared with, in words."""

    def groups(self) -> Sequence[tuple[str, str, Sequence[_Entry]]]:
        """(key, heading, entries) per group, in order."""


#: characters of a test id shown
ID_CHARS = 300
#: tests listed per group in report.html (the Markdown's number depends on its size budget)
HTML_SHOWN = 100


def markdown_section(found: Comparison | None, shown: int) -> str:
    """The summary's section: a line of counts per group and its first `shown` tests ('' if nothing)."""
    if found is None or not found.shown:
        return ""
    groups = [g for g in found.groups() if g[2]]
    out = [f"### Against the base branch: {_markdown_label(found)}\n\n"]
    if not groups:
        out.append("No failures, flaky, quarantined or fixed tests against it.\n\n")
    for _, heading, entries in groups:
        out.append(f"**{heading}: {len(entries)}**\n\n")
        for entry in entries[:shown]:
            name = escape_text(shorten(one_line(entry.test.text), ID_CHARS))
            out.append(f"- {name} — {escape_text(entry.note)}\n")
        if len(entries) > shown:
            out.append(f"- …and {len(entries) - shown:,} more\n")
        out.append("\n" if shown else "")
    return "".join(out)


def _markdown_label(found: Comparison) -> str:
    """`Comparison.base_label` with only its untrusted parts escaped (branch, run id, commit)."""
    if not found.base_branch:
        return found.base_label  # our own words
    if found.base is None:
        return f"{escape_text(found.base_branch)}: no recorded run to compare with"
    commit = f", commit {escape_text(found.base.commit[:12])}" if found.base.commit else ""
    return f"{escape_text(found.base_branch)} (run {escape_text(found.base.run_id)}{commit})"


def document(found: Comparison | None) -> dict[str, Any] | None:
    """The comparison as the manifest keeps it (``history``) and report.html shows it (its data block).

    report.html renders it with the page's script as text, like the test names, and
    `qaagent report` rebuilds the same page from the manifest alone. None: nothing to show.
    """
    if found is None or not found.shown:
        return None
    return {
        "base_branch": found.base_branch,
        "base": None
        if found.base is None
        else {"run_id": found.base.run_id, "commit": found.base.commit, "started": found.base.started},
        "label": found.base_label,
        "groups": [
            {
                "key": key,
                "heading": heading,
                "count": len(entries),
                "tests": [
                    {"id": shorten(one_line(e.test.text), ID_CHARS), "note": e.note}
                    for e in entries[:HTML_SHOWN]
                ],
            }
            for key, heading, entries in found.groups()
            if entries
        ],
    }


def html_groups(found: History | None) -> dict[str, Any] | None:
    """The manifest's ``history`` (typed by the bundle reader) as report.html's data, cut to size."""
    if found is None:
        return None
    groups = []
    for group in found.groups[:10]:
        tests = [{"id": t.id[:ID_CHARS], "note": t.note[:ID_CHARS]} for t in group.tests[:HTML_SHOWN]]
        count = len(tests) if group.count is None else group.count
        groups.append({"key": group.key[:40], "heading": group.heading[:200], "count": count, "tests": tests})
    return {"label": found.label[: ID_CHARS + 100], "groups": groups}
