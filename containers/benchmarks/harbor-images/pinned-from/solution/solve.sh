#!/usr/bin/env bash
# Reference solution for pinned-from.
set -euo pipefail

python3 -c "print(sum(int(line) for line in open('/app/numbers.txt')))" > /app/sum.txt
