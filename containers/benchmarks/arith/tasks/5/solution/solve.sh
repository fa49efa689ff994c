#!/usr/bin/env bash
# Reference solution for arith task 5 (expected answer: 220).
set -euo pipefail

answer=0
while IFS= read -r n || [ -n "$n" ]; do
    [ -n "$n" ] || continue
    answer=$((answer + n))
done < /app/data/numbers.txt

printf '%s\n' "$answer" > /app/answer.txt
