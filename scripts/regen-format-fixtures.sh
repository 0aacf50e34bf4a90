#!/usr/bin/env bash
# Regenerate the golden result files in tests/fixtures/formats/ with the REAL tools.
#
# The small projects in tests/fixtures/formats/project/ are copied to a fixed scratch
# directory ($WORK, default /tmp/qaagent-format-fixtures/project) and every tool runs
# there, so absolute paths inside the outputs (node's locations, Go's panic frames,
# mocha's files) always name that directory; tests/test_formats_golden.py passes it
# (or the committed project) as base_dir/repo_root.
#
# Needs: .venv with pytest and behave (requirements-dev.txt); Go (`apt-get install
# golang-go`) and gotestsum (`apt-get install gotestsum`: Debian's 1.8.2, no Go module
# proxy needed); node + npm (registry access) for node's test runner, mocha,
# cucumber-js and an old Playwright; perl's prove (perl-base ships it); a Chromium at
# $CHROMIUM (default /usr/bin/chromium) for Playwright.
#
# TRX, NUnit 3 and xUnit.net v2 fixtures are not generated here: their tools (.NET) do
# not install on this machine. They are written to the formats' documentation and
# validated against the schemas in schemas/ by tests/test_formats_dotnet.py.
#
# Usage: scripts/regen-format-fixtures.sh        (from the repository root)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/tests/fixtures/formats"
WORK="${QAAGENT_FIXTURE_WORK:-/tmp/qaagent-format-fixtures}/project"
PYTHON="$ROOT/.venv/bin/python"
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
MOCHA_VERSION="${MOCHA_VERSION:-12.0.3}"
CUCUMBER_VERSION="${CUCUMBER_VERSION:-12.9.0}"
# Playwright before 1.5x wrote the test's title as the failure message (issue 16)
OLD_PLAYWRIGHT_VERSION="${OLD_PLAYWRIGHT_VERSION:-1.45.3}"

rm -rf "$WORK"
mkdir -p "$WORK"
cp -R "$OUT/project/." "$WORK/"
mkdir -p "$OUT/pytest" "$OUT/behave" "$OUT/go" "$OUT/node" "$OUT/prove" "$OUT/mocha" "$OUT/cucumber" "$OUT/playwright"
versions="$OUT/VERSIONS.txt"
: > "$versions"

# -- pytest: a collection error (under -W error) and the xfail/xpass outcomes ------------
cd "$WORK/pytest"
"$PYTHON" -m pytest -p no:cacheprovider -W error -o junit_family=xunit1 \
    --junitxml="$OUT/pytest/collection-error.xml" collect || true
"$PYTHON" -m pytest -p no:cacheprovider -o junit_family=xunit1 \
    --junitxml="$OUT/pytest/outcomes.xml" tests || true
# tracebacks name pytest's own files under this checkout: write them as /qaagent/… so no
# machine path of this checkout lands in the fixtures.
sed -i "s#$ROOT/#/qaagent/#g" "$OUT/pytest/collection-error.xml" "$OUT/pytest/outcomes.xml"
echo "pytest $("$PYTHON" -m pytest --version 2>&1 | awk '{print $2}')" >> "$versions"

# -- behave: scenarios without a title, an undefined step; JUnit and the json formatter ----
cd "$WORK/behave"
rm -rf "$OUT/behave/junit"
"$PYTHON" -m behave --no-color --junit --junit-directory "$OUT/behave/junit" \
    --format json --outfile "$OUT/behave/behave.json" features || true
echo "behave $("$PYTHON" -m behave --version | awk '{print $2}')" >> "$versions"

# -- go test -json and gotestsum ---------------------------------------------------------
# GOFLAGS=-mod=mod and GOPROXY=off: the module has no dependencies, nothing is fetched.
cd "$WORK/go"
export GOFLAGS=-mod=mod GOPROXY=off GOCACHE="${GOCACHE:-/tmp/qaagent-format-fixtures/gocache}"
go test -json ./... > "$OUT/go/go-test.jsonl" || true
# gotestsum with reruns: TestFlaky fails once (it leaves a marker file), then passes.
marker="$(mktemp -u)"
FLAKY_MARKER="$marker" gotestsum --format standard-quiet --jsonfile "$OUT/go/gotestsum.jsonl" \
    --junitfile "$OUT/go/gotestsum.xml" --rerun-fails=2 --rerun-fails-max-failures=20 \
    --packages ./calc > /dev/null || true
rm -f "$marker"
go version | awk '{print $1, $3}' >> "$versions"
echo "gotestsum $(dpkg-query -W -f='${Version}' gotestsum 2>/dev/null || gotestsum --version)" >> "$versions"

# -- node's test runner: TAP and its junit reporter --------------------------------------
cd "$WORK/node"
node --test --test-reporter=tap test/ > "$OUT/node/node-test.tap" || true
node --test --test-reporter=junit test/ > "$OUT/node/node-test-junit.xml" || true
echo "node $(node --version)" >> "$versions"

# -- prove (Perl's TAP harness): raw TAP of one test file, and prove's verbose output ------
cd "$WORK/prove"
perl t/basic.t > "$OUT/prove/basic.tap" 2>&1 || true
prove -v --merge t/ > "$OUT/prove/prove-verbose.txt" 2>&1 || true
prove --version >> "$versions"

# -- npm tools: mocha, cucumber-js, an old Playwright --------------------------------------
cd "$WORK"
npm init -y > /dev/null
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-audit --no-fund --silent \
    "mocha@$MOCHA_VERSION" "@cucumber/cucumber@$CUCUMBER_VERSION" "@playwright/test@$OLD_PLAYWRIGHT_VERSION"

cd "$WORK/mocha"
"$WORK/node_modules/.bin/mocha" --reporter json --reporter-option "output=$OUT/mocha/mocha.json" test/ > /dev/null || true
echo "mocha $MOCHA_VERSION" >> "$versions"

cd "$WORK/cucumber"
"$WORK/node_modules/.bin/cucumber-js" --retry 1 --format "json:$OUT/cucumber/cucumber-js.json" features/ > /dev/null || true
echo "cucumber-js $CUCUMBER_VERSION" >> "$versions"

cd "$WORK/playwright"
cat > playwright.config.js <<CONFIG
module.exports = {
  testDir: 'e2e',
  workers: 1,
  reporter: [['junit', { outputFile: '$OUT/playwright/playwright-$OLD_PLAYWRIGHT_VERSION.xml' }]],
  use: {
    launchOptions: {
      executablePath: '$CHROMIUM',
      args: ['--no-sandbox', '--disable-background-networking'],
    },
  },
};
CONFIG
"$WORK/node_modules/.bin/playwright" test || true
echo "playwright $OLD_PLAYWRIGHT_VERSION" >> "$versions"

echo "fixtures written to $OUT"
cat "$versions"
