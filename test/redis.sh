#!/usr/bin/env bash
# Sourced by test/run-tests.sh and test/run-bench.sh: makes sure redis-server
# is installed (the Debian package, installed non-interactively when
# missing), and makes a missing one a test failure rather than a skip. The
# tests start their own servers on free loopback ports in temporary folders
# (gatekeeper/redisstore/redistest) and stop them when they end; nothing is
# left running, and the package's own service is not started.
if ! command -v redis-server >/dev/null 2>&1; then
  echo "== installing redis-server (Debian package)"
  _sudo=""
  if [ "$(id -u)" != 0 ]; then _sudo="sudo"; fi
  $_sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $_sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server >/dev/null
  unset _sudo
fi
redis-server --version
export GATEKEEPER_REQUIRE_REDIS=1
