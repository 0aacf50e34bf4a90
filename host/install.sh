#!/usr/bin/env bash
# Install qaagent for the composite (host) action, once per qaagent version and Python.
#
#   install.sh key       check python3, then print (GITHUB_OUTPUT lines) the cache key and
#                        the folder of qaagent's virtual environment
#   install.sh install   make sure that folder holds a complete environment (reuse it, or
#                        build it), then print python=<its interpreter>
#
# The environment lives in $QAAGENT_HOST_CACHE (default: the runner's tool cache, else
# ~/.cache) under a folder named by the key: a hash of everything installed into it (the
# hashed lock, pyproject.toml, qaagent's files, this script) and of the Python it is built
# on. host/action.yml restores and saves that folder with actions/cache, so on the next
# run (same key) nothing is installed. Building it: a virtual environment that also sees
# the runner's site-packages (the test tools earlier steps installed); the lock installed
# with --require-hashes (setuptools included); a wheel of qaagent built with
# --no-build-isolation against that setuptools, from a copy of the sources in a temporary
# folder (nothing is written into the action's checkout); the wheel installed --no-deps.
# A marker written last says the environment is complete; anything else is rebuilt.
#
# QAAGENT_HOST_PYTHON names the interpreter (default: python3 on PATH, as
# actions/setup-python leaves it). Messages (and the ::error of a failure) go to stderr; exit status 2 when python3 is missing or older than 3.11, 3 when
# the installation fails.
set -euo pipefail

ACTION_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=${QAAGENT_HOST_PYTHON:-python3}
MARKER=.qaagent-complete

say() { printf 'qaagent (host): %s\n' "$*" >&2; }
# Workflow-command values: nothing but these characters (paths of the runner's own tools).
plain() { LC_ALL=C tr -cd 'A-Za-z0-9/._+ -' <<<"$1"; }
# stderr: stdout is the step's GITHUB_OUTPUT (the runner reads workflow commands on both)
fail() {
    local status=$1
    shift
    printf '::error title=qaagent (host)::%s\n' "$*" >&2
    exit "$status"
}

check_python() {
    local found version
    if ! found=$(command -v "$PYTHON" 2>/dev/null); then
        fail 2 "$(plain "$PYTHON") not found on PATH: qaagent (host) needs Python 3.11 or newer;" \
            "add actions/setup-python (python-version: '3.12') before this step"
    fi
    if ! version=$("$found" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3]); sys.exit(sys.version_info < (3, 11))' 2>/dev/null); then
        fail 2 "qaagent (host) needs Python 3.11 or newer; $(plain "$found") is $(plain "${version:-not a working Python}");" \
            "add actions/setup-python (python-version: '3.12') before this step"
    fi
    PYTHON=$found
    PYTHON_VERSION=$version
}

# key DIR lines, computed by the checked Python: the same answer in both modes.
compute_key() {
    "$PYTHON" - "$ACTION_ROOT" "${QAAGENT_HOST_CACHE:-}" <<'EOF'
import ast, hashlib, os, platform, sys
from pathlib import Path

root, cache = Path(sys.argv[1]), sys.argv[2]
digest = hashlib.sha256()
# Python identity: its version, build and location (the venv points at it).
digest.update(f"{sys.version}\n{os.path.realpath(sys.executable)}\n{platform.machine()}\n".encode())
files = [root / "pyproject.toml", root / "requirements.txt", root / "host" / "install.sh"]
files += sorted(p for p in (root / "qaagent").rglob("*") if p.is_file() and "__pycache__" not in p.parts)
for path in files:
    digest.update(f"{path.relative_to(root).as_posix()}\n".encode())
    digest.update(hashlib.sha256(path.read_bytes()).digest())
version = "unknown"
for node in ast.parse((root / "qaagent" / "__init__.py").read_text(encoding="utf-8")).body:
    if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "__version__":
        version = str(ast.literal_eval(node.value))
system = platform.system().lower()
key = f"qaagent-host-{version}-py{sys.version_info[0]}.{sys.version_info[1]}-{system}-{platform.machine().lower()}-{digest.hexdigest()[:20]}"
if not cache:
    cache = os.environ.get("RUNNER_TOOL_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "qaagent-host"
    )
print(f"key={key}")
print(f"dir={os.path.join(os.path.abspath(cache), 'qaagent-host', key)}")
print(f"version={version}")
EOF
}

