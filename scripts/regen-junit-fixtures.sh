#!/usr/bin/env bash
# Regenerate the golden JUnit fixtures in tests/fixtures/junit/ with the REAL tools.
#
# The tiny project in tests/fixtures/junit/project/ is copied to a fixed scratch
# directory ($WORK, default /tmp/qaagent-junit-fixtures/project) and every tool runs
# there, so absolute paths inside the reports (Playwright stack frames) always name
# that directory; tests/test_junit_read.py passes it as base_dir/repo_root.
#
# Needs: .venv with pytest and behave (requirements-dev.txt), node + npm (registry
# access), and a Chromium at $CHROMIUM (default /usr/bin/chromium; `apt-get install
# chromium`), because Playwright's own browser download is not available here.
#
# Usage: scripts/regen-junit-fixtures.sh        (from the repository root)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/tests/fixtures/junit"
WORK="${QAAGENT_FIXTURE_WORK:-/tmp/qaagent-junit-fixtures}/project"
PYTHON="$ROOT/.venv/bin/python"
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
PLAYWRIGHT_VERSION="${PLAYWRIGHT_VERSION:-1.65.1}"
JEST_VERSION="${JEST_VERSION:-30}"
JEST_JUNIT_VERSION="${JEST_JUNIT_VERSION:-16}"

rm -rf "$WORK"
mkdir -p "$WORK"
cp -R "$OUT/project/." "$WORK/"
cd "$WORK"

# -- pytest ---------------------------------------------------------------------
# xunit1 writes file= and a 0-based line= on each testcase; xunit2 writes neither.
# Both exit 1 because of the failing test; that is the point.
"$PYTHON" -m pytest -p no:cacheprovider -o junit_family=xunit1 \
    --junitxml="$OUT/pytest-xunit1.xml" tests || true
"$PYTHON" -m pytest -p no:cacheprovider -o junit_family=xunit2 \
    --junitxml="$OUT/pytest-xunit2.xml" tests || true

# -- behave -----------------------------------------------------------------------
# --junit writes one TESTS-<feature>.xml per feature file into --junit-directory.
# The location of a failing step is only in the failure text ("Location: features/x.feature:N").
rm -rf "$OUT/behave"
"$PYTHON" -m behave --no-color --junit --junit-directory "$OUT/behave" features || true

# -- Playwright -----------------------------------------------------------------
# junit reporter; PLAYWRIGHT_JUNIT_INCLUDE_RETRIES=1 makes it write Surefire-style
# <flakyFailure>/<rerunFailure> children (Playwright >= 1.5x) instead of summing retries.
# retries: 1 so that "passes on retry" is flaky and "heading is wrong" has a rerun.
npm init -y >/dev/null
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-audit --no-fund --silent \
    "@playwright/test@$PLAYWRIGHT_VERSION" "jest@$JEST_VERSION" "jest-junit@$JEST_JUNIT_VERSION"
cat > playwright.config.ts <<CONFIG
import { defineConfig } from '@playwright/test';
export default defineConfig({
  testDir: 'e2e',
  retries: 1,
  workers: 1,
  reporter: [['junit', { outputFile: 'reports/playwright.xml' }]],
  use: {
    launchOptions: {
      executablePath: '$CHROMIUM',
      args: ['--no-sandbox', '--disable-background-networking'],
    },
  },
});
CONFIG
PLAYWRIGHT_JUNIT_INCLUDE_RETRIES=1 npx playwright test || true
cp reports/playwright.xml "$OUT/playwright-retries.xml"
# The same run without retry details: Playwright then sums the attempts' times and
# reports only the final outcome.
npx playwright test --reporter=junit > "$OUT/playwright-plain.xml" || true

# -- jest + jest-junit ----------------------------------------------------------
# jest-junit writes to JEST_JUNIT_OUTPUT_DIR/JEST_JUNIT_OUTPUT_NAME; addFileAttribute
# puts file= (relative to the rootDir) on each testcase.
JEST_JUNIT_OUTPUT_DIR="$OUT" JEST_JUNIT_OUTPUT_NAME=jest-junit.xml JEST_JUNIT_ADD_FILE_ATTRIBUTE=true \
    npx jest --ci --rootDir jest --reporters=default --reporters=jest-junit || true

# -- Maven Surefire ---------------------------------------------------------------
# Maven cannot download its plugins here (no access to Maven Central), so
# tests/fixtures/junit/surefire-flaky.xml is written by hand after the format of
# surefire-reporter 3.x with -Dsurefire.rerunFailingTestsCount=2: <flakyFailure>,
# <flakyError> on passing tests and <rerunFailure> on a test that never passed.
# This script leaves it alone.

echo "fixtures written to $OUT"
