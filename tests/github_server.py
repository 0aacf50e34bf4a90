"""A real local HTTP server that plays the GitHub REST API for qaagent's tests.

It listens on 127.0.0.1 (random port), records every request, stores check
runs and issue comments, and enforces GitHub's documented limits so a client
that breaks them fails the test: at most 50 annotations per request, a
check-run summary/text of at most 65,535 bytes, required fields (name,
head_sha, output title/summary, annotation fields), annotation title ≤ 255
characters and message/raw_details ≤ 64 KB, comment bodies ≤ 65,536
characters. Faults can be scripted per request: any status with any headers
(403 with or without `retry-after`, rate-limit headers, 429, 5xx, a 3xx
redirect with its `Location`), a reset connection, an invalid JSON body,
"Resource not accessible by integration", an answer trickling one byte at a
time (in its headers or its body), or an endless body; with `silent=True` it
reads every request and never answers; with `delay=S` it answers every request
normally, S seconds after it arrived (a slow API). `link_loop` / `endless_pages` make the
comment list's `Link: rel="next"` point back at itself or on forever, and
`reject_annotations` answers 422 to any check-run request carrying annotations.

Identity, as GitHub answers it: comments have an author (`user.login`); the
ones the client creates are written by `login` (`github-actions[bot]`, the
author of comments made with `GITHUB_TOKEN`). `GET /user` answers `login` for a
user's token (`user_token=True`) and 403 "Resource not accessible by
integration" for an installation token (the default, like `GITHUB_TOKEN`);
GraphQL `query { viewer { login } }` answers `login` for both (a bot's without
its `[bot]` suffix, as GitHub's GraphQL does).

Also holds `FakeClock`, the clock the API client sleeps on in tests. It is the
only fake GitHub API of the tests (the builders of results are in helpers.py).
"""

from __future__ import annotations

import json
import re
import socket
import struct
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal, Self
from urllib.parse import parse_qs, urlsplit

NOT_ACCESSIBLE = {
    "message": "Resource not accessible by integration",
    "documentation_url": "https://docs.github.com",
}
TEXT_BYTES = 65_535
ANNOTATION_TEXT_BYTES = 65_535
COMMENT_CHARS = 65_536
FAKE_TOKEN = "ghs_FAKEtokenVALUE0123456789"  # noqa: S105 - a made-up token for the fake server


class FakeClock:
    """A clock whose sleep only moves time forward (records each sleep)."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        with self._lock:
            return self.now

    def time(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds


@dataclass
class Fault:
    """One scripted answer instead of the normal one."""

    status: int = 500
    body: Any = field(default_factory=lambda: {"message": "Server Error"})
    headers: dict[str, str] = field(default_factory=dict)
    kind: Literal["status", "reset", "invalid_json", "trickle", "trickle_headers", "endless"] = "status"
    #: seconds between two bytes of a trickling answer
    interval: float = 0.5
    #: an endless answer announces this Content-Length (None: none, read until the connection closes)
    length: int | None = None


@dataclass
class Recorded:
    """A request as the server saw it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any
    at: float  #: time on the server's clock when it arrived
    status: int = 0  #: what the server answered (0: connection reset)


