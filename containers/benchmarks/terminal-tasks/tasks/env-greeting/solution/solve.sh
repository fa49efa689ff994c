#!/usr/bin/env bash
# Reference solution for env-greeting (expected: "Hello, Ada Lovelace!").
set -euo pipefail

name="${GREET_NAME:?GREET_NAME is not set; it is baked into the task image}"
mkdir -p /app/out
printf 'Hello, %s!\n' "$name" > /app/out/greeting.txt
