#!/usr/bin/env bash
set -euo pipefail
printf 'correct\n' > /app/answer.txt
