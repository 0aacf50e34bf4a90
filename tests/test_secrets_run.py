"""Secrets through whole runs: nothing that leaves the process holds one, in any encoding.

Reproductions of issue 12 (real `qaagent run-all` subprocesses, the fake GitHub API on
127.0.0.1): a secret a failing suite prints must not reach the check run, the PR comment or
the job summary; values too common to be secrets (`POETRY_KEYRING_ENABLED=false`) must not
turn every `false` into `***`; every text file kept in the bundle is redacted, whatever
encoding the tool wrote the secret in.
"""

from __future__ import annotations

import base64
import html
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from conftest import ProjectFactory, run_qaagent
from github_server import FAKE_TOKEN, GitHubServer
from helpers import latest_bundle, manifest_of, pull_request_event

PY = sys.executable
SECRET = "sk-live-Zq8w&<pw>/+x"  # noqa: S105 - made up, with characters every encoding changes


def forms(value: str) -> dict[str, str]:
    """The ways tools write a secret down."""
    return {
        "raw": value,
        "xml": html.escape(value, quote=False),
        "json": json.dumps(value)[1:-1],
        "url": quote(value, safe=""),
        "base64": base64.b64encode(value.encode()).decode(),
        "basic": base64.b64encode(f"user:{value}".encode()).decode(),
    }


def assert_clean(text: str, where: str, value: str = SECRET) -> None:
    for name, form in forms(value).items():
        assert form not in text, f"{name} form of the secret in {where}"


@pytest.fixture
def api() -> Iterator[GitHubServer]:
    with GitHubServer() as server:
        yield server


def actions_env(api: GitHubServer, tmp_path: Path) -> dict[str, str]:
    event = tmp_path / "event.json"
    event.write_text(json.dumps(pull_request_event()), encoding="utf-8")
    return {
        "GITHUB_ACTIONS": "true",
        "GITHUB_API_URL": api.url,
        "GITHUB_REPOSITORY": "o/r",
        "GITHUB_SHA": "a" * 40,
        "GITHUB_EVENT_NAME": "pull_request",
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_OUTPUT": str(tmp_path / "output"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
        "QAAGENT_GITHUB_TOKEN": FAKE_TOKEN,
        "QAAGENT_GITHUB_BUDGET": "20",
    }


@pytest.mark.slow
def test_a_secret_a_failing_suite_prints_reaches_no_api_body_and_no_summary(
    qa_project: ProjectFactory, api: GitHubServer, tmp_path: Path
) -> None:
    argv = ["sh", "-c", 'echo "connecting with key=$MY_API_TOKEN"; exit 1']
    root = qa_project(
        {".qaagent.yaml": f"tests:\n  smoke: {{runner: command, command: {json.dumps(argv)}}}\n"}
    )
    env = {**actions_env(api, tmp_path), "MY_API_TOKEN": SECRET}
    result = run_qaagent("run-all", "--check-name", "qa", "--comment", cwd=root, env=env)
    assert result.returncode == 1, result.stdout + result.stderr
    bodies = [json.dumps(r.body) for r in api.requests]
    assert any("check-runs" in r.path for r in api.requests)
    assert any(r.method == "POST" and r.path.endswith("/comments") for r in api.requests)
    for body in bodies:
        assert_clean(body, "an API request")
    assert any("key=***" in body for body in bodies)
    summary = (tmp_path / "summary.md").read_text(encoding="utf-8")
    assert "key=***" in summary
    assert_clean(summary, "the job summary")
    assert_clean(result.stdout + result.stderr, "the console")
    for path in latest_bundle(root).rglob("*"):
        if path.is_file():
            assert_clean(path.read_text(errors="replace"), str(path))


@pytest.mark.slow
def test_poetry_keyring_enabled_false_leaves_every_false_alone(qa_project: ProjectFactory) -> None:
    root = qa_project(
        {
            "tests/test_flag.py": "def test_flag():\n    print('flag is false')\n    assert False, 'expected false'\n",
            ".qaagent.yaml": "tests:\n  unit: {path: tests}\n",
        }
    )
    result = run_qaagent("run-all", cwd=root, env={"POETRY_KEYRING_ENABLED": "false", "SOME_KEY": "true"})
    assert result.returncode == 1
    bundle = latest_bundle(root)
    junit = (bundle / "junit.xml").read_text(encoding="utf-8")
    assert "expected false" in junit
    assert "flag is false" in junit
    assert "***" not in junit
    assert "expected false" in (bundle / "summary.md").read_text(encoding="utf-8")
    assert "***" not in (bundle / "suites" / "unit" / "attempt-1" / "output.log").read_text()


