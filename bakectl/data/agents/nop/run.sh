#!/usr/bin/env bash
# nop agent: reads nothing, changes nothing, succeeds.
set -euo pipefail

echo "nop: doing nothing" >&2
exit 0
