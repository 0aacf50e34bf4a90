#!/usr/bin/env bash
# Build the action's image from the project's own Dockerfile with podman and run it the
# way the GitHub Actions runner runs a Docker action, then check what a workflow would
# see (exit codes, outputs, job summary, annotations, JUnit, a verifiable evidence bundle).
# `make container-test`; `.ci/run` calls it after `make test`. Needs root and apt-get
# (it installs podman, runc and debootstrap when missing); without them it says why and
# exits non-zero: it never pretends to have tested the image.
#
# No registry can be reached here, so the Dockerfile's base image is replaced by a
# stand-in: Debian bookworm's own Python, built with debootstrap and imported under
# the name on the FROM line (its tag; when the FROM line also pins a digest, the image is
# built from a copy of the Dockerfile whose FROM names the tag alone, since podman cannot
# import under a digest). See "The action's container, tested" in README.md for what that
# does and does not prove.
#
# Every podman file (storage, run state, temp, logs) lives in one work folder under
# .container-work/ that is removed at the end, also on failure or Ctrl-C. The debootstrap
# tarball of the base image may be cached in $XDG_CACHE_HOME/qaagent-container
# (QAAGENT_CONTAINER_CACHE=0 turns that off); everything else starts from nothing.
# Exit status: 0 all checks passed; 1 a check failed; 2 the machine cannot run podman.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
IMAGE=qaagent-action:test
HELPER=$REPO/scripts/container/helper.py
FIXTURES=$REPO/tests/fixtures/container
VENV_PY=$REPO/.venv/bin/python
QAAGENT=$REPO/.venv/bin/qaagent
LOG_FILE=${QAAGENT_CONTAINER_LOG:-$REPO/build/container-test.log}
CACHE_DIR=${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/qaagent-container
START_TIMEOUT=180 # seconds to wait for the long suite to start

if mkdir -p "$(dirname "$LOG_FILE")" 2>/dev/null && : 2>/dev/null >"$LOG_FILE"; then
    exec > >(tee -a "$LOG_FILE") 2>&1
else
    LOG_FILE="(none: $LOG_FILE is not writable)"
fi

log() { printf '[container-test %(%H:%M:%S)T] %s\n' -1 "$*"; }
die() {
    log "ERROR: $*"
    exit 2
}
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
# Indent text so that workflow commands printed by the container (::error ...) stay
# data in this log even when this script itself runs inside GitHub Actions.
quote() { sed 's/^/    | /'; }

# --- the machine --------------------------------------------------------------------

require_machine() {
    if [[ $(id -u) -ne 0 ]]; then
        die "must run as root (podman builds as root here, debootstrap and chroot need root); not testing the image"
    fi
    local missing=() tool
    for tool in podman runc debootstrap; do
        command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
    done
    if ((${#missing[@]})); then
        command -v apt-get >/dev/null 2>&1 ||
            die "${missing[*]} missing and there is no apt-get to install them; not testing the image"
        log "installing ${missing[*]} with apt-get (podman runc debootstrap)"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq ||
            die "apt-get update failed; not testing the image"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc debootstrap >/dev/null ||
            die "apt-get install podman runc debootstrap failed; not testing the image"
    fi
    if [[ ! -x $QAAGENT ]]; then
        log "no $QAAGENT yet: make venv (needed to verify bundles on the host)"
        make -C "$REPO" venv >/dev/null || die "make venv failed"
    fi
    log "podman $(podman --version | awk '{print $3}'), runc $(runc --version | awk 'NR==1 {print $3}'), $(debootstrap --version 2>/dev/null || echo debootstrap)"
}

# --- one work folder for every podman file -----------------------------------------

WORK=""
PODMAN_READY=""
# Podman 4.3 keeps two small files outside any configurable folder: the image blob-info
# cache (/var/lib/containers/cache) and netavark's IP allocations (/run/containers/networks).
# They are removed at the end when this script created them; their parent folders only when
# empty, so nothing another podman user keeps there is ever touched.
OUTSIDE=(/var/lib/containers/cache /run/containers/networks)
OUTSIDE_NEW=()
cleanup() {
    local status=$?
    set +e
    if [[ -n $WORK && -d $WORK ]]; then
        if [[ -n $PODMAN_READY ]]; then
            podman ps -aq 2>/dev/null | xargs -r podman rm -f -t 0 >/dev/null 2>&1
            podman rmi -af >/dev/null 2>&1
        fi
        # overlay storage leaves mounts below the graph root: unmount, deepest first
        findmnt -rn -o TARGET | grep -F "$WORK/" | sort -r | xargs -r -n1 umount -l 2>/dev/null
        rm -rf "$WORK"
        rmdir "$REPO/.container-work" 2>/dev/null
        log "removed the work folder $WORK"
    fi
    local outside
    for outside in "${OUTSIDE_NEW[@]}"; do
        rm -rf "$outside"
        rmdir "$(dirname "$outside")" 2>/dev/null
    done
    exit "$status"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

setup_work() {
    local outside
    for outside in "${OUTSIDE[@]}"; do
        [[ -e $outside ]] || OUTSIDE_NEW+=("$outside")
    done
    mkdir -p "$REPO/.container-work"
    WORK=$(mktemp -d "$REPO/.container-work/run.XXXXXX")
    mkdir -p "$WORK"/{storage,runroot,tmp,libpod-tmp,volumes,net,runs,ws,home}
    cat >"$WORK/containers.conf" <<EOF
# Written by scripts/container-test.sh. crun fails on this machine's hybrid cgroups,
# and podman's default ulimits exceed what root may set here.
[containers]
default_ulimits = ["nofile=16384:16384", "nproc=32768:32768"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$WORK/events.log"
tmp_dir = "$WORK/libpod-tmp"
volume_path = "$WORK/volumes"

[network]
network_config_dir = "$WORK/net"
EOF
    cat >"$WORK/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$WORK/storage"
runroot = "$WORK/runroot"
EOF
    export CONTAINERS_CONF=$WORK/containers.conf
    export CONTAINERS_STORAGE_CONF=$WORK/storage.conf
    export BUILDAH_ISOLATION=chroot
    export TMPDIR=$WORK/tmp
    PODMAN_READY=1
    log "work folder (all podman state): $WORK"
    local info
    if ! info=$(podman info 2>&1); then
        printf '%s\n' "$info" | tail -n 5 | quote
        die "podman is installed but cannot run here (see above): not testing the image"
    fi
}

# --- the stand-in base image ---------------------------------------------------------

FROM_NAME=""
# The Dockerfile the image is built from: the project's own, or (when its FROM pins a
# digest) a copy whose FROM names the tag alone, every other line unchanged.
DOCKERFILE=$REPO/Dockerfile
base_image() {
    local from_ref
    from_ref=$(awk 'toupper($1) == "FROM" { print $2; exit }' "$REPO/Dockerfile")
    [[ -n $from_ref ]] || die "no FROM line in $REPO/Dockerfile"
    FROM_NAME=${from_ref%@*}
    if [[ $FROM_NAME != "$from_ref" ]]; then
        [[ ${from_ref#*@} =~ ^sha256:[0-9a-f]{64}$ ]] ||
            die "the FROM line's digest is not sha256:<64 hex digits>: $from_ref"
        DOCKERFILE=$WORK/Dockerfile
        awk -v ref="$from_ref" -v name="$FROM_NAME" \
            'toupper($1) == "FROM" && $2 == ref && !done { sub(/@sha256:[0-9a-f]+/, ""); done = 1 } { print }' \
            "$REPO/Dockerfile" >"$DOCKERFILE"
        [[ $(diff "$REPO/Dockerfile" "$DOCKERFILE" | grep -c '^[<>]') == 2 ]] ||
            die "could not rewrite the FROM line of a copy of the Dockerfile"
        log "the Dockerfile pins $FROM_NAME by digest (${from_ref#*@}): podman cannot import an image under a digest,"
        log "  so the image is built from a copy whose FROM names the tag alone; every other line is the project's"
    fi
    local codename
    codename=$(sed -n 's/.*-\(bookworm\|bullseye\|trixie\)$/\1/p' <<<"$FROM_NAME")
    codename=${codename:-bookworm}
    local mirror
    mirror=$("$VENV_PY" "$HELPER" mirror "$codename") ||
        die "no Debian mirror for $codename in /etc/apt/sources.list.d (URIs:) or /etc/apt/sources.list"
    local include=python3,python3-pip,python3-venv,python-is-python3,ca-certificates
    local certs=() cert
    for cert in /usr/local/share/ca-certificates/*.crt; do
        [[ -f $cert ]] && certs+=("$cert")
    done
    log "STAND-IN BASE IMAGE: $FROM_NAME will be Debian $codename's own Python (debootstrap from $mirror),"
    log "  NOT the official python image: its Python version and file layout differ (see README.md, section: The action's container, tested)"

    local key tarball=""
    key=$( (
        echo "$FROM_NAME $codename $mirror $include v1"
        ((${#certs[@]})) && cat "${certs[@]}"
    ) | sha256sum | cut -c1-16)
    if [[ ${QAAGENT_CONTAINER_CACHE:-1} != 0 ]]; then
        tarball=$CACHE_DIR/base-$key.tar
    fi
    local started
    started=$(now)
    if [[ -n $tarball && -s $tarball ]]; then
        log "base rootfs from the cache: $tarball"
    else
        local rootfs=$WORK/rootfs
        log "debootstrap --variant=minbase $codename (about a minute)"
        if ! debootstrap --variant=minbase --include="$include" "$codename" "$rootfs" "$mirror" \
            >"$WORK/debootstrap.log" 2>&1; then
            tail -n 30 "$WORK/debootstrap.log" | quote
            die "debootstrap failed (log above)"
        fi
        if ((${#certs[@]})); then
            log "adding this machine's CA certificates: ${certs[*]##*/}"
            cp "${certs[@]}" "$rootfs/usr/local/share/ca-certificates/"
            env TMPDIR=/tmp chroot "$rootfs" update-ca-certificates >/dev/null ||
                die "update-ca-certificates failed inside the base rootfs"
        fi
        rm -f "$rootfs"/usr/lib/python3*/EXTERNALLY-MANAGED
        ln -sf /usr/bin/python3 "$rootfs/usr/local/bin/python3"
        ln -sf /usr/bin/pip3 "$rootfs/usr/local/bin/pip"
        rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
        if [[ -n $tarball ]]; then
            mkdir -p "$CACHE_DIR"
            rm -f "$CACHE_DIR"/base-*.tar
            tar -C "$rootfs" -cf "$tarball.part" . && mv "$tarball.part" "$tarball"
        else
            tarball=$WORK/base.tar
            tar -C "$rootfs" -cf "$tarball" .
        fi
        rm -rf "$rootfs"
    fi
    podman import --change 'CMD ["python3"]' "$tarball" "$FROM_NAME" >/dev/null
    BASE_SIZE=$(podman image inspect --format '{{.Size}}' "$FROM_NAME")
    log "imported the stand-in as $FROM_NAME ($(mb "$BASE_SIZE") MB) in $(elapsed "$started" "$(now)") s"
}

mb() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1000000 }'; }

# build_image TAG DOCKERFILE: podman build --pull=never; on failure shows the failing step.
build_image() {
    local tag=$1 dockerfile=$2 build_log=$WORK/build-$1.log
    build_log=${build_log//:/_}
    if podman build --pull=never -t "$tag" -f "$dockerfile" "$REPO" >"$build_log" 2>&1; then
        grep -E '^STEP [0-9]+/[0-9]+:' "$build_log" | quote
        return 0
    fi
    log "image build FAILED at: $(grep -E '^STEP [0-9]+/[0-9]+:' "$build_log" | tail -n 1)"
    tail -n 15 "$build_log" | quote
    return 1
}

# --- running the action like the runner ----------------------------------------------

PASSED=0
FAILED=0
FAILED_NAMES=()
PROBLEMS=()
INPUT_NAMES=()
declare -A IN=()

# need DESCRIPTION COMMAND...: record DESCRIPTION as a problem when COMMAND fails
need() {
    local what=$1
    shift
    if ! "$@" >/dev/null 2>&1; then
        PROBLEMS+=("$what")
    fi
}
verdict() {
    local name=$1 problem
    if ((${#PROBLEMS[@]} == 0)); then
        PASSED=$((PASSED + 1))
        log "PASS  $name"
    else
        FAILED=$((FAILED + 1))
        FAILED_NAMES+=("$name")
        log "FAIL  $name"
        for problem in "${PROBLEMS[@]}"; do
            log "      - $problem"
        done
    fi
    PROBLEMS=()
}

# run_action LABEL WORKSPACE [EXTRA PODMAN ARGS...]: one `podman run` as the Actions runner
# does it, inputs from the IN array (every declared input, empty when unset). Leaves
# RUN_DIR with stdout, stderr, rc and file_commands/{set_output,step_summary}.
# GITHUB_OUTPUT_PATH (in-container path) and WS_MOUNT_OPTIONS change the defaults.
run_action() {
    local label=$1 workspace=$2
    shift 2
    RUN_DIR=$WORK/runs/$label
    mkdir -p "$RUN_DIR/file_commands" "$RUN_DIR/workflow"
    : >"$RUN_DIR/file_commands/set_output"
    : >"$RUN_DIR/file_commands/step_summary"
    printf '{"ref": "refs/heads/main", "after": "%s", "repository": {"full_name": "%s"}}\n' \
        "$GITHUB_SHA_VALUE" "$GITHUB_REPOSITORY_VALUE" >"$RUN_DIR/workflow/event.json"
    local args=(
        run --rm --workdir /github/workspace
        -v "$workspace:/github/workspace${WS_MOUNT_OPTIONS:-}"
        -v "$RUN_DIR/file_commands:/github/file_commands"
        -v "$WORK/home:/github/home"
        -v "$RUN_DIR/workflow:/github/workflow"
        -e HOME=/github/home
        -e GITHUB_WORKSPACE=/github/workspace
        -e "GITHUB_OUTPUT=${GITHUB_OUTPUT_PATH:-/github/file_commands/set_output}"
        -e GITHUB_STEP_SUMMARY=/github/file_commands/step_summary
        -e GITHUB_EVENT_PATH=/github/workflow/event.json
        -e GITHUB_EVENT_NAME=push
        -e "GITHUB_SHA=$GITHUB_SHA_VALUE"
        -e GITHUB_REF=refs/heads/main
        -e "GITHUB_REPOSITORY=$GITHUB_REPOSITORY_VALUE"
        -e GITHUB_SERVER_URL=https://github.com
        -e GITHUB_API_URL=https://api.github.com
        -e GITHUB_RUN_ID=1 -e GITHUB_RUN_ATTEMPT=1 -e GITHUB_JOB=container-test
        -e GITHUB_WORKFLOW=container-test -e GITHUB_ACTOR=container-test
        -e GITHUB_ACTIONS=true -e CI=true -e RUNNER_OS=Linux
    )
    local name
    for name in "${INPUT_NAMES[@]}"; do
        args+=(-e "INPUT_${name^^}=${IN[$name]:-}")
    done
    args+=("$@" "$IMAGE")
    set +e
    podman "${args[@]}" >"$RUN_DIR/stdout" 2>"$RUN_DIR/stderr"
    echo $? >"$RUN_DIR/rc"
    set -e
}

show_run() {
    log "$1: exit $(cat "$RUN_DIR/rc"); stdout (last 40 lines):"
    tail -n 40 "$RUN_DIR/stdout" | quote
    if [[ -s $RUN_DIR/stderr ]]; then
        log "$1: stderr (last 15 lines):"
        tail -n 15 "$RUN_DIR/stderr" | quote
    fi
}

rc_is() { [[ $(cat "$RUN_DIR/rc") == "$1" ]]; }
output_of() { "$VENV_PY" "$HELPER" get "$RUN_DIR/file_commands/set_output" "$1"; }
stdout_has() { grep -Eq -- "$1" "$RUN_DIR/stdout"; }
no_traceback() { ! grep -q 'Traceback (most recent call last)' "$RUN_DIR/stdout" "$RUN_DIR/stderr"; }
# need_verified BUNDLE WHAT: `qaagent verify` on the host must accept BUNDLE
need_verified() {
    if ! "$QAAGENT" verify "$1" >"$RUN_DIR/verify.log" 2>&1; then
        PROBLEMS+=("$2: qaagent verify said: $(tail -n 3 "$RUN_DIR/verify.log" | tr '\n' ' ')")
    fi
}
check_outputs() {
    "$VENV_PY" "$HELPER" check-outputs "$REPO/action.yml" "$RUN_DIR/file_commands/set_output" >"$RUN_DIR/outputs.txt" 2>&1
}
# bundle_of WORKSPACE OUTPUT_VALUE: the bundle the evidence-path output names, or (when the
# output is missing, already reported) the newest bundle found, so the other checks still run
bundle_of() {
    if [[ -n $2 ]]; then
        printf '%s' "$1/$2"
    else
        find "$1" -path '*/.qaagent/evidence/*' -name manifest.json -printf '%h\n' 2>/dev/null | sort | tail -n 1
    fi
}
fresh_workspace() { # fresh_workspace NAME [FIXTURE [SUBDIR]]
    local ws=$WORK/ws/$1
    rm -rf "$ws"
    mkdir -p "$ws/${3:-.}"
    [[ -z ${2:-} ]] || cp -a "$FIXTURES/$2/." "$ws/${3:-.}/"
    printf '%s' "$ws"
}
# pinned versions of the dev tools the fixture suites need, from requirements-dev.txt
pin() { grep -E "^$1==" "$REPO/requirements-dev.txt" | head -n 1; }
reset_inputs() {
    IN=()
    GITHUB_OUTPUT_PATH=""
    WS_MOUNT_OPTIONS=""
}
# every file below the given paths readable (and folders enterable) by any host user
readable_by_all() { [[ -z $(find "$@" \( -type f ! -perm -0004 \) -o \( -type d ! -perm -0005 \)) ]]; }
owned_by_root() { [[ -z $(find "$@" ! -uid 0) ]]; }

# --- the checks ------------------------------------------------------------------------

check_bad_build() {
    local broken=$WORK/Dockerfile.broken
    awk '{ print } toupper($1) == "FROM" && !done { print "RUN python3 -c \"import qaagent_container_test_no_such_module\""; done = 1 }' \
        "$DOCKERFILE" >"$broken"
    log "bad input: building a Dockerfile copy with a deliberately failing RUN step"
    if build_image qaagent-action:broken "$broken"; then
        PROBLEMS+=("the broken Dockerfile built")
    else
        need "the failing step is not named in the build log" \
            grep -q 'qaagent_container_test_no_such_module' "$WORK/build-qaagent-action_broken.log"
    fi
    verdict "a failing image build is reported with its step and a non-zero status"
}

check_demo() {
    local ws
    ws=$(fresh_workspace demo)
    # the workspace is a checkout: the repository's files (tracked and new, not ignored)
    (cd "$REPO" && git ls-files -z --cached --others --exclude-standard |
        tar --null -T - --ignore-failed-read -cf - 2>/dev/null) | tar -C "$ws" -xf -
    reset_inputs
    IN[working-directory]=examples/demo
    # the demo's e2e suite needs a browser the image does not ship: unit and behave only
    IN[suites]="unit,behave"
    IN[setup]="pip install --quiet $(pin pytest) $(pin behave)"
    log "demo: working-directory examples/demo, suites unit,behave (no browser in the image), setup: ${IN[setup]}"
    local started
    started=$(now)
    run_action demo "$ws"
    DEMO_SECONDS=$(elapsed "$started" "$(now)")
    show_run demo
    need "exit status 0 (got $(cat "$RUN_DIR/rc"))" rc_is 0
    if check_outputs; then :; else PROBLEMS+=("outputs file: $(tail -n 1 "$RUN_DIR/outputs.txt")"); fi
    quote <"$RUN_DIR/outputs.txt"
    need "output conclusion is success" test "$(output_of conclusion)" = success
    need "output total > 0" test "$(output_of total)" -gt 0
    need "job summary written" test -s "$RUN_DIR/file_commands/step_summary"
    need "job summary names the unit suite" grep -q unit "$RUN_DIR/file_commands/step_summary"
    local junit evidence bundle
    junit=$(output_of junit-path)
    evidence=$(output_of evidence-path)
    need "merged JUnit at the junit-path output ('$junit'), relative to the workspace" \
        grep -q '<testsuites' "$ws/${junit:-missing-output}"
    need "evidence bundle at the evidence-path output ('$evidence')" test -f "$ws/${evidence:-missing}/manifest.json"
    need "merged JUnit in the demo folder (profile's reports.junit)" \
        grep -q '<testsuites' "$ws/examples/demo/qaagent-junit.xml"
    bundle=$(bundle_of "$ws" "$evidence")
    if [[ -n $bundle && -d $bundle ]]; then
        need_verified "$bundle" "the demo bundle"
        need "manifest status is success (got $("$VENV_PY" "$HELPER" manifest-status "$bundle"))" \
            test "$("$VENV_PY" "$HELPER" manifest-status "$bundle")" = success
        need "bundle files readable by every host user (upload-artifact runs as the runner user)" \
            readable_by_all "$bundle" "$ws/examples/demo/qaagent-junit.xml" "$RUN_DIR/file_commands"
        need "files written in the workspace are owned by root, as with the Actions runner's Docker" \
            owned_by_root "$bundle"
    else
        PROBLEMS+=("no evidence bundle found in the workspace")
    fi
    need "summary annotation (::notice title=qaagent::) on stdout" stdout_has '^::notice title=qaagent::'
    need "setup output folded in a log group" stdout_has '^::group::setup'
    verdict "demo project (unit, behave) through the container: exit 0, outputs, summary, JUnit, verified bundle, annotations"
}

check_failing() {
    local ws file=tests/test_checkout.py
    ws=$(fresh_workspace failing failing proj)
    reset_inputs
    IN[working-directory]=proj
    IN[setup]="pip install --quiet $(pin pytest)"
    run_action failing "$ws"
    show_run failing
    # qaagent points the annotation at the failing line of the test file (read from
    # the traceback), not at the `def` line pytest's JUnit gives; the fixture marks it.
    local fail_line
    fail_line=$(grep -n 'CONTAINER-TEST: FAILS HERE' "$FIXTURES/failing/$file" | cut -d: -f1)
    need "exit status 1 (got $(cat "$RUN_DIR/rc"))" rc_is 1
    need "::error file=proj/$file,line=$fail_line (path relative to the workspace)" \
        stdout_has "^::error file=proj/tests/test_checkout\\.py,line=${fail_line}[,:]"
    need "summary ::error title=qaagent:: annotation" stdout_has '^::error title=qaagent::'
    need "output conclusion is failure" test "$(output_of conclusion)" = failure
    need "output failed is 1" test "$(output_of failed)" = 1
    local bundle
    bundle=$(bundle_of "$ws" "$(output_of evidence-path)")
    if [[ -n $bundle ]]; then
        need_verified "$bundle" "the failing run's bundle"
        need "manifest status is failure" test "$("$VENV_PY" "$HELPER" manifest-status "$bundle")" = failure
    else
        PROBLEMS+=("no evidence bundle found in the workspace")
    fi
    verdict "failing suite: exit 1, ::error annotation at the test's file and line relative to the workspace"
}

check_bad_profile() {
    local ws
    ws=$(fresh_workspace bad-profile bad-profile)
    reset_inputs
    run_action bad-profile "$ws"
    show_run bad-profile
    need "exit status 2 (got $(cat "$RUN_DIR/rc"))" rc_is 2
    need "exactly one ::error line on stdout (got $(grep -c '^::error' "$RUN_DIR/stdout"))" \
        test "$(grep -c '^::error' "$RUN_DIR/stdout")" = 1
    need "the ::error names the file and the bad key" stdout_has '^::error.*\.qaagent\.yaml.*retries'
    need "no traceback" no_traceback
    verdict "bad profile: exit 2 and one one-line ::error annotation"
}

check_postgres_driver() {
    # the `postgres` extra is in the image (a postgresql:// history store needs it): psycopg
    # imports and its bundled libpq loads
    local out
    if out=$(podman run --rm --entrypoint python3 "$IMAGE" -c \
        'import psycopg; print("psycopg", psycopg.__version__, "libpq", psycopg.pq.version())' 2>&1); then
        log "image: $out"
    else
        PROBLEMS+=("psycopg cannot be imported in the image: $(printf '%s' "$out" | tail -n 1)")
    fi
    verdict "the image has the postgres extra (psycopg and libpq load)"
}

check_setup_input() {
    local ws
    ws=$(fresh_workspace setup-input setup-input)
    if podman run --rm --entrypoint python3 "$IMAGE" -c 'import six' >/dev/null 2>&1; then
        PROBLEMS+=("six is already in the image: this check would prove nothing")
    fi
    reset_inputs
    IN[setup]="pip install --quiet $(pin pytest) six"
    run_action setup-input "$ws"
    show_run setup-input
    need "exit status 0 (got $(cat "$RUN_DIR/rc"))" rc_is 0
    need "output passed is 1 (the test importing six ran)" test "$(output_of passed)" = 1
    need "setup ran in a ::group::setup log group" stdout_has '^::group::setup'
    verdict "setup input installs a package (six) the suite imports, inside the container"
}

check_sigterm() {
    local ws name=qaagent-sigterm-$$
    ws=$(fresh_workspace long-suite long-suite)
    reset_inputs
    IN[suites]=long
    local started
    started=$(now)
    run_action sigterm "$ws" --name "$name" &
    local runner=$!
    local waited=0
    while [[ ! -s $ws/suite-started-long ]] && ((waited < START_TIMEOUT * 5)); do
        sleep 0.2
        waited=$((waited + 1))
    done
    if [[ -s $ws/suite-started-long ]]; then
        FIRST_SUITE_SECONDS=$(elapsed "$started" "$(cat "$ws/suite-started-long")")
        log "container start to first suite: $FIRST_SUITE_SECONDS s (podman run to the suite's first line)"
        sleep 1
        local stop_started
        stop_started=$(now)
        podman stop -t 5 "$name" >/dev/null 2>&1 || true
        wait "$runner" || true
        log "podman stop -t 5 returned after $(elapsed "$stop_started" "$(now)") s"
    else
        PROBLEMS+=("the long suite did not start within $START_TIMEOUT s")
        podman stop -t 0 "$name" >/dev/null 2>&1 || true
        wait "$runner" || true
    fi
    RUN_DIR=$WORK/runs/sigterm
    show_run sigterm
    need "exit status 130 after SIGTERM (got $(cat "$RUN_DIR/rc"); 137 means SIGKILL after the 5 s grace)" rc_is 130
    local bundle
    bundle=$(find "$ws/.qaagent/evidence" -mindepth 1 -maxdepth 1 -type d 2>/dev/null | sort | tail -n 1)
    if [[ -n $bundle ]]; then
        local status
        status=$("$VENV_PY" "$HELPER" manifest-status "$bundle" 2>/dev/null || echo unreadable)
        need "manifest status is cancelled (got $status)" test "$status" = cancelled
        need_verified "$bundle" "the cancelled bundle"
    else
        PROBLEMS+=("no evidence bundle in .qaagent/evidence")
    fi
    need "output conclusion is cancelled" test "$(output_of conclusion)" = cancelled
    verdict "SIGTERM (podman stop -t 5) during a long suite: entrypoint as PID 1 ends the bundle cancelled, verifiable"
}

check_missing_output_dir() {
    local ws
    ws=$(fresh_workspace no-output-dir long-suite)
    reset_inputs
    IN[suites]=quick
    GITHUB_OUTPUT_PATH=/github/file_commands/no-such-dir/set_output
    run_action no-output-dir "$ws"
    show_run no-output-dir
    # qaagent's GitHub feedback never raises for a file-system problem: a ::warning (tests
    # passed, exit code kept) or an ::error are both clear, as long as it names the file
    need "an ::error or ::warning annotation names the outputs file" \
        stdout_has '^::(error|warning).*(GITHUB_OUTPUT|no-such-dir)'
    need "no traceback" no_traceback
    verdict "bad input: GITHUB_OUTPUT in a missing directory is reported clearly (exit $(cat "$RUN_DIR/rc"))"
}

check_missing_output_file() {
    local ws
    ws=$(fresh_workspace no-output-file long-suite)
    reset_inputs
    IN[suites]=quick
    GITHUB_OUTPUT_PATH=/github/file_commands/not-created-by-the-runner
    run_action no-output-file "$ws"
    show_run no-output-file
    local made=$RUN_DIR/file_commands/not-created-by-the-runner
    if rc_is 0; then
        # appending creates the file: accepted only if every output really is in it
        need "the outputs file was created with every output" \
            "$VENV_PY" "$HELPER" check-outputs "$REPO/action.yml" "$made"
    else
        need "an ::error annotation names the outputs file" stdout_has '^::error.*(GITHUB_OUTPUT|not-created)'
    fi
    need "no traceback" no_traceback
    verdict "bad input: GITHUB_OUTPUT file missing (directory exists): exit $(cat "$RUN_DIR/rc"), $(if rc_is 0; then echo created; else echo reported; fi)"
}

check_readonly_workspace() {
    local ws
    ws=$(fresh_workspace readonly long-suite)
    reset_inputs
    IN[suites]=quick
    WS_MOUNT_OPTIONS=:ro
    run_action readonly "$ws"
    show_run readonly
    need "non-zero exit status (got $(cat "$RUN_DIR/rc"))" test "$(cat "$RUN_DIR/rc")" != 0
    need "an ::error annotation says what could not be written" stdout_has '^::error.*(ead-only|ermission|cannot|not writable)'
    need "no traceback" no_traceback
    verdict "bad input: unwritable (read-only) workspace is a clear error (exit $(cat "$RUN_DIR/rc"))"
}

# --- main ------------------------------------------------------------------------------

main() {
    log "qaagent container test: $REPO (log: $LOG_FILE)"
    require_machine
    setup_work
    mapfile -t INPUT_NAMES < <("$VENV_PY" "$HELPER" inputs "$REPO/action.yml")
    ((${#INPUT_NAMES[@]})) || die "no inputs read from action.yml"
    log "action.yml declares ${#INPUT_NAMES[@]} inputs: ${INPUT_NAMES[*]}"
    GITHUB_SHA_VALUE=$(git -C "$REPO" rev-parse HEAD 2>/dev/null || echo 0000000000000000000000000000000000000000)
    GITHUB_REPOSITORY_VALUE=${GITHUB_REPOSITORY:-qaagent/qaagent}

    base_image
    local started
    started=$(now)
    log "podman build --pull=never -t $IMAGE $REPO"
    if ! build_image "$IMAGE" "$DOCKERFILE"; then
        log "the image does not build: no container check can run"
        log "0 passed, 1 failed"
        exit 1
    fi
    BUILD_SECONDS=$(elapsed "$started" "$(now)")
    IMAGE_SIZE=$(podman image inspect --format '{{.Size}}' "$IMAGE")
    log "built $IMAGE in $BUILD_SECONDS s: $(mb "$IMAGE_SIZE") MB, of which the stand-in base is $(mb "$BASE_SIZE") MB and qaagent's layers $(mb $((IMAGE_SIZE - BASE_SIZE))) MB"

    podman history --format '{{.Size}}\t{{.CreatedBy}}' "$IMAGE" | cut -c1-150 | quote

    check_bad_build
    check_demo
    check_failing
    check_bad_profile
    check_setup_input
    check_postgres_driver
    check_sigterm
    check_missing_output_dir
    check_missing_output_file
    check_readonly_workspace

    log "facts: image $(mb "$IMAGE_SIZE") MB (stand-in base $(mb "$BASE_SIZE") MB + qaagent $(mb $((IMAGE_SIZE - BASE_SIZE))) MB);" \
        "build ${BUILD_SECONDS} s (from the imported base, empty layer cache);" \
        "container start to first suite ${FIRST_SUITE_SECONDS:-n/a} s; demo run (setup + unit + behave) ${DEMO_SECONDS:-n/a} s"
    if ((FAILED)); then
        local name
        for name in "${FAILED_NAMES[@]}"; do
            log "failed: $name"
        done
    fi
    log "$PASSED passed, $FAILED failed"
    ((FAILED == 0))
}

main "$@"
