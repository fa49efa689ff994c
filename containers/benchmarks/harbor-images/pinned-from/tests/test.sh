#!/usr/bin/env bash
# Scorer for pinned-from: /app/sum.txt must hold the sum of /app/numbers.txt (55).
set -u

reward_file=/logs/verifier/reward.txt
mkdir -p /logs/verifier
echo 0 > "$reward_file"

if [ ! -f /app/sum.txt ]; then
    echo "FAIL: /app/sum.txt does not exist"
    exit 0
fi
got=$(tr -d '[:space:]' < /app/sum.txt)
if [ "$got" = "55" ]; then
    echo "PASS: /app/sum.txt holds 55"
    echo 1 > "$reward_file"
else
    echo "FAIL: expected 55, got '$got'"
fi
exit 0
