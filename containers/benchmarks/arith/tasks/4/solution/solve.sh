#!/usr/bin/env bash
# Reference solution for arith task 4 (expected answer: 5050).
set -euo pipefail

answer=0
for ((i = 1; i <= 100; i++)); do
    answer=$((answer + i))
done

printf '%s\n' "$answer" > /app/answer.txt
