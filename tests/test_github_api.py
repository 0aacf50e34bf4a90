from __future__ import annotations

import logging
import pickle
from collections.abc import Iterator
from itertools import pairwise

import pytest
from github_server import NOT_ACCESSIBLE, FakeClock, Fault, GitHubServer

from qaagent.github.api import GitHubClient, Secret
from qaagent.github.errors import GaveUpError, GitHubAPIError, PermissionDeniedError

CHECKS = "/repos/o/r/check-runs"
BODY = {"name": "qa", "head_sha": "abc"}


@pytest.fixture
def client(server: GitHubServer, clock: FakeClock) -> Iterator[GitHubClient]:
    with GitHubClient(server.token, api_url=server.url, clock=clock) as c:
        yield c


def test_plain_request_headers_and_body(server: GitHubServer, client: GitHubClient, clock: FakeClock) -> None:
    answer = client.request("POST", CHECKS, json=BODY)
    assert answer["name"] == "qa"
    (req,) = server.requests
    assert req.headers["authorization"] == f"Bearer {server.token}"
    assert req.headers["accept"] == "application/vnd.github+json"
    assert req.headers["x-github-api-version"] == "2022-11-28"
    assert req.body == BODY
    assert clock.sleeps == []


def test_ghes_api_url_with_path(server: GitHubServer, clock: FakeClock) -> None:
    with GitHubClient(server.token, api_url=server.url + "/api/v3/", clock=clock) as c:
        assert c.request("POST", CHECKS, json=BODY)["id"] > 0


def test_403_with_retry_after_waits_that_long(
    server: GitHubServer, client: GitHubClient, clock: FakeClock
) -> None:
    server.script(
        "POST",
        CHECKS,
        Fault(403, {"message": "You have exceeded a secondary rate limit"}, {"retry-after": "7"}),
    )
    client.request("POST", CHECKS, json=BODY)
    assert clock.sleeps == [7.0]
    assert [r.status for r in server.requests] == [403, 201]


def test_secondary_rate_limit_without_retry_after_waits_a_minute_then_longer(
    server: GitHubServer, clock: FakeClock
) -> None:
    # the REST docs: wait "at least one minute", then "an exponentially increasing amount of time"
    limited = Fault(403, {"message": "You have exceeded a secondary rate limit"})
    server.script("POST", CHECKS, limited, Fault(429, {"message": "slow down"}))
    with GitHubClient(server.token, api_url=server.url, clock=clock, budget=300) as c:
        c.request("POST", CHECKS, json=BODY)
    assert clock.sleeps == [60.0, 120.0]
    assert [r.status for r in server.requests] == [403, 429, 201]


def test_secondary_rate_limit_beyond_the_budget_gives_up_at_once_and_stays_given_up(
    server: GitHubServer, clock: FakeClock
) -> None:
    server.script("POST", CHECKS, Fault(403, {"message": "You have exceeded a secondary rate limit"}))
    with GitHubClient(server.token, api_url=server.url, clock=clock, budget=30) as c:
        with pytest.raises(GaveUpError, match=r"secondary rate limit.*waiting 60 s more") as first:
            c.request("POST", CHECKS, json=BODY)
        assert not first.value.repeated
        with pytest.raises(GaveUpError) as later:
            c.request("GET", "/repos/o/r/issues/1/comments")
        assert later.value.repeated  # the publisher shows one warning, not one per request
    assert clock.sleeps == []
    assert len(server.requests) == 1


def test_ratelimit_remaining_zero_waits_until_reset(
    server: GitHubServer, client: GitHubClient, clock: FakeClock
) -> None:
    reset = int(clock.time()) + 30
    headers = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)}
    server.script("GET", "comments", Fault(403, {"message": "API rate limit exceeded"}, headers))
    assert client.request("GET", "/repos/o/r/issues/1/comments") == []
    assert clock.sleeps == [pytest.approx(31.0)]
    assert clock.time() >= reset


def test_5xx_back_off_exponentially(server: GitHubServer, client: GitHubClient, clock: FakeClock) -> None:
    server.script("POST", CHECKS, Fault(500), Fault(502), Fault(503))
    client.request("POST", CHECKS, json=BODY)
    # pacing sleeps are not recorded as retries: only backoff here (retries are >= 1 s apart anyway)
    assert clock.sleeps == [1.0, 2.0, 4.0]
    assert [r.status for r in server.requests] == [500, 502, 503, 201]


def test_connection_reset_is_retried(server: GitHubServer, client: GitHubClient, clock: FakeClock) -> None:
    server.script("POST", CHECKS, Fault(kind="reset"))
    assert client.request("POST", CHECKS, json=BODY)["id"] > 0
    assert [r.status for r in server.requests] == [0, 201]
    assert clock.sleeps == [1.0]


