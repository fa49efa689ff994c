#!/bin/sh
# bakectl runtime, shared by every eval image.
#   agent   run the agent (as the non-root user the image defaults to); the
#           instruction is mounted at /task/instruction.md at run time
#   verify  run the scorer: /tests (mounted read-only) writes /logs/verifier/reward.txt
#   *       run the given command
set -eu
mode="${1:-agent}"
case "$mode" in
  agent)
    [ -f /task/instruction.md ] || { echo "bakectl: /task/instruction.md is not mounted" >&2; exit 64; }
    cd "${BAKECTL_WORKDIR:-/app}"
    if command -v bash >/dev/null 2>&1; then exec bash /opt/bakectl/agent/run.sh; fi
    exec sh /opt/bakectl/agent/run.sh
    ;;
  verify)
    [ -f /tests/test.sh ] || { echo "bakectl: /tests/test.sh is not mounted" >&2; exit 64; }
    mkdir -p /logs/verifier
    cd "${BAKECTL_WORKDIR:-/app}"
    exec bash /tests/test.sh
    ;;
  *)
    exec "$@"
    ;;
esac
