#!/usr/bin/env bash
# Reference solution for word-count (expected answer: 56).
set -euo pipefail

count=$(wc -w < /app/data/poem.txt)
printf '%d\n' "$count" > /app/count.txt
