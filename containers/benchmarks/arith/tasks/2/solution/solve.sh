#!/usr/bin/env bash
# Reference solution for arith task 2 (expected answer: 1000).
set -euo pipefail

answer=$(( (1 << 10) - 24 ))

printf '%s\n' "$answer" > /app/answer.txt
