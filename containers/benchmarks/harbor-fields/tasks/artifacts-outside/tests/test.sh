#!/usr/bin/env bash
set -u
mkdir -p /logs/verifier
echo 0 > /logs/verifier/reward.txt
pass() { echo "PASS: $*"; echo 1 > /logs/verifier/reward.txt; exit 0; }
fail() { echo "FAIL: $*"; exit 0; }
# A separate verifier: a fresh container; only the declared artifacts crossed over.
[ ! -e /app/scratch.txt ] || fail "/app/scratch.txt is here: this is not a separate verifier"
[ "$(cat /var/tmp/report/summary.txt 2>/dev/null)" = total=3 ] || fail "summary.txt did not cross"
[ "$(cat /opt/results/a.txt 2>/dev/null)" = 1 ] || fail "/opt/results/a.txt did not cross"
[ "$(cat /opt/results/b.txt 2>/dev/null)" = 2 ] || fail "/opt/results/b.txt did not cross"
pass "a file and a folder outside the workdir crossed as artifacts"
