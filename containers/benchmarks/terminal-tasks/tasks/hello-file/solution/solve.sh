#!/usr/bin/env bash
# Reference solution for hello-file.
set -euo pipefail

printf 'Hello, world!\n' > /app/hello.txt
