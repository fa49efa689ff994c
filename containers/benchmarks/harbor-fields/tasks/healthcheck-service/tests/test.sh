#!/usr/bin/env bash
set -u
mkdir -p /logs/verifier
echo 0 > /logs/verifier/reward.txt
pass() { echo "PASS: $*"; echo 1 > /logs/verifier/reward.txt; exit 0; }
fail() { echo "FAIL: $*"; exit 0; }
[ "$(cat /app/answer.txt 2>/dev/null)" = ready-7f3a ] || fail "answer.txt is '$(cat /app/answer.txt 2>/dev/null)'"
# A shared verifier runs in the same container: the agent's services still run.
now=$(python3 -c "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:8000/ready.txt', timeout=2).read().decode().strip())" 2>&1) \
  || fail "the server is gone at verify time: $now"
pass "the server came up through the task's ENTRYPOINT and the agent waited for it"
