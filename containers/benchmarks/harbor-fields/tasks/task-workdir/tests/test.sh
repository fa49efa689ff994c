#!/usr/bin/env bash
set -u
mkdir -p /logs/verifier
echo 0 > /logs/verifier/reward.txt
pass() { echo "PASS: $*"; echo 1 > /logs/verifier/reward.txt; exit 0; }
fail() { echo "FAIL: $*"; exit 0; }
# workdir = "/srv/work" in task.toml; the image's WORKDIR is /app.
[ "$(pwd)" = /srv/work ] || fail "the verifier's cwd is $(pwd), not the task's workdir"
[ -f /srv/work/answer.txt ] || fail "/srv/work/answer.txt is missing"
[ "$(cat /srv/work/answer.txt)" = /srv/work ] || fail "the agent's cwd was $(cat /srv/work/answer.txt)"
pass "workdir /srv/work"
