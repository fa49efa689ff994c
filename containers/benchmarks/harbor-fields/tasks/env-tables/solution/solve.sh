#!/usr/bin/env bash
set -euo pipefail
# GREETING comes from [environment.env], SOLUTION_PART from [solution.env].
echo "${GREETING:-}-${SOLUTION_PART:-}" > /app/out.txt
# The verifier's env must never reach the agent.
echo "${EXPECTED:-unset}" > /app/leak.txt