WRITE_FILES = """
import base64, html, json, os, pathlib, sys, urllib.parse
secret = os.environ["MY_API_TOKEN"]
out = pathlib.Path("out")
out.mkdir(exist_ok=True)
(out / "config.yaml").write_text("api_key: " + secret + "\\n")
(out / "trace.har").write_text(json.dumps({"log": {"entries": [{"url": "https://x/?k=" + urllib.parse.quote(secret, safe="")}]}}))
(out / "data.json").write_text(json.dumps({"secret": secret}))
(out / "page.xml").write_text("<a>" + html.escape(secret, quote=False) + "</a>")
(out / "auth.txt").write_text("Basic " + base64.b64encode(("user:" + secret).encode()).decode() + "\\n")
(out / "shot.bin").write_bytes(b"\\x89PNG\\0\\0binary")
(out / "windows.log").write_text("connecting with " + secret + "\\n", encoding="utf-16")
(out / "windows-be.log").write_bytes(b"\\xfe\\xff" + ("key=" + secret).encode("utf-16-be"))
(out / "stray-nul.log").write_bytes(b"start\\0 key=" + secret.encode() + b" end\\n")
forms = [json.dumps({"k": secret}), html.escape(secret), urllib.parse.quote(secret, safe=""), base64.b64encode(("user:" + secret).encode()).decode()]
(out / "nobom.log").write_bytes(("wrote " + " | ".join(forms) + "\\n").encode("utf-16-le"))  # no BOM
(out / "nobom-be.log").write_bytes(("wrote " + " | ".join(forms) + "\\n").encode("utf-16-be"))
basic = base64.b64encode(("user:" + secret).encode())
(out / "core.dump").write_bytes(b"\\x7fELF\\0\\1" + secret.encode() + b"\\0" + basic + b"\\0" + secret.encode("utf-16-le") + b"\\xff")
print("wrote them")
"""


def _clean_bytes(data: bytes, where: str) -> None:
    """No form of SECRET in `data`: the UTF-8 and UTF-16 bytes of each (base64: of its part that is the secret's)."""
    for name, form in forms(SECRET).items():
        core = form[8:-4] if name in ("base64", "basic") else form
        for encoding in ("utf-8", "utf-16-le", "utf-16-be"):
            assert core.encode(encoding) not in data, f"{name} form of the secret in {encoding} in {where}"


WRITE_MEDIA = """
import gzip, os, pathlib, zipfile
out = pathlib.Path("out"); out.mkdir()
secret = os.environ["MY_API_TOKEN"]
with zipfile.ZipFile(out / "trace.zip", "w", zipfile.ZIP_DEFLATED) as z:  # a Playwright trace
    z.writestr("trace.network", "Authorization: Bearer " + secret)
(out / "shot.png").write_bytes(b"\\x89PNG\\r\\n\\x1a\\n" + b"pixels")
(out / "log.gz").write_bytes(gzip.compress(secret.encode()))
(out / "notes.txt").write_text("key=" + secret + "\\n")
"""


@pytest.mark.slow
@pytest.mark.parametrize("keep", [False, True])
def test_what_the_redaction_cannot_see_into_is_kept_only_when_the_profile_says_so(
    qa_project: ProjectFactory, keep: bool
) -> None:
    argv = [PY, "write_media.py"]
    root = qa_project(
        {
            "write_media.py": WRITE_MEDIA,
            ".qaagent.yaml": (
                ("reports: {keep_unredactable: true}\n" if keep else "")
                + f"tests:\n  media:\n    runner: command\n    command: {json.dumps(argv)}\n"
                + '    artifacts: ["out/*"]\n'
            ),
        }
    )
    result = run_qaagent("run-all", "--quiet", cwd=root, env={"MY_API_TOKEN": SECRET})
    assert result.returncode == 0, result.stdout + result.stderr
    bundle = latest_bundle(root)
    kept = {p.name for p in (bundle / "suites" / "media").rglob("out/*")}
    manifest = manifest_of(bundle)
    not_kept = {Path(item["path"]).name: item["why"] for item in manifest["not_kept"]}
    listed = {Path(item["path"]).name for item in manifest["files"]}
    media = {"trace.zip", "shot.png", "log.gz"}
    if keep:
        assert kept == {*media, "notes.txt"}
        assert not media & set(not_kept)
    else:
        # removed, not listed as evidence, and the manifest says why and how to keep them
        assert kept == {"notes.txt"}
        assert not media & listed
        assert {name: not_kept[name] for name in media} == {
            "trace.zip": "not kept (zip archive: cannot be redacted; reports.keep_unredactable: true keeps it)",
            "shot.png": "not kept (PNG image: cannot be redacted; reports.keep_unredactable: true keeps it)",
            "log.gz": "not kept (gzip file: cannot be redacted; reports.keep_unredactable: true keeps it)",
        }
    notes = next((bundle / "suites" / "media").rglob("out/notes.txt"))
    assert notes.read_text(encoding="utf-8") == "key=***\n"  # text is redacted either way
    verify = run_qaagent("verify", str(bundle), cwd=root)
    assert verify.returncode == 0, verify.stdout + verify.stderr


