"""Test history: every run's results in a store (SQLite or PostgreSQL), and what they tell.

- `settings.HistorySettings`: the profile's ``history:`` section;
- `api.History`: the calls a run makes (open, durations, quarantine, compare,
  record), each returning its value or a `faults.HistoryUnavailable` warning;
- `store` (open, migrate, prune), `record` (recording, idempotent), `queries`
  (windows, p50 durations, slowest, trends, one test's record), `rates` (flake
  rates, quarantine), `compare` (new / still failing / flaky / quarantined /
  fixed against the base branch);
- `bundles`: reading evidence bundles for ``qaagent history import``;
- `commands`: the ``qaagent history`` command; `report`: its HTML page.
"""
