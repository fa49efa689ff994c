#!/usr/bin/env bash
set -u
mkdir -p /logs/verifier
echo 0 > /logs/verifier/reward.txt
pass() { echo "PASS: $*"; echo 1 > /logs/verifier/reward.txt; exit 0; }
fail() { echo "FAIL: $*"; exit 0; }
[ "$(cat /app/network.txt 2>/dev/null)" = offline ] || fail "network.txt says '$(cat /app/network.txt 2>/dev/null)'"
pass "the agent had no route out"
