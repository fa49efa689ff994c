#!/usr/bin/env bash
# mini-swe-agent: `mini` in yolo mode against the gateway (OpenAI Chat Completions via litellm).
#   instruction  /task/instruction.md, passed as -t
#   model        -m $BAKECTL_MODEL (default openai/gpt-4o-mini; litellm's provider/model form)
#   endpoint     $OPENAI_BASE_URL with the placeholder $OPENAI_API_KEY (set by the runner)
#   trajectory   /logs/agent/mini.traj.json
set -euo pipefail
export OPENAI_API_BASE="$OPENAI_BASE_URL"  # the name older litellm releases read
export MSWEA_GLOBAL_CONFIG_DIR="${MSWEA_GLOBAL_CONFIG_DIR:-$HOME/.config/mini-swe-agent}"
mkdir -p "$MSWEA_GLOBAL_CONFIG_DIR"
exec "$BAKECTL_AGENT_PREFIX/bin/mini" \
  -m "${BAKECTL_MODEL:-openai/gpt-4o-mini}" \
  -t "$(cat /task/instruction.md)" \
  -c mini.yaml -c "agent.step_limit=${BAKECTL_MAX_TURNS:-10}" \
  --yolo --exit-immediately --cost-limit 0 \
  -o /logs/agent/mini.traj.json
