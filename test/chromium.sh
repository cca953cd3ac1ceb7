#!/usr/bin/env bash
# Sourced by test/run-tests.sh: makes sure Chromium is installed (Debian's
# chromium package, installed non-interactively when missing) for the
# browser tests of the GO/NOGO board and the details page
# (test/board_browser_test.go, driven by chromedp), and makes a missing one
# a test failure rather than a skip. The tests start their own headless
# browser and stop it when they end. Screenshots are kept in test/artifacts
# (or $GATEKEEPER_ARTIFACTS).
if ! command -v chromium >/dev/null 2>&1 && [ -z "${GATEKEEPER_CHROMIUM:-}" ]; then
  echo "== installing chromium (Debian package)"
  _sudo=""
  if [ "$(id -u)" != 0 ]; then _sudo="sudo"; fi
  $_sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $_sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
  unset _sudo
fi
"${GATEKEEPER_CHROMIUM:-chromium}" --version
export GATEKEEPER_REQUIRE_CHROMIUM=1
