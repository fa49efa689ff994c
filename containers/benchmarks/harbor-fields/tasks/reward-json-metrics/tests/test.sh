#!/usr/bin/env bash
# Two named metrics in reward.json: correctness and format (Harbor keeps both; the
# primary reward is their mean, as there is no metric named "reward").
set -u
mkdir -p /logs/verifier
correct=0 format=0
[ "$(cat /app/answer.txt 2>/dev/null)" = correct ] && correct=1
[ -f /app/answer.txt ] && ! grep -q ' $' /app/answer.txt && [ "$(wc -l < /app/answer.txt)" = 1 ] && format=1
printf '{"correctness": %s, "format": %s}\n' "$correct" "$format" > /logs/verifier/reward.json
cat /logs/verifier/reward.json
