#!/usr/bin/env bash
set -u
mkdir -p /logs/verifier
echo 0 > /logs/verifier/reward.txt
pass() { echo "PASS: $*"; echo 1 > /logs/verifier/reward.txt; exit 0; }
fail() { echo "FAIL: $*"; exit 0; }
# The task names no agent user and the image sets none: the agent runs as root.
[ -f /app/uid.txt ] || fail "/app/uid.txt is missing"
[ "$(cat /app/uid.txt)" = 0 ] || fail "the agent ran as uid $(cat /app/uid.txt), not root"
[ -f /root/proof.txt ] || fail "/root/proof.txt is missing (only root can write /root)"
pass "the agent ran as root"
