#!/usr/bin/env bash
# Scorer for prebuilt-image: /app/release.txt must equal /etc/debian_version's first line.
set -u

reward_file=/logs/verifier/reward.txt
mkdir -p /logs/verifier
echo 0 > "$reward_file"

want=$(head -n 1 /etc/debian_version)
if [ -f /app/release.txt ] && [ "$(head -n 1 /app/release.txt)" = "$want" ]; then
    echo "PASS: /app/release.txt says $want"
    echo 1 > "$reward_file"
else
    echo "FAIL: /app/release.txt should say '$want'"
fi
exit 0
