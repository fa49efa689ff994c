#!/usr/bin/env bash
set -u
mkdir -p /logs/verifier
echo 0 > /logs/verifier/reward.txt
pass() { echo "PASS: $*"; echo 1 > /logs/verifier/reward.txt; exit 0; }
fail() { echo "FAIL: $*"; exit 0; }
# EXPECTED comes from [verifier.env]; GREETING ("${VAR:-default}") from [environment.env].
[ -n "${EXPECTED:-}" ] || fail "EXPECTED is not set: [verifier.env] was ignored"
[ "${GREETING:-}" = hello ] || fail "GREETING is '${GREETING:-}': [environment.env] was ignored"
[ -f /app/out.txt ] || fail "/app/out.txt is missing"
[ "$(cat /app/out.txt)" = "$EXPECTED" ] || fail "out.txt says '$(cat /app/out.txt)', expected '$EXPECTED'"
[ "$(cat /app/leak.txt 2>/dev/null)" = unset ] || fail "the agent saw the verifier's env"
pass "every env table reached its phase, and only it"
