#!/usr/bin/env bash
# Scorer for arith task 5: the trimmed content of /app/answer.txt must be 220.
# Always writes a reward and exits 0.
set -u

expected="220"
answer_file=/app/answer.txt
reward_file=/logs/verifier/reward.txt

mkdir -p /logs/verifier
echo 0 > "$reward_file"

if [ ! -f "$answer_file" ]; then
    echo "FAIL: $answer_file does not exist"
    exit 0
fi

# Trim leading/trailing whitespace (spaces, tabs, CR, newlines).
actual=$(cat "$answer_file")
actual="${actual#"${actual%%[![:space:]]*}"}"
actual="${actual%"${actual##*[![:space:]]}"}"

if [ "$actual" = "$expected" ]; then
    echo "PASS: answer is $expected"
    echo 1 > "$reward_file"
else
    echo "FAIL: expected '$expected', got '$actual'"
fi
exit 0
