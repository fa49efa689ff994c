#!/usr/bin/env bash
set -u
mkdir -p /logs/verifier
echo 0 > /logs/verifier/reward.txt
pass() { echo "PASS: $*"; echo 1 > /logs/verifier/reward.txt; exit 0; }
fail() { echo "FAIL: $*"; exit 0; }
grep -q '^Codename: bookworm' /app/Release 2>/dev/null || fail "/app/Release is not Debian's bookworm Release file"
pass "the agent reached the internet"
