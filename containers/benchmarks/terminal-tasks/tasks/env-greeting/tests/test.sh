#!/usr/bin/env bash
# Scorer for env-greeting: /app/out/greeting.txt must be exactly
# "Hello, Ada Lovelace!" (the value baked into the image's GREET_NAME),
# optionally followed by one newline. Always writes a reward and exits 0.
set -u

target=/app/out/greeting.txt
expected='Hello, Ada Lovelace!'
reward_file=/logs/verifier/reward.txt

mkdir -p /logs/verifier
echo 0 > "$reward_file"

if [ ! -f "$target" ]; then
    echo "FAIL: $target does not exist"
    exit 0
fi

# Read the file byte-exactly: the sentinel keeps trailing newlines from being
# stripped by the command substitution.
content=$(cat "$target"; printf x)
content=${content%x}

nl=$'\n'
if [ "$content" = "$expected" ] || [ "$content" = "$expected$nl" ]; then
    echo "PASS: $target says '$expected'"
    echo 1 > "$reward_file"
else
    echo "FAIL: expected '$expected', got:"
    head -c 200 "$target" | od -c | head -n 10
fi
exit 0
