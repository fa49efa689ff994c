#!/usr/bin/env bash
set -u
mkdir -p /logs/verifier
echo 0 > /logs/verifier/reward.txt
pass() { echo "PASS: $*"; echo 1 > /logs/verifier/reward.txt; exit 0; }
fail() { echo "FAIL: $*"; exit 0; }
[ "$(cat /app/token.txt 2>/dev/null)" = sidecar-token-51c9 ] || fail "token.txt is '$(cat /app/token.txt 2>/dev/null)'"
pass "the agent reached the compose sidecar by its service name"