def test_invalid_json_get_retried_post_not(
    server: GitHubServer, client: GitHubClient, clock: FakeClock
) -> None:
    server.script("GET", "comments", Fault(kind="invalid_json"))
    assert client.request("GET", "/repos/o/r/issues/1/comments") == []
    assert clock.sleeps == [1.0]
    server.script("POST", CHECKS, Fault(kind="invalid_json"))
    with pytest.raises(GitHubAPIError, match="invalid JSON"):
        client.request("POST", CHECKS, json=BODY)
    assert len(server.mutating()) == 1


def test_not_accessible_raises_permission_error_without_retry(
    server: GitHubServer, client: GitHubClient, clock: FakeClock
) -> None:
    server.script("POST", CHECKS, Fault(403, NOT_ACCESSIBLE))
    with pytest.raises(PermissionDeniedError) as info:
        client.request("POST", CHECKS, json=BODY, permission="checks: write")
    assert info.value.permission == "checks: write"
    assert "Resource not accessible by integration" in str(info.value)
    assert len(server.requests) == 1
    assert clock.sleeps == []


def test_other_client_errors_are_not_retried(server: GitHubServer, client: GitHubClient) -> None:
    with pytest.raises(GitHubAPIError, match="HTTP 422: Validation Failed"):
        client.request("POST", CHECKS, json={"name": "qa"})
    with pytest.raises(GitHubAPIError, match="HTTP 404"):
        client.request("GET", "/nowhere")
    assert len(server.requests) == 2


def test_budget_gives_up(server: GitHubServer, clock: FakeClock) -> None:
    server.script("POST", CHECKS, *[Fault(503)] * 20)
    with GitHubClient(server.token, api_url=server.url, clock=clock, budget=60) as c:
        with pytest.raises(GitHubAPIError, match=r"gave up after 6 attempt.*60 s API budget"):
            c.request("POST", CHECKS, json=BODY)
        assert sum(clock.sleeps) <= 60
        assert c.waited == 31.0


def test_long_retry_after_gives_up_at_once(
    server: GitHubServer, client: GitHubClient, clock: FakeClock
) -> None:
    server.script("POST", CHECKS, Fault(429, {"message": "later"}, {"retry-after": "3600"}))
    with pytest.raises(GitHubAPIError, match="rate limited"):
        client.request("POST", CHECKS, json=BODY)
    assert clock.sleeps == []


def test_mutating_requests_are_paced(server: GitHubServer, client: GitHubClient, clock: FakeClock) -> None:
    for _ in range(3):
        client.request("POST", CHECKS, json=BODY)
        client.request("GET", "/repos/o/r/issues/1/comments")
    posts = [r.at for r in server.mutating()]
    gets = [r.at for r in server.requests if r.method == "GET"]
    assert [b - a for a, b in pairwise(posts)] == [1.0, 1.0]
    assert len(gets) == 3


def test_pagination_follows_links_and_stays_on_host(server: GitHubServer, client: GitHubClient) -> None:
    for i in range(250):
        server.add_comment(5, f"c{i}")
    items = list(client.paginate("/repos/o/r/issues/5/comments"))
    assert [i["body"] for i in items] == [f"c{i}" for i in range(250)]
    assert [r.query.get("page", ["1"]) for r in server.requests] == [["1"], ["2"], ["3"]]
    with pytest.raises(GitHubAPIError, match="another host"):
        client.request("GET", "http://evil.example/repos")


def test_token_never_shown(
    server: GitHubServer,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    token = server.token
    client = GitHubClient(token, api_url=server.url, clock=clock)
    secret = Secret(token)
    assert token not in repr(client)
    assert token not in repr(secret)
    assert token not in str(secret)
    assert token not in f"{secret} {secret!r}"
    with pytest.raises(TypeError):
        pickle.dumps(secret)
    assert secret.reveal() == token
    server.script("POST", CHECKS, Fault(422, {"message": f"bad token {token}"}))
    with pytest.raises(GitHubAPIError) as info:
        client.request("POST", CHECKS, json=BODY)
    assert token not in str(info.value)
    assert "bad token ***" in str(info.value)
    client.request("POST", CHECKS, json=BODY)
    client.close()
    captured = capsys.readouterr()
    assert token not in captured.out + captured.err
    assert token not in caplog.text
    assert caplog.records  # urllib3 did log the requests


def test_wrong_token_is_an_error(server: GitHubServer, clock: FakeClock) -> None:
    with (
        GitHubClient("nope", api_url=server.url, clock=clock) as c,
        pytest.raises(GitHubAPIError, match="401"),
    ):
        c.request("POST", CHECKS, json=BODY)
