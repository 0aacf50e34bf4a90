#!/usr/bin/env bash
# Install qaagent the two ways a user does, each into a fresh virtual environment, and run
# a smoke test with each: `pip install .` (a copy of the sources) and the built wheel.
# The smoke test: `qaagent --version` says the package's version, `qaagent validate` and
# `qaagent run-all --suite unit` on a copy of examples/demo pass, `qaagent verify` accepts
# the bundle, and the qaagent that ran is the installed one (not this checkout's sources).
# `make package-test`; `.ci/run` and the CI workflow's packaging job call it. Needs the
# package registry for pip. Nothing is written into the checkout.
# Exit status: 0 both passed; 1 one failed.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=${PYTHON:-python3}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/qaagent-package-test.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
VERSION=$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' "$REPO/qaagent/__init__.py")
PYTEST=$(grep -E '^pytest==' "$REPO/requirements-dev.txt" | head -n 1)

log() { printf '[package-test] %s\n' "$*"; }
pip_in() { "$1/bin/python" -m pip --disable-pip-version-check --no-input --quiet "${@:2}"; }

# the tracked and new (not ignored) files, as a clone would have them
git -C "$REPO" ls-files -z --cached --others --exclude-standard -- . ':!examples/demo/e2e' ':!tests' |
    (cd "$REPO" && tar --null -T - --ignore-failed-read -cf - 2>/dev/null) | (mkdir -p "$WORK/src" && tar -C "$WORK/src" -xf -)

smoke() { # smoke NAME VENV: the installed qaagent on a copy of the demo's unit suite
    local name=$1 venv=$2 demo=$WORK/demo-$1 out
    log "$name: $("$venv/bin/python" --version), qaagent from $("$venv/bin/python" -P -c 'import qaagent; print(qaagent.__file__)')"
    [[ $("$venv/bin/python" -P -c 'import qaagent; print(qaagent.__file__)') == "$venv"/* ]] ||
        { log "$name: FAIL qaagent is not imported from the environment"; return 1; }
    out=$("$venv/bin/qaagent" --version)
    [[ $out == *"$VERSION"* ]] || { log "$name: FAIL qaagent --version said '$out', not $VERSION"; return 1; }
    log "$name: qaagent --version: $out"
    cp -R "$WORK/src/examples/demo" "$demo"
    (
        cd "$demo"
        env -u PYTHONPATH "$venv/bin/qaagent" validate --profile .qaagent.yaml >"$WORK/$name-validate.log" 2>&1 ||
            { log "$name: FAIL qaagent validate"; tail -n 20 "$WORK/$name-validate.log"; exit 1; }
        env -u PYTHONPATH "$venv/bin/qaagent" run-all --profile .qaagent.yaml --suite unit --github off --quiet \
            >"$WORK/$name-run.log" 2>&1 ||
            { log "$name: FAIL qaagent run-all --suite unit"; tail -n 30 "$WORK/$name-run.log"; exit 1; }
        grep -q '<testsuites' qaagent-junit.xml || { log "$name: FAIL no merged JUnit"; exit 1; }
        local bundle
        bundle=$(find .qaagent/evidence -mindepth 1 -maxdepth 1 -type d | sort | tail -n 1)
        "$venv/bin/qaagent" verify "$bundle" >/dev/null || { log "$name: FAIL qaagent verify $bundle"; exit 1; }
        log "$name: validate, run-all --suite unit ($(grep -Eo '[0-9]+ passed' "$WORK/$name-run.log" | tail -n 1)), verify: ok"
    )
}

passed=0
failed=0
verdict() {
    if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
}

install_from_source() {
    "$PYTHON" -m venv "$WORK/venv-source"
    pip_in "$WORK/venv-source" install "$WORK/src" "$PYTEST" || { log "source: FAIL pip install ."; return 1; }
    smoke source "$WORK/venv-source"
}

install_wheel() {
    "$PYTHON" -m venv "$WORK/venv-build"
    pip_in "$WORK/venv-build" wheel --no-deps --wheel-dir "$WORK/dist" "$WORK/src" ||
        { log "wheel: FAIL building the wheel"; return 1; }
    local wheel
    wheel=$(find "$WORK/dist" -name "qaagent-$VERSION-py3-none-any.whl")
    [[ -n $wheel ]] || { log "wheel: FAIL no qaagent-$VERSION-py3-none-any.whl in $(ls "$WORK/dist")"; return 1; }
    log "wheel: built $(basename "$wheel")"
    "$PYTHON" -m venv "$WORK/venv-wheel"
    pip_in "$WORK/venv-wheel" install "$wheel" "$PYTEST" || { log "wheel: FAIL pip install the wheel"; return 1; }
    smoke wheel "$WORK/venv-wheel"
}

log "qaagent $VERSION with $("$PYTHON" --version) ($PYTEST for the demo's unit suite)"
verdict install_from_source
verdict install_wheel
log "$passed passed, $failed failed"
((failed == 0))
