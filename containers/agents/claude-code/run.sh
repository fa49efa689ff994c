#!/usr/bin/env bash
# claude-code: headless Claude Code against the gateway (Anthropic Messages).
#   instruction  /task/instruction.md, passed as the -p prompt
#   model        --model $BAKECTL_MODEL (default claude-sonnet-4-5)
#   endpoint     $ANTHROPIC_BASE_URL with the placeholder $ANTHROPIC_API_KEY (set by the runner)
#   transcript   stream-json events on stdout (kept in agent/output.log)
set -euo pipefail
exec "$BAKECTL_AGENT_PREFIX/bin/claude" -p "$(cat /task/instruction.md)" \
  --model "${BAKECTL_MODEL:-claude-sonnet-4-5}" \
  --max-turns "${BAKECTL_MAX_TURNS:-10}" \
  --dangerously-skip-permissions \
  --output-format stream-json --verbose
