"""The README's profile and migration tables say what the code does.

- The profile example loads, and its jest and vitest suites are the ones `qaagent init`
  writes (which tests/test_init.py runs with the real jest and vitest).
- The migration section maps every input of the three reporter actions (their `action.yml`
  at the versions the section names), each to a qaagent input or with a reason; every
  qaagent input a row names is one of action.yml's, and no row calls a setting "not
  available" or "not yet" that action.yml has.
"""

from __future__ import annotations

import re

import yaml
from conftest import ROOT, ProjectFactory

from qaagent.init_profile import detect, render
from qaagent.profile_load import parse_profile

README = (ROOT / "README.md").read_text(encoding="utf-8")

#: the inputs of each action.yml, at the versions the README's migration section names
#: (dorny's `list-files` is on its main branch after v3.0.0; the README says so)
PEER_INPUTS = {
    "EnricoMi/publish-unit-test-result-action v2.24.0": (
        "github_token github_token_actor github_retries ssl_verify commit check_name comment_title "
        "comment_mode fail_on action_fail action_fail_on_inconclusive files junit_files nunit_files "
        "xunit_files trx_files time_unit test_file_prefix report_individual_runs report_suite_logs "
        "deduplicate_classes_by_file_name large_files ignore_runs check_run job_summary "
        "compare_to_earlier_commit pull_request_build event_file event_name test_changes_limit "
        "check_run_annotations check_run_annotations_branch seconds_between_github_reads "
        "seconds_between_github_writes secondary_rate_limit_wait_seconds json_file "
        "json_thousands_separator json_suite_details json_test_case_results search_pull_requests"
    ),
    "dorny/test-reporter v3.0.0": (
        "artifact name path path-replace-backslashes reporter list-suites list-tests list-files "
        "max-annotations fail-on-error fail-on-empty working-directory report-title only-summary "
        "use-actions-summary badge-title collapsed token"
    ),
    "mikepenz/action-junit-report v6.4.2": (
        "token github_token report_paths group_reports test_files_prefix exclude_sources annotate_only "
        "check_annotations update_check check_name commit fail_on_failure fail_on_parse_error "
        "require_tests require_passed_tests include_passed include_skipped check_title_template "
        "bread_crumb_delimiter summary check_retries transformers job_summary job_summary_text "
        "detailed_summary flaky_summary verbose_summary skip_success_summary include_empty_in_summary "
        "include_time_in_summary simplified_summary group_suite comment updateComment annotate_notice "
        "follow_symlink job_name annotations_limit skip_annotations truncate_stack_traces "
        "resolve_ignore_classname skip_comment_without_tests pr_id"
    ),
}


#: qaagent's action inputs (action.yml)
ACTION_INPUTS = frozenset(yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))["inputs"])

#: peer inputs whose qaagent equivalent has another name: the row must name it
EQUIVALENTS = {
    "comment_mode": "comment-mode",
    "comment_title": "summary-title",
    "report-title": "summary-title",
    "compare_to_earlier_commit": "base-branch",
    "check_run_annotations": "annotate",
    "include_skipped": "annotate",
    "max-annotations": "annotations-limit",
    "pr_id": "pull-request",
    "only-summary": "summary",
    "list-tests": "summary",
    "skip_success_summary": "summary",
    "simplified_summary": "summary",
}


_FORMAT_NAME = re.compile(r"-(?:json|junit|xunit|trx|nunit)$")


def migration_rows(action: str) -> list[tuple[set[str], str]]:
    """The rows of `action`'s table: the peer inputs the row maps, and its answer."""
    text = section("## Migrating from a test-reporter action")
    table = text[text.index(f"### From {action.split(maxsplit=1)[0]}") :]
    table = table[: table.find("\n### ", 1)] if "\n### " in table[1:] else table
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    return [
        ({*re.findall(r"`([\w-]+)`", row.split(" | ")[0])}, row.split(" | ", 1)[1].removesuffix(" |"))
        for row in rows
    ]


def section(title: str) -> str:
    start = README.index(title)
    end = README.find("\n## ", start + 1)
    return README[start:end]


def test_the_readme_profile_loads() -> None:
    block = re.search(r"## The profile\n\n```yaml\n(.*?)```", README, re.DOTALL)
    assert block is not None
    profile = parse_profile(block[1], "README profile")
    assert profile.runner_of("published") == "report"
    assert profile.tests["go"].format == "go-test-json"


def test_the_readme_jest_and_vitest_suites_are_what_init_writes(qa_project: ProjectFactory) -> None:
    block = re.search(r"## The profile\n\n```yaml\n(.*?)```", README, re.DOTALL)
    assert block is not None
    documented = yaml.safe_load(block[1])["tests"]
    root = qa_project(
        {
            "package.json": '{"scripts": {"test": "jest"}, "devDependencies": {"jest-junit": "*"}}',
            "web/package.json": '{"scripts": {"test": "vitest run"}}',
        }
    )
    written = yaml.safe_load(render(detect(root)))["tests"]
    for name in ("jest", "vitest"):
        written[name].pop("working_directory", None)
        assert written[name] == documented[name], name


def test_the_migration_section_maps_every_input_of_the_three_actions() -> None:
    text = section("## Migrating from a test-reporter action")
    for action, names in PEER_INPUTS.items():
        assert action in text, action
        owner = action.split("/")[0]
        rows = migration_rows(action)
        mapped = {name for peers, _ in rows for name in peers}
        missing = [n for n in names.split() if n not in mapped]
        assert not missing, (owner, missing)
        for peers, answer in rows:
            assert answer.startswith(("`", "not needed", "not available", "not yet", "leave")), (
                peers,
                answer,
            )


def test_the_migration_rows_name_qaagents_real_inputs() -> None:
    for action in PEER_INPUTS:
        for peers, answer in migration_rows(action):
            # an answer that starts with an input names it: action.yml has it
            if answer.startswith("`"):
                named = re.match(r"`([\w-]+)", answer)
                assert named is not None, answer
                assert named[1] in ACTION_INPUTS, (action, peers, answer)
            # a hyphenated name in backticks is one of qaagent's inputs (or the peer's own, a format)
            for name in re.findall(r"`([a-z]+(?:-[a-z]+)+)(?::[^`]*)?`", answer):
                known = ("continue-on-error", "download-artifact")
                if name not in peers and name not in known and not _FORMAT_NAME.search(name):
                    assert name in ACTION_INPUTS, (action, name, answer)
            unavailable = answer.startswith(("not available", "not yet"))
            for peer in peers:
                same = peer.replace("_", "-").lower()
                # the same setting under the same name, or a known other name: never "not available"
                assert not (unavailable and same in ACTION_INPUTS), (action, peer, answer)
                if peer in EQUIVALENTS:
                    assert f"`{EQUIVALENTS[peer]}" in answer, (action, peer, answer)
            assert "not yet" not in answer, (action, peers, answer)
