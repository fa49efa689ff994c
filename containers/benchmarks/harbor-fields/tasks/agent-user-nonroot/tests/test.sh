#!/usr/bin/env bash
set -u
mkdir -p /logs/verifier
echo 0 > /logs/verifier/reward.txt
pass() { echo "PASS: $*"; echo 1 > /logs/verifier/reward.txt; exit 0; }
fail() { echo "FAIL: $*"; exit 0; }
# [agent] user = "worker", [verifier] user = "checker", workdir = the image's WORKDIR.
[ "$(id -un)" = checker ] || fail "the verifier runs as $(id -un), not checker"
f=/home/worker/job/who.txt
[ -f "$f" ] || fail "$f is missing (was the workdir the image's WORKDIR?)"
[ "$(cat "$f")" = worker ] || fail "the agent ran as $(cat "$f"), not worker"
[ "$(stat -c %U "$f")" = worker ] || fail "$f is owned by $(stat -c %U "$f")"
pass "agent worker, verifier checker"