@pytest.mark.slow
def test_every_text_file_kept_is_redacted_whatever_its_name(qa_project: ProjectFactory) -> None:
    argv = [PY, "write_files.py"]
    root = qa_project(
        {
            "write_files.py": WRITE_FILES,
            ".qaagent.yaml": (
                f"tests:\n  files:\n    runner: command\n    command: {json.dumps(argv)}\n"
                '    artifacts: ["out/*"]\n'
            ),
        }
    )
    result = run_qaagent("run-all", "--quiet", cwd=root, env={"MY_API_TOKEN": SECRET})
    assert result.returncode == 0, result.stdout + result.stderr
    kept = sorted((latest_bundle(root) / "suites" / "files").rglob("out/*"))
    assert {p.name for p in kept} == {
        "config.yaml",
        "trace.har",
        "data.json",
        "page.xml",
        "auth.txt",
        "shot.bin",
        "windows.log",
        "windows-be.log",
        "stray-nul.log",
        "core.dump",
        "nobom.log",
        "nobom-be.log",
    }
    for path in kept:
        _clean_bytes(path.read_bytes(), path.name)
    by_name = {p.name: p for p in kept}
    # UTF-16 stays UTF-16 (BOM and byte order kept), redacted as text
    assert by_name["windows.log"].read_text(encoding="utf-16") == "connecting with ***\n"
    assert by_name["windows-be.log"].read_bytes() == b"\xfe\xff" + "key=***".encode("utf-16-be")
    # a NUL: masked in the bytes, each byte of a form by one * (offsets in a binary stay)
    assert by_name["stray-nul.log"].read_bytes() == b"start\0 key=" + b"*" * len(SECRET) + b" end\n"
    dump = by_name["core.dump"].read_bytes()
    assert dump.startswith(b"\x7fELF\0\1" + b"*" * len(SECRET.encode()) + b"\0"), dump
    assert by_name["shot.bin"].read_bytes() == b"\x89PNG\0\0binary"  # nothing to mask: unchanged
    # UTF-16 without a byte order mark (a NUL: bytes): every form found, masked in UTF-16 in place
    for name, encoding in (("nobom.log", "utf-16-le"), ("nobom-be.log", "utf-16-be")):
        text = by_name[name].read_bytes().decode(encoding)
        assert text.startswith('wrote {"k": "*'), text
        written = [
            json.dumps({"k": SECRET}),
            html.escape(SECRET),
            quote(SECRET, safe=""),
            forms(SECRET)["basic"],
        ]
        assert len(text) == len("wrote " + " | ".join(written) + "\n"), text  # offsets stay
        assert text.count("*") >= 4 * 8, text
    for path in kept:
        if path.suffix not in (".bin", ".dump") and "windows" not in path.name:
            assert_clean(path.read_text(encoding="utf-8"), path.name)


WRITE_BESIDE = """
import os, pathlib, zipfile
secret = os.environ["MY_API_TOKEN"]
junit = pathlib.Path(os.environ["QAAGENT_JUNIT_DIR"]).resolve()
bundle = next(p for p in junit.parents if (p / "manifest.json").is_file())  # the run's evidence folder
(bundle / "extra.txt").write_text("key=" + secret + "\\n")
(bundle / "other").mkdir()
(bundle / "other" / "x.log").write_text("token " + secret + "\\n")
with zipfile.ZipFile(bundle / "other" / "trace.zip", "w", zipfile.ZIP_STORED) as z:
    z.writestr("trace.network", "Authorization: Bearer " + secret)
os.symlink("/etc/hostname", bundle / "other" / "link")
os.mkfifo(bundle / "fifo")
"""


@pytest.mark.slow
def test_a_file_a_suite_writes_beside_its_folder_gets_the_same_treatment(qa_project: ProjectFactory) -> None:
    # issue 12, fourth review: only `suites/<name>/` was redacted and cleaned at the end
    argv = [PY, "write_beside.py"]
    root = qa_project(
        {
            "write_beside.py": WRITE_BESIDE,
            ".qaagent.yaml": f"tests:\n  beside: {{runner: command, command: {json.dumps(argv)}}}\n",
        }
    )
    result = run_qaagent("run-all", "--quiet", cwd=root, env={"MY_API_TOKEN": SECRET})
    assert result.returncode == 0, result.stdout + result.stderr
    bundle = latest_bundle(root)
    assert (bundle / "extra.txt").read_text(encoding="utf-8") == "key=***\n"
    assert (bundle / "other" / "x.log").read_text(encoding="utf-8") == "token ***\n"
    for path in bundle.rglob("*"):
        if path.is_file() and not path.is_symlink():
            _clean_bytes(path.read_bytes(), path.name)
    assert not (bundle / "other" / "trace.zip").exists()
    assert not (bundle / "other" / "link").is_symlink()
    assert not (bundle / "fifo").exists()
    manifest = manifest_of(bundle)
    assert {item["path"]: item["why"] for item in manifest["not_kept"]} == {
        "fifo": "not kept (FIFO)",
        "other/link": "not kept (symlink to /etc/hostname)",
        "other/trace.zip": "not kept (zip archive: cannot be redacted; reports.keep_unredactable: true keeps it)",
    }
    assert {"extra.txt", "other/x.log"} <= {item["path"] for item in manifest["files"]}
    verify = run_qaagent("verify", str(bundle), cwd=root)
    assert verify.returncode == 0, verify.stdout + verify.stderr
