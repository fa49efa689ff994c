#!/bin/sh
# chat agent, build time (root): chat_agent.py needs python3 and bash, nothing else.
# Bases that already have them (python:*-slim) are left untouched; a Debian/Ubuntu
# minbase gets python3 from its own apt sources; Alpine gets python3 from apk.
set -eu
missing=""
command -v python3 >/dev/null 2>&1 || missing="$missing python3"
command -v bash >/dev/null 2>&1 || missing="$missing bash"
[ -z "$missing" ] && exit 0

echo "chat agent install: installing$missing" >&2
if command -v apt-get >/dev/null 2>&1; then
  pkgs=""
  case "$missing" in *python3*) pkgs="$pkgs python3" ;; esac
  case "$missing" in *bash*) pkgs="$pkgs bash" ;; esac
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  # shellcheck disable=SC2086
  apt-get install -y --no-install-recommends $pkgs
  rm -rf /var/lib/apt/lists/*
elif command -v apk >/dev/null 2>&1; then
  # shellcheck disable=SC2086
  apk add --no-cache $missing
else
  echo "chat agent install: error: need$missing but the base has neither apt-get nor apk" >&2
  exit 1
fi
command -v python3 >/dev/null 2>&1 && command -v bash >/dev/null 2>&1
