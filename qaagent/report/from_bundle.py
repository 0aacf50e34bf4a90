"""report.html rebuilt from a bundle alone (`qaagent report BUNDLE`).

manifest.json through the one bundle reader, tests.jsonl.gz for each row and junit.xml
for tracebacks, captured output and earlier attempts, fed to the same writer a run uses
(`qaagent.report.html.HtmlReport`); the new page's checksum goes into the manifest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from qaagent.errors import JUnitError
from qaagent.evidence.read import BundleError, iter_records, open_manifest
from qaagent.evidence.verify import record_file
from qaagent.files import StreamedFile
from qaagent.junit.read import iter_junit_cases
from qaagent.report.html import REPORT_NAME, STATUS_CODE, HtmlReport
from qaagent.results import TestCase
from qaagent.stream import BATCH, ReportCase, ReportRerun

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from qaagent.evidence.read import Record


def load_manifest(bundle_dir: Path) -> dict[str, Any]:
    """The bundle's manifest through the one door, as the JSON object the page's writer takes.

    A `UsageError` when it is not a readable bundle.
    """
    try:
        return open_manifest(bundle_dir).document
    except BundleError as exc:
        raise BundleError(f"{bundle_dir}: not an evidence bundle ({exc.message})") from None


class BundleCases:
    """A finished bundle's cases as `ReportCase`s: tests.jsonl.gz for each row, junit.xml for details.

    tests.jsonl was written case by case while junit.xml was streamed, so the
    n-th record is the n-th test case; a name that does not match leaves that
    case without details rather than showing another test's traceback. `note`
    says when junit.xml could not be (fully) read.
    """

    def __init__(self, bundle_dir: Path) -> None:
        self.bundle_dir = bundle_dir
        self.note: str | None = None

    def __iter__(self) -> Iterator[ReportCase]:
        details = self._junit()
        for index, record in enumerate(iter_records(self.bundle_dir)):
            found = next(details, None) if details is not None else None
            if found is None and details is not None and self.note is None:
                self.note = "junit.xml holds fewer cases than tests.jsonl.gz: some details are not shown"
                details = None
            yield _rebuilt(record, found if found is not None and found.name == record.name else None, index)

    def _junit(self) -> Iterator[TestCase] | None:
        path = self.bundle_dir / "junit.xml"
        if not path.is_file():
            self.note = "junit.xml is missing: tracebacks and captured output are not shown"
            return None
        return self._read(path)

    def _read(self, path: Path) -> Iterator[TestCase]:
        try:
            yield from iter_junit_cases(path, suite="", base_dir=self.bundle_dir, repo_root=self.bundle_dir)
        except JUnitError as error:
            self.note = f"junit.xml could not be read completely: {error}"


def _rebuilt(record: Record, junit: TestCase | None, index: int) -> ReportCase:
    """A row of the page from its record, with the details of its junit.xml case when it has one."""
    case = TestCase(
        record.suite,
        record.classname,
        record.name,
        record.status if record.status in STATUS_CODE else "error",  # type: ignore[arg-type]
        record.duration,
        record.file,
        record.line,
        attempts=record.attempts,
        flaky=record.flaky,
        artifacts=record.artifacts,
    )
    if junit is None:
        return ReportCase(
            case, index, record.suite, record.classname, record.name, record.file, record.category,
            record.message, artifacts=record.artifacts,
        )  # fmt: skip
    reruns = tuple(
        ReportRerun(r.status, r.message, r.type, r.details, r.stdout, r.stderr, r.duration)
        for r in junit.reruns
    )
    return ReportCase(
        case, index, record.suite, record.classname, record.name, record.file, record.category,
        junit.message or record.message, junit.type, junit.details, junit.stdout, junit.stderr, reruns,
        record.artifacts,
    )  # fmt: skip


def write_report(bundle_dir: Path) -> Path:
    """Rebuild report.html from the bundle alone and record its checksum in the manifest (atomically)."""
    manifest = load_manifest(bundle_dir)
    source = BundleCases(bundle_dir)
    out = StreamedFile(bundle_dir / REPORT_NAME)
    page = HtmlReport(out)
    try:
        page.begin(None, manifest)
        batch: list[ReportCase] = []
        for item in source:
            batch.append(item)
            if len(batch) >= BATCH:
                page.cases(batch)
                batch = []
        if batch:
            page.cases(batch)
        page.end(source.note)
    except BaseException:
        page.abort()
        raise
    record_file(bundle_dir, REPORT_NAME, page.digest)
    return bundle_dir / REPORT_NAME
