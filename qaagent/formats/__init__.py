"""Readers of the result files test tools write, each treating its input as hostile.

One module per format (`trx`, `nunit3`, `xunit2`, `gotest`, `tap`, `cucumber`,
`mocha`; JUnit lives in `qaagent.junit.read`), the content sniffer (`detect`) and
the one dispatch function, `qaagent.formats.read.read_results`. What every reader
shares sits below them: `source` opens a file and reads it in bounded chunks
(the one door untrusted result files come through), `xmlsafe` drives expat with
the refusals and limits every XML format needs, `xmltree` keeps the few elements
of one test, `jsonstream` pulls bounded values out of a JSON document, and
`location` turns stack frames into a file and line.

This package imports nothing at import time on purpose: `qaagent.junit.read`
uses `source` and `xmlsafe`, and `read` (the dispatcher) imports the JUnit reader.
"""
