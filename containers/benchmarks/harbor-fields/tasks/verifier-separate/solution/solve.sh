#!/usr/bin/env bash
set -euo pipefail
echo $((6 * 7)) > /app/result.txt
