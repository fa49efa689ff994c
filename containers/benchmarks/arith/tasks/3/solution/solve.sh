#!/usr/bin/env bash
# Reference solution for arith task 3 (expected answer: 4).
set -euo pipefail

word=mississippi
only_s=${word//[!s]/}
answer=${#only_s}

printf '%s\n' "$answer" > /app/answer.txt
