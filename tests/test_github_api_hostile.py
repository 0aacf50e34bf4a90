"""The API client against a hostile or broken API: every request ends in time, answers are bounded.

Each test reproduces a defect of issue 12 with the fake API on 127.0.0.1: a `Link` loop, an
answer trickling one byte per half second (in its body or in its headers), a body of
hundreds of megabytes, redirects to another host, and the token or a secret in a body.
Calls that used to hang run in a thread with a join timeout, so the test fails instead.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from github_server import FakeClock, Fault, GitHubServer

from qaagent.github.api import GitHubClient
from qaagent.github.errors import GitHubAPIError

CHECKS = "/repos/o/r/check-runs"
#: the documented limits (README, qaagent/github/api.py)
MAX_BODY_BYTES = 10 * 1024 * 1024
MAX_PAGES = 100
MAX_REDIRECTS = 5
BODY = {"name": "qa", "head_sha": "abc"}


def within(seconds: float, call: Callable[[], Any]) -> tuple[Any, BaseException | None, float]:
    """`call()` in a thread: (result, exception, seconds it took); fails the test if it outlives `seconds`."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = call()
        except BaseException as exc:
            box["error"] = exc

    started = time.monotonic()
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    took = time.monotonic() - started
    assert not thread.is_alive(), f"still running after {seconds} s"
    return box.get("result"), box.get("error"), took


@pytest.fixture
def client(server: GitHubServer, clock: FakeClock) -> Iterator[GitHubClient]:
    with GitHubClient(server.token, api_url=server.url, clock=clock, budget=10) as c:
        yield c


def test_a_link_loop_is_followed_once(server: GitHubServer, client: GitHubClient) -> None:
    server.add_comment(5, "c")
    server.link_loop = True
    _, error, _ = within(20, lambda: list(client.paginate("/repos/o/r/issues/5/comments")))
    assert isinstance(error, GitHubAPIError)
    assert "loop back to a page already read" in str(error)
    assert len(server.requests) == 2  # the first page, then its link (page=1) spelled differently


def test_endless_pages_stop_at_the_page_limit(server: GitHubServer, client: GitHubClient) -> None:
    server.add_comment(5, "c")
    server.endless_pages = True
    _, error, _ = within(60, lambda: list(client.paginate("/repos/o/r/issues/5/comments")))
    assert isinstance(error, GitHubAPIError)
    assert f"more than {MAX_PAGES} pages" in str(error)
    assert len(server.requests) == MAX_PAGES


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["trickle", "trickle_headers"])
def test_an_answer_trickling_byte_by_byte_ends_within_the_budget(
    server: GitHubServer, clock: FakeClock, kind: str
) -> None:
    # ~90 bytes at one per 0.5 s: 45 s for the whole answer; the budget is 3 s
    slow = Fault(201, {"id": 5, "name": "qa", "padding": "x" * 60}, kind=kind)  # type: ignore[arg-type]
    server.script("POST", CHECKS, slow)
    with GitHubClient(server.token, api_url=server.url, clock=clock, budget=3, timeout=30) as c:
        _, error, took = within(20, lambda: c.request("POST", CHECKS, json=BODY))
    assert isinstance(error, GitHubAPIError)
    assert "no complete answer within" in str(error)
    assert took < 5, took
    assert len(server.requests) == 1  # no time left for a retry


@pytest.mark.parametrize("length", [None, 1 << 30])
def test_a_huge_answer_is_refused_not_read_whole(
    server: GitHubServer, client: GitHubClient, length: int | None
) -> None:
    server.script("GET", "comments", Fault(200, kind="endless", length=length))
    _, error, _ = within(30, lambda: client.request("GET", "/repos/o/r/issues/1/comments"))
    assert isinstance(error, GitHubAPIError)
    assert f"answer over {MAX_BODY_BYTES} bytes" in str(error)
    time.sleep(0.2)
    # at most the cap and what sat in the socket buffers was ever sent
    assert server.endless_bytes < 4 * MAX_BODY_BYTES
    assert len(server.requests) == 1  # not retried


def test_a_redirect_on_the_same_host_is_followed_verbatim(server: GitHubServer, client: GitHubClient) -> None:
    # a renamed repository: 301/307 to the new location, the same method and body
    moved = Fault(307, None, {"Location": f"{server.url}/repos/o/r/check-runs"})
    server.script("POST", "/repos/old/name/check-runs", moved)
    answer = client.request("POST", "/repos/old/name/check-runs", json=BODY)
    assert answer["name"] == "qa"
    assert [(r.method, r.path, r.body) for r in server.requests] == [
        ("POST", "/repos/old/name/check-runs", BODY),
        ("POST", "/repos/o/r/check-runs", BODY),
    ]
    relative = Fault(301, None, {"Location": "/repos/o/r/issues/1/comments"})
    server.script("GET", "/repos/old/name/issues/1/comments", relative)
    assert client.request("GET", "/repos/old/name/issues/1/comments") == []


def test_a_redirect_to_another_host_is_refused_and_gets_no_token(
    server: GitHubServer, client: GitHubClient
) -> None:
    with GitHubServer(token=server.token) as elsewhere:
        server.script("POST", CHECKS, Fault(302, None, {"Location": f"{elsewhere.url}/steal"}))
        with pytest.raises(GitHubAPIError, match=r"refusing to follow a redirect to http://127\.0\.0\.1:"):
            client.request("POST", CHECKS, json=BODY)
        assert elsewhere.requests == []


def test_a_redirect_loop_ends(server: GitHubServer, client: GitHubClient) -> None:
    loop = [Fault(301, None, {"Location": f"{server.url}{CHECKS}"})] * (MAX_REDIRECTS + 5)
    server.script("GET", CHECKS, *loop)
    with pytest.raises(GitHubAPIError, match=f"more than {MAX_REDIRECTS} redirects"):
        client.request("GET", CHECKS)
    assert len(server.requests) == MAX_REDIRECTS + 1


def test_a_redirect_from_https_to_plain_http_is_refused() -> None:
    from qaagent.github.answers import Answer  # noqa: PLC0415 - no https server here

    with GitHubClient("ghs_not-used-0123", api_url="https://api.github.com") as c:
        downgrade = Answer(301, {"Location": "http://api.github.com/repos/o/r"}, b"", {})
        with pytest.raises(GitHubAPIError, match=r"refusing to follow a redirect to http://api\.github\.com"):
            c._redirect(downgrade, "https://api.github.com/repos/old/r", "GET /repos/old/r")


def test_request_bodies_pass_the_redactor(
    server: GitHubServer, client: GitHubClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_API_TOKEN", "sk-live-0123456789")
    client.request(
        "POST", CHECKS, json={**BODY, "output": {"title": "t", "summary": "key=sk-live-0123456789"}}
    )
    client.request("POST", CHECKS, json={**BODY, "output": {"title": "t", "summary": f"t={server.token}"}})
    summaries = [r.body["output"]["summary"] for r in server.requests]
    assert summaries == ["key=***", "t=***"]
