"""``qaagent history export --json``: the whole store as one JSON document, streamed.

The document is written while the store is read (one project, one run at a time), so an
export holds one run's results and one project's test names in memory, not the whole store.
Its shape is in the README's `export --json` paragraph.
"""

from __future__ import annotations

import json
from typing import IO, TYPE_CHECKING

from qaagent.history.model import STATUS_NAME
from qaagent.history.queries import RUN_COLUMNS, RunInfo

if TYPE_CHECKING:
    from collections.abc import Iterator

    from qaagent.history.packed import Packed
    from qaagent.history.store import Store


def write_export(store: Store, out: IO[str]) -> None:
    """Every project, run and result of `store` as one JSON document, written as it is read."""
    dump = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    out.write(f'{{"format":"qaagent-history","version":1,"store":{dump(store.display)},"projects":[')
    for p_index, (project_id, project, repository) in enumerate(
        store.backend.query("SELECT id, project, repository FROM qa_projects ORDER BY id")
    ):
        names = {
            int(k): (str(s), str(c), str(n), str(f))
            for k, s, c, n, f in store.backend.query(
                "SELECT test, suite, classname, name, file FROM qa_tests WHERE project_id = ?", (project_id,)
            )
        }
        out.write(
            ("," if p_index else "") + f'{{"project":{dump(project)},"repository":{dump(repository)},"runs":['
        )
        runs = [RunInfo.of(r) for r in store.backend.query(
            f"SELECT {RUN_COLUMNS} FROM qa_runs WHERE project_id = ? ORDER BY started_at, id", (project_id,)  # noqa: S608
        )]  # fmt: skip
        stored = {  # the stored fields `RunInfo` does not carry
            int(row): (by, ci_run_id, ci_run_attempt, finished_at)
            for row, by, ci_run_id, ci_run_attempt, finished_at in store.backend.query(
                "SELECT id, superseded_by, ci_run_id, ci_run_attempt, finished_at FROM qa_runs"
                " WHERE project_id = ?",
                (project_id,),
            )
        }
        for r_index, run in enumerate(runs):
            by, ci_run_id, ci_run_attempt, finished_at = stored[run.row]
            head = {
                "run_id": run.run_id, "started": run.started, "kind": run.kind, "commit": run.commit,
                "branch": run.branch, "base_branch": run.base_branch, "pr_number": run.pr_number,
                "shard": run.shard, "status": run.status, "duration": run.duration,
                "finished_at": finished_at, "ci_run_id": ci_run_id, "ci_run_attempt": ci_run_attempt,
                "superseded": by is not None,
            }  # fmt: skip
            out.write(("," if r_index else "") + dump(head)[:-1] + ',"results":[')
            packed = store.results([run.row], durations=True).get(run.row)
            for i, (key, code, ms) in enumerate(_entries(packed)):
                suite, classname, name, file = names.get(key, ("", "", str(key), ""))
                item = {
                    "suite": suite, "classname": classname, "name": name, "file": file or None,
                    "status": STATUS_NAME[code & 3], "duration": ms / 1000, "attempts": code >> 3,
                    "flaky": bool(code & 4),
                }  # fmt: skip
                out.write(("," if i else "") + dump(item))
            out.write("]}")
        out.write("]}")
    out.write("]}\n")


def _entries(packed: Packed | None) -> Iterator[tuple[int, int, int]]:
    if packed is None:
        return iter(())
    return zip(packed.keys, packed.outcomes, packed.durations, strict=True)
