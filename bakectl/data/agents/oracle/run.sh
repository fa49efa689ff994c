#!/usr/bin/env bash
# oracle agent: run the task's reference solution.
# The solution directory is mounted read-only at /solution at run time (it is
# never baked into an image); solve.sh runs with cwd = the task's workdir.
set -euo pipefail

workdir="${BAKECTL_WORKDIR:-/app}"
solve=/solution/solve.sh

if [ ! -f "$solve" ]; then
    echo "oracle: error: $solve not found." >&2
    echo "oracle: the oracle agent needs the task's solution/ directory mounted at /solution" >&2
    echo "oracle: (agent.yaml sets needs_solution: true; does the task have solution/solve.sh?)" >&2
    exit 2
fi
if [ ! -d "$workdir" ]; then
    echo "oracle: error: workdir $workdir does not exist (BAKECTL_WORKDIR=${BAKECTL_WORKDIR:-<unset>})" >&2
    exit 2
fi

cd "$workdir"
echo "oracle: running bash $solve in $workdir" >&2
exec bash "$solve"