complete() { [[ -f $1/$MARKER && $(cat "$1/$MARKER") == "$2" && -x $1/venv/bin/python ]]; }

install() {
    local key=$1 dir=$2 version=$3 venv=$2/venv started=$SECONDS
    if complete "$dir" "$key" && "$venv/bin/python" -I -c 'import qaagent' 2>/dev/null; then
        say "reusing qaagent $version in $dir (Python $PYTHON_VERSION)"
        printf 'python=%s\n' "$venv/bin/python"
        return
    fi
    say "installing qaagent $version for Python $PYTHON_VERSION into $dir"
    rm -rf "$dir"
    mkdir -p "$dir"
    local work
    work=$(mktemp -d "${RUNNER_TEMP:-${TMPDIR:-/tmp}}/qaagent-build.XXXXXX")
    # shellcheck disable=SC2064 # expand now: $work is local
    trap "rm -rf '$work'" EXIT
    local pip=("$venv/bin/python" -m pip --disable-pip-version-check --no-input --quiet)
    "$PYTHON" -m venv --system-site-packages "$venv" ||
        fail 3 "python -m venv failed for $(plain "$PYTHON")"
    # Every file checked against the lock's hashes; installed into the venv even when the
    # runner's site-packages has the same version, so a later change there cannot matter.
    # (--no-warn-conflicts: what the runner's own packages want is not qaagent's business)
    "${pip[@]}" install --require-hashes --only-binary=:all: --ignore-installed --no-warn-conflicts \
        -r "$ACTION_ROOT/requirements.txt" ||
        fail 3 "installing the locked dependencies (requirements.txt) failed"
    mkdir "$work/src"
    cp "$ACTION_ROOT/pyproject.toml" "$ACTION_ROOT/README.md" "$ACTION_ROOT/LICENSE" "$work/src/"
    cp -R "$ACTION_ROOT/qaagent" "$work/src/qaagent"
    find "$work/src" -name __pycache__ -prune -exec rm -rf {} +
    "${pip[@]}" wheel --no-deps --no-build-isolation --wheel-dir "$work/wheel" "$work/src" ||
        fail 3 "building the qaagent wheel failed"
    "${pip[@]}" install --no-deps --no-index "$work/wheel"/qaagent-*.whl ||
        fail 3 "installing the qaagent wheel failed"
    "$venv/bin/python" -I -c 'import sys, qaagent; sys.exit(qaagent.__version__ != sys.argv[1])' "$version" ||
        fail 3 "the installed qaagent is not version $version"
    printf '%s' "$key" >"$dir/$MARKER"
    say "installed qaagent $version in $((SECONDS - started)) s"
    printf 'python=%s\n' "$venv/bin/python"
}

main() {
    local mode=${1:-}
    [[ $mode == key || $mode == install ]] || {
        say "usage: install.sh key|install"
        exit 2
    }
    check_python
    local lines key dir version
    lines=$(compute_key) || fail 3 "could not compute the cache key with $(plain "$PYTHON")"
    key=$(sed -n 's/^key=//p' <<<"$lines")
    dir=$(sed -n 's/^dir=//p' <<<"$lines")
    version=$(sed -n 's/^version=//p' <<<"$lines")
    if [[ $mode == key ]]; then
        printf 'key=%s\ndir=%s\n' "$key" "$dir"
    else
        install "$key" "$dir" "$version"
    fi
}

main "$@"
