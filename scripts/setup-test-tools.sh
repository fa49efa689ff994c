#!/usr/bin/env bash
# Install the host tools the tests use besides the engine: libfaketime (the gateway
# test that replays a fixture with the clock a year ahead). Debian package `faketime`
# (it pulls in `libfaketime`). A no-op where the library is already there.
set -euo pipefail

log() { printf 'setup-test-tools: %s\n' "$*" >&2; }

have_faketime() {
  compgen -G '/usr/lib/*/faketime/libfaketimeMT.so.1' >/dev/null
}

if have_faketime; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  log "no apt-get: install libfaketime with your package manager (the faketime test skips without it, and fails under CI=true)"
  exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { log "run as root, or install sudo"; exit 1; }
  sudo="sudo"
fi
log "installing faketime (libfaketime)"
$sudo apt-get install -y --no-install-recommends faketime >/dev/null \
  || { $sudo apt-get update -qq && $sudo apt-get install -y --no-install-recommends faketime >/dev/null; }
have_faketime || { log "faketime installed, but libfaketimeMT.so.1 is not under /usr/lib/*/faketime/"; exit 1; }
