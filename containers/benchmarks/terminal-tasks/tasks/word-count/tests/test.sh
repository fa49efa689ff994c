#!/usr/bin/env bash
# Scorer for word-count: /app/count.txt must hold the number of words in the
# poem as shipped (56), and the poem must be unchanged.
# Always writes a reward and exits 0.
set -u

expected=56
poem=/app/data/poem.txt
answer_file=/app/count.txt
reward_file=/logs/verifier/reward.txt

mkdir -p /logs/verifier
echo 0 > "$reward_file"

if [ ! -f "$answer_file" ]; then
    echo "FAIL: $answer_file does not exist"
    exit 0
fi
if [ ! -f "$poem" ]; then
    echo "FAIL: $poem was removed"
    exit 0
fi

poem_words=$(wc -w < "$poem" | tr -d '[:space:]')
if [ "$poem_words" != "$expected" ]; then
    echo "FAIL: $poem was modified (it now has $poem_words words, expected $expected)"
    exit 0
fi

# Trim leading/trailing whitespace (spaces, tabs, CR, newlines).
actual=$(cat "$answer_file")
actual="${actual#"${actual%%[![:space:]]*}"}"
actual="${actual%"${actual##*[![:space:]]}"}"

if [ "$actual" = "$expected" ]; then
    echo "PASS: word count is $expected"
    echo 1 > "$reward_file"
else
    echo "FAIL: expected '$expected', got '$actual'"
fi
exit 0
