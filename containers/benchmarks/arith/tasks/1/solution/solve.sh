#!/usr/bin/env bash
# Reference solution for arith task 1 (expected answer: 391).
set -euo pipefail

answer=$((17 * 23))

printf '%s\n' "$answer" > /app/answer.txt
