#!/usr/bin/env bash
# Install Docker Compose v2 (the `docker compose` CLI plugin) for the Harbor
# side-by-side bench (bench/harbor_bench.py): Harbor's docker environment
# drives `docker compose`. bakectl itself and its tests do not need it.
# Debian 13's docker-compose package is Compose v2; on Debian 12 it comes from
# the trixie suite that scripts/setup-engine.sh adds with apt pin priority 100,
# asked for as docker-compose/trixie so nothing else upgrades. A no-op where
# `docker compose version` already works.
set -euo pipefail

log() { printf 'setup-compose: %s\n' "$*" >&2; }

if docker compose version >/dev/null 2>&1; then
  log "$(docker compose version) already works; nothing to do"
  exit 0
fi
release=$( ( . /etc/os-release 2>/dev/null && [ "${ID:-}" = debian ] && printf '%s' "${VERSION_CODENAME:-}" ) || true)
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1 || [ -z "$release" ]; then
  log "install Docker Compose v2 (the 'docker compose' plugin) yourself: this script needs root on Debian 12 or 13"
  exit 1
fi
pkg=docker-compose
if [ "$release" = bookworm ]; then
  versions=$(apt-cache policy docker-compose 2>/dev/null || true)
  if ! grep -Eq '^ +(\*\*\* )?2\.' <<<"$versions"; then
    log "Debian 12 has only Compose v1; run scripts/setup-engine.sh first (it adds trixie pinned low)"
    exit 1
  fi
  pkg=docker-compose/trixie
fi
# Refuse if the install would upgrade or remove anything already installed.
plan=$(apt-get -s install "$pkg" 2>&1)
if ! grep -q '^0 upgraded, [0-9]* newly installed, 0 to remove' <<<"$plan"; then
  log "installing $pkg would change other packages; not doing it:"
  grep -E '^(Inst|Remv) ' <<<"$plan" >&2 || printf '%s\n' "$plan" >&2
  exit 1
fi
log "installing $pkg (Debian $release)"
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >/dev/null
docker compose version >/dev/null 2>&1 || { log "docker compose still does not answer"; exit 1; }
log "ready: $(docker compose version)"
