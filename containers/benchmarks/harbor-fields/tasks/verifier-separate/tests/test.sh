#!/usr/bin/env bash
set -u
mkdir -p /logs/verifier
echo 0 > /logs/verifier/reward.txt
pass() { echo "PASS: $*"; echo 1 > /logs/verifier/reward.txt; exit 0; }
fail() { echo "FAIL: $*"; exit 0; }
[ -f /etc/verifier-image ] || fail "not running in the verifier's own image"
[ "$(cat /app/result.txt 2>/dev/null)" = 42 ] || fail "result.txt is '$(cat /app/result.txt 2>/dev/null)'"
pass "the separate verifier scored the artifact"
