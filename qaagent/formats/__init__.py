"""Readers of the result files test tools write, each treating its input as hostile.

One module per format (`trx`, `nunit3`, `xunit2`, `gotest`, `tap`, `cucumber`,
`mocha`; JUnit lives in `qaagent.junit.read`), the content sniffer (`detect`) and
the one dispatch function, `qaagent.formats.read.read_results` (docs/formats.md
says what each format maps). What every reader shares sits below them: `source`
opens a file and reads it in bounded chunks or lines (the one door untrusted
result files come through), `xmlsafe` drives expat with the refusals and limits
every XML format needs, `xmltree` keeps the few elements of one test,
`jsonstream` pulls bounded values out of a JSON document, and `golang` reads a
failure's message and location out of Go's test output. Stack frames become a
file and line in `qaagent.junit.locate`.

This package imports nothing at import time on purpose: `qaagent.junit.read`
uses `source`, `xmlsafe` and `golang`, and `read` (the dispatcher) imports the
JUnit reader. `NAMES` is here so that the profile can check a `format:` value
without importing a reader.
"""

from typing import Final

#: the format names `qaagent.formats.read.read_results` and a profile's `format:` accept
NAMES: Final = ("junit", "trx", "nunit3", "xunit2", "go-test-json", "tap", "cucumber-json", "mocha-json")
#: the `format:` value meaning "tell it from the content" (as does leaving it out)
AUTO: Final = "auto"