class GitHubServer:
    """The fake API; use as a context manager."""

    def __init__(
        self,
        token: str = FAKE_TOKEN,
        clock: FakeClock | None = None,
        *,
        silent: bool = False,
        login: str = "github-actions[bot]",
        user_token: bool = False,
        delay: float = 0.0,
    ) -> None:
        self.token = token
        self.clock = clock
        #: accept every request and never answer it (a hung API), until the server stops
        self.silent = silent
        #: seconds every answer waits (a slow API; the server's stop ends the wait)
        self.delay = delay
        #: seconds the answers to the first request creating a check run waits instead
        self.create_delay: float | None = None
        #: who the token is: the author of the comments the client creates
        self.login = login
        #: a user's token (GET /user answers) rather than an installation token (403)
        self.user_token = user_token
        self.link_loop = False  #: the comment list's next link is the page itself
        self.endless_pages = False  #: the comment list has a next page, always
        self.reject_annotations = False  #: 422 to a check-run request carrying annotations
        #: bytes of endless answers written before the client hung up
        self.endless_bytes = 0
        self.requested = threading.Event()  #: set when the first request arrives
        self._stopping = threading.Event()
        self.requests: list[Recorded] = []
        self.check_runs: dict[int, dict[str, Any]] = {}
        self.comments: dict[int, list[dict[str, Any]]] = {}
        #: open pull requests (`GET /repos/{o}/{r}/pulls?head=owner:branch`), see `add_pull`
        self.pulls: list[dict[str, Any]] = []
        self._faults: list[tuple[str, re.Pattern[str], list[Fault]]] = []
        self._lock = threading.Lock()
        self._next_id = 1000
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.02,), daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)

    def script(self, method: str, path_pattern: str, *faults: Fault) -> None:
        """Answer the next matching requests with `faults`, in order, then normally."""
        with self._lock:
            self._faults.append((method.upper(), re.compile(path_pattern), list(faults)))

    def add_pull(self, number: int, *, label: str, sha: str) -> None:
        """An open pull request whose head is `label` (`owner:branch`) at commit `sha`."""
        with self._lock:
            self.pulls.append({"number": number, "state": "open", "head": {"label": label, "sha": sha}})

    def add_comment(self, pr: int, body: str, user: str = "someone") -> int:
        """Put an existing comment on a pull request."""
        with self._lock:
            self._next_id += 1
            self.comments.setdefault(pr, []).append(
                {"id": self._next_id, "body": body, "user": {"login": user}}
            )
            return self._next_id

    def mutating(self) -> list[Recorded]:
        """The POST/PATCH/PUT/DELETE requests received."""
        return [r for r in self.requests if r.method in ("POST", "PATCH", "PUT", "DELETE")]

    # -- called by the handler ------------------------------------------------

    def _fault_for(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for want, pattern, faults in self._faults:
                if want == method and pattern.search(path) and faults:
                    return faults.pop(0)
        return None

    def _new_id(self) -> int:
        with self._lock:
            self._next_id += 1
            return self._next_id


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: GitHubServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Reset connections are part of the script: stay quiet."""


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        """Quiet."""

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    # -- plumbing -------------------------------------------------------------

    def _handle(self, method: str) -> None:
        owner = self.server.owner
        split = urlsplit(self.path.removeprefix("/api/v3"))  # GHES serves the API under /api/v3
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = "<invalid json>"
        record = Recorded(
            method=method,
            path=split.path,
            query=parse_qs(split.query),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            at=owner.clock.time() if owner.clock else 0.0,
        )
        with owner._lock:
            owner.requests.append(record)
        owner.requested.set()
        if owner.silent:
            owner._stopping.wait()  # no answer, ever: the client's own deadline must end the wait
            self.close_connection = True
            return
        wait = owner.delay
        if owner.create_delay is not None and method == "POST" and split.path.endswith("/check-runs"):
            wait, owner.create_delay = owner.create_delay, None
        if wait and owner._stopping.wait(wait):
            return
        if self.headers.get("Authorization") != f"Bearer {owner.token}":
            self._send(record, 401, {"message": "Bad credentials"})
            return
        fault = owner._fault_for(method, split.path)
        if fault is not None:
            self._fault(record, fault)
            return
        if body == "<invalid json>":
            self._send(record, 400, {"message": "Problems parsing JSON"})
            return
        status, answer, headers = _route(
            owner, method, split.path, query=record.query, body=body, server=self.server
        )
        self._send(record, status, answer, headers)

    def _fault(self, record: Recorded, fault: Fault) -> None:
        if fault.kind == "reset":
            record.status = 0
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
            return
        if fault.kind in ("trickle", "trickle_headers", "endless"):
            self._slow(record, fault)
            return
        if fault.kind == "invalid_json":
            record.status = fault.status if fault.status < 400 else 200
            data = b'{"id": 12, "truncated'
            self.send_response(record.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        self._send(record, fault.status, fault.body, fault.headers)

    def _slow(self, record: Recorded, fault: Fault) -> None:
        """A trickling or endless answer, written until the client hangs up or the server stops."""
        owner = self.server.owner
        record.status = fault.status if fault.status < 400 else 200
        data = json.dumps(fault.body).encode()
        head = f"HTTP/1.0 {record.status} OK\r\nContent-Type: application/json\r\n"
        if fault.kind == "endless":
            if fault.length is not None:
                head += f"Content-Length: {fault.length}\r\n"
        else:
            head += f"Content-Length: {len(data)}\r\n"
        head_bytes = (head + "\r\n").encode()
        try:
            if fault.kind == "trickle_headers":
                self._trickle(head_bytes + data, fault.interval)
            elif fault.kind == "trickle":
                self.wfile.write(head_bytes)
                self.wfile.flush()
                self._trickle(data, fault.interval)
            else:
                self.wfile.write(head_bytes + b"[")
                block = b"0," * 32768
                while not owner._stopping.is_set():
                    self.wfile.write(block)
                    owner.endless_bytes += len(block)
        except OSError:
            pass  # the client hung up: what these answers are for
        self.close_connection = True

    def _trickle(self, data: bytes, interval: float) -> None:
        owner = self.server.owner
        for byte in data:
            if owner._stopping.wait(interval):
                return
            self.wfile.write(bytes([byte]))
            self.wfile.flush()

    def _send(self, record: Recorded, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        record.status = status
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)


_CHECK_RUNS = re.compile(r"^/repos/[^/]+/[^/]+/check-runs$")
_CHECK_RUN = re.compile(r"^/repos/[^/]+/[^/]+/check-runs/(\d+)$")
_COMMIT_CHECK_RUNS = re.compile(r"^/repos/[^/]+/[^/]+/commits/([0-9a-f]{40})/check-runs$")
_ISSUE_COMMENTS = re.compile(r"^/repos/[^/]+/[^/]+/issues/(\d+)/comments$")
_COMMENT = re.compile(r"^/repos/[^/]+/[^/]+/issues/comments/(\d+)$")
_PULLS = re.compile(r"^/repos/([^/]+/[^/]+)/pulls$")

Answer = tuple[int, Any, dict[str, str]]


def _route(
    owner: GitHubServer, method: str, path: str, *, query: dict[str, list[str]], body: Any, server: _Server
) -> Answer:
    code, answer, headers = _answer(owner, method, path, query=query, body=body, server=server)
    # GitHub's answers carry the web address of a check run or comment (`html_url`).
    repo = "/".join(path.split("/")[2:4])
    if code < 300 and isinstance(answer, dict) and isinstance(answer.get("id"), int):
        if "/check-runs" in path:
            answer = {**answer, "html_url": f"https://github.com/{repo}/runs/{answer['id']}"}
        elif "/comments" in path:
            pr = next(
                (n for n, items in owner.comments.items() if any(i["id"] == answer["id"] for i in items)), 0
            )
            answer = {
                **answer,
                "html_url": f"https://github.com/{repo}/pull/{pr}#issuecomment-{answer['id']}",
            }
    return code, answer, headers


def _answer(  # noqa: PLR0911 - one answer per endpoint
    owner: GitHubServer, method: str, path: str, *, query: dict[str, list[str]], body: Any, server: _Server
) -> Answer:
    if method == "GET" and _PULLS.match(path):
        label = query.get("head", [""])[0]
        with owner._lock:
            found = [p for p in owner.pulls if not label or p["head"]["label"] == label]
        return 200, found, {}
    if method == "GET" and path == "/user":
        if owner.user_token:
            return 200, {"login": owner.login, "type": "User"}, {}
        return 403, NOT_ACCESSIBLE, {}
    if method == "POST" and path in ("/graphql", "/api/graphql"):
        if isinstance(body, dict) and "viewer" in str(body.get("query")):
            # GraphQL names a bot without the `[bot]` its REST login carries
            return 200, {"data": {"viewer": {"login": owner.login.removesuffix("[bot]")}}}, {}
        return 200, {"errors": [{"message": "unknown query"}]}, {}
    if method == "POST" and _CHECK_RUNS.match(path):
        return _create_check_run(owner, body)
    if method == "PATCH" and (m := _CHECK_RUN.match(path)):
        return _update_check_run(owner, int(m.group(1)), body)
    if method == "GET" and (m := _CHECK_RUN.match(path)):
        with owner._lock:
            run = owner.check_runs.get(int(m.group(1)))
        return (200, {k: v for k, v in run.items() if k != "annotations"}, {}) if run else (404, {}, {})
    if method == "GET" and (m := _COMMIT_CHECK_RUNS.match(path)):
        # GitHub's list of a commit's check runs, `check_name` and `filter=all` honoured
        name = query.get("check_name", [None])[0]
        with owner._lock:
            found = [
                {k: v for k, v in run.items() if k != "annotations"}
                for run in owner.check_runs.values()
                if run.get("head_sha") == m.group(1) and (name is None or run.get("name") == name)
            ]
        return 200, {"total_count": len(found), "check_runs": found}, {}
    if method == "GET" and (m := _ISSUE_COMMENTS.match(path)):
        return _list_comments(owner, int(m.group(1)), path, query, server)
    if method == "POST" and (m := _ISSUE_COMMENTS.match(path)):
        return _create_comment(owner, int(m.group(1)), body)
    if method == "PATCH" and (m := _COMMENT.match(path)):
        return _update_comment(owner, int(m.group(1)), body)
    return 404, {"message": "Not Found"}, {}


def _invalid(message: str) -> Answer:
    return 422, {"message": "Validation Failed", "errors": [message]}, {}


def _check_output(output: Any, *, reject: bool = False) -> str | None:  # noqa: PLR0911 - one answer per rule
    if output is None:
        return None
    if not isinstance(output, dict):
        return "output must be an object"
    for key in ("title", "summary"):
        if not isinstance(output.get(key), str) or not output[key]:
            return f"output.{key} is required"
    if len(output["summary"].encode()) > TEXT_BYTES:
        return "output.summary is too long (maximum is 65535 characters)"
    if "text" in output and len(str(output["text"]).encode()) > TEXT_BYTES:
        return "output.text is too long (maximum is 65535 characters)"
    annotations = output.get("annotations", [])
    if not isinstance(annotations, list):
        return "output.annotations must be a list"
    if annotations and reject:
        return "output.annotations: invalid annotation (start_line must be within the file)"
    if len(annotations) > 50:
        return "output.annotations: at most 50 annotations per request"
    for index, item in enumerate(annotations):
        problem = _check_annotation(item)
        if problem:
            return f"output.annotations[{index}]: {problem}"
    return None


def _check_annotation(item: Any) -> str | None:  # noqa: PLR0911 - one answer per documented rule
    if not isinstance(item, dict):
        return "must be an object"
    for key in ("path", "message"):
        if not isinstance(item.get(key), str) or not item[key]:
            return f"{key} is required"
    for key in ("start_line", "end_line"):
        if not isinstance(item.get(key), int) or item[key] < 1:
            return f"{key} is required (a positive integer)"
    if item.get("annotation_level") not in ("notice", "warning", "failure"):
        return "annotation_level must be notice, warning or failure"
    if len(str(item.get("title", ""))) > 255:
        return "title is too long (maximum 255)"
    for key in ("message", "raw_details"):
        if len(str(item.get(key, "")).encode()) > ANNOTATION_TEXT_BYTES:
            return f"{key} is too long (maximum 64 KB)"
    return None


def _check_status(body: dict[str, Any]) -> str | None:
    status = body.get("status", "queued")
    if status not in ("queued", "in_progress", "completed"):
        return "invalid status"
    conclusions = ("success", "failure", "neutral", "cancelled", "skipped", "timed_out", "action_required")
    if status == "completed" and body.get("conclusion") not in conclusions:
        return "conclusion is required when status is completed"
    if "conclusion" in body and body["conclusion"] not in conclusions:
        return "invalid conclusion"
    return None


def _create_check_run(owner: GitHubServer, body: Any) -> Answer:
    if not isinstance(body, dict):
        return _invalid("body must be an object")
    for key in ("name", "head_sha"):
        if not isinstance(body.get(key), str) or not body[key]:
            return _invalid(f"{key} is required")
    problem = _check_status(body) or _check_output(body.get("output"), reject=owner.reject_annotations)
    if problem:
        return _invalid(problem)
    check_id = owner._new_id()
    run = {
        "id": check_id,
        "annotations": [],
        "updates": 0,
        **{k: v for k, v in body.items() if k != "output"},
    }
    run["output"] = body.get("output")
    run["annotations"] = list((body.get("output") or {}).get("annotations", []))
    with owner._lock:
        owner.check_runs[check_id] = run
    answer = {"id": check_id, "name": body["name"], "status": run.get("status", "queued")}
    return 201, answer, {}


def _update_check_run(owner: GitHubServer, check_id: int, body: Any) -> Answer:
    with owner._lock:
        run = owner.check_runs.get(check_id)
    if run is None:
        return 404, {"message": "Not Found"}, {}
    if not isinstance(body, dict):
        return _invalid("body must be an object")
    merged = {"status": run.get("status", "queued"), **body}
    if merged["status"] == "completed" and "conclusion" not in merged:
        merged["conclusion"] = run.get("conclusion")
    problem = _check_status(merged) or _check_output(body.get("output"), reject=owner.reject_annotations)
    if problem:
        return _invalid(problem)
    with owner._lock:
        for key, value in body.items():
            if key != "output":
                run[key] = value
        if body.get("output"):
            run["output"] = body["output"]
            run["annotations"].extend(body["output"].get("annotations", []))
        run["updates"] += 1
    return 200, {"id": check_id, "status": run.get("status")}, {}


def _list_comments(
    owner: GitHubServer, pr: int, path: str, query: dict[str, list[str]], server: _Server
) -> Answer:
    per_page = min(100, int(query.get("per_page", ["30"])[0]))
    page = int(query.get("page", ["1"])[0])
    with owner._lock:
        items = list(owner.comments.get(pr, []))
    repo = "/".join(path.split("/")[2:4])
    chunk = [
        {**item, "html_url": f"https://github.com/{repo}/pull/{pr}#issuecomment-{item['id']}"}
        for item in items[(page - 1) * per_page : page * per_page]
    ]
    headers = {}
    host, port = server.server_address[:2]
    if owner.link_loop:
        headers["Link"] = f'<http://{host!s}:{port}{path}?per_page={per_page}&page={page}>; rel="next"'
    elif page * per_page < len(items) or owner.endless_pages:
        headers["Link"] = f'<http://{host!s}:{port}{path}?per_page={per_page}&page={page + 1}>; rel="next"'
    return 200, chunk, headers


def _create_comment(owner: GitHubServer, pr: int, body: Any) -> Answer:
    if not isinstance(body, dict) or not isinstance(body.get("body"), str) or not body["body"]:
        return _invalid("body is required")
    if len(body["body"]) > COMMENT_CHARS:
        return _invalid("body is too long (maximum is 65536 characters)")
    comment_id = owner.add_comment(pr, body["body"], user=owner.login)
    return 201, {"id": comment_id, "body": body["body"]}, {}


def _update_comment(owner: GitHubServer, comment_id: int, body: Any) -> Answer:
    if not isinstance(body, dict) or not isinstance(body.get("body"), str) or not body["body"]:
        return _invalid("body is required")
    if len(body["body"]) > COMMENT_CHARS:
        return _invalid("body is too long (maximum is 65536 characters)")
    with owner._lock:
        for comments in owner.comments.values():
            for item in comments:
                if item["id"] == comment_id:
                    item["body"] = body["body"]
                    return 200, dict(item), {}
    return 404, {"message": "Not Found"}, {}
