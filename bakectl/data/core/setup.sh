#!/bin/sh
# Runs as root while the eval image is built: the non-root agent user and the
# directories the runtime contract names (see README "Eval image layout").
set -eu
workdir="${1:-/app}"
if ! id agent >/dev/null 2>&1; then
  if command -v useradd >/dev/null 2>&1; then
    useradd -m -u 1000 -s /bin/sh agent 2>/dev/null || useradd -m -s /bin/sh agent
  elif command -v adduser >/dev/null 2>&1; then
    adduser -D -u 1000 agent 2>/dev/null || adduser -D agent
  else
    echo "bakectl setup: neither useradd nor adduser in the base image" >&2
    exit 1
  fi
fi
mkdir -p "$workdir" /logs/agent /logs/verifier /task /artifacts
chown -R agent "$workdir" /logs/agent /artifacts
chmod 0755 /opt/bakectl/core/*.sh
# The agent is copied after this runs (so this layer is the same for every agent of a base):
# the entrypoint runs its run.sh and install.sh with sh, so they need no exec bit.
exit 0
